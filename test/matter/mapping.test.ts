// Pure rules of the Matter side: setup-code validity, fan mode <-> percent coupling, level <-> brightness.
import { test } from "node:test";
import assert from "node:assert/strict";
import { discriminatorProblem, isValidPasscode, passcodeProblem, randomSetupCodes } from "../../src/matter/pairing.ts";
import { endpointIdFor, uniqueIdFor } from "../../src/matter/bridged.ts";
import { fanModeFor, percentForMode, stepTarget } from "../../accessories/fan/matter.ts";
import { brightnessToLevel, levelToBrightness, nearestPresetK } from "../../accessories/light/matter.ts";

const Off = 0,
  Low = 1,
  Medium = 2,
  High = 3,
  On = 4,
  Auto = 5;

test("passcodes: 1..99999998 except the spec's forbidden list", () => {
  for (const bad of [0, 11111111, 22222222, 99999999, 12345678, 87654321, 100000000, -1, 1.5])
    assert.equal(isValidPasscode(bad), false, String(bad));
  for (const good of [1, 20202021, 99999998, 12345679]) assert.equal(isValidPasscode(good), true, String(good));
  assert.match(passcodeProblem(12345678)!, /forbidden/);
  assert.equal(discriminatorProblem(4095), undefined);
  assert.ok(discriminatorProblem(4096));
  assert.ok(discriminatorProblem(-1));
  const draws = [11111110, 20202020]; // the first draw gives 11111111 (forbidden) and must be skipped
  const codes = randomSetupCodes((max) => (max === 4096 ? 4000 : draws.shift()!));
  assert.deepEqual(codes, { passcode: 20202021, discriminator: 4000 });
});

test("fan mode follows percent by thirds; Off only at 0", () => {
  assert.deepEqual([0, 1, 33, 34, 66, 67, 100].map(fanModeFor), [Off, Low, Low, Medium, Medium, High, High]);
});

test("fan mode writes map to representative speeds (stepped: lowest/middle/highest step; On: last speed)", () => {
  const steps = [20, 35, 50, 65, 80, 100];
  assert.deepEqual(
    [Off, Low, Medium, High].map((m) => percentForMode(m, undefined, 0)),
    [0, 33, 66, 100],
  );
  assert.deepEqual(
    [Off, Low, Medium, High].map((m) => percentForMode(m, steps, 0)),
    [0, 20, 50, 100],
  );
  assert.equal(percentForMode(On, steps, 63), 65);
  assert.equal(percentForMode(On, undefined, 0), 100);
  assert.equal(percentForMode(Auto, steps, 50), undefined);
});

test("step command walks the levels, off below the lowest, wrapping only when asked", () => {
  const levels = [20, 50, 100];
  assert.equal(stepTarget(0, levels, true, false, true), 20);
  assert.equal(stepTarget(50, levels, true, false, true), 100);
  assert.equal(stepTarget(100, levels, true, false, true), 100);
  assert.equal(stepTarget(100, levels, true, true, false), 20);
  assert.equal(stepTarget(20, levels, false, false, true), 0);
  assert.equal(stepTarget(20, levels, false, false, false), 20);
});

test("level 1..254 and brightness 1..100 map end to end and round-trip brightness", () => {
  assert.equal(brightnessToLevel(1), 1);
  assert.equal(brightnessToLevel(100), 254);
  assert.equal(levelToBrightness(254), 100);
  assert.equal(levelToBrightness(1), 1);
  for (let b = 1; b <= 100; b++) assert.equal(levelToBrightness(brightnessToLevel(b)), b);
});

test("colour temperature snaps to the nearest preset in mireds", () => {
  assert.equal(nearestPresetK(260, [2700, 3000, 4000, 5000]), 4000);
  assert.equal(nearestPresetK(370, [2700, 3000, 4000, 5000]), 2700);
});

test("endpoint ids and unique ids are stable and within the spec's limits", () => {
  assert.equal(endpointIdFor("fansync:abc.1"), "dev-fansync_abc_1");
  assert.equal(uniqueIdFor("fansync:short"), "fansync:short");
  const long = uniqueIdFor(`xsense:${"x".repeat(40)}`);
  assert.equal(long.length, 32);
  assert.equal(long, uniqueIdFor(`xsense:${"x".repeat(40)}`));
});
