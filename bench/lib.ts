// Small shared pieces of the benches: summary statistics, table printing, and the result file that
// bench/run.ts reads to print its summary (figures are printed, never asserted).
import { writeFileSync } from "node:fs";

export interface Stats {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export function fmt(n: number | undefined, digits = 2): string {
  return n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}

/** A plain text table: the first row is the header; numbers are right-aligned. */
export function table(rows: (string | number)[][]): string {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths = text[0]!.map((_, i) => Math.max(...text.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) =>
        i === 0 || !/^[-+]?[\d.]+(x| ms| MB)?$|^-$/.test(c) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join("  ")
      .trimEnd();
  return [line(text[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...text.slice(1).map(line)].join("\n");
}

/** One summary row for bench/run.ts. */
export interface SummaryRow {
  metric: string;
  value: string;
  baseline?: string;
  ratio?: string;
  target?: string;
}

/** Hand the summary rows to bench/run.ts (it passes BENCH_RESULT_FILE); a no-op when run alone. */
export function writeSummary(bench: string, rows: SummaryRow[], notes: string[] = []): void {
  const file = process.env.BENCH_RESULT_FILE;
  if (file) writeFileSync(file, JSON.stringify({ bench, rows, notes }));
}

/** A promise with its resolve function, for "wait for the next X" measurements. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Reject after `ms` with `what` in the message. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `--name value` from argv, or the fallback. */
export function argValue(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Every `--name value` from argv. */
export function argValues(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === name && process.argv[i + 1] !== undefined) out.push(process.argv[i + 1]!);
  });
  return out;
}

/** Every latency bench pairs and commissions: refuse to run outside the loopback-only namespace,
 * quiet matter.js, and read the common --samples / --warmup options. */
export function latencyBenchSetup(name: string): { samples: number; warmup: number } {
  if (!process.env.HEARTHBRIDGE_NETNS) {
    console.error(
      `${name} pairs and commissions: run it inside the loopback namespace (npm run bench -- ${name}, or ` +
        `test/netns.sh node bench/${name}.ts)`,
    );
    process.exit(2);
  }
  process.env.MATTER_LOG_LEVEL ??= "error";
  process.env.MATTER_LOG_FORMAT ??= "plain";
  return {
    samples: Number(argValue("--samples", process.env.BENCH_SAMPLES ?? "200")),
    warmup: Number(argValue("--warmup", "20")),
  };
}
