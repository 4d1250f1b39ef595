// The household bench (issue 17 §4): one real bridge process (src/main.ts) with a household from the three
// simulators, HomeKit paired and Matter commissioned, measured at 4 fans, the mixed household (10 FanSync
// fans with lights, 30 X-Sense detectors on 3 base stations of mixed models, 3 Nanit cameras) and 150
// devices (the mixed household padded with fans and detectors). Figures are printed, never asserted.
//
// Per layout: spawn -> ready line (and the bridge's readyMs), spawn -> every device reachable, idle RSS and
// V8 heap after a forced full GC (through the bridge's inspector, bench/_inspector.ts), and the latencies
// vendor push -> HAP event / Matter report, HAP write -> vendor frame, Matter write -> vendor frame (the
// last against a bare matter.js node in its own process, same run). Then MB per added device.
//
//   npm run bench -- household                          4 fans, mixed, 150
//   npm run bench -- household --devices mixed          one layout (4 | mixed | 150; a comma list works)
//   npm run bench -- household --options [--devices mixed]   idle memory and start per V8 flag set (FLAG_SETS)
//   npm run bench -- household --soak-minutes 120       the soak of the mixed household (bench/_household-soak.ts)
//   --samples 100 --warmup 10   --heap-snapshots <dir>  (V8 snapshots per layout, compared per added device)
//   --modules                                           also the scripts the bridge holds, grouped by package
//                                                       (read after the other figures: bench/_loaded-modules.ts)
import { mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { Environment } from "@matter/main";
import { diff, summarize, takeHeapSnapshot } from "./_heap-diff.ts";
import { measureBareMatter, measureLatencies, type LatencyResults } from "./_household-latency.ts";
import {
  deviceCount,
  idleMemory,
  LAYOUTS,
  pairAndCommission,
  startBridge,
  startSimulators,
  type Layout,
  type MemoryFigures,
} from "./_household-rig.ts";
import { runSoak } from "./_household-soak.ts";
import { type LoadedModules, printModules, summarizeScripts } from "./_loaded-modules.ts";
import { argValue, fmt, stats, table, writeSummary, type SummaryRow } from "./lib.ts";

if (!process.env.HEARTHBRIDGE_NETNS) {
  console.error("household pairs and commissions: run it inside the loopback namespace (npm run bench -- household)");
  process.exit(2);
}
if (!process.env.MATTER_LOG_LEVEL) Environment.default.vars.set("log.level", "error");

const SAMPLES = Number(argValue("--samples", "100"));
const WARMUP = Number(argValue("--warmup", "10"));
const SOAK_MINUTES = argValue("--soak-minutes");
const heapArg = argValue("--heap-snapshots");
const HEAP_DIR = heapArg ? resolve(heapArg) : undefined;
const MODULES = process.argv.includes("--modules");
/** V8 flag sets compared by --options (the first is Node's defaults). No --lite-mode: it turns WebAssembly
 * off, which Node's fetch needs (undici's HTTP parser), so the bridge exits at start. */
const FLAG_SETS: string[][] = [
  [],
  ["--max-semi-space-size=2"],
  ["--optimize-for-size"],
  ["--max-semi-space-size=2", "--optimize-for-size"],
];
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const loaded = () => loadavg()[0]! > 3;

interface LayoutResult {
  layout: Layout;
  flags: string[];
  devices: number;
  spawnToReadyMs: number;
  readyMs: number;
  spawnToReachableMs: number;
  memory: MemoryFigures;
  latency?: LatencyResults;
  heapSnapshot?: string;
  modules?: LoadedModules;
}

async function runLayout(layout: Layout, options: { flags?: string[]; latency: boolean }): Promise<LayoutResult> {
  const flags = options.flags ?? [];
  const label = `${layout.name}${flags.length ? ` ${flags.join(" ")}` : ""}`;
  console.log(`\n--- ${label}: ${deviceCount(layout)} devices (load ${load()}) ---`);
  const sims = await startSimulators(layout);
  try {
    const heapFlags = HEAP_DIR ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${HEAP_DIR}`] : [];
    const run = await startBridge(sims, deviceCount(layout), [...flags, ...heapFlags]);
    try {
      console.log(
        `spawn -> ready ${fmt(run.spawnToReadyMs, 0)} ms (readyMs ${run.readyMs}), spawn -> ${run.devices} devices ` +
          `reachable ${fmt(run.spawnToReachableMs, 0)} ms`,
      );
      const clients = await pairAndCommission(run);
      try {
        console.log(`paired and commissioned: ${clients.matter.endpoints().length} Matter endpoints`);
        const memory = await idleMemory(run);
        console.log(
          `idle after GC: RSS ${fmt(memory.rss, 1)} MB, heap used ${fmt(memory.heapUsed, 1)} MB, external ` +
            `${fmt(memory.external, 1)} MB`,
        );
        const heapSnapshot = HEAP_DIR ? await takeHeapSnapshot(run.bridge.child.pid!, HEAP_DIR) : undefined;
        const latency = options.latency ? await measureLatencies(sims.fansync, clients, SAMPLES, WARMUP) : undefined;
        // Last: the debugger, on for a moment, must not touch the figures above.
        const modules = MODULES ? summarizeScripts(await run.inspector.scripts()) : undefined;
        if (modules) printModules(label, modules);
        return { layout, flags, ...run, memory, latency, heapSnapshot, modules };
      } finally {
        await clients.close();
      }
    } finally {
      await run.stop();
    }
  } finally {
    await sims.stop();
  }
}

const perDevice = (a: LayoutResult, b: LayoutResult, pick: (m: MemoryFigures) => number) =>
  (pick(b.memory) - pick(a.memory)) / (b.devices - a.devices);

function printMemory(results: LayoutResult[]): void {
  const spaces = ["old_space", "code_space", "new_space", "large_object_space"];
  console.log(
    table([
      ["layout", "flags", "devices", "spawn->ready ms", "readyMs", "->reachable ms", "RSS MB", "heap used MB"]
        .concat(spaces.map((s) => `${s} MB`))
        .concat(["external MB", "scripts", "M chars of source"]),
      ...results.map((r) => [
        r.layout.name,
        r.flags.join(" ") || "(defaults)",
        r.devices,
        fmt(r.spawnToReadyMs, 0),
        r.readyMs,
        fmt(r.spawnToReachableMs, 0),
        fmt(r.memory.rss, 1),
        fmt(r.memory.heapUsed, 1),
        ...spaces.map((s) => fmt(r.memory.spaces[s], 1)),
        fmt(r.memory.external, 1),
        r.modules?.scripts ?? "-",
        fmt(r.modules && r.modules.chars / 1048576),
      ]),
    ]),
  );
}

async function options(): Promise<void> {
  const results: LayoutResult[] = [];
  const keys = (argValue("--devices") ?? "mixed,150").split(",");
  for (const flags of FLAG_SETS)
    for (const key of keys) results.push(await runLayout(LAYOUTS[key]!, { flags, latency: false }));
  console.log(`\nV8 flag sets, idle after GC (load now ${load()}${loaded() ? ", LOADED" : ""}):`);
  printMemory(results);
  const rows: SummaryRow[] = [];
  for (const flags of FLAG_SETS) {
    const mine = results.filter((r) => r.flags === flags);
    const [mixed, big] = [mine[0]!, mine[1]!];
    const perAdded = fmt(
      perDevice(mixed, big, (m) => m.rss),
      2,
    );
    const line =
      `${flags.join(" ") || "(defaults)"}: mixed ${fmt(mixed.memory.rss, 1)} MB, ` +
      `150 ${fmt(big.memory.rss, 1)} MB, ${perAdded} MB per added device`;
    console.log(line);
    rows.push({ metric: `RSS ${flags.join(" ") || "defaults"}`, value: line.split(": ")[1]! });
  }
  writeSummary("household", rows, [`--options; load ${load()}`]);
}

function latencyRow(r: LayoutResult, bare: ReturnType<typeof stats>): (string | number)[] {
  const l = r.latency!;
  const [he, mr, hw, mw] = [
    stats(l.pushToHapEvent),
    stats(l.pushToMatterReport),
    stats(l.hapWriteToFrame),
    stats(l.matterWriteToFrame),
  ];
  return [
    r.layout.name,
    r.devices,
    `${fmt(he.p50)} / ${fmt(he.p99)}`,
    `${fmt(mr.p50)} / ${fmt(mr.p99)}`,
    `${fmt(hw.p50)} / ${fmt(hw.p99)}`,
    `${fmt(mw.p50)} / ${fmt(mw.p99)}`,
    `${fmt(mw.p50 / bare.p50)}x`,
  ];
}

async function main(): Promise<void> {
  console.log(`household: node ${process.version}, ${cpus().length} CPUs, load ${load()}`);
  // A bare --soak-minutes (no number after it) is the issue's 2-hour soak.
  if (process.argv.includes("--soak-minutes"))
    return runSoak(SOAK_MINUTES && /^[\d.]+$/.test(SOAK_MINUTES) ? Number(SOAK_MINUTES) : 120);
  if (process.argv.includes("--options")) return options();
  if (HEAP_DIR) mkdirSync(HEAP_DIR, { recursive: true });
  const keys = (argValue("--devices") ?? "4,mixed,150").split(",");
  for (const k of keys) if (!LAYOUTS[k]) throw new Error(`--devices ${k}: one of ${Object.keys(LAYOUTS).join(", ")}`);
  console.log("\n--- bare matter.js baseline (its own process) ---");
  const bare = stats(await measureBareMatter(SAMPLES, WARMUP));
  const results: LayoutResult[] = [];
  for (const k of keys) results.push(await runLayout(LAYOUTS[k]!, { latency: true }));

  const endLoad = loadavg()[0]!;
  console.log(`\nHousehold bench, node ${process.version}; load at the end ${load()}${loaded() ? " (LOADED)" : ""}`);
  console.log("Idle: after pairing and commissioning, 5 s settle, two forced full GCs (inspector); MB = 2^20 bytes.");
  printMemory(results);
  const mixed = results.find((r) => r.layout.name === "mixed");
  const big = results.find((r) => r.layout.name === "150");
  const small = results.find((r) => r.layout.name === "4 fans");
  const summary: SummaryRow[] = [];
  if (mixed && big) {
    const mb = perDevice(mixed, big, (m) => m.rss);
    console.log(
      `MB per added device, mixed -> 150: RSS ${fmt(mb)}, heap used ${fmt(perDevice(mixed, big, (m) => m.heapUsed))}`,
    );
    summary.push({ metric: "RSS per added device (mixed -> 150)", value: `${fmt(mb)} MB`, target: "<= 0.6 MB" });
  }
  if (small && mixed) console.log(`MB per added device, 4 -> mixed: RSS ${fmt(perDevice(small, mixed, (m) => m.rss))}`);
  for (const r of results)
    summary.push({
      metric: `${r.layout.name}: idle RSS / start -> ready`,
      value: `${fmt(r.memory.rss, 1)} MB / ${fmt(r.spawnToReadyMs, 0)} ms`,
      target: r.layout.name === "mixed" ? "<= 220 MB / <= 3000 ms" : undefined,
    });
  for (const r of results)
    if (r.modules)
      summary.push({
        metric: `${r.layout.name}: scripts held / their source`,
        value: `${r.modules.scripts} / ${fmt(r.modules.chars / 1048576)} M chars`,
      });

  console.log(`\nLatency, ms p50 / p99 (${SAMPLES} samples after ${WARMUP}); simulator delays 0 ms:`);
  console.log(
    table([
      [
        "layout",
        "devices",
        "push->HAP event",
        "push->Matter report",
        "HAP write->frame",
        "Matter write->frame",
        "vs bare",
      ],
      ...results.map((r) => latencyRow(r, bare)),
    ]),
  );
  console.log(
    `bare matter.js write -> $Changed (own process): p50 ${fmt(bare.p50)} / p99 ${fmt(bare.p99)} ms. Targets: ` +
      "HAP event p99 <= 20, Matter report p99 <= 80 (150 no worse than 4), " +
      "HAP write p50 <= 1.5, Matter write <= 1.3x bare",
  );
  for (const r of results) {
    const l = r.latency!;
    summary.push({
      metric: `${r.layout.name}: push->HAP / push->Matter p99`,
      value: `${fmt(stats(l.pushToHapEvent).p99)} / ${fmt(stats(l.pushToMatterReport).p99)} ms`,
      target: "<= 20 / <= 80 ms",
    });
    summary.push({
      metric: `${r.layout.name}: HAP write / Matter write p50`,
      value: `${fmt(stats(l.hapWriteToFrame).p50)} / ${fmt(stats(l.matterWriteToFrame).p50)} ms`,
      baseline: `bare matter.js ${fmt(bare.p50)} ms`,
      ratio: `${fmt(stats(l.matterWriteToFrame).p50 / bare.p50)}x`,
      target: "<= 1.5 ms / <= 1.3x",
    });
  }
  const snaps = results.filter((r) => r.heapSnapshot);
  if (snaps.length >= 2) {
    const [a, b] = [snaps[0]!, snaps.at(-1)!];
    const [sa, sb] = [summarize(a.heapSnapshot!), summarize(b.heapSnapshot!)];
    const added = b.devices - a.devices;
    console.log(
      `\nLive heap ${a.layout.name} -> ${b.layout.name}: ${fmt(sa.totalBytes / 1048576)} -> ` +
        `${fmt(sb.totalBytes / 1048576)} MB; the groups that grew most, per added device (${added}):`,
    );
    for (const d of diff(sa, sb, 25))
      console.log(
        `  ${d.key.padEnd(50)} ${fmt((d.count[1] - d.count[0]) / added, 1).padStart(8)} objects ` +
          `${fmt((d.bytes[1] - d.bytes[0]) / added / 1024, 1).padStart(8)} KB`,
      );
  }
  writeSummary("household", summary, [`load at the end ${fmt(endLoad)}${endLoad > 3 ? " (loaded)" : ""}`]);
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`household failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
