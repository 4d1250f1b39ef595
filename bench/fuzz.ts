// Fuzzing at length (issue 7, part 3): every target of test/fuzz/targets.ts (the vendor-frame parsers
// through the drivers, the pure parsers, the config loader, the web page's HTTP endpoints) with 100k
// inputs each. Per target: inputs, rejected inputs, crashes (a batch in which the target threw what it
// must not, broke an invariant, or an uncaught exception happened), unhandled rejections, warn lines
// (rejected input is logged once per reason and minute, not once each) and throughput. Failures do not
// stop the run: they are counted and the first few printed with fast-check's seed.
//
// Run: npm run bench -- fuzz [--inputs 100000] [--target fansync-frames ...] [--seed N]
// (or: test/netns.sh node bench/fuzz.ts ...). Everything talks to 127.0.0.1 only. About 10 minutes.
import { cpus, loadavg } from "node:os";
import { TARGETS, target } from "../test/fuzz/targets.ts";
import { fuzz, type FuzzStats } from "../test/fuzz/runner.ts";
import { argValue, argValues, fmt, table, writeSummary, type SummaryRow } from "./lib.ts";

const INPUTS = Number(argValue("--inputs", "100000"));
const SEED = argValue("--seed");
const selected = argValues("--target");
const targets = selected.length ? selected.map(target) : TARGETS;

const results: FuzzStats[] = [];
const started = performance.now();
for (const t of targets) {
  process.stdout.write(`${t.name}: ${INPUTS} inputs through ${t.covers} ... `);
  const s = await fuzz(t, { inputs: INPUTS, mode: "count", ...(SEED === undefined ? {} : { seed: Number(SEED) }) });
  results.push(s);
  console.log(`${fmt(s.ms / 1000, 1)} s, ${s.crashes} crashes`);
  for (const f of s.failures) console.log(`  FAILURE: ${f}`);
}
const totalS = (performance.now() - started) / 1000;

const rows: (string | number)[][] = [
  ["target", "inputs", "rejected", "crashes", "unhandled", "warn lines", "reject lines/reasons", "inputs/s", "s"],
];
for (const s of results) {
  rows.push([
    s.target,
    s.inputs,
    s.rejected,
    s.crashes,
    s.unhandledRejections,
    s.warnLines,
    s.rejectReasons ? `${s.rejectLines}/${s.rejectReasons}` : "-",
    fmt(s.inputs / (s.ms / 1000), 0),
    fmt(s.ms / 1000, 1),
  ]);
}
console.log(`\n${table(rows)}`);
console.log("\nwarn lines by message:");
for (const s of results) for (const [msg, n] of Object.entries(s.warnings)) console.log(`  ${s.target}: ${n} x ${msg}`);

const totals = results.reduce(
  (a, s) => ({
    inputs: a.inputs + s.inputs,
    crashes: a.crashes + s.crashes,
    unhandled: a.unhandled + s.unhandledRejections,
  }),
  { inputs: 0, crashes: 0, unhandled: 0 },
);
const summary: SummaryRow[] = [
  ...results.map((s) => ({
    metric: `${s.target} inputs/crashes/unhandled`,
    value: `${s.inputs}/${s.crashes}/${s.unhandledRejections}`,
    target: "0 crashes, 0 unhandled",
  })),
  ...results.map((s) => ({ metric: `${s.target} inputs/s`, value: fmt(s.inputs / (s.ms / 1000), 0) })),
  { metric: "all targets crashes + unhandled", value: String(totals.crashes + totals.unhandled), target: "0" },
];
const loads = loadavg()
  .map((l) => l.toFixed(2))
  .join(" ");
const note =
  `${totals.inputs} inputs over ${results.length} targets in ${fmt(totalS, 0)} s; ` +
  `${cpus().length} CPUs, load ${loads}`;
console.log(`\n${note}`);
writeSummary("fuzz", summary, [note]);
// The figures are the result; the exit code only says whether the bench ran to the end.
process.exit(0);
