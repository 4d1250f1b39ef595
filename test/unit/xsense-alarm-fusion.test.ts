// Fusing the cloud and local paths of X-Sense detectors: a change seen on both is delivered once, on
// either alone it is delivered at once, a clear is not undone by the slower path's late copy of the
// alarm, and a detector stays available while either path vouches for it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AlarmFusion, FusedSink } from "../../src/drivers/xsense/alarm-fusion.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { FakeSink } from "../helpers/fake-sink.ts";

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const ID = "xsense:det-1";
const INFO: DeviceInfo = {
  id: ID,
  vendor: "xsense",
  account: "home",
  kind: "smoke-alarm",
  name: "Hall",
  manufacturer: "X-Sense",
  model: "XS01-M",
  serialNumber: "00000001",
  capabilities: { smokeAlarm: {}, battery: { level: true } },
};

function setUp(windowMs = 15_000) {
  const c = clock();
  const target = new FakeSink();
  const fused = new FusedSink(target, { windowMs, now: c.now });
  fused.cloud.deviceFound(INFO, { smokeAlarm: { detected: false }, battery: { low: false, level: 100 } });
  const smoke = () =>
    target
      .of("stateChanged")
      .filter((call) => call.patch.smokeAlarm?.detected !== undefined)
      .map((call) => call.patch.smokeAlarm!.detected);
  return { ...c, target, fused, smoke };
}

test("an alarm seen on both paths is delivered once, whichever comes first", () => {
  for (const first of ["local", "cloud"] as const) {
    const { fused, smoke, advance } = setUp();
    const second = first === "local" ? "cloud" : "local";
    fused[first].stateChanged(ID, { smokeAlarm: { detected: true } });
    advance(400);
    fused[second].stateChanged(ID, { smokeAlarm: { detected: true } });
    assert.deepEqual(smoke(), [true], `${first} first`);
  }
});

test("an alarm on either path alone is delivered at once", () => {
  for (const path of ["local", "cloud"] as const) {
    const { fused, smoke } = setUp();
    fused[path].stateChanged(ID, { smokeAlarm: { detected: true } });
    assert.deepEqual(smoke(), [true], path);
  }
});

test("clear after alarm: the slower path's late alarm and clear are not delivered again", () => {
  const { fused, smoke, advance, target } = setUp();
  fused.local.stateChanged(ID, { smokeAlarm: { detected: true } });
  advance(200);
  fused.local.stateChanged(ID, { smokeAlarm: { detected: false } });
  advance(300);
  // The cloud's copies arrive after the local clear: without fusion the alarm would sound again.
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: true, muted: false } });
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: false, muted: false } });
  assert.deepEqual(smoke(), [true, false]);
  // Fields only the cloud reports still pass.
  assert.deepEqual(target.of("stateChanged").at(-1)!.patch, { smokeAlarm: { muted: false } });
  assert.equal(target.states.get(ID)!.smokeAlarm!.detected, false);
});

test("a cloud poll answered with the state from before a local alarm does not clear it", () => {
  const { fused, smoke, advance } = setUp();
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: false } });
  fused.local.stateChanged(ID, { smokeAlarm: { detected: true } });
  advance(1000);
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: false } }); // the poll's old picture
  assert.deepEqual(smoke(), [true]);
  advance(1000);
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: true } }); // the cloud catches up: nothing new
  assert.deepEqual(smoke(), [true]);
});

test("each path alone: raise, clear and raise again are all delivered", () => {
  for (const path of ["local", "cloud"] as const) {
    const { fused, smoke, advance } = setUp();
    for (const detected of [true, false, true, false]) {
      fused[path].stateChanged(ID, { smokeAlarm: { detected } });
      advance(50);
    }
    assert.deepEqual(smoke(), [true, false, true, false], path);
  }
});

test("a path left alone is believed again once the window has passed", () => {
  const { fused, smoke, advance } = setUp(15_000);
  fused.local.stateChanged(ID, { smokeAlarm: { detected: true } });
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: false } }); // stale within the window
  advance(15_001);
  // The local path went quiet (it missed the clear); the cloud's clear, repeated by a later poll, counts.
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: false } });
  assert.deepEqual(smoke(), [true, false]);
});

test("a clear only the cloud saw is delivered (the local path missed it)", () => {
  const { fused, smoke, advance } = setUp();
  fused.local.stateChanged(ID, { smokeAlarm: { detected: true } });
  advance(300);
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: true } });
  advance(5000);
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: false } });
  assert.deepEqual(smoke(), [true, false]);
});

test("battery, end of life and fault are fused the same way", () => {
  const { fused, target } = setUp();
  fused.local.stateChanged(ID, { battery: { low: true }, endOfLife: true, fault: "smoke sensor fault" });
  fused.cloud.stateChanged(ID, { battery: { low: true, level: 33 }, endOfLife: true, fault: "sensor" });
  const calls = target.of("stateChanged").map((c) => c.patch);
  assert.deepEqual(calls, [
    { battery: { low: true }, endOfLife: true, fault: "smoke sensor fault" },
    { battery: { level: 33 } },
  ]);
});

test("availability: either path vouches; with the cloud gone, No Response follows the local path", () => {
  const { fused, target } = setUp();
  const shown = () => target.available.get(ID);
  fused.local.availabilityChanged(ID, true);
  fused.cloud.availabilityChanged(undefined, false); // internet down: the driver gives up on the cloud link
  assert.equal(shown(), true, "the local path still vouches");
  fused.local.availabilityChanged(ID, false); // the station left the local broker
  assert.equal(shown(), false);
  fused.local.availabilityChanged(ID, true);
  assert.equal(shown(), true);
  fused.cloud.availabilityChanged(ID, true);
  fused.local.availabilityChanged(ID, false);
  assert.equal(shown(), true, "the cloud is back");
  const changes = target.of("availabilityChanged").map((c) => c.available);
  assert.deepEqual(changes, [false, true], "only real changes reach the core");
});

test("with the cloud unable to vouch and the local path up, the cloud's reports of fused fields are dropped", () => {
  const { fused, smoke, advance } = setUp();
  fused.local.availabilityChanged(ID, true);
  fused.local.stateChanged(ID, { smokeAlarm: { detected: true } });
  fused.cloud.availabilityChanged(ID, false);
  advance(60_000);
  fused.cloud.stateChanged(ID, { smokeAlarm: { detected: false } }); // a shadow the station stopped updating
  assert.deepEqual(smoke(), [true]);
});

test("AlarmFusion forgets the oldest detectors beyond its cap", () => {
  const fusion = new AlarmFusion({ maxDetectors: 3 });
  for (let i = 0; i < 10; i++) fusion.report(`d${i}`, "smokeAlarm.detected", "local", true);
  assert.equal(fusion.value("d0", "smokeAlarm.detected"), undefined);
  assert.equal(fusion.value("d9", "smokeAlarm.detected"), true);
});
