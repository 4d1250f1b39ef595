// `npm run bench`: runs each bench script inside the loopback-only network namespace (test/netns.sh),
// one after the other, then prints a summary table. Figures are printed, never asserted: the exit
// code says only whether every bench ran to the end.
//
//   npm run bench                                   every bench
//   npm run bench -- fansync-latency                one bench by name (several names allowed)
//   npm run bench -- startup --runs 5 --node /tmp/node24/bin/node
//                                                   other arguments go to every selected bench
//   npm run bench -- soak --minutes 30              benches in ON_REQUEST run only when named
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { table, type SummaryRow } from "./lib.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const NOT_BENCHES = new Set(["run.ts", "lib.ts"]);
/** A bench that has not finished after this long is stopped (BENCH_TIMEOUT_S overrides it, e.g. for
 * `chaos --rounds 50`); chaos runs about 12 minutes by default. */
const BENCH_TIMEOUT_MS = process.env.BENCH_TIMEOUT_S ? Number(process.env.BENCH_TIMEOUT_S) * 1000 : 6 * 60_000;
const LONG_BENCHES: Record<string, number> = {
  chaos: 20 * 60_000,
  camera: 10 * 60_000,
  // Its CPU part alone is about 8 minutes (5 rounds of paired 10 s windows per kind of viewer).
  webrtc: 20 * 60_000,
  fuzz: 20 * 60_000,
  crash: 45 * 60_000,
  // Its /messages baseline waits out whole 20 s polls.
  "nanit-alerts": 10 * 60_000,
};
/** Not part of a plain `npm run bench`: too long to run with the rest (soak: 30 minutes by default,
 * hub-outage: 10, household: about 10 to 20, its soak as long as asked). */
const ON_REQUEST = new Set(["soak", "hub-outage", "household"]);

const available = readdirSync(join(root, "bench"))
  .filter((f) => f.endsWith(".ts") && !NOT_BENCHES.has(f) && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    `usage: npm run bench -- [bench ...] [bench options]\nbenches: ${available.join(", ")} ` +
      `(${[...ON_REQUEST].join(", ")} only when named)`,
  );
  process.exit(0);
}
const selected = args.filter((a) => available.includes(a));
const forwarded = args.filter((a) => !available.includes(a));
const unknown = forwarded.filter(
  (a, i) => !a.startsWith("-") && !forwarded[i - 1]?.startsWith("--") && !/^[\d.]+$/.test(a),
);
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(", ")}; benches: ${available.join(", ")}`);
  process.exit(2);
}
const benches = selected.length ? selected : available.filter((b) => !ON_REQUEST.has(b));
// The soak's own length (--minutes, default 30) plus ten minutes for setting up and the figures.
const soakMinutes = forwarded.includes("--minutes") ? Number(forwarded[forwarded.indexOf("--minutes") + 1]) : 30;
LONG_BENCHES.soak = ((Number.isFinite(soakMinutes) ? soakMinutes : 30) + 10) * 60_000;
LONG_BENCHES["hub-outage"] = LONG_BENCHES.soak;
// household: three layouts (or --options: ten bridges) take up to 40 minutes on a loaded machine; its soak
// (--soak-minutes N, 120 when no number follows) plus fifteen minutes for setting up and the figures.
const householdSoak = forwarded.includes("--soak-minutes")
  ? Number(forwarded[forwarded.indexOf("--soak-minutes") + 1] || 120)
  : undefined;
LONG_BENCHES.household = ((householdSoak && Number.isFinite(householdSoak) ? householdSoak : 25) + 15) * 60_000;

// The bridge runs as the Docker image and `npm start` run it: from the bundle (docker/bundle.ts), built here
// from the sources first; bench/_camera-bridge.ts composes the bridge's pieces from the sources instead.
// HEARTHBRIDGE_ENTRY=src/main.ts measures the sources (README, "Household": bundle against sources).
if (spawnSync(process.execPath, ["docker/bundle.ts"], { cwd: root, stdio: "inherit" }).status !== 0) process.exit(1);

interface Result {
  bench: string;
  rows: SummaryRow[];
  notes: string[];
}

function runBench(name: string, resultFile: string): Promise<{ code: number | null; seconds: number }> {
  const started = performance.now();
  console.log(`\n=== bench ${name} ===`);
  return new Promise((resolve) => {
    const child = spawn(join(root, "test/netns.sh"), [process.execPath, join("bench", `${name}.ts`), ...forwarded], {
      cwd: root,
      stdio: "inherit",
      env: {
        ...process.env,
        MATTER_LOG_LEVEL: process.env.MATTER_LOG_LEVEL ?? "error",
        MATTER_LOG_FORMAT: "plain",
        BENCH_RESULT_FILE: resultFile,
        HEARTHBRIDGE_ENTRY: process.env.HEARTHBRIDGE_ENTRY ?? "dist/app/main.js",
      },
    });
    const limit = process.env.BENCH_TIMEOUT_S ? BENCH_TIMEOUT_MS : (LONG_BENCHES[name] ?? BENCH_TIMEOUT_MS);
    const timer = setTimeout(() => {
      console.error(`bench ${name} still running after ${limit / 1000} s: stopping it`);
      child.kill("SIGTERM");
    }, limit);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, seconds: (performance.now() - started) / 1000 });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "hb-bench-"));
const results: Result[] = [];
const failures: string[] = [];
const durations: string[] = [];
try {
  for (const name of benches) {
    const file = join(dir, `${name}.json`);
    const { code, seconds } = await runBench(name, file);
    durations.push(`${name} ${seconds.toFixed(0)} s`);
    if (code !== 0) failures.push(`${name} (exit ${code})`);
    try {
      results.push(JSON.parse(readFileSync(file, "utf8")) as Result);
    } catch {
      if (code === 0) failures.push(`${name} (no result)`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log("\n=== summary (figures, not assertions) ===");
const rows: string[][] = [["bench", "metric", "value", "baseline", "ratio", "target"]];
for (const r of results)
  for (const row of r.rows)
    rows.push([r.bench, row.metric, row.value, row.baseline ?? "", row.ratio ?? "", row.target ?? ""]);
if (rows.length > 1) console.log(table(rows));
for (const r of results) for (const note of r.notes) console.log(`${r.bench}: ${note}`);
console.log(`time: ${durations.join(", ")}`);
if (failures.length) console.log(`FAILED: ${failures.join(", ")}`);
process.exit(failures.length ? 1 : 0);
