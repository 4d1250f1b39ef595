import { test } from "node:test";
import assert from "node:assert/strict";
import { applyPatch, diffPatch, snapToStep, type DeviceState } from "../../src/core/model.ts";

test("diffPatch keeps only what changes", () => {
  const state: DeviceState = {
    fan: { on: true, speed: 50, direction: "forward", breeze: false },
    temperature: 21.5,
    switches: { away: false },
  };
  assert.equal(
    diffPatch(state, { fan: { on: true, speed: 50 }, temperature: 21.5, switches: { away: false } }),
    undefined,
  );
  assert.deepEqual(diffPatch(state, { fan: { on: true, speed: 65 }, temperature: 22, switches: { away: true } }), {
    fan: { speed: 65 },
    temperature: 22,
    switches: { away: true },
  });
  assert.deepEqual(
    diffPatch(state, { smokeAlarm: { detected: false } }),
    { smokeAlarm: { detected: false } },
    "a first report of a part counts as a change",
  );
  assert.deepEqual(diffPatch({ fault: "262" }, { fault: null }), { fault: null });
});

test("applyPatch merges parts and fills a new part from its empty shape", () => {
  const next = applyPatch(
    { fan: { on: false, speed: 35, direction: "reverse", breeze: false } },
    { fan: { on: true }, light: { on: true }, motion: true, fault: "x" },
  );
  assert.deepEqual(next.fan, { on: true, speed: 35, direction: "reverse", breeze: false });
  assert.deepEqual(next.light, { on: true, brightness: 100 });
  assert.equal(next.motion, true);
  assert.equal(applyPatch(next, { fault: null }).fault, undefined);
});

test("snapToStep picks the nearest held level", () => {
  const steps = [20, 35, 50, 65, 80, 100];
  assert.equal(snapToStep(0, steps), 0);
  assert.equal(snapToStep(5, steps), 20);
  assert.equal(snapToStep(42, steps), 35);
  assert.equal(snapToStep(43, steps), 50);
  assert.equal(snapToStep(91, steps), 100);
  assert.equal(snapToStep(87.4, undefined), 87);
  assert.equal(snapToStep(150, undefined), 100);
});
