// Latency paths of the household bench, measured against the one bridge process: the FanSync simulator and
// both clients live in the bench process, so every timestamp is this process's performance.now().
//   vendor push -> HAP event, vendor push -> Matter report, HAP write -> `set` frame, Matter write -> frame;
// and the baseline "Matter write -> percentSetting$Changed" of a bare matter.js node in its own process.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { uniqueIdFor } from "../src/matter/bridged.ts";
import type { FanSyncSimulator, ReceivedFrame, Registers } from "../sim/fansync/index.ts";
import { freeUdpPort } from "../test/helpers/e2e-config.ts";
import type { HapClient } from "../test/helpers/hap-client.ts";
import { MatterTestClient } from "../test/helpers/matter-client.ts";
import { deferred, sleep, withTimeout } from "./lib.ts";

const FAN_CONTROL = 0x0202;
const GAP_MS = 5;

export interface LatencyResults {
  pushToHapEvent: number[];
  pushToMatterReport: number[];
  hapWriteToFrame: number[];
  matterWriteToFrame: number[];
}

async function measure(
  label: string,
  n: number,
  warmup: number,
  sample: (i: number) => Promise<number>,
): Promise<number[]> {
  const out: number[] = [];
  const started = performance.now();
  for (let i = 0; i < warmup + n; i++) {
    const v = await withTimeout(sample(i), 15_000, `${label}, sample ${i}`);
    if (i >= warmup) out.push(v);
    await sleep(GAP_MS);
  }
  process.stderr.write(`  ${label}: ${n} (+${warmup}) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return out;
}

/** One waiter at a time per stream of timestamped things. */
function waiterOf<T>(): { next: (match: (x: T) => boolean) => Promise<number>; offer: (x: T) => void } {
  let waiter: { match: (x: T) => boolean; resolve: (t: number) => void } | undefined;
  return {
    next(match) {
      const d = deferred<number>();
      waiter = { match, resolve: d.resolve };
      return d.promise;
    },
    offer(x) {
      const t = performance.now();
      if (waiter?.match(x)) {
        const w = waiter;
        waiter = undefined;
        w.resolve(t);
      }
    },
  };
}

/** The four paths on the first fan ("Bench Fan 1"), `samples` each after `warmup`. */
export async function measureLatencies(
  sim: FanSyncSimulator,
  clients: { writer: HapClient; subscriber: HapClient; matter: MatterTestClient },
  samples: number,
  warmup: number,
): Promise<LatencyResults> {
  const vid = sim.deviceIds[0]!;
  const frames = waiterOf<Record<string, unknown>>();
  const pushes = waiterOf<{ device: string; changes: Registers }>();
  const hapEvents = waiterOf<{ aid: number; iid: number; value: unknown }>();
  const reports = waiterOf<{ endpoint: number; attribute: string; value: unknown }>();
  const onFrame = (f: ReceivedFrame) => f.frame && frames.offer(f.frame);
  const onPush = (device: string, changes: Registers) => pushes.offer({ device, changes });
  sim.on("frame", onFrame);
  sim.on("push", onPush);
  clients.subscriber.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
    for (const c of event.characteristics ?? []) hapEvents.offer(c);
  });
  clients.matter.node.events.attributeChanged.on(({ path, value }) => {
    if (path.clusterId === FAN_CONTROL)
      reports.offer({ endpoint: path.endpointId, attribute: path.attributeName, value });
  });
  const query = {
    service: Service.Fanv2.UUID,
    characteristic: Characteristic.RotationSpeed.UUID,
    accessory: { name: "Bench Fan 1" },
  };
  const speedW = await clients.writer.find(query);
  const speedS = await clients.subscriber.find(query);
  const m = clients.matter;
  const fanEp = m.withCluster(m.bridged(uniqueIdFor(`fansync:${vid}`)), "fanControl");
  const ep = fanEp.number!;
  const setFrame = (speed: number) =>
    frames.next((f) => f.request === "set" && f.device === vid && (f.data as Registers | undefined)?.H02 === speed);
  const push = (speed: number) => pushes.next((p) => p.device === vid && p.changes.H02 === speed);
  const hapEvent = (speed: number) =>
    hapEvents.next((c) => c.aid === speedS.aid && c.iid === speedS.iid && c.value === speed);
  const report = (attribute: string, speed: number) =>
    reports.next((r) => r.endpoint === ep && r.attribute === attribute && r.value === speed);

  try {
    // Each sample ends once its change reached both controllers (no overlap with matter.js's 50 ms delay).
    const pushToHapEvent = await measure("push -> HAP event", samples, warmup, async (i) => {
      const speed = i % 2 ? 75 : 45;
      const [pushed, event, settled] = [push(speed), hapEvent(speed), report("percentCurrent", speed)];
      await sim.remote(vid, { H02: speed });
      const t0 = await pushed;
      const t1 = await event;
      await settled;
      return t1 - t0;
    });
    const pushToMatterReport = await measure("push -> Matter report", samples, warmup, async (i) => {
      const speed = i % 2 ? 70 : 50;
      const [pushed, reported] = [push(speed), report("percentCurrent", speed)];
      await sim.remote(vid, { H02: speed });
      const t0 = await pushed;
      return (await reported) - t0;
    });
    const hapWriteToFrame = await measure("HAP write -> set frame", samples, warmup, async (i) => {
      const speed = i % 2 ? 60 : 30;
      const [frame, settled] = [setFrame(speed), report("percentCurrent", speed)];
      const t0 = performance.now();
      await clients.writer.write([speedW, speed]);
      const t1 = await frame;
      await settled;
      return t1 - t0;
    });
    const matterWriteToFrame = await measure("Matter write -> set frame", samples, warmup, async (i) => {
      const speed = i % 2 ? 65 : 35;
      const [frame, settled] = [setFrame(speed), report("percentCurrent", speed)];
      const t0 = performance.now();
      await m.write(fanEp, "fanControl", { percentSetting: speed });
      const t1 = await frame;
      await settled;
      return t1 - t0;
    });
    return { pushToHapEvent, pushToMatterReport, hapWriteToFrame, matterWriteToFrame };
  } finally {
    sim.off("frame", onFrame);
    sim.off("push", onPush);
  }
}

/** Bare matter.js in its own process: Matter write -> percentSetting$Changed (seen on its stdout). */
export async function measureBareMatter(samples: number, warmup: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-bare-"));
  const port = await freeUdpPort();
  const options = { port, passcode: 20202022, discriminator: 3842, controllerId: "bare" };
  const child = spawn(
    process.execPath,
    ["bench/_bare-matter.ts", String(port), String(options.passcode), String(options.discriminator), dir],
    { cwd: join(import.meta.dirname, ".."), stdio: ["ignore", "pipe", "inherit"] },
  );
  const changes = waiterOf<number>();
  const listening = deferred();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line === "listening") listening.resolve();
    const value = /^changed (\d+)$/.exec(line)?.[1];
    if (value !== undefined) changes.offer(Number(value));
  });
  let client: MatterTestClient | undefined;
  try {
    await withTimeout(listening.promise, 60_000, "the bare matter.js node listening");
    client = await MatterTestClient.commission(options);
    const fanEp = client.endpoints().find((ep) => ep.maybeStateOf("fanControl") !== undefined);
    if (!fanEp) throw new Error("the bare node has no FanControl endpoint at the controller");
    const c = client;
    return await measure("bare matter.js write -> $Changed", samples, warmup, async (i) => {
      const value = i % 2 ? 65 : 35;
      const changed = changes.next((v) => v === value);
      const t0 = performance.now();
      await c.write(fanEp, "fanControl", { percentSetting: value });
      const t1 = await changed;
      // As the bridge's sample waits for its report: let matter.js's 50 ms report delay pass.
      await sleep(60);
      return t1 - t0;
    });
  } finally {
    await client?.close().catch(() => undefined);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
