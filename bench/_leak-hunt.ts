// Which kind of vendor change grows the bridge's heap (issue 17: the soak's slope). The mixed household,
// paired and commissioned; per kind of change (fan speed, smoke alarm raised/cleared, temperature,
// battery, Nanit motion/sound messages, HomeKit writes): N changes at a fast pace, then a heap snapshot (V8 collects
// garbage first), diffed by constructor with the one before. A kind that grows the same groups again in
// the second round keeps something per change. Printed, never asserted:
//
//   test/netns.sh node bench/_leak-hunt.ts [--changes 1500] [--rounds 2] [--dir /tmp/leak]
//
// It found matter.js keeping every Matter event in memory (src/matter/event-store.ts).
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { diff, summarize, takeHeapSnapshot } from "./_heap-diff.ts";
import {
  LAYOUTS,
  deviceCount,
  homeKitWriteTargets,
  pairAndCommission,
  startBridge,
  startSimulators,
} from "./_household-rig.ts";
import { argValue } from "./lib.ts";
import { Environment } from "@matter/main";

if (!process.env.HEARTHBRIDGE_NETNS) {
  console.error("_leak-hunt pairs and commissions: run it inside the loopback namespace (test/netns.sh)");
  process.exit(2);
}
if (!process.env.MATTER_LOG_LEVEL) Environment.default.vars.set("log.level", "error");

const N = Number(argValue("--changes", "1500"));
const DIR = resolve(argValue("--dir", "/tmp/leak")!);
mkdirSync(DIR, { recursive: true });
const layout = LAYOUTS.mixed!;
const sims = await startSimulators(layout);
const run = await startBridge(sims, deviceCount(layout), ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${DIR}`]);
const clients = await pairAndCommission(run);
const fans = sims.fansync.deviceIds;
const detectors = sims.xsense!.houses.flatMap((h) => h.stations.flatMap((s) => s.devices.map((d) => d.sn)));
const cameras = sims.nanit!.babies.map((b) => b.cameraUid);
const smoke = new Set<string>();
// HomeKit writes as Apple Home sends them: a fan's RotationSpeed or a light's On, over the paired writer.
const targets = await homeKitWriteTargets(clients.writer);
const kinds: [string, (i: number) => unknown][] = [
  ["fan speed", (i) => sims.fansync.remote(fans[i % fans.length]!, { H02: 10 + (i % 90) }).catch(() => {})],
  [
    "smoke",
    (i) => {
      const sn = detectors[i % detectors.length]!;
      if (smoke.delete(sn)) return sims.xsense!.clearSmoke(sn);
      smoke.add(sn);
      sims.xsense!.raiseSmoke(sn);
    },
  ],
  ["temperature", (i) => sims.nanit!.setTemperature(18 + (i % 60) / 10, cameras[i % cameras.length]!)],
  ["battery", (i) => sims.xsense!.setBattery(detectors[i % detectors.length]!, 1 + (i % 3))],
  ["nanit message", (i) => void sims.nanit!.postMessage(i % 2 ? "MOTION" : "SOUND")],
  [
    "HomeKit write",
    (i) => {
      const c = targets[i % targets.length]!;
      return clients.writer.write([c, c.format === "bool" ? i % 2 === 0 : 10 + (i % 90)]).catch(() => {});
    },
  ],
];
const rounds = argValue("--rounds", "2");
// matter.js keeps its last 1,000 events (platform.ts): the first round fills that buffer.
let previous = summarize(await takeHeapSnapshot(run.bridge.child.pid!, DIR));
console.log(`start: live heap ${(previous.totalBytes / 1048576).toFixed(2)} MB`);
for (let round = 0; round < Number(rounds); round++)
  for (const [name, act] of kinds) {
    for (let i = 0; i < N; i++) {
      await act(i + round * N);
      await delay(name === "nanit message" ? 40 : name === "HomeKit write" ? 0 : 8);
    }
    await delay(3000);
    const next = summarize(await takeHeapSnapshot(run.bridge.child.pid!, DIR));
    const grown = (next.totalBytes - previous.totalBytes) / 1024;
    const heap = (next.totalBytes / 1048576).toFixed(2);
    console.log(`\n== round ${round} ${name} x${N}: live heap ${heap} MB (${grown.toFixed(0)} KiB)`);
    for (const d of diff(previous, next, 8))
      console.log(`  ${d.key.slice(0, 60).padEnd(60)} ${d.count[0]} -> ${d.count[1]}  +${d.bytes[1] - d.bytes[0]}`);
    previous = next;
  }
await clients.close();
await run.stop();
await sims.stop();
