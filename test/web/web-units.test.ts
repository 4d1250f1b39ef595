// The web module's pieces without a bridge: password hashing, the log-in limiter, the session
// store, the log ring (fed by the real logger, so scrubbing is covered), state summaries, the config
// section and the metrics fed by registry events.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { Driver, DriverContext, DriverSink } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { createLogger, registerSecret } from "../../src/core/logger.ts";
import { type ConfigError, validateConfig } from "../../src/core/config.ts";
import { hashPassword, hashPasswordSync, isPasswordHash, verifyPassword } from "../../src/core/password.ts";
import {
  LoginLimiter,
  SetupRefused,
  WebAuth,
  isLoopbackHost,
  readWebStore,
  sameSecret,
  sessionToken,
} from "../../src/web/auth.ts";
import { LogRing } from "../../src/web/log-ring.ts";
import { BridgeMetrics } from "../../src/web/metrics.ts";
import { health, summarize } from "../../src/web/status.ts";

test("scrypt hashes verify the right password only, are salted, and malformed hashes never verify", async () => {
  const a = await hashPassword("open sesame 1");
  const b = hashPasswordSync("open sesame 1");
  assert.notEqual(a, b, "a random salt per hash");
  assert.ok(isPasswordHash(a) && isPasswordHash(b));
  assert.equal(await verifyPassword("open sesame 1", a), true);
  assert.equal(await verifyPassword("open sesame 1", b), true);
  assert.equal(await verifyPassword("open sesame 2", a), false);
  assert.equal(await verifyPassword("open sesame 1", "scrypt$3$8$1$AAAA$AAAA"), false, "N must be a power of two");
  assert.equal(await verifyPassword("open sesame 1", "plain text"), false);
  assert.equal(
    isPasswordHash("scrypt$1073741824$8$1$AAAA$AAAA"),
    false,
    "a cost that would stall the process is refused",
  );
});

test("the limiter locks a client out after 5 failures in a minute, others are unaffected, and the lock ends", () => {
  const limiter = new LoginLimiter(5, 60_000);
  const t0 = 1_000_000;
  for (let i = 0; i < 5; i++) {
    assert.equal(limiter.retryAfterMs("a", t0 + i), 0);
    limiter.failed("a", t0 + i);
  }
  assert.ok(limiter.retryAfterMs("a", t0 + 10) > 59_000);
  assert.equal(limiter.retryAfterMs("b", t0 + 10), 0);
  assert.equal(limiter.retryAfterMs("a", t0 + 60_001), 0, "the window slid past the failures");
  limiter.failed("b", t0);
  limiter.succeeded("b");
  assert.equal(limiter.retryAfterMs("b", t0 + 1), 0);
});

test(
  "auth: loopback needs no password until one exists; " + "a LAN host needs one set first; web.json is 0600",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "hb-web-auth-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.ok(
      isLoopbackHost("127.0.0.1") &&
        isLoopbackHost("::1") &&
        !isLoopbackHost("0.0.0.0") &&
        !isLoopbackHost("192.168.1.2"),
    );
    const local = new WebAuth({ dataDir: dir, host: "127.0.0.1" });
    assert.equal(local.required, false);
    assert.equal(local.needsSetup, false);
    const lan = new WebAuth({ dataDir: dir, host: "0.0.0.0" });
    assert.equal(lan.required, true);
    assert.equal(lan.needsSetup, true);
    assert.equal(await lan.check("anything"), false, "no password yet means no log-in, not an open door");
    assert.equal(local.setupToken(), undefined, "loopback without a password needs no setup token");
    const token = lan.setupToken()!;
    assert.match(token, /^[A-Za-z0-9_-]{32}$/, "192 random bits, URL-safe");
    const restarted = new WebAuth({ dataDir: dir, host: "0.0.0.0" });
    assert.equal(restarted.setupToken(), token, "kept in web.json: a restart shows the same one");
    assert.deepEqual(readWebStore(dir), { passwordSet: false, setupToken: token });
    assert.equal(statSync(join(dir, "web.json")).mode & 0o777, 0o600);
    const wrongToken = (e: unknown) => e instanceof SetupRefused && e.reason === "wrong-token";
    await assert.rejects(lan.setPassword("first visitor pw", ""), wrongToken);
    // One character off (a fixed "x" was the token itself whenever it ended in x: 1 run in 64).
    const offByOne = `${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}`;
    await assert.rejects(lan.setPassword("first visitor pw", offByOne), /wrong setup token/);
    assert.equal(lan.needsSetup, true, "a wrong token sets nothing");
    await lan.setPassword("first visitor pw", token);
    assert.equal(lan.needsSetup, false);
    assert.equal(lan.setupToken(), undefined, "the token is used up");
    assert.deepEqual(readWebStore(dir), { passwordSet: true });
    assert.ok(!readFileSync(join(dir, "web.json"), "utf8").includes(token));
    await assert.rejects(lan.setPassword("second visitor", token), /already set/);
    assert.equal(await lan.check("first visitor pw"), true);
    const file = join(dir, "web.json");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(!readFileSync(file, "utf8").includes("first visitor pw"));
    // The stored password now also guards the loopback page, and the config's password wins over it.
    assert.equal(new WebAuth({ dataDir: dir, host: "127.0.0.1" }).required, true);
    const configured = new WebAuth({
      dataDir: dir,
      host: "0.0.0.0",
      passwordHash: hashPasswordSync("from the config"),
    });
    assert.equal(await configured.check("from the config"), true);
    assert.equal(await configured.check("first visitor pw"), false);
    // Sessions: random, checked, ended.
    const session = lan.newSession();
    assert.notEqual(session, lan.newSession());
    assert.equal(lan.valid(session), true);
    assert.ok(lan.expiresAt(session)! > Date.now() + 6 * 24 * 3600_000);
    assert.equal(lan.valid(session, Date.now() + 8 * 24 * 3600_000), false, "sessions expire");
    assert.equal(lan.expiresAt(session), undefined);
    assert.equal(lan.valid("forged"), false);
    const other = lan.newSession();
    lan.endSession(other);
    assert.equal(lan.valid(other), false);
    assert.equal(sessionToken(`a=b; hb_session=${other}; c=d`), other);
    assert.equal(sessionToken("hb_session="), undefined);
    assert.match(lan.cookie(session), /HttpOnly; SameSite=Strict/);
    assert.doesNotMatch(lan.cookie(session), /Secure/);
    assert.match(lan.cookie(session, true), /; Secure$/, "Secure when the browser came over https");
    assert.equal(sameSecret("abc", "abc"), true);
    assert.equal(sameSecret("abc", "abcd"), false);
  },
);

test("auth: two set-ups racing with the right token: one wins, the other is refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-auth-race-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const auth = new WebAuth({ dataDir: dir, host: "0.0.0.0" });
  const token = auth.setupToken()!;
  const racing = [auth.setPassword("first password", token), auth.setPassword("second password", token)];
  const results = await Promise.allSettled(racing);
  assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  assert.equal((await auth.check("first password")) !== (await auth.check("second password")), true);
});

test("the log ring keeps the last N scrubbed lines from the real logger, first line of each message only", () => {
  const ring = new LogRing(3);
  const seen: string[] = [];
  ring.on("line", (l) => seen.push(l.text));
  const log = createLogger("debug", {
    json: true,
    destination: { write: () => true } as unknown as NodeJS.WritableStream,
    tap: ring,
  });
  registerSecret("hunter2-secret");
  log.child({ account: "home" }).info("logged in with hunter2-secret");
  log.info("pairing code 123:\nQR ART");
  log.debug({ module: "web" }, "debug line");
  log.error({ err: new Error("boom") }, "it failed");
  assert.deepEqual(
    ring.lines.map((l) => l.text),
    ["pairing code 123", "[web] debug line", "it failed: boom"],
  );
  assert.equal(seen[0], "[home] logged in with [redacted]");
  assert.deepEqual(
    ring.lines.map((l) => l.level),
    ["info", "debug", "error"],
  );
  ring.write("not json");
  assert.equal(ring.lines.length, 3);
});

test("summaries put a device's state in words", () => {
  assert.equal(
    summarize({
      fan: { on: true, speed: 65, direction: "forward", breeze: false },
      light: { on: false, brightness: 40, colorTemperatureK: 3000 },
      switches: { homeAway: true },
    }),
    "fan on 65% forward · light off 40% 3000 K · homeAway on",
  );
  assert.equal(
    summarize({
      smokeAlarm: { detected: true },
      coAlarm: { detected: false, ppm: 3 },
      battery: { level: 80, low: false },
    }),
    "smoke ALARM · CO clear 3 ppm · battery 80%",
  );
  assert.equal(summarize({}), "no state reported");
});

test("summaries show a water leak, a hushed alarm and the CO peak", () => {
  assert.equal(summarize({ leak: true, battery: { low: false } }), "Leak! · battery ok");
  assert.equal(summarize({ leak: false }), "no leak");
  assert.equal(
    summarize({ smokeAlarm: { detected: true, muted: true }, coAlarm: { detected: false, ppm: 0, peakPpm: 320 } }),
    "smoke ALARM (Hushed) · CO clear 0 ppm, peak 320 ppm",
  );
  assert.equal(summarize({ coAlarm: { detected: true, muted: true, peakPpm: 90 } }), "CO ALARM peak 90 ppm (Hushed)");
});

test("config: web defaults, a plain password is hashed at load, and bad web keys are reported", () => {
  const config = validateConfig({});
  const defaults = { allowedHosts: [], trustedProxies: [], healthAccess: "open", metricsAccess: "open" };
  assert.deepEqual(config.web, { enabled: true, port: 8581, host: "0.0.0.0", ...defaults });
  process.env.HB_TEST_WEB_PW = "from env var 123";
  const withPassword = validateConfig({ web: { password: "${HB_TEST_WEB_PW}", host: "127.0.0.1" } });
  assert.ok(!("password" in withPassword.web), "the plain password is dropped");
  assert.ok(isPasswordHash(withPassword.web.passwordHash!));
  const problems = (raw: unknown) => {
    try {
      validateConfig(raw);
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };
  assert.deepEqual(problems({ web: { password: "short" } }), [
    "web.password: must be at least 8 characters (got (hidden))",
  ]);
  assert.deepEqual(problems({ web: { prot: 1 } }), ['web.prot: unknown key (did you mean "port"?)']);
  assert.deepEqual(problems({ web: { password: "long enough pw", passwordHash: hashPasswordSync("x") } }), [
    "web: give password or passwordHash, not both",
  ]);
  assert.match(problems({ web: { passwordHash: "md5:abc" } })[0]!, /^web\.passwordHash: must be a scrypt hash/);
  const guarded = validateConfig({
    web: {
      publicOrigin: "https://Bridge.Example.com/",
      trustedProxies: ["10.0.0.0/8", "::1", "fd00::/8"],
      allowedHosts: ["nas.lan", ".example.net", "192.0.2.4"],
      healthAccess: "loopback",
      metricsAccess: "login",
    },
  });
  assert.equal(guarded.web.publicOrigin, "https://bridge.example.com", "normalized to what a browser sends as Origin");
  assert.deepEqual(guarded.web.trustedProxies, ["10.0.0.0/8", "::1", "fd00::/8"]);
  assert.deepEqual(problems({ web: { publicOrigin: "https://bridge.example.com/path" } }), [
    "web.publicOrigin: must be an http:// or https:// origin without a path, such as https://bridge.example.com" +
      ' (got "https://bridge.example.com/path")',
  ]);
  assert.equal(problems({ web: { publicOrigin: "ftp://x" } }).length, 1);
  assert.deepEqual(problems({ web: { trustedProxies: ["10.0.0.0/33", "proxy.lan"] } }), [
    'web.trustedProxies[0]: must be an IP address or a CIDR block such as 10.0.0.0/8 (got "10.0.0.0/33")',
    'web.trustedProxies[1]: must be an IP address or a CIDR block such as 10.0.0.0/8 (got "proxy.lan")',
  ]);
  assert.match(problems({ web: { allowedHosts: ["bad host/"] } })[0]!, /^web\.allowedHosts\[0\]: must be a host name/);
  assert.match(problems({ web: { healthAccess: "public" } })[0]!, /^web\.healthAccess: /);
  const typo = problems({ web: { allowedHost: [] } });
  assert.deepEqual(typo, ['web.allowedHost: unknown key (did you mean "allowedHosts"?)']);
});

const fan: DeviceInfo = {
  id: "fansync:a",
  vendor: "fansync",
  account: "home",
  kind: "ceiling-fan",
  name: "Fan",
  manufacturer: "m",
  model: "x",
  serialNumber: "a",
  capabilities: { fan: { reversible: true, breeze: false } },
};

class TestDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName = "home";
  fail = false;
  async start(_ctx: DriverContext) {}
  async command() {
    if (this.fail) throw new Error("refused");
  }
  async stop() {}
}

test(
  "metrics: link states, reconnects only after a real drop, " + "command latency by result, availability and health",
  async () => {
    const registry = new DeviceRegistry(pino({ level: "silent" }));
    const driver = new TestDriver();
    const sink: DriverSink = registry.sinkFor(driver);
    sink.linkStateChanged("connecting");
    sink.linkStateChanged("connected");
    sink.deviceFound(fan, { fan: { on: false, speed: 50, direction: "forward", breeze: false } });
    const sources = { registry, accounts: [{ name: "home", vendor: "fansync" }], startedAt: Date.now() - 5000 };
    const metrics = new BridgeMetrics(sources);
    const value = async (series: string) => {
      const line = (await metrics.render()).split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.split(" ")[1]);
    };
    sink.linkStateChanged("connected");
    assert.equal(
      await value('hearthbridge_account_reconnects_total{account="home"}'),
      0,
      "connected twice is not a reconnect",
    );
    sink.linkStateChanged("disconnected");
    assert.equal(await value('hearthbridge_account_link{account="home",vendor="fansync",state="disconnected"}'), 1);
    assert.equal(await value('hearthbridge_account_link{account="home",vendor="fansync",state="connected"}'), 0);
    assert.equal(health(sources).status, "degraded");
    sink.linkStateChanged("connecting");
    sink.linkStateChanged("connected");
    assert.equal(await value('hearthbridge_account_reconnects_total{account="home"}'), 1);
    await registry.command(fan.id, { fan: { on: true } });
    driver.fail = true;
    await assert.rejects(registry.command(fan.id, { fan: { on: false } }));
    assert.equal(await value('hearthbridge_command_duration_seconds_count{vendor="fansync",result="ok"}'), 1);
    assert.equal(await value('hearthbridge_command_duration_seconds_count{vendor="fansync",result="error"}'), 1);
    sink.availabilityChanged(fan.id, false);
    assert.equal(await value('hearthbridge_device_available{device="fansync:a",vendor="fansync",account="home"}'), 0);
    // "now" given: on a loaded machine the test itself may take past the half second that rounds 5 s up.
    assert.deepEqual(health(sources, sources.startedAt + 5_000), {
      status: "degraded",
      uptimeS: 5,
      homekit: null,
      matter: null,
      accounts: [{ name: "home", vendor: "fansync", link: "connected" }],
      devices: { total: 1, unavailable: 1 },
    });
    sink.availabilityChanged(fan.id, true);
    assert.equal(health(sources).status, "ok");
    metrics.close();
    assert.equal(registry.listenerCount("command"), 0);
  },
);

test(
  "metrics: a vendor report delivered by a host raises the event latency histogram of that ecosystem; " +
    "a command's assumed state does not",
  async () => {
    const registry = new DeviceRegistry(pino({ level: "silent" }));
    const driver = new TestDriver();
    const sink = registry.sinkFor(driver);
    sink.deviceFound(fan, { fan: { on: false, speed: 50, direction: "forward", breeze: false } });
    // Stand-ins for the hosts: HomeKit delivers inside the emit, Matter later (its updates are queued).
    const matterQueue: Promise<void>[] = [];
    registry.on("state", () => {
      const at = registry.reportedAt;
      registry.delivered("homekit", at);
      matterQueue.push(
        new Promise<void>((resolve) => setImmediate(resolve)).then(() => registry.delivered("matter", at)),
      );
    });
    assert.equal(registry.reportedAt, undefined);
    sink.stateChanged(fan.id, { fan: { speed: 60 } });
    assert.equal(registry.reportedAt, undefined, "no stamp without an observer: reports stay free");
    const sources = {
      registry,
      accounts: [{ name: "home", vendor: "fansync" }],
      startedAt: Date.now(),
      homekit: {
        pincode: "031-45-154",
        setupURI: () => "X-HM://0",
        bridges: [],
        on: () => undefined,
        off: () => undefined,
      } as never,
      matter: {
        running: false,
        commissioned: false,
        fabricCount: 0,
        pairingCodes: () => ({ manualPairingCode: "", qrPairingCode: "" }),
        warnings: [],
      },
    };
    const metrics = new BridgeMetrics(sources);
    const count = async (ecosystem: string) => {
      const line = (await metrics.render())
        .split("\n")
        .find((l) => l.startsWith(`hearthbridge_event_duration_seconds_count{ecosystem="${ecosystem}"} `));
      return line === undefined ? undefined : Number(line.split(" ")[1]);
    };
    assert.equal(await count("homekit"), 0, "both ecosystems are listed from the start");
    assert.equal(await count("matter"), 0);
    sink.stateChanged(fan.id, { fan: { speed: 70 } });
    await Promise.all(matterQueue);
    assert.equal(await count("homekit"), 1);
    assert.equal(await count("matter"), 1);
    sink.stateChanged(fan.id, { fan: { speed: 70 } });
    assert.equal(await count("homekit"), 1, "a report that changes nothing reaches no host");
    await registry.command(fan.id, { fan: { speed: 20 } });
    await Promise.all(matterQueue);
    assert.equal(await count("homekit"), 1, "a command's assumed state is not a vendor event");
    assert.equal(await count("matter"), 1);
    const text = await metrics.render();
    assert.match(text, /^hearthbridge_event_duration_seconds_bucket\{le="0\.0005",ecosystem="homekit"\} [01]$/m);
    assert.ok(
      Number(/^hearthbridge_event_duration_seconds_sum\{ecosystem="matter"\} (\S+)$/m.exec(text)?.[1]) > 0,
      "the Matter delivery took measurable time",
    );
    metrics.close();
    assert.equal(registry.deliveryObserver, undefined);
  },
);
