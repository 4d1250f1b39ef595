// The page's device controls (issue 19): which controls a device gets from its capabilities, the check
// of a command before it reaches the registry, and POST /api/devices/:id/command against a real
// WebServer on 127.0.0.1 with a fake driver: session, same-origin and JSON-only (CSRF), bad commands,
// unknown and unreachable devices, a vendor's refusal, and the accepted command reaching the driver once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { hashPasswordSync } from "../../src/core/password.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { Driver, DriverSink } from "../../src/core/driver.ts";
import type { Command, DeviceInfo } from "../../src/core/model.ts";
import { WebServer } from "../../src/web/server.ts";
import { BadCommand, controlsOf, parseCommand } from "../../src/web/device-commands.ts";
import { LogCapture } from "../helpers/log-capture.ts";

const PASSWORD = "the page password";

const FAN: DeviceInfo = {
  id: "test:fan1",
  vendor: "test",
  account: "home",
  kind: "ceiling-fan",
  name: "Den Fan",
  manufacturer: "T",
  model: "F1",
  serialNumber: "1",
  capabilities: {
    fan: { speedSteps: [20, 40, 60, 80, 100], reversible: true, breeze: false },
    light: { dimmable: true, colorTemperatureK: [2700, 4000] },
    switches: { nightLight: { label: "Night light" } },
  },
};
const ALARM: DeviceInfo = {
  id: "test:alarm1",
  vendor: "test",
  account: "home",
  kind: "smoke-alarm",
  name: "Hall Alarm",
  manufacturer: "T",
  model: "A1",
  serialNumber: "2",
  capabilities: { smokeAlarm: { selfTest: true }, coAlarm: { ppm: true }, battery: { level: true } },
};

test("controls follow the capabilities; sensors get none", () => {
  assert.deepEqual(controlsOf(FAN.capabilities), {
    fan: { speedSteps: [20, 40, 60, 80, 100], reversible: true, breeze: false },
    light: { dimmable: true, colorTemperatureK: [2700, 4000] },
    switches: [{ id: "nightLight", label: "Night light" }],
  });
  assert.deepEqual(controlsOf(ALARM.capabilities), { selfTest: ["smokeAlarm"] });
  assert.deepEqual(controlsOf({ temperature: {}, humidity: {} }), {});
});

test("a command is checked against what the device can do", () => {
  assert.deepEqual(parseCommand({ fan: { on: true } }, FAN.capabilities), { fan: { on: true } });
  assert.deepEqual(parseCommand({ fan: { speed: 60, direction: "reverse" } }, FAN.capabilities), {
    fan: { speed: 60, direction: "reverse" },
  });
  assert.deepEqual(parseCommand({ switches: { nightLight: false } }, FAN.capabilities), {
    switches: { nightLight: false },
  });
  assert.deepEqual(parseCommand({ smokeAlarm: { testing: true } }, ALARM.capabilities), {
    smokeAlarm: { testing: true },
  });
  const refused: [unknown, RegExp][] = [
    [{ fan: { speed: 50 } }, /fan\.speed: speed must be one of 20, 40, 60, 80, 100/],
    [{ fan: { breeze: true } }, /not a control of this device \(breeze\)/],
    [{ fan: { on: "yes" } }, /fan\.on/],
    [{ switches: { standby: true } }, /standby/],
    [{ light: { colorTemperatureK: 3000 } }, /must be one of 2700, 4000/],
    [{ coAlarm: { testing: true } }, /not a control of this device \(coAlarm\)/],
    [{ heatAlarm: { testing: true } }, /not a control of this device \(heatAlarm\)/],
    [{ smokeAlarm: { testing: false } }, /smokeAlarm\.testing/],
    [{ smokeAlarm: { detected: true } }, /detected/],
    [{ fan: {} }, /changes nothing/],
    [{}, /changes nothing/],
    [[1, 2], /./],
    [null, /./],
    // What JSON.parse makes of prototype keys: own properties, refused like any unknown key.
    [JSON.parse('{"__proto__":{"fan":{"on":true}}}'), /not a control of this device \(__proto__\)/],
    [JSON.parse('{"fan":{"__proto__":{"on":true}}}'), /fan: not a control of this device \(__proto__\)/],
  ];
  for (const [body, message] of refused) {
    assert.throws(
      () => parseCommand(body, pick(body)),
      (error: unknown) => {
        assert.ok(error instanceof BadCommand, `${JSON.stringify(body)}: ${String(error)}`);
        assert.match(error.message, message, JSON.stringify(body));
        return true;
      },
    );
  }
});

const SPEAKER: DeviceInfo["capabilities"] = {
  light: { dimmable: true, color: true, label: "Light" },
  volume: { label: "Volume" },
  soundMachine: {
    label: "Sound",
    tracks: [
      { id: "Waves.wav", label: "Waves" },
      { id: "Birds.wav", label: "Birds" },
    ],
  },
  temperature: {},
};

test("a speaker gets a volume slider and a sound machine with its tracks; commands are checked", () => {
  assert.deepEqual(controlsOf(SPEAKER), {
    light: { dimmable: true },
    volume: { label: "Volume" },
    soundMachine: {
      label: "Sound",
      tracks: [
        { id: "Waves.wav", label: "Waves" },
        { id: "Birds.wav", label: "Birds" },
      ],
    },
  });
  assert.deepEqual(parseCommand({ volume: 0 }, SPEAKER), { volume: 0 });
  assert.deepEqual(parseCommand({ volume: 35, soundMachine: { track: "Birds.wav" } }, SPEAKER), {
    volume: 35,
    soundMachine: { track: "Birds.wav" },
  });
  assert.deepEqual(parseCommand({ soundMachine: { on: false } }, SPEAKER), { soundMachine: { on: false } });
  const refused: [unknown, RegExp][] = [
    [{ volume: 101 }, /^volume: /],
    [{ volume: 12.5 }, /^volume: /],
    [{ volume: "50" }, /^volume: /],
    [{ soundMachine: { track: "Rain.wav" } }, /soundMachine\.track: not a track of this sound machine/],
    [{ soundMachine: { on: "yes" } }, /soundMachine\.on/],
    [{ soundMachine: { volume: 3 } }, /not a control of this device \(volume\)/],
    [{ soundMachine: {} }, /changes nothing/],
  ];
  for (const [body, message] of refused)
    assert.throws(
      () => parseCommand(body, SPEAKER),
      (error: unknown) => error instanceof BadCommand && message.test(error.message),
      JSON.stringify(body),
    );
  // A device without them refuses both.
  assert.throws(() => parseCommand({ volume: 10 }, FAN.capabilities), /not a control of this device \(volume\)/);
  assert.throws(
    () => parseCommand({ soundMachine: { on: true } }, FAN.capabilities),
    /not a control of this device \(soundMachine\)/,
  );
});

/** The capabilities a refused body is checked against: the alarm's for alarm parts, the fan's otherwise. */
function pick(body: unknown): DeviceInfo["capabilities"] {
  const keys = body && typeof body === "object" ? Object.keys(body) : [];
  return keys.some((k) => k.endsWith("Alarm")) ? ALARM.capabilities : FAN.capabilities;
}

/** A driver that records commands and answers as told. */
class FakeDriver implements Driver {
  readonly vendor = "test";
  readonly accountName = "home";
  readonly commands: [string, Command][] = [];
  refuse: string | undefined;
  sink: DriverSink | undefined;
  async start(ctx: { sink: DriverSink }): Promise<void> {
    this.sink = ctx.sink;
    ctx.sink.deviceFound(FAN, {
      fan: { on: false, speed: 20, direction: "forward", breeze: false },
      switches: { nightLight: false },
    });
    ctx.sink.deviceFound(ALARM, { smokeAlarm: { detected: false } });
    ctx.sink.linkStateChanged("connected");
  }
  async command(id: string, command: Command): Promise<void> {
    if (this.refuse) throw new Error(this.refuse);
    this.commands.push([id, command]);
  }
  async stop(): Promise<void> {}
}

async function setUp(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-controls-"));
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const registry = new DeviceRegistry(log);
  const driver = new FakeDriver();
  await driver.start({ sink: registry.sinkFor(driver) });
  const sources = { registry, accounts: [{ name: "home", vendor: "test" }], startedAt: Date.now() };
  const config = { host: "127.0.0.1", port: 0, passwordHash: hashPasswordSync(PASSWORD) };
  const web = new WebServer({ sources, log, dataDir: dir, config });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  const login = await fetch(`${base}/login`, {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ password: PASSWORD }).toString(),
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
  const command = (id: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/api/devices/${encodeURIComponent(id)}/command`, {
      method: "POST",
      body,
      headers: { Cookie: cookie, "Content-Type": "application/json", ...headers },
    });
  return { registry, driver, command, logs };
}

test("POST /api/devices/:id/command: guards, checks, and one command to the driver", async (t) => {
  const { registry, driver, command, logs } = await setUp(t);
  const on = JSON.stringify({ fan: { on: true } });
  assert.equal((await command(FAN.id, on, { Cookie: "" })).status, 401, "a session is needed");
  assert.equal((await command(FAN.id, on, { Origin: "http://evil.example" })).status, 403, "cross-site refused");
  assert.equal((await command(FAN.id, on, { "Sec-Fetch-Site": "cross-site" })).status, 403);
  const form = await command(FAN.id, "fan=on", { "Content-Type": "application/x-www-form-urlencoded" });
  assert.equal(form.status, 415, "a form post (which a foreign page can send without a preflight) is refused");
  assert.equal((await command(FAN.id, "{not json")).status, 400);
  assert.equal((await command(FAN.id, "x".repeat(9000))).status, 413);
  assert.equal((await command("test:nothing", on)).status, 404);
  const bad = await command(FAN.id, JSON.stringify({ fan: { speed: 50 } }));
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /one of 20, 40/);
  assert.deepEqual(driver.commands, [], "nothing refused reached the driver");

  const ok = await command(FAN.id, on);
  assert.equal(ok.status, 200);
  const body = (await ok.json()) as { ok: boolean; device: { state: { fan: { on: boolean } } } };
  assert.equal(body.ok, true);
  assert.equal(body.device.state.fan.on, true, "the answer carries the new state");
  assert.deepEqual(driver.commands, [[FAN.id, { fan: { on: true } }]]);
  assert.equal(registry.get(FAN.id)!.state.fan!.on, true);
  assert.ok(logs.lines.some((l) => l.device === FAN.id && /web page: command to Den Fan/.test(String(l.msg))));

  driver.refuse = "the vendor said no";
  const refused = await command(FAN.id, JSON.stringify({ fan: { speed: 80 } }));
  assert.equal(refused.status, 502);
  assert.match(((await refused.json()) as { error: string }).error, /the vendor said no/);
  driver.refuse = undefined;

  driver.sink!.availabilityChanged(FAN.id, false);
  const down = await command(FAN.id, on);
  assert.equal(down.status, 409);
  assert.match(((await down.json()) as { error: string }).error, /not reachable/);
  assert.equal(driver.commands.length, 1);
});

test("an unreachable device says which link is down and since when", async (t) => {
  const { registry, driver } = await setUp(t);
  const { deviceView } = await import("../../src/web/status.ts");
  const before = Date.now();
  driver.sink!.linkStateChanged("disconnected");
  driver.sink!.availabilityChanged(undefined, false);
  const since = new Map([[FAN.id, before]]);
  const view = deviceView(registry.get(FAN.id)!, undefined, {
    link: (a) => registry.linkState(a),
    downSince: (id) => since.get(id),
  });
  assert.equal(view.unreachable?.link, "disconnected");
  assert.equal(view.unreachable?.since, before);
  assert.match(
    view.unreachable!.text,
    /^Unreachable \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): the account's connection/,
  );
  const up = deviceView(registry.get(ALARM.id)!, undefined, { link: () => "connected", downSince: () => undefined });
  assert.equal(up.available, false);
  assert.match(
    up.unreachable!.text,
    /^Unreachable: the account is connected, but the vendor reports the device offline/,
  );
});
