// The household soak (`npm run bench -- household --soak-minutes N`, 120 when no number is given): the
// mixed household in one bridge process for N minutes with
// - state churn every 1-2 s, round-robin over the vendors (fan speed and light, smoke raised and cleared,
//   batteries, CO, camera temperature / humidity / motion and sound messages), HomeKit writes every 2-4 s;
// - a HomeKit live view every 2 minutes (20 s of SRTP, the cameras in turn) and a snapshot every 20 s
//   (the cameras in turn; some during a live view, most not);
// - RSS after a forced full GC (bridge inspector) every minute. Printed: the per-minute samples and the
//   least-squares slope of RSS (and of the V8 heap) from the first full GC on, in MB/h.
// Ctrl-C or SIGTERM ends it early and still prints the figures.
import { setTimeout as delay } from "node:timers/promises";
import { Viewer } from "../test/helpers/camera-fixture.ts";
import { HapClient } from "../test/helpers/hap-client.ts";
import {
  LAYOUTS,
  deviceCount,
  homeKitWriteTargets,
  pairAndCommission,
  startBridge,
  startSimulators,
  type MemoryFigures,
} from "./_household-rig.ts";
import { fmt, table, withTimeout, writeSummary } from "./lib.ts";

const SAMPLE_MS = 60_000;
const LIVE_EVERY_MS = 120_000;
const LIVE_HOLD_MS = 20_000;
const SNAPSHOT_EVERY_MS = 20_000;

/** Least-squares slope of y over t (ms), per hour; NaN with fewer than 3 points. */
export function slopePerHour(points: { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 3) return NaN;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den ? (num / den) * 3_600_000 : NaN;
}

/** Why churn failed, counted by reason (printed with the figures). */
const failures = new Map<string, number>();
const failed = (reason: string) => failures.set(reason, (failures.get(reason) ?? 0) + 1);
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

export async function runSoak(minutes: number): Promise<void> {
  if (!(minutes > 0)) throw new Error("--soak-minutes: a number of minutes > 0");
  const layout = LAYOUTS.mixed!;
  const stop = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      console.log(`\n${signal}: ending the soak early; figures follow`);
      stop.abort();
    });
  const until = async (at: number) => {
    if (stop.signal.aborted) return false;
    try {
      await delay(Math.max(0, at - performance.now()), undefined, { signal: stop.signal });
      return true;
    } catch {
      return false;
    }
  };
  const sims = await startSimulators(layout);
  const run = await startBridge(sims, deviceCount(layout));
  const clients = await pairAndCommission(run);
  const bridgeLines = run.bridge.lines;
  const cameraClients: HapClient[] = [];
  const counts = { changes: 0, writes: 0, writeFailures: 0, snapshots: 0, snapshotFailures: 0, live: 0, liveFailed: 0 };
  const samples: ({ t: number } & MemoryFigures)[] = [];
  try {
    for (const baby of sims.nanit!.babies) {
      const line = await run.bridge.waitForLine(
        (l) => l.event === "camera-pairing" && l.deviceId === `nanit:${baby.cameraUid}`,
        30_000,
      );
      cameraClients.push(await HapClient.pair(line.port as number, line.setupCode as string));
    }
    const targets = await homeKitWriteTargets(clients.writer);
    console.log(
      `soak: ${minutes} min, ${run.devices} devices, ${cameraClients.length} cameras paired, ${targets.length} ` +
        "HomeKit write targets",
    );
    const start = performance.now();
    const end = start + minutes * 60_000;
    const timer = setTimeout(() => stop.abort(), minutes * 60_000 + 1000);

    const sampler = (async () => {
      for (let i = 0; ; i++) {
        if (i > 0 && !(await until(start + i * SAMPLE_MS))) return;
        const m = await run.inspector.memoryAfterGc();
        samples.push({ t: performance.now(), ...m });
        console.log(
          `minute ${i}: RSS ${fmt(m.rss, 1)} MB, heap ${fmt(m.heapUsed, 1)} MB, external ${fmt(m.external, 1)} MB; ` +
            `changes ${counts.changes}, writes ${counts.writes}, snapshots ${counts.snapshots}, live ${counts.live}`,
        );
      }
    })();
    const fans = sims.fansync.deviceIds;
    const detectors = sims.xsense!.houses.flatMap((h) => h.stations.flatMap((s) => s.devices.map((d) => d.sn)));
    const cameras = sims.nanit!.babies.map((b) => b.cameraUid);
    const smoke = new Set<string>();
    const churn = (async () => {
      const actions: ((i: number) => void)[] = [
        () => void sims.fansync.remote(pick(fans), { H02: 10 + Math.floor(Math.random() * 90) }).catch(() => {}),
        () => {
          const sn = pick(detectors);
          if (smoke.delete(sn)) return sims.xsense!.clearSmoke(sn);
          smoke.add(sn);
          sims.xsense!.raiseSmoke(sn);
        },
        () => sims.nanit!.setTemperature(18 + Math.random() * 6, pick(cameras)),
        (i) => void sims.fansync.remote(pick(fans), { H0B: i % 2 }).catch(() => {}),
        (i) => sims.xsense!.setBattery(pick(detectors), 1 + (i % 3)),
        () => void sims.nanit!.postMessage(pick(["MOTION", "SOUND"])),
      ];
      let next = performance.now();
      for (let i = 0; ; i++) {
        next += 1000 + Math.random() * 1000;
        if (!(await until(next))) return;
        try {
          actions[i % actions.length]!(Math.floor(i / actions.length));
          counts.changes++;
        } catch (error) {
          console.log(`change failed: ${errorText(error)}`);
        }
      }
    })();
    const writes = (async () => {
      let next = performance.now();
      for (let i = 0; ; i++) {
        next += 2000 + Math.random() * 2000;
        if (!(await until(next))) return;
        const c = pick(targets);
        const value = c.format === "bool" ? i % 2 === 0 : 10 + Math.floor(Math.random() * 90);
        try {
          await withTimeout(clients.writer.write([c, value]), 15_000, "HAP write");
          counts.writes++;
        } catch (error) {
          counts.writeFailures++;
          failed(`HAP write: ${errorText(error)}`);
        }
      }
    })();
    // One request at a time per camera client (hap-controller shares one connection).
    const busy = new Map<HapClient, Promise<unknown>>();
    const serial = <T>(client: HapClient, fn: () => Promise<T>): Promise<T> => {
      const next = (busy.get(client) ?? Promise.resolve()).then(fn, fn);
      busy.set(
        client,
        next.catch(() => {}),
      );
      return next;
    };
    const snapshots = (async () => {
      for (let i = 0; ; i++) {
        if (!(await until(start + 5000 + i * SNAPSHOT_EVERY_MS)) || performance.now() > end) return;
        const client = cameraClients[i % cameraClients.length]!;
        try {
          const jpeg = await serial(client, () => withTimeout(client.http.getImage(640, 360), 30_000, "snapshot"));
          if (jpeg[0] === 0xff && jpeg[1] === 0xd8) counts.snapshots++;
          else {
            counts.snapshotFailures++;
            failed(`snapshot: not a JPEG (${jpeg.length} bytes)`);
          }
        } catch (error) {
          counts.snapshotFailures++;
          failed(`snapshot: ${errorText(error)}`);
        }
      }
    })();
    const liveViews = (async () => {
      for (let i = 0; ; i++) {
        if (!(await until(start + 30_000 + i * LIVE_EVERY_MS)) || performance.now() + LIVE_HOLD_MS > end) return;
        const client = cameraClients[i % cameraClients.length]!;
        let viewer: Viewer | undefined;
        try {
          viewer = await serial(client, () => Viewer.setUp(client, { index: 0, dir: run.dir }));
          const v = viewer;
          await serial(client, () => v.start({ width: 1280, height: 720 }));
          await v.video.until(() => v.video.packets.length > 0, 30_000, "first SRTP packet");
          await delay(LIVE_HOLD_MS);
          counts.live++;
        } catch (error) {
          counts.liveFailed++;
          console.log(`live view ${i + 1} failed: ${errorText(error)}`);
        } finally {
          const v = viewer;
          if (v)
            await serial(client, () => withTimeout(v.stop(), 15_000, "STOP")).catch((error: unknown) =>
              failed(`live view STOP: ${errorText(error)}`),
            );
          v?.close();
        }
      }
    })();
    await Promise.all([churn, writes, snapshots, liveViews]);
    await sampler;
    clearTimeout(timer);
  } finally {
    stop.abort();
    await Promise.allSettled(cameraClients.map((c) => withTimeout(c.close(), 10_000, "closing a camera client")));
    await clients.close();
    await run.stop();
    await sims.stop();
  }
  // ---- figures ----
  const first = samples[0];
  console.log(`\nsoak samples (RSS after a forced full GC, every ${SAMPLE_MS / 1000} s):`);
  console.log(
    table([
      ["minute", "RSS MB", "heap used MB", "external MB", "old space MB", "code space MB"],
      ...samples.map((s) => [
        fmt((s.t - first!.t) / 60_000, 1),
        fmt(s.rss, 1),
        fmt(s.heapUsed, 1),
        fmt(s.external, 1),
        fmt(s.spaces.old_space, 1),
        fmt(s.spaces.code_space, 1),
      ]),
    ]),
  );
  const slope = (pickOf: (s: MemoryFigures) => number) => slopePerHour(samples.map((s) => ({ t: s.t, y: pickOf(s) })));
  const rssSlope = slope((s) => s.rss);
  const lastHalf = samples.slice(Math.floor(samples.length / 2));
  const rssSlopeLastHalf = slopePerHour(lastHalf.map((s) => ({ t: s.t, y: s.rss })));
  console.log(
    `RSS slope after the first full GC: ${fmt(rssSlope)} MB/h (second half ${fmt(rssSlopeLastHalf)} MB/h; heap used ` +
      `${fmt(slope((s) => s.heapUsed))} MB/h, external ${fmt(slope((s) => s.external))} MB/h); target <= 2 MB/h`,
  );
  console.log(
    `churn: ${counts.changes} vendor changes, HAP writes ${counts.writes} ok / ${counts.writeFailures} failed, ` +
      `snapshots ${counts.snapshots} ok / ${counts.snapshotFailures} failed, live views ${counts.live} ok / ` +
      `${counts.liveFailed} failed`,
  );
  for (const [reason, count] of [...failures].sort((a, b) => b[1] - a[1])) console.log(`  ${count} x ${reason}`);
  // The bridge's own account of what went wrong (warn and above), so a failure above can be traced.
  const warnings = new Map<string, number>();
  for (const line of bridgeLines.filter((l) => l.level >= 40)) {
    const key = `${line.level >= 50 ? "error" : "warn"}: ${line.msg}`;
    warnings.set(key, (warnings.get(key) ?? 0) + 1);
  }
  console.log(`bridge warnings and errors: ${[...warnings.values()].reduce((a, b) => a + b, 0)}`);
  for (const [msg, count] of [...warnings].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${count} x ${msg}`);
  if (minutes < 30) console.log("(a run this short says little about a slope: the 120-minute soak is the measurement)");
  writeSummary(
    "household",
    [
      {
        metric: "soak RSS slope after first full GC",
        value: `${fmt(rssSlope)} MB/h`,
        baseline: `second half ${fmt(rssSlopeLastHalf)} MB/h`,
        target: "<= 2 MB/h",
      },
      { metric: "soak RSS first -> last", value: `${fmt(first?.rss, 1)} -> ${fmt(samples.at(-1)?.rss, 1)} MB` },
    ],
    [`${minutes} min soak; ${counts.snapshots} snapshots, ${counts.live} live views, ${counts.changes} changes`],
  );
}
