// Vendor-cloud chaos (issue 7, part 2): the real bridge (its CLI, real timeouts and back-offs, HomeKit
// and Matter on) against the three simulators, each behind a fault-injecting proxy. Per vendor, rounds
// of dropped sockets, stalled logins, expired tokens and credentials, HTTP 5xx bursts, 2-10 s slow
// answers, truncated frames, outages and (Nanit) the 403 connection limits; the three vendors run
// side by side, each its own loop, so a fault at one also shows whether the others stay up. Every
// Nanit round runs a live view of the standalone camera through the fault (START before it, SRTP
// verified; after recovery the video must arrive again; STOP at the end, and once the hub's linger is
// over no ffmpeg of the bridge may be left).
//
// Printed per vendor and fault: rounds, failures, time to recovery p50 / p99 / max (end of the fault
// -> account connected, every device reachable and a change made after the fault arrived), how often
// the devices read unreachable (and what HomeKit read then); for Nanit, video resumed p50 / p99 / max
// (the camera's control link connected again -> SRTP video arriving again at the viewer; against
// START -> first video packet in the same run); for the bridge process: RSS and open
// descriptors at the start and the end (and their slope), child and ffmpeg processes, device and
// HomeKit accessory counts, crashes. The baseline column is each account's cold start in the same run.
// Figures are printed, not asserted. See test/helpers/chaos-rig.ts for how a round works.
//
//   npm run bench -- chaos                               default rounds (about 12 minutes)
//   test/netns.sh node bench/chaos.ts --rounds 50        the issue's 50 rounds of every kind (hours: Nanit's
//                                                        connection-limit back-off alone is 5 min a round)
//   --vendors fansync,nanit   --kinds drop,slow   --hold outage=30000   --log-level debug   --dump bridge-log.jsonl
//   --linger 2000   the stream hub's linger after STOP (ms; 30 s in real use)
//   --no-live-view  Nanit rounds without a live view (to tell memory of the streams from that of the links)
//   --heap-snapshots <dir>  V8 heap snapshots of the bridge after the warm-up and at the end (kept in <dir>),
//                   compared by constructor (bench/_heap-diff.ts); writing one pauses the bridge for seconds
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { diff, summarize, takeHeapSnapshot } from "./_heap-diff.ts";
import {
  ChaosRig,
  VENDORS,
  VIDEO_GAP_MS,
  type FaultKind,
  type ResourceSample,
  type RoundResult,
  type Vendor,
} from "../test/helpers/chaos-rig.ts";
import { ffmpegChildrenOf } from "../test/helpers/camera-live.ts";
import { argValue, argValues, fmt, stats, table, writeSummary, type SummaryRow } from "./lib.ts";

if (!process.env.HEARTHBRIDGE_NETNS) {
  console.error(
    "chaos pairs and runs Matter: run it inside the loopback namespace (npm run bench -- chaos, or test/netns.sh " +
      "node bench/chaos.ts)",
  );
  process.exit(2);
}

const list = (name: string): string[] | undefined =>
  argValue(name)
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const vendors = (list("--vendors") ?? [...VENDORS]) as Vendor[];
for (const v of vendors) if (!VENDORS.includes(v)) throw new Error(`unknown vendor ${v} (${VENDORS.join(", ")})`);
const onlyKinds = list("--kinds");
const roundsOverride = argValue("--rounds") === undefined ? undefined : Number(argValue("--rounds"));
const holdMs: Record<string, number> = {};
for (const h of argValues("--hold")) {
  const [kind, ms] = h.split("=");
  if (!kind || !Number.isFinite(Number(ms))) throw new Error(`--hold kind=ms (got ${h})`);
  holdMs[kind] = Number(ms);
}

const hubLingerMs = Number(argValue("--linger", "2000"));
if (!Number.isFinite(hubLingerMs) || hubLingerMs < 0) throw new Error(`--linger ms (got ${argValue("--linger")})`);
/** Vendors whose rounds run a live view. */
const liveView = (v: Vendor) => v === "nanit" && !process.argv.includes("--no-live-view");

const heapArg = argValue("--heap-snapshots");
const HEAP_DIR = heapArg ? resolve(heapArg) : undefined;
if (HEAP_DIR) {
  mkdirSync(HEAP_DIR, { recursive: true });
  // The bridge child inherits process.env (test/helpers/bridge-process.ts); this process is not affected.
  process.env.NODE_OPTIONS =
    `${process.env.NODE_OPTIONS ?? ""} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HEAP_DIR}`.trim();
}

const dir = mkdtempSync(join(tmpdir(), "hb-bench-chaos-"));
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s`;
console.log(`chaos: ${vendors.join(", ")}; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`);

const rig = await ChaosRig.start({ vendors, dir, holdMs, hubLingerMs, logLevel: argValue("--log-level", "info") });
const results: RoundResult[] = [];
const samples: ResourceSample[] = [];
try {
  console.log(
    `bridge up (pid ${rig.bridge.child.pid}); cold start: ` +
      `${vendors.map((v) => `${v} ${fmt((rig.coldStartMs[v] ?? NaN) / 1000, 1)} s`).join(", ")}`,
  );

  const plan = new Map<Vendor, FaultKind[]>();
  for (const v of vendors) {
    const kinds = rig.kinds(v).filter((k) => !onlyKinds || onlyKinds.includes(k.name));
    plan.set(v, kinds);
    for (const k of kinds)
      console.log(`  ${v.padEnd(7)} ${k.name.padEnd(11)} x${roundsOverride ?? k.rounds}: ${k.summary}`);
  }

  // Warm-up (JIT, first reconnects): one dropped-socket round per vendor, not counted.
  await Promise.all(
    vendors.map((v) => rig.round(v, rig.kinds(v).find((k) => k.name === "drop")!, -1, { liveView: liveView(v) })),
  );
  // Taken before the baseline sample: a snapshot's own memory is then in both RSS figures.
  const firstHeap = HEAP_DIR ? await takeHeapSnapshot(rig.bridge.child.pid!, HEAP_DIR) : undefined;
  const baseline = rig.sample();
  samples.push(baseline);

  /** Round-robin over the vendor's kinds, so slow kinds are spread out and kinds follow each other. */
  async function loop(vendor: Vendor): Promise<void> {
    const kinds = plan.get(vendor)!;
    const rounds = (k: FaultKind) => roundsOverride ?? k.rounds;
    const most = Math.max(0, ...kinds.map(rounds));
    for (let i = 0; i < most; i++) {
      for (const kind of kinds) {
        if (i >= rounds(kind)) continue;
        const result = await rig.round(vendor, kind, i, { liveView: liveView(vendor) });
        results.push(result);
        samples.push(rig.sample());
        const took = Number.isNaN(result.recoveryMs)
          ? "  -   "
          : `${(result.recoveryMs / 1000).toFixed(2).padStart(6)} s`;
        const v = result.video;
        const video = !v
          ? ""
          : Number.isNaN(v.resumedMs)
            ? ", video NOT resumed"
            : v.interrupted
              ? `, video resumed ${(v.resumedMs / 1000).toFixed(2)} s after the link`
              : ", video uninterrupted";
        console.log(
          `${elapsed()} ${vendor.padEnd(7)} ${kind.name.padEnd(11)} #${String(i + 1).padEnd(3)} ` +
            `${result.ok ? "ok  " : "FAIL"} recovery ` +
            `${took}${result.linkDrops ? ` link dropped x${result.linkDrops}` : ""}` +
            `${result.down ? ", unreachable meanwhile" : ""}${video}` +
            `${result.problems.length ? `: ${result.problems.join("; ")}` : ""}`,
        );
        if (!result.ok && Number.isNaN(result.recoveryMs) && !(await rig.settled(vendor, 300_000))) {
          console.log(`${elapsed()} ${vendor}: did not come back within 5 more minutes; stopping this vendor's rounds`);
          return;
        }
        if (!rig.alive) return;
      }
    }
  }
  await Promise.all(vendors.map(loop));
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const end = rig.sample();
  samples.push(end);
  const heapReport: string[] = [];
  if (HEAP_DIR && firstHeap && rig.alive) {
    const a = summarize(firstHeap);
    const b = summarize(await takeHeapSnapshot(rig.bridge.child.pid!, HEAP_DIR));
    heapReport.push(
      `\nlive heap (after V8's GC): ${fmt(a.totalBytes / 1048576)} MB, ${a.nodes} objects -> ` +
        `${fmt(b.totalBytes / 1048576)} MB, ${b.nodes} objects (${a.file} -> ${b.file})`,
      ...diff(a, b, 25).map(
        (d) =>
          `  ${d.key.padEnd(48)} count ${d.count[0]} -> ${d.count[1]}, bytes ${d.bytes[0]} -> ${d.bytes[1]} ` +
          `(${d.bytes[1] >= d.bytes[0] ? "+" : ""}${d.bytes[1] - d.bytes[0]})`,
      ),
    );
  }

  // ---- figures ----
  const rows: (string | number)[][] = [
    [
      "vendor",
      "fault",
      "rounds",
      "failed",
      "recovery p50",
      "p99",
      "max",
      "link drops",
      "unreachable",
      "HAP while down",
      "cold start",
      "video resumed p50/p99/max",
      "video stopped",
    ],
  ];
  const summary: SummaryRow[] = [];
  const watched = results.filter((r) => r.video);
  // Baseline for the video: START -> first verified video packet, every Nanit round of this run.
  const startStats = stats(watched.map((r) => r.video!.startMs / 1000).filter((x) => !Number.isNaN(x)));
  for (const v of vendors) {
    for (const kind of plan.get(v)!) {
      const rs = results.filter((r) => r.vendor === v && r.kind === kind.name);
      if (!rs.length) continue;
      const s = stats(rs.map((r) => r.recoveryMs / 1000).filter((x) => !Number.isNaN(x)));
      const failed = rs.filter((r) => !r.ok).length;
      const downs = rs.filter((r) => r.down).length;
      const hap = rs.filter((r) => r.hapWhileDown !== undefined);
      const hapText = hap.length
        ? `${hap.filter((r) => r.hapWhileDown === -70402).length}/${hap.length} No Response`
        : "-";
      const drops = rs.reduce((n, r) => n + r.linkDrops, 0);
      const videos = rs.flatMap((r) => (r.video ? [r.video] : []));
      const vs = stats(videos.map((x) => x.resumedMs / 1000).filter((x) => !Number.isNaN(x)));
      const notResumed = videos.filter((x) => Number.isNaN(x.resumedMs)).length;
      const videoText = videos.length
        ? `${fmt(vs.p50)}/${fmt(vs.p99)}/${fmt(vs.max)} s${notResumed ? ` (${notResumed} never)` : ""}`
        : "-";
      const stoppedText = videos.length ? `${videos.filter((x) => x.interrupted).length}/${videos.length}` : "-";
      rows.push([
        v,
        kind.name,
        rs.length,
        failed,
        `${fmt(s.p50)} s`,
        `${fmt(s.p99)} s`,
        `${fmt(s.max)} s`,
        drops,
        `${downs}/${rs.length}${kind.expectDown === "no" && downs ? " flapped" : ""}`,
        hapText,
        `${fmt((rig.coldStartMs[v] ?? NaN) / 1000, 1)} s`,
        videoText,
        stoppedText,
      ]);
      if (videos.length) {
        summary.push({
          metric:
            `${v} ${kind.name} video resumed p50/p99/max (${videos.length} live views, stopped in ` +
            `${stoppedText}, ${notResumed} never resumed)`,
          value: `${fmt(vs.p50)}/${fmt(vs.p99)}/${fmt(vs.max)} s`,
          baseline: `${fmt(startStats.p50)} s START -> first video packet (p50)`,
          ratio: `${fmt(vs.p50 / startStats.p50)}x`,
        });
      }
      summary.push({
        metric: `${v} ${kind.name} recovery p50/p99/max (${rs.length} rounds, ${failed} failed)`,
        value: `${fmt(s.p50)}/${fmt(s.p99)}/${fmt(s.max)} s`,
        baseline: `${fmt((rig.coldStartMs[v] ?? NaN) / 1000, 1)} s cold start`,
        ratio: `${fmt(s.p50 / ((rig.coldStartMs[v] ?? NaN) / 1000))}x`,
      });
    }
  }
  console.log(`\n${table(rows)}`);

  const mb = (kb: number) => kb / 1024;
  // Least-squares slope of RSS / fds over the rounds, per 100 rounds.
  const slope = (ys: number[]): number => {
    const n = ys.length;
    if (n < 10) return NaN; // too few rounds for a trend
    const mx = (n - 1) / 2;
    const my = ys.reduce((a, b) => a + b, 0) / n;
    let num = 0;
    let den = 0;
    ys.forEach((y, x) => {
      num += (x - mx) * (y - my);
      den += (x - mx) ** 2;
    });
    return (num / den) * 100;
  };
  const rss = samples.map((s) => mb(s.rssKb));
  const fds = samples.map((s) => s.fds);
  const failures = results.filter((r) => !r.ok);
  const crashes = rig.crashLines;
  const resourceRows: (string | number)[][] = [
    ["bridge process", "start", "end", "max", "slope / 100 rounds"],
    ["RSS", `${fmt(rss[0])} MB`, `${fmt(rss.at(-1))} MB`, `${fmt(Math.max(...rss))} MB`, `${fmt(slope(rss))} MB`],
    ["open fds", baseline.fds, end.fds, Math.max(...fds), fmt(slope(fds))],
    ["child processes", baseline.children, end.children, Math.max(...samples.map((s) => s.children)), "-"],
    ["ffmpeg processes", baseline.ffmpeg, end.ffmpeg, Math.max(...samples.map((s) => s.ffmpeg)), "-"],
  ];
  console.log(`\n${table(resourceRows)}`);
  for (const line of heapReport) console.log(line);
  const ffmpegLeft = ffmpegChildrenOf(rig.bridge.child.pid!).length;
  if (watched.length) {
    const afterStop = watched.map((r) => r.video!.ffmpegAfterStop);
    const during = watched.map((r) => r.video!.ffmpegWatching).filter((n) => !Number.isNaN(n));
    console.log(
      `\nlive views: ${watched.length} (START -> first video packet p50/p99/max ` +
        `${fmt(startStats.p50)}/${fmt(startStats.p99)}/${fmt(startStats.max)} s; a pause over ${VIDEO_GAP_MS} ms ` +
        `counts as stopped)`,
    );
    console.log(
      `bridge ffmpeg children: ${Math.min(...during)}-${Math.max(...during)} while watching; after STOP + the ` +
        `${hubLingerMs / 1000} s linger: max ${Math.max(...afterStop)} (${afterStop.filter((n) => n > 0).length} ` +
        `rounds with any left)`,
    );
  }
  console.log(`bridge ffmpeg children at the end: ${ffmpegLeft}`);
  const inventory = (await Promise.all(vendors.map((v) => rig.inventoryProblems(v)))).flat();
  console.log(
    `\nrounds ${results.length}, failed ${failures.length}; bridge ` +
      `${rig.alive ? "still running" : `EXITED (${rig.bridge.exitCode})`}; uncaught exceptions / unhandled ` +
      `rejections logged: ${crashes.length}`,
  );
  console.log(
    `devices and HomeKit accessories: ${inventory.length ? inventory.join("; ") : "same as at start, no duplicates"}`,
  );
  for (const c of crashes.slice(0, 5)) console.log(`  crash line: ${JSON.stringify(c).slice(0, 300)}`);
  const errors = rig.bridge.lines.filter((l) => l.level >= 50);
  console.log(
    `error-level log lines: ${errors.length}${
      errors.length
        ? ` (first: ${errors
            .slice(0, 3)
            .map((l) => l.msg)
            .join(" | ")})`
        : ""
    }`,
  );
  if (failures.length) {
    console.log("failures:");
    for (const f of failures) console.log(`  ${f.vendor} ${f.kind} #${f.round + 1}: ${f.problems.join("; ")}`);
  }
  console.log(`time: ${elapsed().trim()}`);

  summary.push(
    { metric: "rounds / failed", value: `${results.length} / ${failures.length}`, target: "0 failed" },
    {
      metric: "bridge RSS start -> end (max)",
      value: `${fmt(rss[0])} -> ${fmt(rss.at(-1))} MB (${fmt(Math.max(...rss))})`,
      target: "flat",
    },
    {
      metric: "bridge open fds start -> end (max)",
      value: `${baseline.fds} -> ${end.fds} (${Math.max(...fds)})`,
      target: "flat",
    },
    { metric: "ffmpeg / child processes at end", value: `${ffmpegLeft} / ${end.children}`, target: "0" },
    ...(watched.length
      ? [
          {
            metric: "bridge ffmpeg left after STOP + linger (max over live views)",
            value: String(Math.max(...watched.map((r) => r.video!.ffmpegAfterStop))),
            target: "0",
          },
        ]
      : []),
    { metric: "crash lines, duplicate devices", value: `${crashes.length}, ${inventory.length}`, target: "0, 0" },
  );
  writeSummary("chaos", summary, [`${results.length} rounds in ${elapsed().trim()}; ${cpus().length} CPUs`]);
} finally {
  const dump = argValue("--dump");
  if (dump) writeFileSync(dump, `${rig.bridge.lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
  await rig.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
