// The X-Sense local path end to end on loopback: the simulator's SBS50 publishes Home Assistant discovery
// to the bridge's embedded broker (and, in the last tests, to an external aedes broker), and LocalPath
// turns it into events and core state. With the real driver behind a FusedSink and the cloud cut off,
// alarms, clears, battery and end of life still arrive, and availability follows the local path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as netConnect, createServer, type AddressInfo } from "node:net";
import { Aedes } from "aedes";
import { FusedSink } from "../../src/drivers/xsense/alarm-fusion.ts";
import { LocalPath, type LocalPathEvents } from "../../src/drivers/xsense/local-path.ts";
import { localConfigSchema, localSettings, type LocalSettings } from "../../src/drivers/xsense/local-config.ts";
import { Sbs50LocalPublisher } from "../../sim/xsense/local-publisher.ts";
import { harness, type Harness } from "./xsense-harness.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";

const STATION = "13B96457";
const USER = "xsense-app";
const PASSWORD = "local-broker-pass-1";
const WAIT = 10_000;

function embedded(): LocalSettings {
  return {
    mode: "embedded",
    port: 0,
    bind: "127.0.0.1",
    username: USER,
    password: PASSWORD,
    prefix: "homeassistant",
    maxConnections: 4,
  };
}

/** A simulator and the real driver behind a FusedSink, plus a LocalPath whose resolver knows the sim's
 * detectors (the prototype XS99-ZZ left out: an unknown serial). */
async function rig(settings: LocalSettings = embedded(), options: { driver?: boolean } = {}) {
  const h = await harness({ start: false });
  const fused = new FusedSink(h.sink);
  if (options.driver !== false) await h.driver.start({ sink: fused.cloud, log: h.log, store: h.store });
  const known = new Map<string, string>();
  for (const d of h.sim.station(STATION).devices) if (d.sn !== "00000006") known.set(`${STATION}/${d.sn}`, h.id(d.sn));
  const local = new LocalPath({
    settings,
    log: h.log,
    resolve: (st, dev) => known.get(`${st}/${dev}`),
    sink: fused.local,
  });
  await local.start();
  const port = () => (local.transport as unknown as { port: number }).port;
  const publishers: Sbs50LocalPublisher[] = [];
  const attach = async (url = `mqtt://127.0.0.1:${port()}`) => {
    const p = await Sbs50LocalPublisher.attach(h.sim, STATION, { url, username: USER, password: PASSWORD });
    publishers.push(p);
    return p;
  };
  const close = async () => {
    for (const p of publishers) await p.stop();
    await local.stop();
    await h.close();
  };
  return { h, fused, local, port, attach, close };
}

function next<K extends keyof LocalPathEvents>(
  local: LocalPath,
  event: K,
  filter: (...args: LocalPathEvents[K]) => boolean = () => true,
) {
  return nextEvent<LocalPathEvents[K]>(local, event, filter as (...args: unknown[]) => boolean, WAIT);
}

/** Cut the bridge off the cloud (MQTT refused and dropped, as with the internet down) and wait until the
 * driver gives up on its alarm link for the detector (its grace is 300 ms in these tests). */
async function cloudDown(h: Harness, fused: FusedSink, id: string): Promise<void> {
  const givenUp = new Promise<void>((resolve) => {
    const original = fused.cloud.availabilityChanged.bind(fused.cloud);
    fused.cloud.availabilityChanged = (which, available) => {
      original(which, available);
      if (!available && (which === undefined || which === id)) resolve();
    };
  });
  h.sim.mqttAvailable = false;
  h.sim.dropMqtt();
  await withTimeout(givenUp, WAIT, "the driver never gave up on the cloud link");
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test("embedded broker: alarms, clears, battery and end of life arrive as events and core state", async () => {
  const r = await rig(embedded(), { driver: false });
  try {
    const live = next(r.local, "liveness", (e) => e.stationSn === STATION && e.up);
    await r.attach();
    await live;
    const smoke = r.h.id("00000001");

    const alarm = next(r.local, "alarm", (e) => e.deviceSn === "00000001");
    r.h.sim.raiseSmoke("00000001");
    assert.deepEqual((await alarm)[0], { stationSn: STATION, deviceSn: "00000001", id: smoke, kind: "smoke" });
    await waitFor(
      () =>
        r.h.sink.calls.some(
          (c) => c.type === "stateChanged" && c.id === smoke && c.patch.smokeAlarm?.detected === true,
        ),
      WAIT,
    );

    const clear = next(r.local, "clear", (e) => e.deviceSn === "00000001");
    r.h.sim.clearSmoke("00000001");
    assert.equal((await clear)[0].kind, "smoke");

    const battery = next(r.local, "battery", (e) => e.deviceSn === "00000001");
    r.h.sim.setBattery("00000001", 1);
    assert.deepEqual((await battery)[0], {
      stationSn: STATION,
      deviceSn: "00000001",
      id: smoke,
      low: true,
      status: "Low",
    });

    const eol = next(r.local, "endOfLife", (e) => e.deviceSn === "00000001");
    r.h.sim.endOfLife("00000001");
    assert.equal((await eol)[0].endOfLife, true);

    // CO on a CO detector and on a combo (CO, not smoke), heat on a heat detector.
    const co = next(r.local, "alarm", (e) => e.deviceSn === "00000002");
    r.h.sim.raiseCo("00000002");
    assert.equal((await co)[0].kind, "co");
    const combo = next(r.local, "alarm", (e) => e.deviceSn === "00000003");
    r.h.sim.raiseCo("00000003");
    assert.equal((await combo)[0].kind, "co");
    const heat = next(r.local, "alarm", (e) => e.deviceSn === "00000004");
    r.h.sim.raiseSmoke("00000004");
    assert.equal((await heat)[0].kind, "heat");
  } finally {
    await r.close();
  }
});

test("internet down: the real driver cut off, the local path carries state and availability", async () => {
  const r = await rig();
  try {
    const smoke = r.h.id("00000001");
    assert.equal(r.h.sink.available.get(smoke), true, "listed by the cloud");
    const live = next(r.local, "liveness", (e) => e.up);
    const publisher = await r.attach();
    await live;
    await waitFor(() => r.fused.localAvailable(smoke) || undefined, WAIT);

    await cloudDown(r.h, r.fused, smoke);
    // The driver marked the detectors unavailable; the local path still vouches for the SBS50's.
    assert.equal(r.h.sink.available.get(smoke), true, "No Response follows the local path, which is up");

    for (const [act, check] of [
      [() => r.h.sim.raiseSmoke("00000001"), () => r.h.sink.states.get(smoke)?.smokeAlarm?.detected === true],
      [() => r.h.sim.clearSmoke("00000001"), () => r.h.sink.states.get(smoke)?.smokeAlarm?.detected === false],
      [() => r.h.sim.setBattery("00000001", 0), () => r.h.sink.states.get(smoke)?.battery?.low === true],
      [() => r.h.sim.endOfLife("00000001"), () => r.h.sink.states.get(smoke)?.endOfLife === true],
    ] as Array<[() => void, () => boolean]>) {
      act();
      await waitFor(() => check() || undefined, WAIT);
    }
    const raised = r.h.sink.calls.filter(
      (c) => c.type === "stateChanged" && c.id === smoke && c.patch.smokeAlarm?.detected === true,
    );
    assert.equal(raised.length, 1, "the alarm reached the core once");

    // The station leaves the local broker: now nothing vouches for its detectors.
    const gone = next(r.local, "liveness", (e) => !e.up);
    await publisher.stop();
    await gone;
    await waitFor(() => r.h.sink.available.get(smoke) === false || undefined, WAIT);
    assert.equal(r.h.sink.available.get(r.h.id("00000002")), false);
  } finally {
    await r.close();
  }
});

test("both paths up: an alarm is delivered once, and the clear is not undone by the slower copy", async () => {
  const r = await rig();
  try {
    const smoke = r.h.id("00000001");
    await r.attach();
    await waitFor(() => r.fused.localAvailable(smoke) || undefined, WAIT);
    // The simulator publishes every change on both paths (local first, then the cloud's shadows).
    r.h.sim.raiseSmoke("00000001");
    await waitFor(() => r.h.sink.states.get(smoke)?.smokeAlarm?.detected === true || undefined, WAIT);
    r.h.sim.clearSmoke("00000001");
    await waitFor(() => r.h.sink.states.get(smoke)?.smokeAlarm?.detected === false || undefined, WAIT);
    // A sentinel after both: once its battery report arrived on both paths, every copy of the alarm has too.
    r.h.sim.setBattery("00000001", 1);
    await waitFor(() => r.h.sink.states.get(smoke)?.battery?.level === 33 || undefined, WAIT);
    await waitFor(() => r.h.sink.states.get(smoke)?.battery?.low === true || undefined, WAIT);
    const detected = r.h.sink.calls
      .filter((c) => c.type === "stateChanged" && c.id === smoke && c.patch.smokeAlarm?.detected !== undefined)
      .map((c) => (c.type === "stateChanged" ? c.patch.smokeAlarm!.detected : undefined));
    assert.deepEqual(detected, [true, false]);
  } finally {
    await r.close();
  }
});

test("bad input: wrong password, unknown serial, malformed JSON, foreign topics, oversized packets", async () => {
  const r = await rig(embedded(), { driver: false });
  try {
    const url = `mqtt://127.0.0.1:${r.port()}`;
    await assert.rejects(
      Sbs50LocalPublisher.attach(r.h.sim, STATION, { url, username: USER, password: "wrong-password" }),
    );
    await waitFor(() => r.h.logs.has(/refused an MQTT login/) || undefined, WAIT);
    const refused = r.h.logs.warnings.find((l) => /refused an MQTT login/.test(l.msg))!;
    assert.equal(refused.address, "127.0.0.1", "the peer's address is logged");
    assert.ok(!r.h.logs.text.includes("wrong-password") && !r.h.logs.text.includes(PASSWORD));

    // A CONNECT claiming 1 MB is cut off after its header.
    const socket = netConnect(r.port(), "127.0.0.1");
    socket.on("error", () => undefined);
    socket.write(Buffer.from([0x10, 0x80, 0x80, 0x40]));
    await once(socket, "close");
    await waitFor(() => r.h.logs.has(/oversized MQTT packet/) || undefined, WAIT);

    const publisher = await r.attach();
    const node = `SBS50${STATION}_00000001`;
    const state = `homeassistant/binary_sensor/${node}/${node}_smokealarm/state`;
    for (let i = 0; i < 200; i++) {
      publisher.publishRaw(state, "{not json");
      publisher.publishRaw(
        `homeassistant/binary_sensor/SBS50${STATION}_00000006/SBS50${STATION}_00000006_smokealarm/state`,
        '{"status":"Detected"}',
      );
      publisher.publishRaw("somewhere/else", "\u0000\u0001");
    }
    // The path still works after all that.
    const alarm = next(r.local, "alarm", (e) => e.deviceSn === "00000001");
    r.h.sim.raiseSmoke("00000001");
    await alarm;
    const unknown = r.h.logs.warnings.filter((l) => l.why === "unknown detector");
    assert.equal(unknown.length, 1, "an unknown serial is logged once");
    assert.equal(unknown[0]!.device, "00000006");
    assert.equal(r.h.logs.warnings.filter((l) => l.why === "state is not valid JSON").length, 1);
    assert.ok(r.h.sink.calls.every((c) => c.type !== "stateChanged" || c.id !== "xsense:undefined"));
  } finally {
    await r.close();
  }
});

test("the embedded broker refuses connections past its limit", async () => {
  const r = await rig({ ...embedded(), maxConnections: 2 } as LocalSettings, { driver: false });
  try {
    const open = [netConnect(r.port(), "127.0.0.1"), netConnect(r.port(), "127.0.0.1")];
    await Promise.all(open.map((s) => once(s, "connect")));
    const third = netConnect(r.port(), "127.0.0.1");
    third.on("error", () => undefined);
    await once(third, "close");
    await waitFor(() => r.h.logs.has(/too many open/) || undefined, WAIT);
    for (const s of open) s.destroy();
  } finally {
    await r.close();
  }
});

test("external broker: the SBS50 and the bridge both use the user's broker (aedes here)", async () => {
  const broker = await Aedes.createBroker();
  const server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const r = await rig(
    { mode: "external", url, username: undefined, password: undefined, prefix: "homeassistant" },
    { driver: false },
  );
  let serverOpen = true;
  try {
    await waitFor(() => r.local.up || undefined, WAIT, { message: "never connected to the external broker" });
    const entity = next(r.local, "entity", (e) => e.deviceSn === "00000004" && e.attr === "heatalarm");
    const live = next(r.local, "liveness", (e) => e.up);
    await r.attach(url);
    assert.equal((await entity)[0].model, "XH02-M");
    await live;
    const alarm = next(r.local, "alarm", (e) => e.deviceSn === "00000004");
    r.h.sim.raiseSmoke("00000004");
    assert.deepEqual((await alarm)[0], {
      stationSn: STATION,
      deviceSn: "00000004",
      id: r.h.id("00000004"),
      kind: "heat",
    });
    const heat = r.h.id("00000004");
    await waitFor(
      () =>
        r.h.sink.calls.some((c) => c.type === "stateChanged" && c.id === heat && c.patch.heatAlarm?.detected === true),
      WAIT,
    );

    // A bridge that starts after the station announced itself gets the retained configs.
    const late = new LocalPath({
      settings: { mode: "external", url, username: undefined, password: undefined, prefix: "homeassistant" },
      log: r.h.log,
    });
    const lateEntity = next(late, "entity", (e) => e.deviceSn === "00000002" && e.attr === "coalarm");
    await late.start();
    assert.equal((await lateEntity)[0].model, "XC01-M");
    await late.stop();

    // The broker goes away: the link and the station's liveness go down with it.
    const down = next(r.local, "liveness", (e) => !e.up);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    server.close();
    serverOpen = false;
    await down;
    assert.equal(r.local.up, false);
  } finally {
    await r.close();
    if (serverOpen) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      server.close();
    }
  }
});

test("config: accounts[].local takes an embedded broker or a URL, with clear problems otherwise", () => {
  const problems = (value: unknown) => {
    const result = localConfigSchema.safeParse(value);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  assert.deepEqual(problems({ broker: "embedded", username: "x", password: "12345678" }), []);
  assert.deepEqual(problems({ url: "mqtt://192.168.1.5:1883" }), []);
  assert.deepEqual(problems({ url: "mqtts://broker.lan", username: "u", password: "p" }), []);
  assert.deepEqual(problems({}), [
    "broker: give broker: embedded (the bridge runs the broker) or url (a broker you run)",
  ]);
  assert.deepEqual(problems({ broker: "embedded", url: "mqtt://a:1", username: "x", password: "12345678" }), [
    "url: give broker: embedded or url, not both",
  ]);
  assert.deepEqual(problems({ broker: "embedded" }), [
    "username: required with broker: embedded (type the same into the X-Sense app)",
    "password: required with broker: embedded (password or passwordFile): the broker is open to the whole LAN",
  ]);
  assert.deepEqual(problems({ broker: "embedded", username: "x", password: "short" }), [
    "password: must be at least 8 characters: the broker is open to the whole LAN",
  ]);
  assert.deepEqual(problems({ url: "mqtt://user:secret@host:1883" }), [
    "url: must be mqtt://host:port or mqtts://host:port, with no user or password in it",
  ]);
  assert.deepEqual(problems({ url: "mqtt://h:1", port: 1883 }), ["port: only with broker: embedded"]);
  assert.deepEqual(
    problems({ broker: "embedded", username: "x", password: "12345678", passwordFile: "/run/secrets/p" }),
    ["passwordFile: give password or passwordFile, not both"],
  );
  assert.deepEqual(problems({ broker: "embedded", username: "x", passwordFile: "relative/p" }), [
    "passwordFile: must be an absolute path",
  ]);
  assert.deepEqual(problems({ broker: "mosquitto", username: "x", password: "12345678" }).slice(0, 1), [
    'broker: must be "embedded" (or leave it out and give url)',
  ]);
  assert.deepEqual(problems({ url: "mqtt://h:1", colour: "red" }).length, 1);
  assert.throws(
    () => localSettings({ broker: "embedded", username: "x", passwordFile: "/nonexistent/hb-pass" }),
    /local\.passwordFile: cannot read "\/nonexistent\/hb-pass" \(ENOENT\)/,
  );
  assert.deepEqual(localSettings({ broker: "embedded", username: "x", password: "12345678" }), {
    mode: "embedded",
    port: 1883,
    bind: "0.0.0.0",
    username: "x",
    password: "12345678",
    prefix: "homeassistant",
    maxConnections: 16,
  });
});

test("accounts[].local in the driver: with the cloud cut off, an alarm comes over the station's broker", async (t) => {
  // A free loopback port for the embedded broker (the config takes a fixed port, as a user's would).
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const local = { broker: "embedded" as const, port, bind: "127.0.0.1", username: USER, password: PASSWORD };
  const h = await harness({ driver: { local } });
  const publisher = await Sbs50LocalPublisher.attach(h.sim, STATION, {
    url: `mqtt://127.0.0.1:${port}`,
    username: USER,
    password: PASSWORD,
  });
  t.after(async () => {
    await publisher.stop();
    await h.close();
  });
  const smoke = h.id("00000001");
  // The internet goes: MQTT refused and dropped. The station's local broker keeps the detector reachable.
  h.sim.mqttAvailable = false;
  h.sim.dropMqtt();
  await waitFor(() => h.sink.link === "disconnected", WAIT, { on: [[h.sink, "call"]] });
  h.sim.raiseSmoke("00000001");
  await waitFor(() => h.sink.states.get(smoke)?.smokeAlarm?.detected === true, WAIT, { on: [[h.sink, "call"]] });
  // Past the cloud link's grace (300 ms here) the detector still reads reachable: the local path vouches for it.
  await waitFor(() => h.logs.has(/alarm link \(MQTT\) has been down/), WAIT, { on: [[h.logs, "line"]] });
  assert.equal(h.sink.available.get(smoke), true, "No Response follows the local path, which is up");
});

test("the simulated station survives its broker resetting the connection (no uncaught ECONNRESET)", async (t) => {
  // A bare TCP "broker": CONNACK to the CONNECT; the station's next packet is answered with a TCP reset. An
  // unheard client error would be thrown from the event loop and end the whole test process (seen once
  // under load in the suite).
  const server = createServer((socket) => {
    socket.once("data", () => {
      socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      socket.once("data", () => socket.resetAndDestroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const publisher = new Sbs50LocalPublisher(STATION, { url: `mqtt://127.0.0.1:${port}` });
  await publisher.connect();
  publisher.publishRaw("homeassistant/status", "online");
  await waitFor(() => publisher.lastError !== undefined, WAIT);
  assert.equal((publisher.lastError as NodeJS.ErrnoException).code, "ECONNRESET");
  await publisher.stop();
});
