// The CI smoke run of one fuzz target: SMOKE_INPUTS inputs (10k; FUZZ_INPUTS overrides, FUZZ_SEED
// replays a failure fast-check reported), no crash, no unhandled rejection, and the rejected inputs
// logged once per reason and interval rather than once each.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fuzz } from "./runner.ts";
import { target } from "./targets.ts";

export const SMOKE_INPUTS = Number(process.env.FUZZ_INPUTS ?? 10_000);

export function smokeTest(name: string): void {
  const t = target(name);
  test(`${name}: ${SMOKE_INPUTS} fuzzed inputs through ${t.covers}; no crash, no unhandled rejection`, {
    timeout: 180_000,
  }, async () => {
    const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
    const stats = await fuzz(t, { inputs: SMOKE_INPUTS, ...(seed === undefined ? {} : { seed }), mode: "assert" });
    assert.deepEqual(stats.failures, []);
    assert.equal(stats.crashes, 0);
    assert.equal(stats.unhandledRejections, 0);
    assert.ok(stats.inputs >= SMOKE_INPUTS, `${stats.inputs} inputs run`);
    assert.ok(stats.rejected > 0, "the generators reach the rejecting paths too (not only valid input)");
    if (t.rejectMessages) {
      // One line per reason at once, one more per started minute, one from the flush at stop.
      const allowed = stats.rejectReasons * (2 + Math.floor(stats.ms / 60_000));
      assert.ok(stats.rejectReasons > 0, "malformed input was reported");
      assert.ok(
        stats.rejectLines <= allowed,
        `${stats.rejectLines} reject lines for ${stats.rejectReasons} reasons and ${stats.rejected} rejected inputs`,
      );
    }
  });
}
