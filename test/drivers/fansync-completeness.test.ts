// Issue 17 §3, the driver's side: light-only modules are lights, H0E codes become a fault and clear,
// the config's per-device overrides beat what a fan reports, and an unknown model learns its speed
// steps from what it reports back, kept in the account's store across a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, setFrames } from "./fansync-harness.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { FakeSink } from "../helpers/fake-sink.ts";
import { waitFor } from "../helpers/wait.ts";

test("a light-only module is a light: H00 its power, H02 its dimmer; writes use those registers", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "lightOnly" }] } });
  t.after(() => h.close());
  const id = h.id(0);
  const vid = h.vid(0);
  const info = h.sink.infos.get(id)!;
  assert.equal(info.kind, "light");
  assert.deepEqual(info.capabilities, { light: { dimmable: true }, switches: { homeAway: { label: "Home Away" } } });
  assert.deepEqual(h.sink.states.get(id), { light: { on: false, brightness: 70 }, switches: { homeAway: false } });

  await h.driver.command(id, { light: { on: true, brightness: 40 } });
  await h.driver.command(id, { light: { brightness: 55 } });
  await h.driver.command(id, { light: { on: false } });
  assert.deepEqual(setFrames(h.sim, vid), [{ H00: 1, H02: 40 }, { H02: 55 }, { H00: 0 }]);
  await waitFor(() => h.sink.states.get(id)?.light?.on === false, 3000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.states.get(id)?.light?.brightness, 55);
  assert.equal(h.sink.states.get(id)?.fan, undefined, "never a fan");
});

test("an H0E code is a fault with its text until the device reports 0 again", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous" }] } });
  t.after(() => h.close());
  const id = h.id(0);
  const vid = h.vid(0);
  assert.equal(h.sink.states.get(id)?.fault, undefined);
  await h.sim.remote(vid, { H0E: 262 });
  await waitFor(() => h.sink.states.get(id)?.fault !== undefined, 3000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.states.get(id)?.fault, "Stalled fault (code 262)");
  await h.sim.remote(vid, { H0E: 0 });
  await waitFor(() => h.sink.states.get(id)?.fault === undefined, 3000, { on: [[h.sink, "call"]] });
});

test("config overrides (by name and by id) beat reported registers, hints and the model's ladder", async (t) => {
  const h = await harness({
    sim: { devices: [{ profile: "continuous", displayName: "Porch" }, { profile: "kute60" }] },
    start: false,
  });
  t.after(() => h.close());
  const overrides = {
    Porch: { light: false, direction: false, speedSteps: [100, 10, 40, 40] },
    [h.vid(1)]: { light: true, speedSteps: [30, 60, 90] },
  };
  const driver = await h.newDriver({ overrides });
  const porch = h.sink.infos.get(h.id(0))!.capabilities;
  assert.deepEqual(porch.fan, { speedSteps: [10, 40, 100], reversible: false, breeze: true });
  assert.equal(porch.light, undefined, "light: false hides a reported light kit");
  const kute = h.sink.infos.get(h.id(1))!.capabilities;
  assert.deepEqual(kute.fan?.speedSteps, [30, 60, 90], "the config beats the Kute60 ladder");
  assert.deepEqual(kute.light, { dimmable: true }, "light: true beats hideLightDimmer");

  await driver.command(h.id(0), { fan: { on: true, speed: 33 } });
  assert.deepEqual(setFrames(h.sim, h.vid(0)), [{ H00: 1, H02: 40 }], "writes snap to the configured steps");
  await driver.command(h.id(0), { fan: { direction: "reverse" } });
  assert.equal(setFrames(h.sim, h.vid(0)).length, 1, "direction: false: nothing is written");
});

const MODEL = "Zephyr52-FD9R1L0";

test("an unknown model learns its steps from its reports; they survive a restart", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "oddSteps" }] } });
  t.after(() => h.close());
  const id = h.id(0);
  const vid = h.vid(0);
  assert.equal(h.sink.infos.get(id)!.capabilities.fan?.speedSteps, undefined, "nothing known at first");

  // One odd answer is not enough (it could be a continuous fan's 100 % clamp).
  await h.driver.command(id, { fan: { speed: 60 } });
  const mismatches = () =>
    (h.store.get("learnedSteps") as Record<string, { mismatches: number[] }> | undefined)?.[MODEL];
  await waitFor(() => mismatches()?.mismatches.length === 1, 3000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.infos.get(id)!.capabilities.fan?.speedSteps, undefined);

  const announced = h.sink.next((c) => c.type === "deviceFound", 3000);
  await h.driver.command(id, { fan: { speed: 90 } });
  await announced;
  assert.deepEqual(h.sink.infos.get(id)!.capabilities.fan?.speedSteps, [45, 70, 100]);

  // The wall remote shows a level nobody asked for: it joins the ladder.
  const again = h.sink.next((c) => c.type === "deviceFound", 3000);
  await h.sim.remote(vid, { H02: 25 });
  await again;
  assert.deepEqual(h.sink.infos.get(id)!.capabilities.fan?.speedSteps, [25, 45, 70, 100]);
  assert.deepEqual(setFrames(h.sim, vid), [{ H02: 60 }, { H02: 90 }]);

  await h.driver.stop();
  const sink2 = new FakeSink();
  await h.newDriver({}, sink2, new JsonStore(h.store.path));
  assert.deepEqual(sink2.infos.get(id)!.capabilities.fan?.speedSteps, [25, 45, 70, 100], "kept in the data dir");
});

test("a continuous fan with a 100 % clamp never learns steps; a known model never learns", async (t) => {
  const h = await harness({
    sim: { devices: [{ profile: "spitfire", status: { H00: 1 }, behaviour: { clampMax: 87 } }, { profile: "kute60" }] },
  });
  t.after(() => h.close());
  const speedOf = (n: number) => h.sink.states.get(h.id(n))?.fan?.speed;
  for (const speed of [100, 40, 100, 75]) {
    await h.driver.command(h.id(0), { fan: { speed } });
    await waitFor(() => speedOf(0) === (speed === 100 ? 87 : speed), 3000, { on: [[h.sink, "call"]] });
  }
  await h.driver.command(h.id(1), { fan: { speed: 42 } });
  await h.driver.command(h.id(1), { fan: { speed: 90 } });
  await waitFor(() => speedOf(1) === 80, 3000, { on: [[h.sink, "call"]] });
  assert.deepEqual(setFrames(h.sim, h.vid(1)), [{ H02: 35 }, { H02: 80 }], "the known ladder snaps writes");
  assert.equal(h.sink.infos.get(h.id(0))!.capabilities.fan?.speedSteps, undefined);
  const learned = h.store.get("learnedSteps") as Record<string, { mismatches: number[] }>;
  assert.deepEqual(learned["SpitfireV2-FD6R2L5"]?.mismatches, [100]);
  assert.equal(learned["Kute60-FD6R1L5"], undefined);
});
