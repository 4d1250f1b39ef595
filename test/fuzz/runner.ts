// Runs one fuzz target with fast-check: batches of generated inputs go through the target's real entry
// point; a batch fails when the target threw something it should not, broke an invariant, or the process
// saw an uncaught exception or an unhandled rejection meanwhile. "assert" mode (tests) stops at the first
// failure and lets fast-check shrink it; "count" mode (bench) counts failures and runs every batch.
import fc from "fast-check";
import { rejectedInputs } from "../../src/core/rate-limited-log.ts";
import type { CountingLog } from "./checks.ts";

export interface BatchResult {
  /** Inputs the target refused (error thrown as documented, or logged and dropped). */
  rejected: number;
}

export interface FuzzSession<I> {
  input: fc.Arbitrary<I>;
  /** Feed the inputs, resolve once all were handled; throw when the target misbehaved. */
  run(inputs: I[]): Promise<BatchResult>;
  /** The target's log, when it logs (rejected inputs are logged rate limited, not one line each). */
  logs?: CountingLog;
  close(): Promise<void>;
}

export interface FuzzTarget {
  name: string;
  /** What the target covers, in words (printed by the bench). */
  covers: string;
  /** Inputs per batch (per fast-check run). */
  batch: number;
  /** Messages of the warn lines that report a rejected input (rate limited per reason). */
  rejectMessages?: string[];
  open(): Promise<FuzzSession<unknown>>;
}

export interface FuzzStats {
  target: string;
  inputs: number;
  rejected: number;
  /** Batches in which the target threw, broke an invariant, or an uncaught exception happened. */
  crashes: number;
  unhandledRejections: number;
  warnLines: number;
  /** Warn lines by message. */
  warnings: Record<string, number>;
  /** Lines of the target's reject messages, and the distinct reasons they were rate limited by. */
  rejectLines: number;
  rejectReasons: number;
  ms: number;
  failures: string[];
}

export class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 500);

/** Sum of the rejections counted by the rate-limited loggers of this process. */
function loggedRejections(): number {
  let n = 0;
  for (const v of rejectedInputs().values()) n += v;
  return n;
}

export async function fuzz(
  target: FuzzTarget,
  options: { inputs: number; seed?: number; mode: "assert" | "count" },
): Promise<FuzzStats> {
  const stats: FuzzStats = {
    target: target.name,
    inputs: 0,
    rejected: 0,
    crashes: 0,
    unhandledRejections: 0,
    warnLines: 0,
    warnings: {},
    rejectLines: 0,
    rejectReasons: 0,
    ms: 0,
    failures: [],
  };
  const reasons = (): Set<string> =>
    new Set([...rejectedInputs().keys()].filter((k) => target.rejectMessages?.some((m) => k.startsWith(`${m}: `))));
  const reasonsBefore = reasons();
  const unhandled: unknown[] = [];
  const uncaught: unknown[] = [];
  const onRejection = (reason: unknown): void => void unhandled.push(reason);
  const onException = (error: unknown): void => void uncaught.push(error);
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  let uncaughtInBatches = 0;
  let session: FuzzSession<unknown>;
  try {
    session = await target.open();
  } catch (error) {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
    throw error;
  }
  const started = performance.now();
  try {
    const property = fc.asyncProperty(
      fc.array(session.input, { minLength: target.batch, maxLength: target.batch }),
      async (inputs) => {
        const seenUnhandled = unhandled.length;
        const seenUncaught = uncaught.length;
        const logged = loggedRejections();
        let failure: string | undefined;
        let rejected = 0;
        try {
          rejected = (await session.run(inputs)).rejected;
        } catch (error) {
          failure = describe(error);
        }
        // Let rejections that nobody handled surface before judging the batch.
        await new Promise((resolve) => setImmediate(resolve));
        stats.inputs += inputs.length;
        stats.rejected += rejected + (loggedRejections() - logged);
        const newUnhandled = unhandled.slice(seenUnhandled);
        const newUncaught = uncaught.slice(seenUncaught);
        uncaughtInBatches += newUncaught.length;
        stats.unhandledRejections += newUnhandled.length;
        if (!failure && newUncaught.length) failure = `uncaught exception: ${describe(newUncaught[0])}`;
        if (!failure && newUnhandled.length) failure = `unhandled rejection: ${describe(newUnhandled[0])}`;
        if (!failure) return;
        stats.crashes++;
        if (stats.failures.length < 5) stats.failures.push(failure);
        if (options.mode === "assert") throw new FuzzFailure(failure);
      },
    );
    const numRuns = Math.ceil(options.inputs / target.batch);
    await fc.assert(property, {
      numRuns,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      endOnFailure: options.mode === "count",
    });
  } finally {
    stats.ms = performance.now() - started;
    // After close: a driver writes the counts it held back when it stops.
    await session.close();
    // A rejection that surfaced while closing is the target's too.
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  }
  stats.warnLines = session.logs?.warnLines ?? 0;
  stats.warnings = Object.fromEntries(session.logs?.warnings ?? []);
  stats.rejectLines = (target.rejectMessages ?? []).reduce((n, m) => n + (session.logs?.warnings.get(m) ?? 0), 0);
  stats.rejectReasons = [...reasons()].filter((r) => !reasonsBefore.has(r)).length;
  // Anything that surfaced outside a batch (while closing) counts too.
  if (unhandled.length > stats.unhandledRejections) {
    stats.unhandledRejections = unhandled.length;
    stats.failures.push(`unhandled rejection while closing: ${describe(unhandled.at(-1))}`);
  }
  if (uncaught.length > uncaughtInBatches) {
    stats.crashes += uncaught.length - uncaughtInBatches;
    stats.failures.push(`uncaught exception while closing: ${describe(uncaught.at(-1))}`);
  }
  return stats;
}
