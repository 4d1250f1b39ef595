// Rejected-input warn lines: one per reason at once, then at most one per interval carrying the
// count of lines held back; flush() writes what is still held back; stats and process totals count
// every rejected input, logged or not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/core/logger.ts";
import { RateLimitedLog, rateLimitedLog, rejectedInputs } from "../../src/core/rate-limited-log.ts";
import { LogCapture } from "../helpers/log-capture.ts";

function setUp(intervalMs = 60_000) {
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  let now = 1_000_000;
  const limiter = new RateLimitedLog(log, { intervalMs, now: () => now });
  return { logs, log, limiter, advance: (ms: number) => (now += ms) };
}

test("the first rejection of a reason is logged at once, repeats within the interval are held back", () => {
  const { logs, limiter, advance } = setUp();
  assert.equal(limiter.warn("not JSON", "x: ignoring a malformed frame", { sample: "a" }), true);
  for (let i = 0; i < 999; i++)
    assert.equal(limiter.warn("not JSON", "x: ignoring a malformed frame", { sample: String(i) }), false);
  assert.equal(
    limiter.warn("not an object", "x: ignoring a malformed frame"),
    true,
    "another reason has its own limit",
  );
  assert.equal(logs.warnings.length, 2);
  assert.deepEqual(
    logs.warnings.map((l) => [l.why, l.suppressed]),
    [
      ["not JSON", undefined],
      ["not an object", undefined],
    ],
  );
  assert.equal(logs.warnings[0]!.sample, "a");
  advance(59_999);
  assert.equal(limiter.warn("not JSON", "x: ignoring a malformed frame"), false, "still inside the interval");
  advance(1);
  assert.equal(limiter.warn("not JSON", "x: ignoring a malformed frame", { sample: "late" }), true);
  const last = logs.warnings.at(-1)!;
  assert.equal(last.why, "not JSON");
  assert.equal(last.suppressed, 1000, "the line carries how many were held back since the previous one");
  assert.equal(last.sample, "late");
  assert.deepEqual(limiter.stats(), {
    "not JSON": { rejected: 1002, lines: 2 },
    "not an object": { rejected: 1, lines: 1 },
  });
});

test("flush writes the held-back counts once and nothing when none are held back", () => {
  const { logs, limiter } = setUp();
  limiter.warn("bad fields", "x: ignoring a malformed message");
  limiter.warn("bad fields", "x: ignoring a malformed message");
  limiter.warn("bad fields", "x: ignoring a malformed message");
  limiter.warn("other", "x: ignoring a malformed message");
  limiter.flush();
  assert.deepEqual(
    logs.warnings.map((l) => [l.why, l.suppressed ?? 0]),
    [
      ["bad fields", 0],
      ["other", 0],
      ["bad fields", 2],
    ],
  );
  limiter.flush();
  assert.equal(logs.warnings.length, 3);
});

test("the set of reasons is bounded: the oldest reason is forgotten", () => {
  const logs = new LogCapture();
  const limiter = new RateLimitedLog(createLogger("warn", { json: true, destination: logs }), { maxReasons: 3 });
  for (const r of ["a", "b", "c", "d"]) limiter.warn(r, "m");
  assert.deepEqual(Object.keys(limiter.stats()), ["b", "c", "d"]);
  assert.equal(limiter.warn("a", "m"), true, "a forgotten reason logs again");
});

test("rateLimitedLog shares one limiter per logger object; process totals count every rejection", () => {
  const logs = new LogCapture();
  const log = createLogger("warn", { json: true, destination: logs });
  const other = createLogger("warn", { json: true, destination: logs });
  assert.equal(rateLimitedLog(log), rateLimitedLog(log));
  assert.notEqual(rateLimitedLog(log), rateLimitedLog(other));
  const key = "unit: rejected: unit reason";
  const before = rejectedInputs().get(key) ?? 0;
  rateLimitedLog(log).warn("unit reason", "unit: rejected");
  rateLimitedLog(log).warn("unit reason", "unit: rejected");
  rateLimitedLog(other).warn("unit reason", "unit: rejected");
  assert.equal(rejectedInputs().get(key), before + 3);
  assert.equal(logs.warnings.length, 2, "one line per logger, the repeat on the first logger held back");
});
