// Runs the suite (node test/run.ts, with the same file filters) N times in a row, stops at the first
// failing run and names it: which run, which test files and which tests failed (read from the spec
// reporter's "failing tests" summary), and how long every run took. Proof that the suite passes
// every time, not just once: `npm run test:repeat -- 5 [filters...]` (add --verbose to see each
// run's full output). The type check is not repeated; `npm test` runs it.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const usage = "usage: npm run test:repeat -- <runs> [--verbose] [file filters...]";

export interface RunReport {
  passed: boolean;
  /** "file:line:col" -> failing test names (the spec reporter's summary after "✖ failing tests:"). */
  failures: Map<string, string[]>;
  /** Tests, passes and failures over every `node --test` stage of the run. */
  counts: { tests: number; pass: number; fail: number };
}

/** Read what matters from one run's spec-reporter output. */
export function parseSpecOutput(output: string, exitCode: number | null): RunReport {
  const failures = new Map<string, string[]>();
  const counts = { tests: 0, pass: 0, fail: 0 };
  let inSummary = false;
  let location: string | undefined;
  for (const line of output.split(/\r?\n/)) {
    const count = /^ℹ (tests|pass|fail) (\d+)$/.exec(line);
    if (count) counts[count[1] as "tests" | "pass" | "fail"] += Number(count[2]);
    if (line === "✖ failing tests:") {
      inSummary = true;
      continue;
    }
    // run.ts starts its next stage (another `node --test`) with a "=== label ===" line.
    if (line.startsWith("=== ")) inSummary = false;
    if (!inSummary) continue;
    const at = /^test at (.+)$/.exec(line);
    if (at) {
      location = at[1]!;
      continue;
    }
    const failed = /^✖ (.*?)(?: \([\d.]+m?s\))?$/.exec(line);
    if (failed && location) {
      const names = failures.get(location) ?? [];
      if (!names.includes(failed[1]!)) names.push(failed[1]!);
      failures.set(location, names);
      location = undefined;
    }
  }
  return { passed: exitCode === 0, failures, counts };
}

function seconds(ms: number): string {
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function runOnce(filters: string[], verbose: boolean): Promise<{ output: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "test/run.ts"), ...filters], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const chunks: Buffer[] = [];
    const keep = (chunk: Buffer, to: NodeJS.WriteStream): void => {
      chunks.push(chunk);
      if (verbose) to.write(chunk);
    };
    child.stdout.on("data", (chunk: Buffer) => keep(chunk, process.stdout));
    child.stderr.on("data", (chunk: Buffer) => keep(chunk, process.stderr));
    child.once("error", reject);
    child.once("close", (code) => resolve({ output: Buffer.concat(chunks).toString("utf8"), code }));
  });
}

async function main(args: string[]): Promise<number> {
  const verbose = args.includes("--verbose");
  const [countArg, ...filters] = args.filter((a) => a !== "--verbose");
  const runs = Number(countArg);
  if (!countArg || !Number.isInteger(runs) || runs < 1) {
    const problem =
      countArg === undefined
        ? "the number of runs is missing"
        : `"${countArg}" is not a number of runs (a whole number, 1 or more)`;
    console.error(`${problem}\n${usage}`);
    return 2;
  }
  const what = filters.length ? `test files matching ${filters.map((f) => `"${f}"`).join(", ")}` : "the whole suite";
  console.log(`Running ${what} ${runs} time(s); stopping at the first failing run.`);
  const times: number[] = [];
  for (let run = 1; run <= runs; run++) {
    const started = performance.now();
    const { output, code } = await runOnce(filters, verbose);
    const took = performance.now() - started;
    times.push(took);
    const report = parseSpecOutput(output, code);
    const { tests, pass, fail } = report.counts;
    if (report.passed) {
      console.log(`run ${run}/${runs}: passed in ${seconds(took)} (${pass} of ${tests} tests passed)`);
      continue;
    }
    const log = join(tmpdir(), `hearthbridge-test-repeat-run${run}.log`);
    writeFileSync(log, output);
    console.log(
      `run ${run}/${runs}: FAILED after ${seconds(took)} (${fail} of ${tests} tests failed, exit code ${code})`,
    );
    if (report.failures.size === 0) {
      // No test failed by name: the type of failure is in the run's last lines (a crash, netns, ...).
      console.log("no failing test named in the output; its last lines:");
      console.log(output.trimEnd().split("\n").slice(-30).join("\n"));
    }
    for (const [location, names] of report.failures) {
      console.log(`  ✖ ${location}`);
      for (const name of names) console.log(`      ${name}`);
    }
    console.log(`full output of run ${run}: ${log}`);
    console.log(`times: ${times.map(seconds).join(", ")}`);
    return 1;
  }
  console.log(`all ${runs} run(s) passed; times: ${times.map(seconds).join(", ")}`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(await main(process.argv.slice(2)));
