// Pure unit tests of the X-Sense field parsing for every model kind beyond the smoke, CO and heat alarms
// (docs/protocols/xsense.md §5.4, §5.5) and of the check-in rule of sleeping Wi-Fi detectors (§5.6).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MODELS } from "../../src/drivers/xsense/models.ts";
import { fieldsToPatch } from "../../src/drivers/xsense/parse.ts";
import { checkInFresh, parseStamp, staleAt } from "../../src/drivers/xsense/check-in.ts";

const spec = (model: string) => MODELS[model]!;

test("thermo-hygrometers: compact b/c keys or long names; the threshold alarm `a` is not an alarm", () => {
  for (const model of ["STH51", "STH0A", "STH0B", "STH0C"]) {
    const { patch, problems } = fieldsToPatch(spec(model), { status: { a: "1", b: "21.46", c: "44.5", batInfo: "2" } });
    assert.deepEqual(patch, { temperature: 21.5, humidity: 44.5, battery: { level: 67, low: false } }, model);
    assert.deepEqual(problems, []);
  }
  assert.deepEqual(fieldsToPatch(spec("STH51"), { temperature: -3.2, humidity: "80" }).patch, {
    temperature: -3.2,
    humidity: 80,
  });
  const bad = fieldsToPatch(spec("STH51"), { b: "hot", c: "140" });
  assert.deepEqual(bad.patch, {});
  assert.deepEqual(bad.problems, ['b="hot"', 'c="140"']);
  assert.deepEqual(fieldsToPatch(spec("STH51"), { b: "999" }).problems, ['b="999"'], "outside what it can read");
});

test("water sensors: the alarm flag (or the Wi-Fi waterAlarmStatus) is a leak, never smoke", () => {
  for (const model of ["SWS51", "SWS0A"]) {
    assert.deepEqual(fieldsToPatch(spec(model), { isAlarm: "1" }).patch, { leak: true }, model);
    assert.deepEqual(fieldsToPatch(spec(model), { alarmStatus: "0" }).patch, { leak: false }, model);
  }
  assert.deepEqual(fieldsToPatch(spec("SWS0B"), { waterAlarmStatus: "1", batInfo: "1" }).patch, {
    leak: true,
    battery: { level: 33, low: true },
  });
  assert.deepEqual(fieldsToPatch(spec("SWS0B"), { waterAlarmStatus: "x" }).problems, ['waterAlarmStatus="x"']);
});

test("listeners: the alarm they hear by alarmType, else the one already sounding, else smoke", () => {
  const listener = spec("SAL51");
  assert.deepEqual(fieldsToPatch(listener, { isAlarm: "1", alarmType: "2" }).patch, { coAlarm: { detected: true } });
  assert.deepEqual(fieldsToPatch(listener, { isAlarm: "1", alarmType: "1" }).patch, {
    smokeAlarm: { detected: true },
  });
  assert.deepEqual(fieldsToPatch(listener, { alarmStatus: "1" }, { active: "co" }).patch, {
    coAlarm: { detected: true },
  });
  assert.deepEqual(fieldsToPatch(spec("SAL100"), { alarmStatus: "1" }).patch, { smokeAlarm: { detected: true } });
  assert.deepEqual(fieldsToPatch(listener, { alarmStatus: "0" }).patch, {
    smokeAlarm: { detected: false },
    coAlarm: { detected: false },
  });
});

test("the CO peak comes from peak.coPpmPeak; absurd values are named, not applied", () => {
  assert.deepEqual(fieldsToPatch(spec("XC0C-MR"), { coPpm: "12", peak: { coPpmPeak: "380", time: "x" } }).patch, {
    coAlarm: { ppm: 12, peakPpm: 380 },
  });
  const bad = fieldsToPatch(spec("XC01-M"), { peak: { coPpmPeak: "99999" } });
  assert.deepEqual(bad.patch, {});
  assert.deepEqual(bad.problems, ['coPpmPeak="99999"']);
});

test("check-in stamps: YYYYMMDDHHMMSS UTC, impossible dates refused", () => {
  assert.equal(parseStamp("20260102030405"), Date.UTC(2026, 0, 2, 3, 4, 5));
  assert.equal(parseStamp(20260102030405), Date.UTC(2026, 0, 2, 3, 4, 5));
  for (const bad of ["20261301000000", "20260231000000", "20260101250000", "2026-01-01", "", undefined, {}])
    assert.equal(parseStamp(bad), undefined, String(bad));
});

test("a sleeping detector is reachable for 34 h after its check-in (49 h for the SWS0B), then not", () => {
  const at = Date.UTC(2026, 0, 1, 0, 0, 0);
  const h = 3_600_000;
  assert.equal(checkInFresh(at, 34, at + 33 * h), true);
  assert.equal(checkInFresh(at, 34, at + 34 * h - 1), true);
  assert.equal(checkInFresh(at, 34, at + 34 * h), false);
  assert.equal(checkInFresh(at, 49, at + 48 * h), true);
  assert.equal(checkInFresh(at, 49, at + 49 * h), false);
  assert.equal(checkInFresh(at + 5 * h, 34, at), true, "a check-in from a clock ahead of ours counts as now");
  assert.equal(staleAt(at, 49), at + 49 * h);
  assert.equal(MODELS.SWS0B?.checkInHours, 49);
  assert.equal(MODELS["XS0E-iR"]?.checkInHours, 34);
  for (const awake of ["XS0R-iA", "SC07-iA", "XP0J-iA", "STH0C", "XS01-M"])
    assert.equal(MODELS[awake]?.checkInHours, undefined, `${awake}: reachability from its flags`);
});
