// Pure FanSync mapping and write rules: registers <-> core state, capability detection, back-off.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  planWrites,
  registersToState,
  registersToPatch,
  faultText,
  speedForWrite,
} from "../../src/drivers/fansync/registers.ts";
import { detectTraits, type FanSyncTraits } from "../../src/drivers/fansync/capabilities.ts";
import { backoffDelay } from "../../src/core/timing.ts";
import { LearnedSteps } from "../../src/drivers/fansync/learned-steps.ts";

const FULL = { H00: 1, H01: 0, H02: 50, H05: 0, H06: 0, H0B: 0, H0C: 80, H0D: 0, H0E: 0 };
const dc = detectTraits("OdynCustom-FDR1L2", FULL, {});
const kute = detectTraits("Kute60-FD6R1L5", FULL, { hideLightDimmer: true });
const cct = detectTraits("Influx-FDR1L3", { ...FULL, H04: 3000 }, {});
const ac = detectTraits("Brewmaster-FAR1L2", FULL, {});

test("power off is {H00:0} alone, whatever else the fan command carries", () => {
  assert.deepEqual(planWrites(FULL, dc, { fan: { on: false, speed: 30, direction: "reverse", breeze: true } }), [
    { H00: 0 },
  ]);
  assert.deepEqual(planWrites(FULL, dc, { fan: { speed: 0 } }), [{ H00: 0 }], "speed 0 means off");
  assert.deepEqual(planWrites({ ...FULL, H00: 0 }, dc, { fan: { on: false } }), [], "already off: nothing");
});

test("power on carries the current (or requested) speed", () => {
  const off = { ...FULL, H00: 0, H02: 42 };
  assert.deepEqual(planWrites(off, dc, { fan: { on: true } }), [{ H00: 1, H02: 42 }]);
  assert.deepEqual(planWrites(off, dc, { fan: { on: true, speed: 70 } }), [{ H00: 1, H02: 70 }]);
  assert.deepEqual(
    planWrites({ ...off, H02: 0 }, dc, { fan: { on: true } }),
    [{ H00: 1, H02: 50 }],
    "no speed known: a middle one",
  );
  assert.deepEqual(
    planWrites({ ...off, H02: 87 }, kute, { fan: { on: true } }),
    [{ H00: 1, H02: 80 }],
    "stepped: a level it holds",
  );
  assert.deepEqual(planWrites({ ...off, H01: 1 }, dc, { fan: { on: true, speed: 70 } }), [{ H00: 1, H02: 70, H01: 0 }]);
  assert.deepEqual(planWrites({ ...off, H06: 0 }, dc, { fan: { on: true, direction: "reverse" } }), [
    { H00: 1, H02: 42, H06: 1 },
  ]);
});

test("speed writes: only when changed, clamped, snapped; H01:0 only when H01 is not 0", () => {
  assert.deepEqual(planWrites(FULL, dc, { fan: { speed: 50 } }), []);
  assert.deepEqual(planWrites(FULL, dc, { fan: { speed: 33 } }), [{ H02: 33 }]);
  assert.deepEqual(planWrites(FULL, dc, { fan: { speed: 250 } }), [{ H02: 100 }]);
  assert.deepEqual(planWrites(FULL, dc, { fan: { speed: 0.4 } }), [{ H02: 1 }]);
  assert.deepEqual(planWrites({ ...FULL, H01: 1 }, dc, { fan: { speed: 33 } }), [{ H02: 33, H01: 0 }]);
  assert.deepEqual(
    planWrites({ ...FULL, H01: 1 }, dc, { fan: { speed: 33, breeze: true } }),
    [{ H02: 33 }],
    "breeze kept when asked",
  );
  assert.deepEqual(planWrites(FULL, kute, { fan: { speed: 87 } }), [{ H02: 80 }]);
  assert.deepEqual(planWrites(FULL, kute, { fan: { speed: 5 } }), [{ H02: 20 }]);
  assert.deepEqual(planWrites({ ...FULL, H02: 66 }, ac, { fan: { speed: 60 } }), []);
  assert.deepEqual(
    planWrites({ ...FULL, H00: 0 }, dc, { fan: { speed: 33 } }),
    [{ H02: 33 }],
    "never starts the fan as a side effect",
  );
});

test("direction: 0/1 on DC fans, 2 (toggle) on AC families, nothing when not reversible", () => {
  assert.deepEqual(planWrites(FULL, dc, { fan: { direction: "reverse" } }), [{ H06: 1 }]);
  assert.deepEqual(planWrites({ ...FULL, H06: 1 }, dc, { fan: { direction: "forward" } }), [{ H06: 0 }]);
  assert.deepEqual(planWrites(FULL, dc, { fan: { direction: "forward" } }), []);
  assert.deepEqual(planWrites(FULL, ac, { fan: { direction: "reverse" } }), [{ H06: 2 }]);
  const fixed = detectTraits("OdynCustom-FDR1L2", FULL, { hideFanDirection: true });
  assert.deepEqual(planWrites(FULL, fixed, { fan: { direction: "reverse" } }), []);
});

test("light writes, colour presets, Home Away alone, separate writes per capability", () => {
  assert.deepEqual(planWrites(FULL, dc, { light: { on: true } }), [{ H0B: 1 }]);
  assert.deepEqual(
    planWrites(FULL, dc, { light: { on: true, brightness: 0 } }),
    [],
    "brightness 0 means off and it is off",
  );
  assert.deepEqual(planWrites({ ...FULL, H0B: 1 }, dc, { light: { on: false, brightness: 30 } }), [{ H0B: 0 }]);
  assert.deepEqual(planWrites(FULL, dc, { light: { brightness: 130 } }), [{ H0C: 100 }]);
  assert.deepEqual(planWrites({ ...FULL, H04: 3000 }, cct, { light: { colorTemperatureK: 4600 } }), [{ H04: 5000 }]);
  assert.deepEqual(planWrites(FULL, dc, { light: { colorTemperatureK: 4000 } }), [], "not tunable");
  assert.deepEqual(planWrites(FULL, kute, { light: { on: true } }), [], "hidden phantom light");
  assert.deepEqual(planWrites(FULL, dc, { switches: { homeAway: true } }), [{ H0D: 1 }]);
  assert.deepEqual(planWrites(FULL, dc, { fan: { speed: 20 }, light: { on: true }, switches: { homeAway: true } }), [
    { H02: 20 },
    { H0B: 1 },
    { H0D: 1 },
  ]);
});

test("registers map to the core state; H0E becomes a fault text", () => {
  assert.deepEqual(registersToState({ ...FULL, H06: 1, H01: 1, H0B: 1, H0D: 1, H0E: 262 }, dc), {
    fan: { on: true, speed: 50, direction: "reverse", breeze: true },
    light: { on: true, brightness: 80 },
    switches: { homeAway: true },
    fault: "Stalled fault (code 262)",
  });
  assert.deepEqual(registersToState({ ...FULL, H04: 5000 }, cct).light, {
    on: false,
    brightness: 80,
    colorTemperatureK: 5000,
  });
  assert.equal(registersToState({ ...FULL, H04: 1234 }, cct).light?.colorTemperatureK, undefined);
  assert.equal(registersToPatch(FULL, dc).fault, null, "healthy clears a fault");
  assert.equal(faultText(0), undefined);
  assert.equal(faultText(999), "Unknown error (code 999)");
  assert.equal(speedForWrite(50, [33, 66, 100]), 66);
});

test("capability detection", () => {
  assert.deepEqual(dc.capabilities, {
    fan: { reversible: true, breeze: true },
    light: { dimmable: true },
    switches: { homeAway: { label: "Home Away" } },
  });
  assert.equal(kute.capabilities.light, undefined);
  assert.deepEqual(kute.capabilities.fan?.speedSteps, [20, 35, 50, 65, 80, 100]);
  assert.deepEqual(ac.capabilities.fan?.speedSteps, [33, 66, 100]);
  assert.equal(ac.directionToggle, true);
  assert.equal(dc.directionToggle, false);
  assert.deepEqual(cct.capabilities.light?.colorTemperatureK, [3000, 4000, 5000]);
  assert.deepEqual(
    detectTraits("Corke36-FD6R1L5", { ...FULL, H04: 2700 }, {}).capabilities.light?.colorTemperatureK,
    [2700, 3000, 3500, 4000, 5000],
  );
  assert.equal(
    detectTraits("Influx-FDR1L3", { ...FULL, H04: 2700 }, {}).capabilities.light?.colorTemperatureK,
    undefined,
    "2700 is not a preset of a non-Corke model",
  );
  const noLight = detectTraits("SpitfireV2-FD6R2L5", { H00: 0, H01: 0, H02: 30, H04: 0, H06: 0, H0E: 0 }, {});
  assert.equal(noLight.capabilities.light, undefined);
  assert.equal(noLight.capabilities.switches, undefined);
  assert.equal(
    detectTraits("X-FDR1L2", FULL, { hideLightDimmer: "true" }).capabilities.light?.dimmable,
    true,
    "only an explicit true hides",
  );
  const sticky: FanSyncTraits = detectTraits("Influx-FDR1L3", { ...FULL, H04: 4321 }, {}, cct);
  assert.deepEqual(
    sticky.capabilities.light?.colorTemperatureK,
    [3000, 4000, 5000],
    "never withdrawn on one odd reading",
  );
});

test("back-off: full jitter under an exponential ceiling, capped", () => {
  assert.equal(
    backoffDelay(0, 500, 30_000, () => 0.999),
    499,
  );
  assert.equal(
    backoffDelay(3, 500, 30_000, () => 0.5),
    2000,
  );
  assert.equal(
    backoffDelay(20, 500, 30_000, () => 0.5),
    15_000,
  );
  assert.equal(
    backoffDelay(5, 500, 30_000, () => 0),
    0,
  );
});

test("a reported speed outside 0-100 (a broken report) reaches the core clamped", () => {
  assert.equal(registersToState({ ...FULL, H00: 1, H02: 250 }, dc).fan?.speed, 100);
  assert.equal(registersToState({ ...FULL, H00: 1, H02: -3 }, dc).fan?.speed, 0);
});

test("light-only modules: detected by model suffix or device class; H00/H02 are the light", () => {
  const l2 = detectTraits("FanSyncLight-L2", { H00: 1, H02: 30, H04: 0, H05: 0, H0E: 0 }, {});
  assert.equal(l2.lightOnly, true);
  assert.deepEqual(l2.capabilities, { light: { dimmable: true } });
  assert.equal(
    detectTraits("Hall-L1", { H00: 1, H02: 30 }, {}).capabilities.light?.dimmable,
    false,
    "an L1 never dims",
  );
  assert.equal(detectTraits("Mystery", { H00: 1, H02: 30 }, {}, undefined, { deviceClass: "L" }).lightOnly, true);
  assert.equal(detectTraits("OdynCustom-FDR1L2", FULL, {}).lightOnly, false, "-FDR1L2 is a fan with a light kit");
  assert.deepEqual(registersToState({ H00: 1, H02: 30, H0E: 265 }, l2), {
    light: { on: true, brightness: 30 },
    fault: "Over temperature (code 265)",
  });
  const off = { H00: 0, H02: 30 };
  assert.deepEqual(planWrites(off, l2, { light: { on: true, brightness: 60 } }), [{ H00: 1, H02: 60 }]);
  assert.deepEqual(planWrites({ ...off, H00: 1 }, l2, { light: { on: false, brightness: 10 } }), [{ H00: 0 }]);
  assert.deepEqual(planWrites(off, l2, { fan: { on: true } }), [], "no fan to start");
});

test("learned steps: two distinct odd answers make a ladder; stored junk is dropped, not trusted", () => {
  const learned = new LearnedSteps({
    ...JSON.parse('{"__proto__": {"levels": [1], "mismatches": [2, 3]}}'),
    "Good-1": { levels: [45, 70, "x", 300], mismatches: [60, 90] },
    "Bad-2": "nonsense",
    ["x".repeat(65)]: { levels: [50], mismatches: [1, 2] },
  });
  assert.deepEqual(learned.stepsFor("Good-1"), [45, 70, 100]);
  assert.equal(learned.stepsFor("Bad-2"), undefined);
  assert.equal(learned.stepsFor("x".repeat(65)), undefined, "over-long model names are not kept");
  assert.equal(learned.observe("Clamp", 87, 100), true);
  assert.equal(learned.observe("Clamp", 87, 100), false, "the same request again is no new evidence");
  assert.equal(learned.stepsFor("Clamp"), undefined, "one odd request is not a ladder");
  assert.equal(learned.observe("constructor", 50, 60), false, "unsafe keys are refused");
  assert.deepEqual(Object.keys(learned.toJSON() ?? {}).sort(), ["Clamp", "Good-1"], "junk entries are dropped");
});
