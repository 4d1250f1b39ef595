// `doctor`: each check flags what it should (a 0644 secret file, a busy port, an ffmpeg without the
// needed encoders, a wrong clock, a world-readable config with passwords) and passes otherwise.
// Ports are bound on 127.0.0.1 only; the clock check talks to a loopback server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkClock,
  checkConfig,
  checkDataDir,
  checkFfmpeg,
  checkTcpPort,
  checkUdpPort,
  runDoctor,
} from "../../src/cli/doctor.ts";

function privateDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hb-doctor-"));
  chmodSync(dir, 0o700);
  mkdirSync(join(dir, "homekit"), { mode: 0o700 });
  writeFileSync(join(dir, "homekit", "AccessoryInfo.json"), "{}", { mode: 0o600 });
  writeFileSync(join(dir, "identity.json"), "{}", { mode: 0o600 });
  return dir;
}

test("a 0644 secret file in the data directory is flagged; --fix makes it 0600", () => {
  const dir = privateDataDir();
  assert.deepEqual(
    checkDataDir(dir).map((c) => c.status),
    ["ok"],
  );
  const secret = join(dir, "homekit", "AccessoryInfo.json");
  chmodSync(secret, 0o644);
  const [flagged] = checkDataDir(dir);
  assert.equal(flagged?.status, "fail");
  assert.match(flagged?.detail ?? "", /AccessoryInfo\.json is 0644 \(want 0600\)/);
  const fixed = checkDataDir(dir, { fix: true });
  assert.equal(statSync(secret).mode & 0o777, 0o600);
  assert.ok(fixed.every((c) => c.status !== "fail"));
  assert.deepEqual(
    checkDataDir(dir).map((c) => c.status),
    ["ok"],
  );
});

test("a group-readable data directory is flagged", () => {
  const dir = privateDataDir();
  chmodSync(dir, 0o755);
  assert.equal(checkDataDir(dir)[0]?.status, "fail");
});

test("a busy TCP or UDP port is flagged, a free one passes", async () => {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const tcpPort = (server.address() as { port: number }).port;
  const udp = createSocket("udp4");
  udp.bind(0, "127.0.0.1");
  await once(udp, "listening");
  const udpPort = udp.address().port;
  try {
    const busyTcp = await checkTcpPort(tcpPort, "HomeKit", "127.0.0.1");
    assert.equal(busyTcp.status, "fail");
    assert.match(busyTcp.title, new RegExp(`HomeKit TCP port ${tcpPort} is not free`));
    assert.match(busyTcp.detail ?? "", /EADDRINUSE/);
    assert.equal((await checkUdpPort(udpPort, "Matter", "127.0.0.1")).status, "fail");
  } finally {
    server.close();
    udp.close();
  }
  assert.equal((await checkTcpPort(tcpPort, "HomeKit", "127.0.0.1")).status, "ok");
  assert.equal((await checkUdpPort(udpPort, "Matter", "127.0.0.1")).status, "ok");
});

function fakeFfmpeg(encoders: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "hb-ffmpeg-"));
  const file = join(dir, "ffmpeg");
  const lines = [
    "Encoders:",
    " V..... = Video",
    " ------",
    ...encoders.map(
      (e) =>
        ` ${e.startsWith("lib") && e.includes("opus") ? "A" : e === "aac" ? "A" : "V"}....D ${e}  the ${e} encoder`,
    ),
  ];
  writeFileSync(file, `#!/bin/sh\ncat <<'END'\n${lines.join("\n")}\nEND\n`, { mode: 0o755 });
  return file;
}

test(
  "ffmpeg without libx264 or Opus is flagged; " + "a missing ffmpeg is a failure only when a camera needs it",
  async () => {
    const good = await checkFfmpeg([fakeFfmpeg(["libx264", "libopus", "aac"])]);
    assert.deepEqual(
      good.map((c) => c.status),
      ["ok", "ok", "ok"],
    );
    const noX264 = await checkFfmpeg([fakeFfmpeg(["mpeg4", "libopus"])]);
    assert.deepEqual(
      noX264.map((c) => c.status),
      ["ok", "fail", "ok"],
    );
    const noOpus = await checkFfmpeg([fakeFfmpeg(["libx264", "aac"])]);
    assert.equal(noOpus[2]?.status, "fail");
    const missing = join(tmpdir(), "no-such-ffmpeg-here");
    assert.equal((await checkFfmpeg([missing], false))[0]?.status, "warn");
    assert.equal((await checkFfmpeg([missing], true))[0]?.status, "fail");
  },
);

test("the clock check compares with the endpoint's Date header", async () => {
  let offsetMs = 0;
  const server = createHttpServer((_req, res) => {
    res.sendDate = false;
    res.writeHead(200, { date: new Date(Date.now() + offsetMs).toUTCString() });
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api:1`;
  try {
    assert.equal((await checkClock("fans api", url)).status, "ok");
    offsetMs = -10 * 60_000;
    const off = await checkClock("fans api", url);
    assert.equal(off.status, "fail");
    assert.match(off.detail ?? "", /ahead of the server/);
  } finally {
    server.close();
  }
  assert.equal((await checkClock("fans api", url, 2000)).status, "fail", "an unreachable endpoint fails");
});

test("a config holding passwords must not be readable by others; a bad config is reported", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-doctor-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, "accounts:\n  - vendor: fansync\n    email: a@b.invalid\n    password: hunter22\n", {
    mode: 0o644,
  });
  chmodSync(file, 0o644);
  const loose = checkConfig(file).check;
  assert.deepEqual(
    loose.map((c) => c.status),
    ["ok", "fail"],
  );
  assert.match(loose[1]!.detail ?? "", /chmod 600/);
  chmodSync(file, 0o600);
  assert.deepEqual(
    checkConfig(file).check.map((c) => c.status),
    ["ok"],
  );
  writeFileSync(file, "homekit:\n  prot: 1\n");
  const bad = checkConfig(file).check;
  assert.equal(bad[0]?.status, "fail");
  assert.match(bad[0]?.detail ?? "", /homekit\.prot: unknown key/);
});

test("a full run without --network contacts no endpoint and reports each area", async () => {
  const dir = privateDataDir();
  const file = join(dir, "config.yaml");
  // Port 0 everywhere: nothing to bind-test but Matter, which gets a free loopback port.
  writeFileSync(
    file,
    "homekit:\n  port: 0\nmatter:\n  port: 0\naccounts:\n  - vendor: fansync\n" +
      "    email: a@b.invalid\n    password: hunter22\n    endpoints:\n      api: http://127.0.0.1:9/api:1\n",
    { mode: 0o600 },
  );
  const checks = await runDoctor({ config: file, data: dir, bindHost: "127.0.0.1" });
  const titles = checks.map((c) => c.title).join("\n");
  assert.match(titles, /config .* is valid/);
  assert.match(titles, /data directory .* is private/);
  assert.match(titles, /vendor endpoints not contacted/);
  assert.doesNotMatch(titles, /reachable/);
});
