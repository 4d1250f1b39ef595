// Crash safety (issue 7, part 1): cycles of start -> (first cycles: pair with hap-controller and
// commission with matter.js's controller, killed in the middle of those writes) -> random activity
// (HAP and Matter commands, FanSync and Nanit vendor events, Nanit refresh-token rotations) -> SIGKILL
// at a random moment (or right as a rotated Nanit token comes back, or during start-up) -> restart.
// After every restart: HAP pair-verify + a read, Matter reconnect + a read, the Nanit refresh token on
// disk still valid at the simulator with no password login needed, and every file parseable, 0600 in
// 0700 directories, no temp file left. Prints cycles run, failures per kind, the protocol windows no
// storage can close (counted apart), and restart-to-ready times.
//
// Run: npm run bench -- crash [--cycles 100] [--activity-ms 3000] [--pairing-kills 4] [--seed N]
// (or: test/netns.sh node bench/crash.ts ...). Figures are printed, not asserted.
import { mkdtempSync, rmSync } from "node:fs";
import { LogFormat, Logger, LogLevel } from "@matter/main";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CrashRig,
  errorText,
  MATTER_COMMISSIONING_FILES,
  seededRandom,
  type TokenVerdict,
} from "../test/helpers/crash-rig.ts";
import { argValue, fmt, sleep, stats, table, writeSummary, type SummaryRow } from "./lib.ts";

if (!process.env.HEARTHBRIDGE_NETNS) {
  console.error(
    "crash pairs and commissions: run it inside the loopback namespace (npm run bench -- crash, or test/netns.sh " +
      "node bench/crash.ts)",
  );
  process.exit(2);
}
// The controllers in this process: quiet (the bridge's own matter.js level comes from its env).
Logger.level = LogLevel.ERROR;
Logger.format = LogFormat.PLAIN;

const CYCLES = Number(argValue("--cycles", "100"));
const ACTIVITY_MS = Number(argValue("--activity-ms", "3000"));
const PAIRING_KILLS = Number(argValue("--pairing-kills", "4"));
const SEED = Number(argValue("--seed", String(Math.floor(Math.random() * 2 ** 31))));
const random = seededRandom(SEED);

type KillKind = "hap-pairing" | "matter-pairing" | "token-rotation" | "startup" | "random";

/** Real failures: what atomic, fsynced storage must prevent. */
const FAILURE_KINDS = [
  "bridge-start",
  "hap-verify",
  "matter-reconnect",
  "hap-pair",
  "matter-commission",
  "nanit-token-stale",
  "nanit-token-unreadable",
  "nanit-login-needed",
  "nanit-not-reachable",
  "files",
] as const;
type FailureKind = (typeof FAILURE_KINDS)[number];
/** Windows of the protocols themselves (the peer acted on an answer that never reached disk, or the
 * reverse); counted, not failures of storage. */
const WINDOW_KINDS = [
  "nanit-token-in-flight",
  "hap-pairing-interrupted",
  "hap-pairing-stuck",
  "matter-commissioning-interrupted",
  "matter-commissioning-stuck",
] as const;
type WindowKind = (typeof WINDOW_KINDS)[number];

const failures = new Map<FailureKind, string[]>(FAILURE_KINDS.map((k) => [k, []]));
const windows = new Map<WindowKind, number>(WINDOW_KINDS.map((k) => [k, 0]));
const kills = new Map<KillKind, number>();
const verdicts = new Map<TokenVerdict, number>();
const actions = new Map<string, number>();
const readyMs: number[] = [];
const hapVerifyMs: number[] = [];
const matterVerifyMs: number[] = [];
let cyclesRun = 0;

const fail = (kind: FailureKind, cycle: number, detail: string) => {
  failures.get(kind)!.push(`cycle ${cycle}: ${detail}`);
  console.log(`  cycle ${cycle}: FAIL ${kind}: ${detail}`);
};
const windowSeen = (kind: WindowKind, cycle: number, detail: string) => {
  windows.set(kind, windows.get(kind)! + 1);
  console.log(`  cycle ${cycle}: window ${kind}: ${detail}`);
};
const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);

const dir = mkdtempSync(join(tmpdir(), "hb-bench-crash-"));
const rig = new CrashRig(dir);
await rig.setup();

/** Pairing attempts that were cut by a kill: judged after the next restart. */
let hapInterrupted = false;
/** The Nanit session the last kill left on disk. */
let lastVerdict: TokenVerdict | undefined;
let matterInterrupted = false;

/** Start the bridge; false when it cannot start (a failure, the run stops). */
async function start(cycle: number, afterKill: boolean): Promise<boolean> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const { readyMs: ms } = await rig.start();
      if (afterKill) readyMs.push(ms);
      return true;
    } catch (error) {
      fail(
        "bridge-start",
        cycle,
        `attempt ${attempt}: ${errorText(error)}; stderr: ${rig.bridge?.stderr.slice(-3).join(" | ")}`,
      );
      await rig.kill();
    }
  }
  return false;
}

/** Restart the bridge after forgetting one ecosystem's pairing (the recovery a user would do: `npm run reset`). */
async function resetAndRestart(cycle: number, which: "homekit" | "matter"): Promise<boolean> {
  await rig.stop();
  await rig.forget(which);
  return start(cycle, false);
}

type PairOutcome = "paired" | "paired-then-killed" | "killed" | "failed";

/** Run a pairing with the kill armed on its writes (or not); a refusal after an interrupted pairing is
 * the protocol window: the bridge kept a pairing its controller never finished. */
async function pairing(cycle: number, which: "homekit" | "matter", armKill: boolean): Promise<PairOutcome> {
  const trap = armKill
    ? which === "homekit"
      ? rig.killOnWrite(rig.hapDir, rig.hapPairingWrites, () => random() * 15)
      : rig.killOnWrite(
          rig.matterDir,
          MATTER_COMMISSIONING_FILES[Math.floor(random() * MATTER_COMMISSIONING_FILES.length)]!,
          () => random() * 20,
        )
    : undefined;
  try {
    await (which === "homekit" ? rig.pairHap() : rig.commissionMatter());
    if (!trap) return "paired";
    // The armed kill may still be on its way (jitter after the last write).
    await Promise.race([trap.fired, sleep(300)]);
    return rig.bridge?.exitCode !== undefined ? "paired-then-killed" : "paired";
  } catch (error) {
    if (which === "matter") await rig.closeMatter();
    if (trap) await Promise.race([trap.fired, sleep(300)]);
    if (rig.bridge?.exitCode !== undefined) return "killed";
    const interrupted = which === "homekit" ? hapInterrupted : matterInterrupted;
    if (interrupted) {
      const what = which === "homekit" ? "hap-pairing-stuck" : "matter-commissioning-stuck";
      windowSeen(
        what,
        cycle,
        `${errorText(error)}; the bridge kept half a pairing (Matter said ` +
          `${rig.matterCommissionedAtStart ? "commissioned" : "not commissioned"} at start); npm run reset -- ${which}`,
      );
      if (which === "homekit") hapInterrupted = false;
      else matterInterrupted = false;
      if (!(await resetAndRestart(cycle, which))) return "failed";
      return pairing(cycle, which, false);
    }
    fail(which === "homekit" ? "hap-pair" : "matter-commission", cycle, errorText(error));
    return "failed";
  } finally {
    trap?.disarm();
  }
}

function killKindFor(cycle: number): KillKind {
  if (cycle <= PAIRING_KILLS) return cycle % 2 === 1 ? "hap-pairing" : "matter-pairing";
  const r = random();
  if (r < 0.25) return "token-rotation";
  if (r < 0.35) return "startup";
  return "random";
}

/** Random activity until the kill lands. */
async function activity(kind: KillKind): Promise<void> {
  let killed = false;
  const done = (async () => {
    if (kind === "token-rotation") {
      // Kill 0-20 ms after the simulator answered a rotation: the new token is on its way to disk (the
      // share of these kills that lose it, times 20 ms, is about how long that takes).
      await sleep(random() * ACTIVITY_MS * 0.5);
      const rotated = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false), 15_000);
        const onHttp = (r: { path: string; status: number }) => {
          if (r.path === "/tokens/refresh" && r.status === 200) done(true);
        };
        // biome-ignore lint/correctness/noUnusedVariables: called by the timer and the listener above
        const done = (seen: boolean) => {
          clearTimeout(timer);
          rig.nanit.off("http", onHttp);
          resolve(seen);
        };
        rig.nanit.on("http", onHttp);
      });
      rig.forceNanitRefresh();
      if (!(await rotated)) console.log("  no token rotation within 15 s; killing anyway");
      await sleep(random() * 20);
    } else {
      await sleep(random() * ACTIVITY_MS);
    }
    await rig.kill();
    killed = true;
  })();
  while (!killed && rig.bridge?.exitCode === undefined) {
    try {
      count(actions, await rig.act(random));
    } catch {
      // Commands fail when the kill lands under them: expected.
    }
    await sleep(50 + random() * 250);
  }
  await done;
}

/** With the bridge down: judge what the kill left on disk. */
function judgeDisk(cycle: number): void {
  const verdict = (lastVerdict = rig.nanitToken());
  count(verdicts, verdict);
  if (verdict === "stale")
    fail("nanit-token-stale", cycle, "the stored refresh token was rotated long before the kill");
  if (verdict === "unreadable") fail("nanit-token-unreadable", cycle, "no readable Nanit session on disk");
  if (verdict === "in-flight")
    windowSeen(
      "nanit-token-in-flight",
      cycle,
      "killed between the rotation's answer and its write (or again before the bridge logged in after such a kill)",
    );
  const problems = rig.fileProblems();
  if (problems.length) fail("files", cycle, problems.join("; "));
}

/** After a restart: the pairings made before must work, the Nanit session must not need a login. */
async function verifyRestart(cycle: number): Promise<void> {
  if (rig.hapPaired) {
    try {
      hapVerifyMs.push(await rig.verifyHap());
    } catch (error) {
      fail("hap-verify", cycle, errorText(error));
    }
  }
  if (rig.matter) {
    try {
      matterVerifyMs.push(await rig.verifyMatter());
    } catch (error) {
      fail("matter-reconnect", cycle, errorText(error));
    }
  }
  try {
    await rig.nanitReachable();
    const logins = rig.nanitLoginsSinceStart;
    if (logins > 0 && lastVerdict === "valid")
      fail("nanit-login-needed", cycle, `${logins} password login(s) although the stored token was valid`);
  } catch (error) {
    fail("nanit-not-reachable", cycle, errorText(error));
  }
  // Files a kill left half-written must be gone once the bridge has started.
  const leftovers = rig.fileProblems(rig.startedAt).filter((p) => p.startsWith("temp file"));
  if (leftovers.length) fail("files", cycle, leftovers.join("; "));
}

console.log(
  `crash: ${CYCLES} cycles, activity up to ${ACTIVITY_MS} ms, ${PAIRING_KILLS} kills during pairing writes, seed ` +
    `${SEED}; data in ${dir}`,
);
const benchStarted = performance.now();
try {
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    cyclesRun = cycle;
    const kind = killKindFor(cycle);
    count(kills, kind);
    const afterKill = cycle > 1;
    lastVerdict = undefined;
    if (afterKill) judgeDisk(cycle);

    if (kind === "startup") {
      // Kill somewhere in start-up (module loading, identity, stores, HAP and Matter storage, the Nanit
      // session): up to the last start's time to "ready".
      const at = random() * (readyMs.at(-1) ?? 5000);
      const starting = rig.start().catch(() => undefined);
      await sleep(at);
      await rig.kill();
      await starting;
      console.log(`cycle ${cycle}: killed ${at.toFixed(0)} ms into start-up`);
      continue;
    }
    if (!(await start(cycle, afterKill))) break;
    if (afterKill) await verifyRestart(cycle);

    // A pairing the last kill cut short: the controller must be able to pair again.
    if (hapInterrupted && !rig.hapPaired) {
      windowSeen("hap-pairing-interrupted", cycle, "the kill landed before hap-controller had the pairing");
      await pairing(cycle, "homekit", false);
    }
    if (matterInterrupted && !rig.matter) {
      windowSeen("matter-commissioning-interrupted", cycle, "the kill landed before commissioning completed");
      await pairing(cycle, "matter", false);
    }
    hapInterrupted = matterInterrupted = false;

    // A pairing trial starts from unpaired: forget the pairings made before (as `npm run reset` does).
    if (cycle <= PAIRING_KILLS && (rig.hapPaired || rig.matter)) {
      await rig.stop();
      await rig.forget("homekit");
      await rig.forget("matter");
      if (!(await start(cycle, false))) break;
    }

    // Pair what is not paired; in a pairing trial the kill lands in the pairing's own writes.
    let killedIn: "homekit" | "matter" | undefined;
    for (const which of ["homekit", "matter"] as const) {
      if (killedIn || (which === "homekit" ? rig.hapPaired : rig.matter)) continue;
      const armed = kind === (which === "homekit" ? "hap-pairing" : "matter-pairing");
      const outcome = await pairing(cycle, which, armed);
      if (outcome === "killed" || outcome === "paired-then-killed") killedIn = which;
      if (which === "homekit") hapInterrupted = outcome === "killed";
      else matterInterrupted = outcome === "killed";
    }
    if (killedIn) {
      console.log(
        `cycle ${cycle}: killed during ${killedIn === "homekit" ? "HAP pair-setup" : "Matter commissioning"} writes ` +
          `(HAP ${rig.hapPaired ? "paired" : "not paired"}, ` +
          `Matter ${rig.matter ? "commissioned" : "not commissioned"})`,
      );
      continue;
    }
    if (kind === "hap-pairing" || kind === "matter-pairing") {
      // Nothing matched the trap (should not happen): kill now, right after the pairing writes.
      await rig.kill();
      console.log(`cycle ${cycle}: killed right after pairing (the trap did not fire)`);
      continue;
    }

    await activity(kind);
    console.log(
      `cycle ${cycle}: killed (${kind}); ready ${fmt(readyMs.at(-1), 0)} ms, HAP verify ` +
        `${fmt(hapVerifyMs.at(-1), 0)} ms, Matter reconnect ${fmt(matterVerifyMs.at(-1), 0)} ms`,
    );
  }
  // The last kill's aftermath: restart once more and check, so every kill is judged.
  judgeDisk(cyclesRun + 1);
  if (await start(cyclesRun + 1, true)) {
    await verifyRestart(cyclesRun + 1);
    await rig.stop();
  }
} finally {
  await rig.close();
  rmSync(dir, { recursive: true, force: true });
}

const totalFailures = [...failures.values()].reduce((n, list) => n + list.length, 0);
const ready = stats(readyMs);
const hapV = stats(hapVerifyMs);
const matterV = stats(matterVerifyMs);
console.log(
  `\ncrash: ${cyclesRun} cycles in ${((performance.now() - benchStarted) / 60_000).toFixed(1)} min, seed ${SEED}`,
);
console.log(table([["kill", "count"], ...[...kills].map(([k, n]) => [k, n])]));
console.log();
console.log(
  table([
    ["failure (storage must prevent)", "count"],
    ...FAILURE_KINDS.map((k) => [k, failures.get(k)!.length]),
    ["total", totalFailures],
  ]),
);
console.log();
console.log(table([["protocol window (not storage)", "count"], ...WINDOW_KINDS.map((k) => [k, windows.get(k)!])]));
console.log();
console.log(table([["Nanit token on disk after a kill", "count"], ...[...verdicts].map(([k, n]) => [k, n])]));
console.log();
console.log(
  table([
    ["time", "n", "mean", "p50", "max"],
    ["restart -> ready (ms)", ready.n, fmt(ready.mean, 0), fmt(ready.p50, 0), fmt(ready.max, 0)],
    ["HAP pair-verify + read (ms)", hapV.n, fmt(hapV.mean, 0), fmt(hapV.p50, 0), fmt(hapV.max, 0)],
    ["Matter reconnect + read (ms)", matterV.n, fmt(matterV.mean, 0), fmt(matterV.p50, 0), fmt(matterV.max, 0)],
  ]),
);
console.log(
  `Matter reconnects that needed a second reconnect(): ${rig.matterSecondTries} (the controller's first reconnect ` +
    `after commissioning; see CrashRig.verifyMatter)`,
);
console.log(`actions: ${[...actions].map(([k, n]) => `${k} ${n}`).join(", ")}`);
for (const [kind, list] of failures) for (const line of list) console.log(`${kind}: ${line}`);

const rows: SummaryRow[] = [
  { metric: "cycles run", value: String(cyclesRun) },
  { metric: "failures (all kinds)", value: String(totalFailures), target: "0" },
  ...FAILURE_KINDS.filter((k) => failures.get(k)!.length).map((k) => ({
    metric: `failures: ${k}`,
    value: String(failures.get(k)!.length),
    target: "0",
  })),
  ...WINDOW_KINDS.filter((k) => windows.get(k)!).map((k) => ({
    metric: `window: ${k}`,
    value: String(windows.get(k)!),
  })),
  { metric: "restart -> ready mean", value: `${fmt(ready.mean, 0)} ms` },
  { metric: "HAP pair-verify + read mean", value: `${fmt(hapV.mean, 0)} ms` },
  { metric: "Matter reconnect + read p50", value: `${fmt(matterV.p50, 0)} ms` },
  { metric: "Matter second reconnect() needed", value: String(rig.matterSecondTries) },
];
writeSummary("crash", rows, [`seed ${SEED}; kills: ${[...kills].map(([k, n]) => `${k} ${n}`).join(", ")}`]);
process.exit(0);
