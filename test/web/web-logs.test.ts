// The page's log tools (issue 19): the log level changed at runtime reaches every logger of the bridge,
// children made before the change included (pino gives a child its level once, when it is made); the
// ring keeps each line's account and device; the download filters by them; the endpoints sit behind the
// login, take JSON from the page's own origin only, and refuse a level that does not exist.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, logLevel, setLogLevel } from "../../src/core/logger.ts";
import { hashPasswordSync } from "../../src/core/password.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { LogRing } from "../../src/web/log-ring.ts";
import { logDownload } from "../../src/web/logs-api.ts";
import { WebServer } from "../../src/web/server.ts";
import { LogCapture } from "../helpers/log-capture.ts";

const PASSWORD = "the page password";

test("a level change reaches the root and every child, also those made before it", () => {
  const out = new LogCapture();
  const root = createLogger("info", { json: true, destination: out });
  const module = root.child({ module: "driver" });
  const account = module.child({ account: "home" });
  account.debug("before: hidden");
  setLogLevel(module, "debug");
  account.debug("after: shown");
  root.child({ module: "late" }).debug("a child made later: shown");
  assert.deepEqual(
    out.lines.map((l) => l.msg),
    ["after: shown", "a child made later: shown"],
  );
  assert.equal(logLevel(account), "debug");
  setLogLevel(account, "error");
  module.warn("hidden again");
  root.error("shown at error");
  assert.equal(out.lines.at(-1)?.msg, "shown at error");
  assert.equal(out.lines.length, 3);
  assert.throws(() => setLogLevel(root, "loud" as never), /unknown log level/);
});

test("the ring keeps each line's account and device; the download filters by them", () => {
  const ring = new LogRing(10);
  const log = createLogger("info", { json: true, destination: new LogCapture(), tap: ring });
  log.child({ account: "home" }).info({ device: "fansync:1" }, "fan on");
  log.child({ account: "home" }).warn("link down");
  log.child({ account: "cabin" }).info({ deviceId: "xsense:2" }, "alarm clear");
  log.info("bridge ready");
  assert.deepEqual(
    ring.lines.map(({ account, device }) => ({ account, device })),
    [
      { account: "home", device: "fansync:1" },
      { account: "home", device: undefined },
      { account: "cabin", device: "xsense:2" },
      { account: undefined, device: undefined },
    ],
  );
  const text = (query: string) => logDownload(ring.lines, new URLSearchParams(query)).text.trim().split("\n");
  assert.equal(text("").length, 4);
  assert.deepEqual(
    text("account=home").map((l) => l.replace(/^\S+ /, "")),
    ["INFO  [home] fan on", "WARN  [home] link down"],
  );
  assert.deepEqual(text("device=xsense%3A2").length, 1);
  assert.deepEqual(text("level=warn").length, 1);
  assert.equal(logDownload(ring.lines, new URLSearchParams("account=nobody")).text, "");
  assert.throws(() => logDownload(ring.lines, new URLSearchParams("level=loud")), /level must be one of/);
  assert.throws(() => logDownload(ring.lines, new URLSearchParams(`device=${"x".repeat(300)}`)), /too long/);
  assert.match(logDownload([], new URLSearchParams()).name, /^hearthbridge-log-[\dT-]+\.txt$/);
});

test("GET/POST /api/logs/level and GET /api/logs/download: login, same-origin JSON, clear errors", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-logs-"));
  const captured = new LogCapture();
  const ring = new LogRing(50);
  const root = createLogger("info", { json: true, destination: captured, tap: ring });
  const registry = new DeviceRegistry(root.child({ module: "core" }));
  const sources = { registry, accounts: [], startedAt: Date.now() };
  const config = { host: "127.0.0.1", port: 0, passwordHash: hashPasswordSync(PASSWORD) };
  const web = new WebServer({ sources, log: root.child({ module: "web" }), dataDir: dir, config, logs: ring });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await fetch(`${base}/api/logs/level`)).status, 401);
  assert.equal((await fetch(`${base}/api/logs/download`)).status, 401);
  const login = await fetch(`${base}/login`, {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ password: PASSWORD }).toString(),
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
  const setLevel = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/api/logs/level`, {
      method: "POST",
      body,
      headers: { Cookie: cookie, "Content-Type": "application/json", ...headers },
    });
  const now = (await (await fetch(`${base}/api/logs/level`, { headers: { Cookie: cookie } })).json()) as {
    level: string;
  };
  assert.equal(now.level, "info");

  const driverLog = root.child({ module: "driver", account: "home" });
  driverLog.debug("debug before: hidden");
  assert.equal((await setLevel('{"level":"debug"}', { Origin: "http://evil.example" })).status, 403);
  assert.equal((await setLevel("level=debug", { "Content-Type": "application/x-www-form-urlencoded" })).status, 415);
  const bad = await setLevel('{"level":"loud"}');
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /one of fatal, error, warn, info, debug, trace/);
  assert.equal((await setLevel('{"level":"debug","x":1}')).status, 400);
  assert.equal(logLevel(root), "info", "nothing refused changed the level");

  const ok = await setLevel('{"level":"debug"}');
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { level: string }).level, "debug");
  driverLog.debug({ device: "fansync:1" }, "debug after: shown");
  assert.ok(captured.lines.some((l) => l.msg === "debug after: shown"));
  assert.ok(!captured.lines.some((l) => l.msg === "debug before: hidden"));
  assert.ok(captured.lines.some((l) => l.level === 40 && /log level info -> debug/.test(l.msg)));

  const download = await fetch(`${base}/api/logs/download?device=fansync%3A1`, { headers: { Cookie: cookie } });
  assert.equal(download.status, 200);
  assert.match(download.headers.get("content-disposition") ?? "", /^attachment; filename="hearthbridge-log-/);
  assert.match(download.headers.get("content-type") ?? "", /^text\/plain/);
  assert.match(await download.text(), /^\S+ DEBUG [[]home[\]] debug after: shown\n$/);
  setLogLevel(root, "info");
});
