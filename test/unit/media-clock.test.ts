// The clocks the media layer runs on: the real one moves with performance.now() and the wall clock;
// the manual test clock runs timers in due order, intervals again and again, nothing by itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { REAL_CLOCK } from "../../src/core/clock.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

test("the real clock: monotonic now, wall time consistent with it, Node timers", async () => {
  const before = REAL_CLOCK.now();
  assert.ok(Math.abs(REAL_CLOCK.wallNow() - Date.now()) < 1_000);
  assert.ok(REAL_CLOCK.now() >= before);
  const fired = await new Promise<boolean>((resolve) => REAL_CLOCK.setTimeout(() => resolve(true), 1));
  assert.equal(fired, true);
  const cleared = REAL_CLOCK.setInterval(() => assert.fail("a cleared interval ran"), 1);
  REAL_CLOCK.clearInterval(cleared);
});

test("the manual clock runs due timers in order of due time, then of scheduling, and only when advanced", () => {
  const clock = new ManualClock({ wallOrigin: 1_000_000 });
  const ran: string[] = [];
  clock.setTimeout(() => ran.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => ran.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => ran.push(`c@${clock.now()}`), 20);
  const every = clock.setInterval(() => ran.push(`i@${clock.now()}`), 15);
  const dropped = clock.setTimeout(() => ran.push("dropped"), 5);
  clock.clearTimeout(dropped);
  assert.equal(ran.length, 0, "nothing runs by itself");
  clock.advance(19);
  assert.deepEqual(ran, ["a@10", "i@15"]);
  assert.equal(clock.now(), 19);
  assert.equal(clock.wallNow(), 1_000_019);
  clock.advance(26);
  // An interval comes back; of two timers due together, the one set first runs first.
  assert.deepEqual(ran, ["a@10", "i@15", "b@20", "c@20", "i@30", "i@45"]);
  clock.clearInterval(every);
  assert.equal(clock.pending, 0);
  // Node runs a 0 ms timer after 1 ms; a timer set by a timer runs within the same advance when due.
  clock.setTimeout(() => clock.setTimeout(() => ran.push(`nested@${clock.now()}`), 0), 0);
  clock.advance(2);
  assert.equal(ran.at(-1), "nested@47");
});

test("tick() lets the promise callbacks of each timer run before the next timer is due", async () => {
  const clock = new ManualClock();
  const ran: number[] = [];
  // A retry scheduled from a rejected promise, as the hub does after a failed request.
  const attempt = (): void => {
    ran.push(clock.now());
    void Promise.reject(new Error("no")).catch(() => clock.setTimeout(attempt, 100));
  };
  attempt();
  await settle();
  await clock.tick(350);
  assert.deepEqual(ran, [0, 100, 200, 300]);
  assert.equal(clock.now(), 350);
});
