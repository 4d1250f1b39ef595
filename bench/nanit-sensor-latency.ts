// Nanit sensors through the whole bridge (issue 4). Figures are printed, not asserted.
//
// 1. Latency, in one process:
//      Nanit simulator (camera PUT_SENSOR_DATA push) -> NanitDriver -> DeviceRegistry
//        -> HomeKitHost -> hap-controller (HAP event on CurrentTemperature)
//        -> MatterHost  -> matter.js controller (report of TemperatureMeasurement.measuredValue)
//    t0 = the simulator sending the push frame; >= 200 samples after a warm-up, p50 / p99 / mean.
//    Matter reports carry matter.js's fixed 50 ms coalescing delay.
// 2. Memory: the real bridge from its CLI (child process, like bench/startup.ts) with three cameras'
//    sensors and switches, VmRSS / VmHWM a few seconds after every camera is reachable.
//
// Run: npm run bench -- nanit-sensor-latency   (or: test/netns.sh node bench/nanit-sensor-latency.ts [--samples N])
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
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
import { BRIDGE_ENTRY } from "../test/helpers/bridge-process.ts";
import { HapClient } from "../test/helpers/hap-client.ts";
import { MatterTestClient } from "../test/helpers/matter-client.ts";
import {
  argValue,
  deferred,
  fmt,
  sleep,
  stats,
  table,
  withTimeout,
  writeSummary,
  type SummaryRow,
  latencyBenchSetup,
} from "./lib.ts";

const { samples: SAMPLES, warmup: WARMUP } = latencyBenchSetup("nanit-sensor-latency");

const root = fileURLToPath(new URL("..", import.meta.url));

const SETTLE_MS = Number(argValue("--settle-ms", "3000"));
const PIN = "031-45-154";
const MATTER = { port: 5611, passcode: 20202021, discriminator: 3851 };
const TEMPERATURE_MEASUREMENT = 0x0402;
const THREE_BABIES = [
  { uid: "b4c0ffee", name: "Robin", cameraUid: "N301SIM0000001" },
  { uid: "b4c0ffef", name: "Alex", cameraUid: "N301SIM0000002" },
  { uid: "b4c0fff0", name: "Sam", cameraUid: "N301SIM0000003" },
];

const log = createLogger("error");
const cleanups: (() => unknown)[] = [];

async function benchLatency(): Promise<{ hap: number[]; matter: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-nanit-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // No random sensor pushes during the run: every push is a sample's.
  const sim = new NanitSimulator({ sensorPushMs: [3_600_000, 3_600_000] });
  const urls = await sim.start();
  cleanups.push(() => sim.stop());
  const store = JsonStore.in(dir, "nursery");
  saveSession(store, sim.email, sim.issueSession());
  const driver = new NanitDriver({
    ...fastOptions(sim, urls, log),
    timeouts: { httpMs: 5000, requestMs: 5000, connectMs: 5000 },
    messagesPollMs: 0,
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
    name: "Bench Nursery",
    port: 0,
    pincode: PIN,
    advertiser: "none",
  });
  await homekit.start();
  cleanups.push(() => homekit.stop());
  const matter = new MatterHost({ registry, log, dataDir: dir, name: "Bench Nursery", ...MATTER });
  await matter.start();
  cleanups.push(() => matter.stop());

  const hap = await HapClient.pair(homekit.port, PIN);
  cleanups.push(() => hap.close());
  const temperature = await hap.find({
    service: Service.TemperatureSensor.UUID,
    characteristic: Characteristic.CurrentTemperature.UUID,
    accessory: { serial: sim.babies[0]!.cameraUid },
  });
  let hapWaiter: { value: number; resolve: (t: number) => void } | undefined;
  hap.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
    const t = performance.now();
    for (const c of event.characteristics ?? []) {
      if (hapWaiter && `${c.aid}.${c.iid}` === temperature.id && Math.abs(Number(c.value) - hapWaiter.value) < 0.01) {
        const w = hapWaiter;
        hapWaiter = undefined;
        w.resolve(t);
      }
    }
  });
  await hap.subscribe([temperature]);

  const client = await MatterTestClient.commission(MATTER);
  cleanups.push(() => client.close());
  const ep = client.withCluster(client.bridged(uniqueIdFor(id)), "temperatureMeasurement");
  let matterWaiter: { value: number; resolve: (t: number) => void } | undefined;
  client.node.events.attributeChanged.on(({ path, value }) => {
    const t = performance.now();
    if (
      matterWaiter &&
      path.endpointId === ep.number &&
      path.clusterId === TEMPERATURE_MEASUREMENT &&
      path.attributeName === "measuredValue" &&
      value === matterWaiter.value
    ) {
      const w = matterWaiter;
      matterWaiter = undefined;
      w.resolve(t);
    }
  });
  let pushedAt = 0;
  sim.on("push", (p) => {
    if (p.request.type === "PUT_SENSOR_DATA") pushedAt = performance.now();
  });

  const hapMs: number[] = [];
  const matterMs: number[] = [];
  const started = performance.now();
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    // A new value every sample (0.1 °C apart, HomeKit's step), between 18 and 25 °C.
    const celsius = Math.round((18 + ((i * 7) % 70) / 10) * 10) / 10;
    if (Math.abs((registry.get(id)?.state.temperature ?? 0) - celsius) < 0.01) continue;
    const h = deferred<number>();
    const m = deferred<number>();
    hapWaiter = { value: celsius, resolve: h.resolve };
    matterWaiter = { value: Math.round(celsius * 100), resolve: m.resolve };
    sim.setTemperature(celsius);
    const t0 = pushedAt;
    const [tHap, tMatter] = await withTimeout(Promise.all([h.promise, m.promise]), 10_000, `sample ${i}`);
    if (i >= WARMUP) {
      hapMs.push(tHap - t0);
      matterMs.push(tMatter - t0);
    }
    await sleep(5);
  }
  process.stderr.write(
    `  latency: ${hapMs.length} samples (+warm-up) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  return { hap: hapMs, matter: matterMs };
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp6");
  await new Promise<void>((resolve) => socket.bind(0, "::1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** The real bridge from its CLI with three cameras; kB from /proc/<pid>/status once all are reachable. */
async function benchMemory(): Promise<{ rss: number; hwm: number }> {
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-nanit-rss-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const sim = new NanitSimulator({ mfa: false, babies: THREE_BABIES, sensorPushMs: [60_000, 120_000] });
  const urls = await sim.start();
  cleanups.push(() => sim.stop());
  const config = join(dir, "config.json");
  writeFileSync(
    config,
    JSON.stringify({
      homekit: { port: 0, advertiser: "none", pincode: PIN },
      matter: { port: await freeUdpPort() },
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: sim.password,
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
      log: { level: "info" },
    }),
  );
  const child = spawn(process.execPath, [BRIDGE_ENTRY, "--log-json", "--config", config, "--data", join(dir, "data")], {
    cwd: root,
    env: { ...process.env, MATTER_LOG_LEVEL: "error", MATTER_LOG_FORMAT: "plain" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.race([exited, sleep(15_000)]);
  });
  const reachable = new Set<string>();
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (text) => {
        try {
          const line = JSON.parse(text) as { msg?: string; device?: string };
          if (line.device && /is reachable again/.test(line.msg ?? "")) reachable.add(line.device);
          if (reachable.size === THREE_BABIES.length) resolve();
        } catch {
          // not JSON (the pairing QR code)
        }
      });
      void exited.then((code) => reject(new Error(`bridge exited with ${code}`)));
    }),
    60_000,
    "three cameras reachable",
  );
  await sleep(SETTLE_MS);
  const status: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${child.pid}/status`, "utf8").split("\n")) {
    const m = /^(Vm\w+):\s+(\d+) kB/.exec(line);
    if (m) status[m[1]!] = Number(m[2]);
  }
  return { rss: status.VmRSS ?? NaN, hwm: status.VmHWM ?? NaN };
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const latency = await benchLatency();
  const memory = await benchMemory();
  const hap = stats(latency.hap);
  const matter = stats(latency.matter);
  console.log(
    `\nNanit sensor push (simulator PUT_SENSOR_DATA) -> controller, ${latency.hap.length} samples; ${cpus().length} ` +
      `CPUs, load ${load}\n`,
  );
  console.log(
    table([
      ["path", "p50 ms", "p99 ms", "mean ms", "max ms"],
      ["push -> HAP event", fmt(hap.p50), fmt(hap.p99), fmt(hap.mean), fmt(hap.max)],
      ["push -> Matter report", fmt(matter.p50), fmt(matter.p99), fmt(matter.mean), fmt(matter.max)],
    ]),
  );
  const mb = (kb: number) => `${fmt(kb / 1024, 1)} MB`;
  console.log(
    `\nBridge (node ${BRIDGE_ENTRY}) with 3 Nanit cameras (4 sensors + 2 switches each), ${SETTLE_MS} ms after all ` +
      `reachable: VmRSS ${mb(memory.rss)}, VmHWM ${mb(memory.hwm)}`,
  );
  console.log("Matter reports include matter.js's fixed 50 ms report coalescing delay.");
  const rows: SummaryRow[] = [
    { metric: "push -> HAP event p50/p99", value: `${fmt(hap.p50)} / ${fmt(hap.p99)} ms` },
    { metric: "push -> Matter report p50/p99", value: `${fmt(matter.p50)} / ${fmt(matter.p99)} ms` },
    { metric: "RSS, 3 cameras", value: mb(memory.rss) },
  ];
  writeSummary("nanit-sensor-latency", rows, [`${latency.hap.length} samples`]);
}

main()
  .catch((error: Error) => {
    console.error(`nanit-sensor-latency failed: ${error.stack ?? error.message}`);
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
