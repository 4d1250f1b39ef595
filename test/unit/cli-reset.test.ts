// `reset homekit|matter` removes only that ecosystem's pairing storage, keeps the setup codes,
// refuses while a bridge holds the data directory, and asks before removing anything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BridgeRunningError, resetEcosystem } from "../../src/cli/reset.ts";
import { PID_FILE } from "../../src/cli/pidfile.ts";

const root = new URL("../..", import.meta.url).pathname;

function fakeDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hb-reset-"));
  mkdirSync(join(dir, "homekit", "hap"), { recursive: true });
  writeFileSync(join(dir, "homekit", "hap", "AccessoryInfo.0E1234567890.json"), "{}");
  writeFileSync(join(dir, "homekit", "bridges.json"), "{}");
  mkdirSync(join(dir, "matter"));
  writeFileSync(join(dir, "matter", "fabrics.fabrics"), "[]");
  mkdirSync(join(dir, "accounts"));
  writeFileSync(join(dir, "accounts", "home.json"), '{"token":"t"}');
  writeFileSync(
    join(dir, "identity.json"),
    JSON.stringify({
      homekit: { pincode: "202-59-473", username: "0E:12:34:56:78:90" },
      matter: { passcode: 71711840, discriminator: 514 },
    }),
  );
  return dir;
}

test("reset homekit removes only <data>/homekit and the HAP username; codes, Matter and accounts stay", () => {
  const dir = fakeDataDir();
  const removed = resetEcosystem(dir, "homekit");
  assert.ok(removed.includes(join(dir, "homekit")));
  assert.equal(existsSync(join(dir, "homekit")), false);
  assert.ok(existsSync(join(dir, "matter", "fabrics.fabrics")));
  assert.ok(existsSync(join(dir, "accounts", "home.json")));
  const identity = JSON.parse(readFileSync(join(dir, "identity.json"), "utf8"));
  assert.deepEqual(identity, {
    homekit: { pincode: "202-59-473" },
    matter: { passcode: 71711840, discriminator: 514 },
  });
});

test("reset matter removes only <data>/matter", () => {
  const dir = fakeDataDir();
  const identityBefore = readFileSync(join(dir, "identity.json"), "utf8");
  assert.deepEqual(resetEcosystem(dir, "matter"), [join(dir, "matter")]);
  assert.equal(existsSync(join(dir, "matter")), false);
  assert.ok(existsSync(join(dir, "homekit", "hap", "AccessoryInfo.0E1234567890.json")));
  assert.ok(existsSync(join(dir, "accounts", "home.json")));
  assert.equal(readFileSync(join(dir, "identity.json"), "utf8"), identityBefore);
});

test("refuses while a live bridge holds the data directory; a stale pid file does not block", async () => {
  const dir = fakeDataDir();
  const bridge = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  await once(bridge, "spawn");
  writeFileSync(join(dir, PID_FILE), `${bridge.pid}\n`);
  try {
    assert.throws(
      () => resetEcosystem(dir, "matter"),
      (e: Error) => e instanceof BridgeRunningError && e.message.includes(String(bridge.pid)),
    );
    assert.ok(existsSync(join(dir, "matter")));
  } finally {
    bridge.kill();
    await once(bridge, "exit");
  }
  resetEcosystem(dir, "matter");
  assert.equal(existsSync(join(dir, "matter")), false);
});

test("the command asks first: no answer or 'n' changes nothing, 'yes' removes", () => {
  const dir = fakeDataDir();
  const cli = (input: string, ...args: string[]) =>
    spawnSync(process.execPath, ["src/cli/reset.ts", ...args, "--data", dir], { cwd: root, input, encoding: "utf8" });
  const refused = cli("n\n", "homekit");
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stdout, /nothing was changed/);
  assert.ok(existsSync(join(dir, "homekit")));
  assert.equal(cli("", "homekit").status, 1, "a closed stdin is not a yes");
  assert.ok(existsSync(join(dir, "homekit")));
  const accepted = cli("yes\n", "homekit");
  assert.equal(accepted.status, 0, accepted.stderr);
  assert.equal(existsSync(join(dir, "homekit")), false);
  assert.ok(existsSync(join(dir, "matter")));
  const bad = cli("", "zigbee", "--yes");
  assert.equal(bad.status, 2);
  const yes = cli("", "matter", "--yes");
  assert.equal(yes.status, 0, yes.stderr);
  assert.equal(existsSync(join(dir, "matter")), false);
});
