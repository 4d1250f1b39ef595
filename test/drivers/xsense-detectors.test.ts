// Every detector the app shows beyond the smoke, CO and heat alarms, against the simulator's household
// (sim/xsense/households.ts): thermo-hygrometers (readings from the shadows' compact keys, live read),
// water leak sensors (RF and Wi-Fi, pushed as alarms are), alarm listeners (the alarm they hear) and the
// CO peak.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, type Harness } from "./xsense-harness.ts";
import type { SinkCall } from "../helpers/fake-sink.ts";
import { waitFor } from "../helpers/wait.ts";
import { everyDetectorHouses, HOUSEHOLD as H } from "../../sim/xsense/households.ts";
import type { SelfTestRequest } from "../../sim/xsense/index.ts";

const changed = (id: string, pred: (c: Extract<SinkCall, { type: "stateChanged" }>) => boolean) => (c: SinkCall) =>
  c.type === "stateChanged" && c.id === id && pred(c);

async function household(): Promise<{ h: Harness; liveReads: SelfTestRequest[] }> {
  const liveReads: SelfTestRequest[] = [];
  const h = await harness({ sim: { houses: everyDetectorHouses() }, start: false });
  h.sim.on("liveRead", (r) => liveReads.push(r));
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  return { h, liveReads };
}

test("each new model is one device of its kind with the capabilities it has", async (t) => {
  const { h } = await household();
  t.after(() => h.close());
  const info = (sn: string) => h.sink.infos.get(h.id(sn));
  for (const sn of [H.climate, H.climate0A, H.climate0B, H.wifiClimate]) {
    assert.equal(info(sn)?.kind, "climate-sensor", sn);
    assert.deepEqual(info(sn)?.capabilities, { temperature: {}, humidity: {}, battery: { level: true } }, sn);
  }
  for (const sn of [H.leak, H.leak0A, H.wifiLeak]) {
    assert.equal(info(sn)?.kind, "leak-sensor", sn);
    assert.deepEqual(info(sn)?.capabilities.leak, {}, sn);
    assert.equal(info(sn)?.capabilities.smokeAlarm, undefined, "a water sensor's flag is never smoke");
  }
  for (const sn of [H.listener, H.listener100]) {
    assert.equal(info(sn)?.kind, "alarm-listener", sn);
    assert.deepEqual(info(sn)?.capabilities.smokeAlarm, { selfTest: true, mute: true });
    assert.deepEqual(info(sn)?.capabilities.coAlarm, { selfTest: true, mute: true, ppm: false });
  }
  assert.deepEqual(info(H.co)?.capabilities.coAlarm, { selfTest: true, mute: true, ppm: true, peak: true });
  // Readings from the shadows' compact keys (b = °C, c = %), before any push.
  assert.equal(h.sink.states.get(h.id(H.climate))?.temperature, 21.5);
  assert.equal(h.sink.states.get(h.id(H.climate))?.humidity, 45);
  assert.equal(h.sink.states.get(h.id(H.wifiClimate))?.temperature, 21.5, "the Wi-Fi STH0C from its own shadows");
  assert.equal(h.sink.states.get(h.id(H.leak))?.leak, false);
  assert.equal(h.sink.states.get(h.id(H.wifiLeak))?.leak, false);
});

test("fresh readings are asked for with the app's appTempData write, and come back as reports", async (t) => {
  const { h, liveReads } = await household();
  t.after(() => h.close());
  const id = h.id(H.climate0B);
  const reading = h.sink.next(changed(id, (c) => c.patch.temperature === 18.3 && c.patch.humidity === 61));
  // The write goes out once the link is up (start() has resolved by then, the simulator has not answered yet);
  // the station answers with this reading, which no report has carried so far.
  h.sim.setSilently(H.climate0B, { b: "18.25", c: "61" });
  await reading;
  assert.equal(liveReads.length, 1);
  const { thing, shadow, desired } = liveReads[0]!;
  assert.equal(thing, `SBS50${H.station}`);
  assert.equal(shadow, "2nd_apptempdata");
  assert.deepEqual(Object.keys(desired), [
    "shadow",
    "deviceSN",
    "source",
    "report",
    "reportDst",
    "timeoutM",
    "userId",
    "time",
    "stationSN",
  ]);
  assert.deepEqual(desired.deviceSN, [H.climate, H.climate0A, H.climate0B], "the STH children, not the Wi-Fi STH0C");
  assert.equal(desired.userId, h.sim.sub);
  assert.match(String(desired.time), /^\d{14}$/);
  assert.equal(h.sink.states.get(id)?.temperature, 18.3);
  assert.equal(h.sink.states.get(id)?.humidity, 61);
});

test("temperature and humidity changes are pushed; a threshold alarm (`a`) raises nothing", async (t) => {
  const { h } = await household();
  t.after(() => h.close());
  const id = h.id(H.climate);
  const pushed = h.sink.next(changed(id, (c) => c.patch.temperature === 26.5));
  h.sim.setClimate(H.climate, 26.5, 70);
  await pushed;
  assert.equal(h.sink.states.get(id)?.humidity, 70);
  const before = h.sink.calls.length;
  const after = h.sink.next(changed(id, (c) => c.patch.temperature === 27));
  h.sim.setSilently(H.climate, { a: "1" });
  h.sim.setClimate(H.climate, 27, 70);
  await after;
  const alarms = h.sink.calls
    .slice(before)
    .filter((c) => c.type === "stateChanged" && (c.patch.smokeAlarm || c.patch.leak !== undefined));
  assert.deepEqual(alarms, []);
});

test("a leak is pushed as an alarm is and clears, on the RF and the Wi-Fi water sensor", async (t) => {
  const { h } = await household();
  t.after(() => h.close());
  for (const sn of [H.leak, H.wifiLeak]) {
    const id = h.id(sn);
    const raised = h.sink.next(
      changed(id, (c) => c.patch.leak === true),
      1000,
    );
    const t0 = Date.now();
    h.sim.raiseLeak(sn);
    await raised;
    assert.ok(Date.now() - t0 < 500, "no batching");
    const cleared = h.sink.next(
      changed(id, (c) => c.patch.leak === false),
      1000,
    );
    h.sim.clearLeak(sn);
    await cleared;
    assert.equal(h.sink.states.get(id)?.leak, false);
    assert.equal(h.sink.states.get(id)?.smokeAlarm, undefined, sn);
  }
});

test("a listener reports the alarm it hears: smoke, then CO", async (t) => {
  const { h } = await household();
  t.after(() => h.close());
  const id = h.id(H.listener);
  let heard = h.sink.next(
    changed(id, (c) => c.patch.smokeAlarm?.detected === true),
    1000,
  );
  h.sim.listenerHears(H.listener, "smoke");
  await heard;
  assert.notEqual(h.sink.states.get(id)?.coAlarm?.detected, true);
  let quiet = h.sink.next(
    changed(id, (c) => c.patch.smokeAlarm?.detected === false),
    1000,
  );
  h.sim.listenerQuiet(H.listener);
  await quiet;
  heard = h.sink.next(
    changed(id, (c) => c.patch.coAlarm?.detected === true),
    1000,
  );
  h.sim.listenerHears(H.listener, "co");
  await heard;
  assert.notEqual(h.sink.states.get(id)?.smokeAlarm?.detected, true, "the CO pattern is not smoke");
  quiet = h.sink.next(
    changed(id, (c) => c.patch.coAlarm?.detected === false),
    1000,
  );
  h.sim.listenerQuiet(H.listener);
  await quiet;
});

test("the CO peak is the highest level the detector reported, kept after the alarm clears", async (t) => {
  const { h } = await household();
  t.after(() => h.close());
  const id = h.id(H.co);
  assert.equal(h.sink.states.get(id)?.coAlarm?.peakPpm, 0);
  let peak = h.sink.next(changed(id, (c) => c.patch.coAlarm?.peakPpm === 420));
  h.sim.raiseCo(H.co, 420);
  await peak;
  const cleared = h.sink.next(changed(id, (c) => c.patch.coAlarm?.detected === false));
  h.sim.clearCo(H.co);
  await cleared;
  peak = h.sink.next(changed(id, (c) => c.patch.coAlarm?.ppm === 120));
  h.sim.raiseCo(H.co, 120);
  await peak;
  assert.equal(h.sink.states.get(id)?.coAlarm?.peakPpm, 420);
});

test("a sleeping Wi-Fi detector stays reachable between check-ins, whatever its presence says", async (t) => {
  const { h } = await household();
  t.after(() => h.close());
  const id = h.id(H.sleeper);
  // Asleep since a check-in 2 h ago: onLine 0 in the station list, online "0" in its record.
  assert.equal(h.sink.available.get(id), true, "not No Response between check-ins");
  // It checks in and sleeps again: its thing disconnects; past the presence grace the station counts as
  // offline, the detector does not.
  h.sim.sleepWifi(H.sleeper, Date.now() - 60_000);
  await waitFor(() => h.logs.matching(/Shed smoke is offline/).length, 3000, { on: [[h.logs, "line"]] });
  assert.deepEqual(
    h.sink.of("availabilityChanged").filter((c) => c.id === id),
    [],
  );
});

test("a sleeping Wi-Fi detector is No Response once its last check-in is older than its window", async (t) => {
  const houses = everyDetectorHouses();
  const sleeper = houses[0]!.stations.find((s) => s.sn === H.sleeper)!;
  sleeper.state = { online: "0", onlineTime: "20200101000000" };
  const h = await harness({ sim: { houses } });
  t.after(() => h.close());
  const id = h.id(H.sleeper);
  assert.equal(h.sink.available.get(id), false, "checked in years ago: No Response from the start");
  assert.equal(h.sink.available.get(h.id(H.wifiLeak)), true, "a sensor with no check-in time: by its flags");
  const availability = (available: boolean) =>
    h.sink.next((c) => c.type === "availabilityChanged" && c.id === id && c.available === available, 5000);
  // A check-in just short of 34 h ago: reachable, until the window closes with no report at all.
  let next = availability(true);
  h.sim.sleepWifi(H.sleeper, Date.now() - 34 * 3_600_000 + 3000);
  await next;
  next = availability(false);
  await next;
  assert.equal(h.logs.matching(/Shed smoke has not checked in since/).length, 1);
  // It checks in again: reachable at once.
  next = availability(true);
  h.sim.checkInWifi(H.sleeper);
  await next;
});
