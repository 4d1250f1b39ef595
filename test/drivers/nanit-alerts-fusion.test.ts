// The Nanit alert fusion on its own (src/drivers/nanit/alerts.ts), with a hand-driven clock and timers:
// de-duplication across channels, repeats on one channel, the hold, and what counts as an alert.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Timer } from "../../src/core/driver-runtime.ts";
import { AlertFusion, messageAlerts, socketAlerts, type AlertKind } from "../../src/drivers/nanit/alerts.ts";

/** Timers that fire only when the test advances the clock. */
function fakeClock() {
  let now = 1_700_000_000_000;
  const pending = new Map<object, { at: number; fn: () => void }>();
  return {
    now: () => now,
    timers: {
      later(ms: number, fn: () => void): Timer {
        const t = {} as Timer;
        pending.set(t as object, { at: now + ms, fn });
        return t;
      },
      cancel(timer: Timer | undefined): undefined {
        if (timer) pending.delete(timer as object);
        return undefined;
      },
    },
    advance(ms: number) {
      now += ms;
      for (const [t, p] of [...pending].sort((a, b) => a[1].at - b[1].at)) {
        if (p.at > now) continue;
        pending.delete(t);
        p.fn();
      }
    },
  };
}

function fusion() {
  const clock = fakeClock();
  const changes: [AlertKind, boolean][] = [];
  const f = new AlertFusion({
    holdMs: 30_000,
    matchMs: 15_000,
    memoryMs: 135_000,
    timers: clock.timers,
    now: clock.now,
    onChange: (kind, detected) => void changes.push([kind, detected]),
  });
  return { f, clock, changes };
}

test("the poll's copy of a socket alert is dropped and does not prolong the hold", () => {
  const { f, clock, changes } = fusion();
  const at = clock.now();
  assert.equal(f.report("motion", "socket", at), true);
  clock.advance(16_000);
  // /messages times are whole seconds and the cloud's clock: a second off still matches.
  assert.equal(f.report("motion", "messages", at - 1_000), false);
  clock.advance(14_000);
  assert.deepEqual(changes, [
    ["motion", true],
    ["motion", false],
  ]);
});

test("the socket's copy after the poll's is dropped too (whichever channel is first wins)", () => {
  const { f, clock, changes } = fusion();
  const at = clock.now();
  assert.equal(f.report("sound", "messages", at), true);
  assert.equal(f.report("sound", "socket", at + 500), false);
  clock.advance(30_000);
  assert.deepEqual(changes, [
    ["sound", true],
    ["sound", false],
  ]);
});

test("repeats on one channel are new events: the sensor stays on, reported once", () => {
  const { f, clock, changes } = fusion();
  f.report("motion", "socket", clock.now());
  clock.advance(20_000);
  assert.equal(f.report("motion", "socket", clock.now()), true);
  clock.advance(20_000);
  assert.equal(f.active("motion"), true, "the second report restarted the hold");
  clock.advance(10_000);
  assert.deepEqual(changes, [
    ["motion", true],
    ["motion", false],
  ]);
});

test("reports of another channel outside the match window, or of another kind, are events of their own", () => {
  const { f, clock, changes } = fusion();
  const at = clock.now();
  f.report("motion", "socket", at);
  assert.equal(f.report("sound", "messages", at), true);
  clock.advance(40_000);
  assert.equal(f.report("motion", "messages", at + 40_000), true);
  assert.deepEqual(changes, [
    ["motion", true],
    ["sound", true],
    ["motion", false],
    ["sound", false],
    ["motion", true],
  ]);
});

test("socketAlerts: only SOUND / MOTION / CRY entries with is_alert set", () => {
  assert.deepEqual(
    socketAlerts([
      { sensor_type: "TEMPERATURE", value_milli: 21_000 },
      { sensor_type: "SOUND", is_alert: false, timestamp: 5 },
      { sensor_type: "MOTION", timestamp: 7 },
      { sensor_type: "CRY", is_alert: true },
      { sensor_type: "SOUND", is_alert: true },
      { sensor_type: "SOUND", is_alert: true },
      { sensor_type: 6, is_alert: true },
      { sensor_type: "__proto__" as never, is_alert: true },
    ]),
    ["cry", "sound"],
  );
});

test("messageAlerts: new ids only, recent only, alert types only; the last id moves past everything", () => {
  const now = 1_700_000_000_000;
  const s = now / 1000;
  const { lastId, alerts } = messageAlerts(
    [
      { id: 5, type: "MOTION", time: s },
      { id: 6, type: "MOTION", time: s - 600 },
      { id: 7, type: "TEMPERATURE", time: s },
      { id: 8, type: "CAMERA_CRY_DETECTION", time: s - 2 },
      { id: 9, type: "toString", time: s },
    ],
    5,
    120_000,
    now,
  );
  assert.equal(lastId, 9);
  assert.deepEqual(alerts, [{ kind: "cry", at: now - 2000 }]);
});
