// Alarm latency of the X-Sense safety path through the whole bridge, in one process (issue 3):
//
//   X-Sense simulator (MQTT shadow push) -> XSenseDriver -> DeviceRegistry
//     -> HomeKitHost (advertiser "none", port 0) -> hap-controller (HapClient, subscribed)
//     -> MatterHost                                -> matter.js controller (MatterTestClient)
//
// One sample: the simulator publishes a smoke alarm on a detector's 2nd_alarm shadow (raise and clear
// alternate, so every sample changes the state), timed from just before the publish to
//   1. the SmokeDetected event at the HAP controller, and
//   2. the smokeState report at the Matter controller (matter.js delays reports by a fixed 50 ms).
// A sample ends once both arrived; >= 200 samples after a warm-up; p50 / p99 / mean.
// Then, in the same run, the local path (README "Alarms without the internet"): the cloud is cut off,
// the simulator's SBS50 publishes Home Assistant discovery state to the bridge's embedded broker, and
// a LocalPath feeds the same registry through FusedSink.local (until the driver creates the LocalPath
// itself, the bench wires it the way the driver will). Timed from the same hook call to the same events.
// Then a water leak on the cloud path (an SWS51 on the same station): raise/clear to LeakDetected at the HAP
// controller and BooleanState.stateValue at the Matter controller (the same push path as the alarms).
// Targets: HAP p99 <= 20 ms, Matter p99 <= 80 ms on every path; printed beside the 5-minute polling
// interval users of the popular X-Sense integrations see for alarm state.
//
// Run: npm run bench -- xsense-alarm-latency   (or: test/netns.sh node bench/xsense-alarm-latency.ts [--samples N])
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { createLogger } from "../src/core/logger.ts";
import { DeviceRegistry } from "../src/core/registry.ts";
import { JsonStore } from "../src/core/storage.ts";
import { deviceId, type StatePatch } from "../src/core/model.ts";
import { FusedSink, LocalPath, XSenseDriver } from "../src/drivers/xsense/index.ts";
import { HomeKitHost } from "../src/homekit/index.ts";
import { MatterHost } from "../src/matter/index.ts";
import { uniqueIdFor } from "../src/matter/bridged.ts";
import { XSenseSimulator } from "../sim/xsense/index.ts";
import { Sbs50LocalPublisher } from "../sim/xsense/local-publisher.ts";
import { fastDriverOptions } from "../test/drivers/xsense-harness.ts";
import { HapClient } from "../test/helpers/hap-client.ts";
import { MatterTestClient } from "../test/helpers/matter-client.ts";
import { deferred, fmt, sleep, stats, table, withTimeout, writeSummary, type Stats, latencyBenchSetup } from "./lib.ts";

const { samples: SAMPLES, warmup: WARMUP } = latencyBenchSetup("xsense-alarm-latency");
const GAP_MS = 5;
const PIN = "031-45-154";
const MATTER = { port: 5611, passcode: 20202021, discriminator: 3851 };
const SMOKE_CO_ALARM = 0x005c;
const SMOKE_STATE_CRITICAL = 2;
const SMOKE_STATE_NORMAL = 0;
/** What users of the popular integrations get for alarm state (a 5-minute cloud poll). */
const POLL_MS = 5 * 60_000;
const TARGET_HAP_P99 = 20;
const TARGET_MATTER_P99 = 80;
const SN = "00000001";
const LEAK_SN = "00000041";
const BOOLEAN_STATE = 0x0045;
const STATION = "13B96457";
const BROKER_USER = "xsense-app";
const BROKER_PASSWORD = "bench-broker-password";

const log = createLogger("error");
const dir = mkdtempSync(join(tmpdir(), "hb-bench-xsense-"));
const cleanups: { what: string; fn: () => unknown }[] = [];
const onCleanup = (what: string, fn: () => unknown) => cleanups.push({ what, fn });

async function closeAll(): Promise<void> {
  for (const { what, fn } of cleanups.splice(0).reverse()) {
    try {
      await withTimeout(Promise.resolve(fn()), 10_000, `closing ${what}`);
    } catch (error) {
      console.error(`closing ${what} failed: ${(error as Error).message}`);
    }
  }
}

type PathResults = Record<"hap" | "matter" | "driver" | "hapHost" | "matterHost", number[]>;
type Results = { cloud: PathResults; local: PathResults; leak: PathResults };

async function bench(): Promise<Results> {
  const sim = new XSenseSimulator({
    reportDelayMs: 0,
    houses: [
      {
        name: "Home",
        region: "eu-central-1",
        stations: [
          {
            sn: STATION,
            category: "SBS50",
            name: "Hall base",
            devices: [
              { sn: SN, type: "XS01-M", name: "Kitchen smoke" },
              { sn: LEAK_SN, type: "SWS51", name: "Washer leak" },
            ],
          },
        ],
      },
    ],
  });
  const urls = await sim.start();
  onCleanup("simulator", () => sim.stop());
  // A long alarm-link grace: the local phase cuts the cloud off, and this driver is not yet wired to the
  // FusedSink that keeps detectors available while the local path vouches for them.
  const driver = new XSenseDriver({
    ...fastDriverOptions(urls, sim, log),
    mqttGraceMs: 600_000,
    timeouts: { httpMs: 5000, cognitoMs: 5000, mqttConnectMs: 5000, selfTestMs: 120_000 },
  });
  const registry = new DeviceRegistry(log);
  await driver.start({ sink: registry.sinkFor(driver), log, store: JsonStore.in(dir, "xsense-home") });
  onCleanup("driver", () => driver.stop());
  const id = deviceId("xsense", sim.vendorId(SN));
  const leakId = deviceId("xsense", sim.vendorId(LEAK_SN));
  if (!registry.get(id) || !registry.get(leakId)) throw new Error(`detector ${id} or ${leakId} not listed`);

  const homekit = new HomeKitHost({
    registry,
    log,
    dataDir: dir,
    name: "Bench Bridge",
    port: 0,
    pincode: PIN,
    advertiser: "none",
  });
  await homekit.start();
  onCleanup("HomeKit host", () => homekit.stop());
  const matter = new MatterHost({ registry, log, dataDir: dir, name: "Bench Bridge", ...MATTER });
  await matter.start();
  onCleanup("Matter host", () => matter.stop());

  // HomeKit: a paired controller subscribed to SmokeDetected; timestamps from hap-controller's own listener.
  const hap = await HapClient.pair(homekit.port, PIN);
  onCleanup("HAP client", () => hap.close());
  const detected = await hap.find({
    service: Service.SmokeSensor.UUID,
    characteristic: Characteristic.SmokeDetected.UUID,
    accessory: { serial: SN },
  });
  const leakDetected = await hap.find({
    service: Service.LeakSensor.UUID,
    characteristic: Characteristic.LeakDetected.UUID,
    accessory: { serial: LEAK_SN },
  });
  type HapTarget = { aid: number; iid: number };
  let hapWaiter: { target: HapTarget; value: number; resolve: (t: number) => void } | undefined;
  hap.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
    const t = performance.now();
    for (const c of event.characteristics ?? []) {
      const w = hapWaiter;
      if (w && c.aid === w.target.aid && c.iid === w.target.iid && c.value === w.value) {
        hapWaiter = undefined;
        w.resolve(t);
      }
    }
  });
  await hap.subscribe([detected, leakDetected]);
  const nextHap = (target: HapTarget, value: number) => {
    const d = deferred<number>();
    hapWaiter = { target, value, resolve: d.resolve };
    return d.promise;
  };

  // Matter: commission, find the detector's Smoke CO Alarm endpoint by uniqueId.
  const client = await MatterTestClient.commission(MATTER);
  onCleanup("Matter controller", () => client.close());
  const ep = client.withCluster(client.bridged(uniqueIdFor(id)), "smokeCoAlarm").number!;
  const leakEp = client.withCluster(client.bridged(uniqueIdFor(leakId)), "booleanState").number!;
  type MatterTarget = { ep: number; cluster: number; attribute: string };
  let matterWaiter: { target: MatterTarget; value: unknown; resolve: (t: number) => void } | undefined;
  client.node.events.attributeChanged.on(({ path, value }) => {
    const t = performance.now();
    const w = matterWaiter;
    if (
      w &&
      path.endpointId === w.target.ep &&
      path.clusterId === w.target.cluster &&
      path.attributeName === w.target.attribute &&
      value === w.value
    ) {
      matterWaiter = undefined;
      w.resolve(t);
    }
  });
  const nextMatter = (target: MatterTarget, value: unknown) => {
    const d = deferred<number>();
    matterWaiter = { target, value, resolve: d.resolve };
    return d.promise;
  };

  // The registry's state event splits each path into "MQTT + driver" and "registry -> controller".
  let registryWaiter: { match: (id: string, patch: StatePatch) => boolean; resolve: (t: number) => void } | undefined;
  registry.on("state", (entry, patch) => {
    const t = performance.now();
    const w = registryWaiter;
    if (w?.match(entry.info.id, patch)) {
      registryWaiter = undefined;
      w.resolve(t);
    }
  });
  const nextRegistry = (match: (id: string, patch: StatePatch) => boolean) => {
    const d = deferred<number>();
    registryWaiter = { match, resolve: d.resolve };
    return d.promise;
  };

  /** What one sample raises or clears and where it is seen. */
  interface Target {
    act(raise: boolean): void;
    hap: HapTarget;
    hapValue(raise: boolean): number;
    matter: MatterTarget;
    matterValue(raise: boolean): unknown;
    inRegistry(id: string, patch: StatePatch, raise: boolean): boolean;
  }
  const smokeTarget: Target = {
    act: (raise) => (raise ? sim.raiseSmoke(SN) : sim.clearSmoke(SN)),
    hap: detected,
    hapValue: (raise) =>
      raise ? Characteristic.SmokeDetected.SMOKE_DETECTED : Characteristic.SmokeDetected.SMOKE_NOT_DETECTED,
    matter: { ep, cluster: SMOKE_CO_ALARM, attribute: "smokeState" },
    matterValue: (raise) => (raise ? SMOKE_STATE_CRITICAL : SMOKE_STATE_NORMAL),
    inRegistry: (dev, patch, raise) => dev === id && patch.smokeAlarm?.detected === raise,
  };
  const leakTarget: Target = {
    act: (raise) => (raise ? sim.raiseLeak(LEAK_SN) : sim.clearLeak(LEAK_SN)),
    hap: leakDetected,
    hapValue: (raise) =>
      raise ? Characteristic.LeakDetected.LEAK_DETECTED : Characteristic.LeakDetected.LEAK_NOT_DETECTED,
    matter: { ep: leakEp, cluster: BOOLEAN_STATE, attribute: "stateValue" },
    matterValue: (raise) => raise,
    inRegistry: (dev, patch, raise) => dev === leakId && patch.leak === raise,
  };

  const run = async (label: string, target: Target = smokeTarget): Promise<PathResults> => {
    const out: PathResults = { hap: [], matter: [], driver: [], hapHost: [], matterHost: [] };
    const started = performance.now();
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      const raise = i % 2 === 0;
      const hapEvent = nextHap(target.hap, target.hapValue(raise));
      const report = nextMatter(target.matter, target.matterValue(raise));
      const inRegistry = nextRegistry((dev, patch) => target.inRegistry(dev, patch, raise));
      const t0 = performance.now();
      target.act(raise);
      const [t1, t2, tr] = await withTimeout(
        Promise.all([hapEvent, report, inRegistry]),
        10_000,
        `${label} sample ${i} (${raise ? "raise" : "clear"})`,
      );
      if (i >= WARMUP) {
        out.hap.push(t1 - t0);
        out.matter.push(t2 - t0);
        out.driver.push(tr - t0);
        out.hapHost.push(t1 - tr);
        out.matterHost.push(t2 - tr);
      }
      await sleep(GAP_MS);
    }
    process.stderr.write(
      `  ${label}: ${SAMPLES} alarms (+${WARMUP} warm-up) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
    return out;
  };

  const cloud = await run("cloud path");
  const leak = await run("cloud path, water leak", leakTarget);

  // The local path: the bridge's embedded broker, the SBS50 logged in to it, the cloud cut off.
  const fused = new FusedSink(registry.sinkFor(driver));
  const local = new LocalPath({
    settings: {
      mode: "embedded",
      port: 0,
      bind: "127.0.0.1",
      username: BROKER_USER,
      password: BROKER_PASSWORD,
      prefix: "homeassistant",
      maxConnections: 4,
    },
    log,
    resolve: (station, device) => (station === STATION && device === SN ? id : undefined),
    sink: fused.local,
  });
  await local.start();
  onCleanup("local path", () => local.stop());
  const port = (local.transport as unknown as { port: number }).port;
  const publisher = await Sbs50LocalPublisher.attach(sim, STATION, {
    url: `mqtt://127.0.0.1:${port}`,
    username: BROKER_USER,
    password: BROKER_PASSWORD,
  });
  onCleanup("SBS50 publisher", () => publisher.stop());
  sim.mqttAvailable = false;
  sim.dropMqtt();
  const localResults = await run("local path (cloud cut off)");
  await closeAll();
  return { cloud, local: localResults, leak };
}

function row(name: string, s: Stats, target?: number): string[] {
  return [
    name,
    String(s.n),
    fmt(s.p50),
    fmt(s.p99),
    fmt(s.mean),
    fmt(s.max),
    target === undefined ? "" : `p99 <= ${target} ms: ${s.p99 <= target ? "met" : "NOT met"}`,
    target === undefined ? "" : `${fmt(POLL_MS / s.p99, 0)}x faster`,
  ];
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  let results: Results;
  try {
    results = await bench();
  } finally {
    await closeAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const hap = stats(results.cloud.hap);
  const matter = stats(results.cloud.matter);
  const localHap = stats(results.local.hap);
  const localMatter = stats(results.local.matter);
  const leakHap = stats(results.leak.hap);
  const leakMatter = stats(results.leak.matter);
  console.log(`\nX-Sense alarm latency, one process, milliseconds (performance.now()); node ${process.version}`);
  console.log(
    `Machine: ${cpus().length} CPUs, load average at start ${load}; ` +
      "simulator, driver, both hosts and both controllers share one event loop.",
  );
  console.log(
    "Cloud: from the simulator's MQTT publish of a 2nd_alarm shadow update (raise and clear alternate) " +
      "to the controller.",
  );
  console.log(
    'Local: from the simulator\'s SBS50 publishing {"status":"Detected"/"Cleared"} to the embedded broker, ' +
      "cloud cut off.",
  );
  console.log(
    `${SAMPLES} alarms after ${WARMUP} warm-up; ` +
      `each sample ends once both controllers had it, then ${GAP_MS} ms pause.\n`,
  );
  console.log(
    table([
      ["path", "n", "p50", "p99", "mean", "max", "target", "vs a 5-min poll (p99)"],
      row("cloud: alarm publish -> HAP event (SmokeDetected)", hap, TARGET_HAP_P99),
      row("cloud: alarm publish -> Matter report (smokeState)", matter, TARGET_MATTER_P99),
      row("  of which: publish -> registry (MQTT + driver)", stats(results.cloud.driver)),
      row("  of which: registry -> HAP event", stats(results.cloud.hapHost)),
      row("  of which: registry -> Matter report", stats(results.cloud.matterHost)),
      row("cloud: leak publish -> HAP event (LeakDetected)", leakHap, TARGET_HAP_P99),
      row("cloud: leak publish -> Matter report (stateValue)", leakMatter, TARGET_MATTER_P99),
      row("  of which: publish -> registry (MQTT + driver)", stats(results.leak.driver)),
      row("local: alarm publish -> HAP event (SmokeDetected)", localHap, TARGET_HAP_P99),
      row("local: alarm publish -> Matter report (smokeState)", localMatter, TARGET_MATTER_P99),
      row("  of which: publish -> registry (broker + LocalPath)", stats(results.local.driver)),
      row("  of which: registry -> HAP event", stats(results.local.hapHost)),
      row("  of which: registry -> Matter report", stats(results.local.matterHost)),
      [
        "5-minute cloud poll (popular integrations)",
        "-",
        fmt(POLL_MS / 2, 0),
        fmt(POLL_MS, 0),
        fmt(POLL_MS / 2, 0),
        fmt(POLL_MS, 0),
        "",
        "",
      ],
    ]),
  );
  console.log(
    "\nThe poll row is what a detector's alarm waits for with a 5-minute poll (uniform: mean 150 s, worst 300 s).",
  );
  console.log(
    "Matter figures include matter.js's fixed 50 ms report delay; " +
      "HAP events go out at once (EVENT_COALESCING_DELAY 0).",
  );
  writeSummary(
    "xsense-alarm-latency",
    [
      {
        metric: "alarm -> HAP event",
        value: `p50 ${fmt(hap.p50)} / p99 ${fmt(hap.p99)} ms`,
        baseline: "5-min poll: 150 s avg / 300 s worst",
        target: `p99 <= ${TARGET_HAP_P99} ms (${hap.p99 <= TARGET_HAP_P99 ? "met" : "NOT met"})`,
      },
      {
        metric: "alarm -> Matter report",
        value: `p50 ${fmt(matter.p50)} / p99 ${fmt(matter.p99)} ms`,
        baseline: "5-min poll: 150 s avg / 300 s worst",
        target: `p99 <= ${TARGET_MATTER_P99} ms (${matter.p99 <= TARGET_MATTER_P99 ? "met" : "NOT met"})`,
      },
      {
        metric: "leak -> HAP event",
        value: `p50 ${fmt(leakHap.p50)} / p99 ${fmt(leakHap.p99)} ms`,
        baseline: "smoke alarm, same run",
        target: `p99 <= ${TARGET_HAP_P99} ms (${leakHap.p99 <= TARGET_HAP_P99 ? "met" : "NOT met"})`,
      },
      {
        metric: "leak -> Matter report",
        value: `p50 ${fmt(leakMatter.p50)} / p99 ${fmt(leakMatter.p99)} ms`,
        baseline: "smoke alarm, same run",
        target: `p99 <= ${TARGET_MATTER_P99} ms (${leakMatter.p99 <= TARGET_MATTER_P99 ? "met" : "NOT met"})`,
      },
      {
        metric: "local alarm -> HAP event",
        value: `p50 ${fmt(localHap.p50)} / p99 ${fmt(localHap.p99)} ms`,
        baseline: "cloud path, same run",
        target: `p99 <= ${TARGET_HAP_P99} ms (${localHap.p99 <= TARGET_HAP_P99 ? "met" : "NOT met"})`,
      },
      {
        metric: "local alarm -> Matter report",
        value: `p50 ${fmt(localMatter.p50)} / p99 ${fmt(localMatter.p99)} ms`,
        baseline: "cloud path, same run",
        target: `p99 <= ${TARGET_MATTER_P99} ms (${localMatter.p99 <= TARGET_MATTER_P99 ? "met" : "NOT met"})`,
      },
    ],
    [`${SAMPLES} alarms per path, raise/clear alternating`],
  );
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    console.error(`xsense-alarm-latency failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
