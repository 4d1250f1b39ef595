// The household bench's rig: a household of FanSync fans (with lights), X-Sense detectors on several base
// stations of mixed models and Nanit cameras, served by the three simulators, and ONE real bridge process
// (src/main.ts, as a user starts it) with HomeKit paired and Matter commissioned. Memory is read through
// the bridge's inspector (bench/_inspector.ts) after a forced full GC.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FanSyncSimulator, type ProfileKey, type SimDeviceSpec } from "../sim/fansync/index.ts";
import { NanitSimulator, type SimBaby } from "../sim/nanit/index.ts";
import { type SimHouseSpec, XSenseSimulator } from "../sim/xsense/index.ts";
import { BridgeView } from "../test/helpers/chaos-rig.ts";
import { BridgeProcess, type LogLine } from "../test/helpers/bridge-process.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../test/helpers/e2e-config.ts";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { HapClient, type HapCharacteristic, longUUID } from "../test/helpers/hap-client.ts";
import { MatterTestClient } from "../test/helpers/matter-client.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { Inspector, inspectorUrl, type MemoryFigures } from "./_inspector.ts";
import { withTimeout } from "./lib.ts";

export interface Layout {
  name: string;
  fans: number;
  detectors: number;
  cameras: number;
}

export const LAYOUTS: Record<string, Layout> = {
  "4": { name: "4 fans", fans: 4, detectors: 0, cameras: 0 },
  mixed: { name: "mixed", fans: 10, detectors: 30, cameras: 3 },
  // The mixed household padded to 150 devices with fans and detectors.
  "150": { name: "150", fans: 60, detectors: 87, cameras: 3 },
};

export const deviceCount = (l: Layout) => l.fans + l.detectors + l.cameras;

/** Fans with lights only; the first is the measured one ("cct": running, speed 40, tunable light). */
const FAN_PROFILES: ProfileKey[] = ["cct", "continuous", "corke"];
/** Smoke, CO, smoke+CO and heat detectors of both generations (docs/protocols/xsense.md). */
const DETECTOR_TYPES = ["XS01-M", "XC01-M", "SC07-MR", "XH02-M", "XS0B-MR", "XC0C-MR"];
const DETECTORS_PER_STATION = 10;

export function fanSpecs(l: Layout): SimDeviceSpec[] {
  return Array.from({ length: l.fans }, (_, i) => ({
    profile: FAN_PROFILES[i % FAN_PROFILES.length]!,
    displayName: `Bench Fan ${i + 1}`,
  }));
}

/** Detectors spread over base stations of DETECTORS_PER_STATION each, every third one an SBS10. */
export function xsenseHouses(l: Layout): SimHouseSpec[] {
  const stations = Math.ceil(l.detectors / DETECTORS_PER_STATION);
  return [
    {
      name: "Home",
      region: "eu-central-1",
      stations: Array.from({ length: stations }, (_, s) => ({
        sn: `13B9${String(s + 1).padStart(4, "0")}`,
        category: s % 3 === 2 ? "SBS10" : "SBS50",
        name: `Base ${s + 1}`,
        devices: Array.from({ length: Math.min(DETECTORS_PER_STATION, l.detectors - s * DETECTORS_PER_STATION) }).map(
          (_, i) => {
            const n = s * DETECTORS_PER_STATION + i;
            return {
              sn: String(n + 1).padStart(8, "0"),
              type: DETECTOR_TYPES[n % DETECTOR_TYPES.length]!,
              name: `Detector ${n + 1}`,
            };
          },
        ),
      })),
    },
  ];
}

export function babies(l: Layout): SimBaby[] {
  return Array.from({ length: l.cameras }, (_, i) => ({
    uid: `b4c0ff${String(i + 1).padStart(2, "0")}`,
    name: `Baby ${i + 1}`,
    cameraUid: `N301SIM00000${String(i + 1).padStart(2, "0")}`,
  }));
}

export interface Simulators {
  fansync: FanSyncSimulator;
  xsense?: XSenseSimulator;
  nanit?: NanitSimulator;
  accounts: Record<string, unknown>[];
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The three simulators for a layout (no vendor delays: the figures are the bridge's own work). */
export async function startSimulators(l: Layout): Promise<Simulators> {
  const fansync = new FanSyncSimulator({ devices: fanSpecs(l), deviceAckDelayMs: 0, pushDelayMs: 0 });
  const f = await fansync.start();
  const accounts: Record<string, unknown>[] = [
    {
      vendor: "fansync",
      name: "bench-fansync",
      email: fansync.email,
      password: "${BENCH_FANSYNC_PASSWORD}",
      endpoints: { api: f.apiUrl, websocket: f.wsUrl },
    },
  ];
  const env: Record<string, string> = { BENCH_FANSYNC_PASSWORD: fansync.password };
  let xsense: XSenseSimulator | undefined;
  let nanit: NanitSimulator | undefined;
  if (l.detectors) {
    xsense = new XSenseSimulator({ houses: xsenseHouses(l), reportDelayMs: 0 });
    const x = await xsense.start();
    accounts.push({
      vendor: "xsense",
      name: "bench-xsense",
      email: xsense.email,
      password: "${BENCH_XSENSE_PASSWORD}",
      endpoints: { api: x.api, cognito: x.cognito, iotData: x.iotData, mqtt: x.mqtt },
    });
    env.BENCH_XSENSE_PASSWORD = xsense.password;
  }
  if (l.cameras) {
    nanit = new NanitSimulator({ mfa: false, babies: babies(l), streamProfile: "720p" });
    const n = await nanit.start();
    accounts.push({
      vendor: "nanit",
      name: "bench-nanit",
      email: nanit.email,
      password: "${BENCH_NANIT_PASSWORD}",
      endpoints: { api: n.apiUrl, websocket: n.wsUrl },
    });
    env.BENCH_NANIT_PASSWORD = nanit.password;
  }
  const stop = async () => {
    await Promise.allSettled([fansync.stop(), xsense?.stop(), nanit?.stop()]);
  };
  return { fansync, xsense, nanit, accounts, env, stop };
}

export interface BridgeRun {
  bridge: BridgeProcess;
  inspector: Inspector;
  view: BridgeView;
  dir: string;
  matterPort: number;
  homekitPort: number;
  /** ms from spawn to the `ready` line, the line's own readyMs, and spawn to every device reachable. */
  spawnToReadyMs: number;
  readyMs: number;
  spawnToReachableMs: number;
  devices: number;
  stop(): Promise<void>;
}

/** Start the bridge for the simulators' accounts and wait until every device is reachable. */
export async function startBridge(
  sims: Simulators,
  expectedDevices: number,
  nodeArgs: string[] = [],
): Promise<BridgeRun> {
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-household-"));
  const configFile = join(dir, "config.yaml");
  const { matterPort } = await writeE2EConfig(configFile, {
    name: "Household Bench",
    web: { host: "127.0.0.1", port: 0 },
    logLevel: "info",
    accounts: sims.accounts,
  });
  const spawned = performance.now();
  // As the Docker image and `npm start` run it (glibc malloc arenas capped); an explicit value wins
  // (NODE_COMPILE_CACHE=<dir> measures Node's compile cache: README, "Household").
  const env = { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? "2", ...sims.env };
  const bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], env, [
    "--inspect=127.0.0.1:0",
    ...nodeArgs,
  ]);
  let readyAt = NaN;
  bridge.on("line", (l) => {
    if (l.event === "ready") readyAt = performance.now();
  });
  let view: BridgeView | undefined;
  let inspector: Inspector | undefined;
  const stop = async () => {
    view?.close();
    inspector?.close();
    const code = await Promise.race([bridge.stop(), new Promise((r) => setTimeout(() => r("timeout"), 20_000))]);
    if (code === "timeout") {
      bridge.child.kill("SIGKILL");
      await bridge.exited();
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    inspector = await Inspector.connect(await inspectorUrl(bridge.child.stderr!));
    const web = await bridge.waitForLine((l: LogLine) => l.event === "web", 300_000);
    const ready = await bridge.ready(300_000);
    view = await BridgeView.open(`http://127.0.0.1:${web.port as number}`);
    const v = view;
    await waitFor(
      () => v.devices.size >= expectedDevices && [...v.devices.values()].every((d) => d.available),
      180_000,
      { on: [[v, "change"]], message: `${expectedDevices} devices reachable` },
    );
    return {
      bridge,
      inspector,
      view,
      dir,
      matterPort,
      homekitPort: ready.homekitPort as number,
      spawnToReadyMs: readyAt - spawned,
      readyMs: Number(ready.readyMs),
      spawnToReachableMs: performance.now() - spawned,
      devices: v.devices.size,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** HomeKit paired (a writer, and a subscriber to every notifying characteristic of the main bridge, as
 * a Home hub is) and Matter commissioned (matter.js's controller subscribes to everything). */
export async function pairAndCommission(
  run: BridgeRun,
): Promise<{ writer: HapClient; subscriber: HapClient; matter: MatterTestClient; close(): Promise<void> }> {
  const pairingFile = join(run.dir, "hap-pairing.json");
  const writer = await HapClient.pair(run.homekitPort, E2E_PIN, { file: pairingFile });
  const subscriber = HapClient.load(pairingFile, run.homekitPort);
  const accessories = await subscriber.accessories();
  const notifying = accessories.flatMap((a) =>
    a.services.flatMap((s) => s.characteristics.filter((c) => c.perms.includes("ev"))),
  );
  await subscriber.http.subscribeCharacteristics(notifying.map((c) => c.id));
  const matter = await MatterTestClient.commission({
    port: run.matterPort,
    passcode: E2E_PASSCODE,
    discriminator: 3840,
  });
  const close = async () => {
    await Promise.allSettled([
      withTimeout(writer.close(), 10_000, "closing the HAP writer"),
      withTimeout(subscriber.close(), 10_000, "closing the HAP subscriber"),
      withTimeout(matter.close(), 20_000, "closing the Matter controller"),
    ]);
  };
  return { writer, subscriber, matter, close };
}

/** The characteristics Apple Home writes on a household: every fan's RotationSpeed and every light's On. */
export async function homeKitWriteTargets(writer: HapClient): Promise<HapCharacteristic[]> {
  const accessories = await writer.accessories();
  return accessories.flatMap((a) =>
    a.services
      .filter((s) => s.type === longUUID(Service.Fanv2.UUID) || s.type === longUUID(Service.Lightbulb.UUID))
      .flatMap((s) =>
        s.characteristics.filter(
          (c) =>
            (c.type === longUUID(Characteristic.RotationSpeed.UUID) || c.type === longUUID(Characteristic.On.UUID)) &&
            c.perms.includes("pw"),
        ),
      ),
  );
}

/** Idle memory: a settle, then a forced full GC through the inspector, figures from the bridge itself. */
export async function idleMemory(run: BridgeRun, settleMs = 5000): Promise<MemoryFigures> {
  await new Promise((r) => setTimeout(r, settleMs));
  return run.inspector.memoryAfterGc();
}

export type { MemoryFigures };
