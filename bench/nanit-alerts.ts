// Nanit alerts, camera event -> controller, per channel (issue 14). Figures are printed, not asserted.
//
// In one process: Nanit simulator -> NanitDriver -> DeviceRegistry -> HomeKitHost -> hap-controller (HAP event
// on MotionDetected) and -> MatterHost -> matter.js controller (report of OccupancySensing.occupancy).
//   socket    the camera's PUT_SENSOR_DATA alert (is_alert); t0 = the simulator sending the frame
//   /messages the cloud's message, read by the 20 s poll (the driver's default, the only channel before);
//             t0 = the message appearing in /messages (the cloud's own delay after the camera is not modelled),
//             the samples spread evenly over the poll's period
//   both      the socket alert and its /messages copy: latency as the socket's, and the copy must not deliver
//             a second event (counted)
// The driver's hold is short (500 ms) so every sample starts from "not detected".
//
// Run: npm run bench -- nanit-alerts [--samples N] [--poll-samples N] [--both-samples N]
//      (or: test/netns.sh node bench/nanit-alerts.ts ...)
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { createLogger } from "../src/core/logger.ts";
import { DeviceRegistry } from "../src/core/registry.ts";
import { JsonStore } from "../src/core/storage.ts";
import { NanitDriver, saveSession } from "../src/drivers/nanit/index.ts";
import { HomeKitHost } from "../src/homekit/index.ts";
import { MatterHost } from "../src/matter/index.ts";
import { uniqueIdFor } from "../src/matter/bridged.ts";
import { NanitSimulator } from "../sim/nanit/index.ts";
import { fastOptions } from "../test/drivers/nanit-harness.ts";
import { HapClient } from "../test/helpers/hap-client.ts";
import { MatterTestClient } from "../test/helpers/matter-client.ts";
import {
  argValue,
  deferred,
  fmt,
  latencyBenchSetup,
  sleep,
  stats,
  table,
  withTimeout,
  writeSummary,
  type SummaryRow,
} from "./lib.ts";

const setup = latencyBenchSetup("nanit-alerts");
const SAMPLES = Number(argValue("--samples", "50"));
const WARMUP = Math.min(setup.warmup, 5);
const POLL_SAMPLES = Number(argValue("--poll-samples", "6"));
const BOTH_SAMPLES = Number(argValue("--both-samples", "2"));
const POLL_MS = 20_000;
const PIN = "031-45-154";
const MATTER = { port: 5612, passcode: 20202021, discriminator: 3852 };
const OCCUPANCY_SENSING = 0x0406;

const log = createLogger("error");
const cleanups: (() => unknown)[] = [];

type Channel = "socket" | "messages" | "both";
interface Result {
  hap: number[];
  matter: number[];
  /** HAP "detected" events per sample (1 = delivered once). */
  events: number[];
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-nanit-alerts-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const sim = new NanitSimulator({ sensorPushMs: [3_600_000, 3_600_000] });
  const urls = await sim.start();
  cleanups.push(() => sim.stop());
  const store = JsonStore.in(dir, "nursery");
  saveSession(store, sim.email, sim.issueSession());
  const driver = new NanitDriver({
    ...fastOptions(sim, urls, log),
    timeouts: { httpMs: 5000, requestMs: 5000, connectMs: 5000 },
    messagesPollMs: POLL_MS,
    // Longer than HAP and Matter batch changes (a shorter on-off could merge into "off").
    eventHoldMs: 500,
    keepaliveMs: 20_000,
    pingIntervalMs: 30_000,
    pongTimeoutMs: 20_000,
  });
  const registry = new DeviceRegistry(log);
  const id = `nanit:${sim.babies[0]!.cameraUid}`;
  const reachable = deferred();
  registry.on("availability", (entry) => entry.info.id === id && entry.available && reachable.resolve());
  await driver.start({ sink: registry.sinkFor(driver), log, store });
  cleanups.push(() => driver.stop());
  if (!registry.get(id)?.available) await withTimeout(reachable.promise, 10_000, "camera reachable");

  const homekit = new HomeKitHost({
    registry,
    log,
    dataDir: dir,
    name: "Bench Alerts",
    port: 0,
    pincode: PIN,
    advertiser: "none",
  });
  await homekit.start();
  cleanups.push(() => homekit.stop());
  const matter = new MatterHost({ registry, log, dataDir: dir, name: "Bench Alerts", ...MATTER });
  await matter.start();
  cleanups.push(() => matter.stop());

  const hap = await HapClient.pair(homekit.port, PIN);
  cleanups.push(() => hap.close());
  const motion = await hap.find({
    service: Service.MotionSensor.UUID,
    characteristic: Characteristic.MotionDetected.UUID,
    accessory: { serial: sim.babies[0]!.cameraUid },
  });
  const client = await MatterTestClient.commission(MATTER);
  cleanups.push(() => client.close());
  const device = client.bridged(uniqueIdFor(id));
  const motionEp = [...device.parts.values()]
    .sort((a, b) => a.number! - b.number!)
    .find((ep) => ep.maybeStateOf("occupancySensing") !== undefined);
  if (!motionEp) throw new Error("no occupancy endpoint for motion");

  // What the controllers see: HAP value and Matter occupied, with the time of the last change.
  const seen = { hap: false, matter: false, hapAt: 0, matterAt: 0, hapOn: 0 };
  let wake: (() => void) | undefined;
  hap.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
    const t = performance.now();
    for (const c of event.characteristics ?? []) {
      if (`${c.aid}.${c.iid}` !== motion.id) continue;
      seen.hap = c.value === true || c.value === 1;
      seen.hapAt = t;
      if (seen.hap) seen.hapOn++;
    }
    wake?.();
  });
  await hap.subscribe([motion]);
  client.node.events.attributeChanged.on(({ path, value }) => {
    if (path.endpointId !== motionEp.number || path.clusterId !== OCCUPANCY_SENSING) return;
    seen.matter = (value as { occupied: boolean }).occupied;
    seen.matterAt = performance.now();
    wake?.();
  });
  const until = (what: string, check: () => boolean, ms: number): Promise<void> => {
    const done = deferred();
    wake = () => check() && done.resolve();
    wake();
    return withTimeout(done.promise, ms, what);
  };
  let pushedAt = 0;
  sim.on("push", (p) => {
    if (p.request.type === "PUT_SENSOR_DATA") pushedAt = performance.now();
  });

  async function sample(channel: Channel, phase: number): Promise<{ hap: number; matter: number; events: number }> {
    await until("motion clear", () => !seen.hap && !seen.matter, 10_000);
    // Poll samples spread over the poll period (the last detection came with a poll): phase 0..1.
    if (channel === "messages") await sleep(phase * POLL_MS);
    const onBefore = seen.hapOn;
    let t0 = performance.now();
    if (channel === "messages") sim.cameraAlert("motion", { socket: false });
    else {
      sim.cameraAlert("motion", { message: channel === "both" });
      t0 = pushedAt;
    }
    await until("motion detected", () => seen.hap && seen.matter, POLL_MS * 2);
    const result = { hap: seen.hapAt - t0, matter: seen.matterAt - t0, events: 0 };
    if (channel === "both") {
      // Two polls: the first read the copy, the second started once the first was handled.
      const mark = sim.httpRequests.length;
      const path = `/babies/${sim.babies[0]!.uid}/messages`;
      const polls = () => sim.httpRequests.slice(mark).filter((r) => r.path === path).length;
      await until("two polls", () => polls() >= 2, POLL_MS * 3);
      await until("motion clear", () => !seen.hap && !seen.matter, 10_000);
    }
    result.events = seen.hapOn - onBefore;
    return result;
  }

  // Poll answers wake the waits too (the "both" samples count polls).
  sim.on("http", () => wake?.());
  const results: Record<Channel, Result> = {
    socket: { hap: [], matter: [], events: [] },
    messages: { hap: [], matter: [], events: [] },
    both: { hap: [], matter: [], events: [] },
  };
  const started = performance.now();
  const plan: [Channel, number][] = [
    ["socket", WARMUP + SAMPLES],
    ["both", BOTH_SAMPLES],
    ["messages", POLL_SAMPLES],
  ];
  for (const [channel, count] of plan) {
    for (let i = 0; i < count; i++) {
      const s = await sample(channel, (i + 0.5) / count);
      if (channel === "socket" && i < WARMUP) continue;
      results[channel].hap.push(s.hap);
      results[channel].matter.push(s.matter);
      results[channel].events.push(s.events);
    }
    process.stderr.write(`  ${channel}: ${results[channel].hap.length} samples\n`);
  }
  process.stderr.write(`  ran ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

  console.log(`\nNanit alert (camera event) -> controller, motion, by channel; ${cpus().length} CPUs, load ${load}\n`);
  const rows: (string | number)[][] = [["channel", "n", "HAP p50 ms", "HAP p99 ms", "Matter p50 ms", "Matter p99 ms"]];
  const summary: SummaryRow[] = [];
  const label: Record<Channel, string> = {
    socket: "camera socket (PUT_SENSOR_DATA)",
    both: "socket + /messages copy",
    messages: `/messages poll every ${POLL_MS / 1000} s (before)`,
  };
  for (const channel of ["socket", "both", "messages"] as Channel[]) {
    const r = results[channel];
    const h = stats(r.hap);
    const m = stats(r.matter);
    rows.push([label[channel], r.hap.length, fmt(h.p50), fmt(h.p99), fmt(m.p50), fmt(m.p99)]);
    summary.push({
      metric: `${label[channel]} -> HAP / Matter p50`,
      value: `${fmt(h.p50)} / ${fmt(m.p50)} ms`,
    });
  }
  console.log(table(rows));
  const twice = results.both.events.filter((n) => n !== 1).length;
  console.log(
    `\nDe-duplication: ${results.both.events.length} events seen on both channels, ` +
      `${results.both.events.length - twice} delivered exactly once, ${twice} otherwise.`,
  );
  console.log("Matter reports include matter.js's fixed 50 ms report coalescing delay.");
  summary.push({
    metric: "both channels, delivered once",
    value: `${results.both.events.length - twice}/${results.both.events.length}`,
  });
  writeSummary("nanit-alerts", summary, [`${results.socket.hap.length} socket samples, ${POLL_SAMPLES} poll samples`]);
}

main()
  .catch((error: Error) => {
    console.error(`nanit-alerts failed: ${error.stack ?? error.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
    process.exit(process.exitCode ?? 0);
  });
