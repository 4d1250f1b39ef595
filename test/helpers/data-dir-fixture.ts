// The data directory fixture of test/e2e/data-dir-compat.test.ts: a data directory written by an
// earlier version of the bridge (test/fixtures/data-dir-v0/), with both controllers' halves of the
// pairings, so a test can start today's bridge on it and check that Apple Home and Matter still know it.
// The simulators are built with fixed device ids here, so the devices the restored bridge finds are the
// ones the fixture's pairings and accessory ids were made with. test/fixtures/generate-data-dir.ts
// regenerates the fixture, only ever from the version it stands for (test/fixtures/data-dir-v0/README.md).
// Runs inside test/netns.sh (it pairs and commissions).
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { XSenseSimulator } from "../../sim/xsense/index.ts";
import { BridgeProcess } from "./bridge-process.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "./e2e-config.ts";
import { HapClient } from "./hap-client.ts";
import { MatterTestClient } from "./matter-client.ts";
import { pause } from "./wait.ts";

export const FIXTURE_DIR = fileURLToPath(new URL("../fixtures/data-dir-v0", import.meta.url));
export const BRIDGE_NAME = "Compat Bridge";
const DISCRIMINATOR = 3840;

/** What the fixture recorded besides the files: identities a restored bridge must keep. */
export interface FixtureManifest {
  /** The commit whose code wrote the data directory. */
  writtenBy: string;
  /** The Matter controller's node id for the bridge (a bigint, as a decimal string). */
  matterNodeId: string;
  /** Device id -> HAP accessory id (aid) on the main bridge. */
  hapAids: Record<string, number>;
  /** Device id -> Matter endpoint number of its bridged endpoint. */
  matterEndpoints: Record<string, number>;
}

/** The three vendor simulators with fixed ids (FanSync's and Nanit's defaults are fixed already). */
export class FixtureSimulators {
  readonly fansync = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Living Room" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  readonly xsense = new XSenseSimulator({
    houses: [
      {
        id: "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
        name: "Home",
        region: "eu-central-1",
        stations: [
          {
            id: "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a",
            sn: "13B96457",
            category: "SBS50",
            name: "Hall base",
            devices: [
              { id: "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b", sn: "00000001", type: "XS01-M", name: "Kitchen smoke" },
            ],
          },
        ],
      },
    ],
  });
  // No MFA: the sessions in the fixture are the old simulators'; the bridge logs in again by password.
  readonly nanit = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000] });

  get fanId(): string {
    return `fansync:${this.fansync.deviceIds[0]!}`;
  }

  get smokeId(): string {
    return `xsense:${this.xsense.vendorId("00000001")}`;
  }

  get cameraId(): string {
    return `nanit:${this.nanit.babies[0]!.cameraUid}`;
  }

  get deviceIds(): string[] {
    return [this.fanId, this.smokeId, this.cameraId];
  }

  /** Device id -> the serial number its accessory shows. */
  get serials(): Record<string, string> {
    return {
      [this.fanId]: this.fansync.deviceIds[0]!,
      [this.smokeId]: "00000001",
      [this.cameraId]: this.nanit.babies[0]!.cameraUid,
    };
  }

  /** Start the simulators and write a config for them; resolves with the Matter port. */
  async start(configFile: string): Promise<number> {
    const fansync = await this.fansync.start();
    const xsense = await this.xsense.start();
    const nanit = await this.nanit.start();
    process.env.COMPAT_FANSYNC_PASSWORD = this.fansync.password;
    process.env.COMPAT_XSENSE_PASSWORD = this.xsense.password;
    process.env.COMPAT_NANIT_PASSWORD = this.nanit.password;
    const { matterPort } = await writeE2EConfig(configFile, {
      name: BRIDGE_NAME,
      discriminator: DISCRIMINATOR,
      web: { enabled: false },
      accounts: [
        {
          vendor: "fansync",
          name: "fans",
          email: this.fansync.email,
          password: "${COMPAT_FANSYNC_PASSWORD}",
          endpoints: { api: fansync.apiUrl, websocket: fansync.wsUrl },
        },
        {
          vendor: "xsense",
          name: "alarms",
          email: this.xsense.email,
          password: "${COMPAT_XSENSE_PASSWORD}",
          endpoints: xsense,
        },
        {
          vendor: "nanit",
          name: "nursery",
          email: this.nanit.email,
          password: "${COMPAT_NANIT_PASSWORD}",
          endpoints: { api: nanit.apiUrl, websocket: nanit.wsUrl },
        },
      ],
    });
    return matterPort;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.fansync.stop(), this.xsense.stop(), this.nanit.stop()]);
  }
}

/** The bridge's HAP accessory ids of the devices (read over HAP). */
export async function hapAids(hap: HapClient, serials: Record<string, string>): Promise<Record<string, number>> {
  const accessories = await hap.accessories(true);
  const out: Record<string, number> = {};
  for (const [id, serial] of Object.entries(serials)) {
    const accessory = accessories.find((a) => a.serialNumber === serial);
    if (accessory) out[id] = accessory.aid;
  }
  return out;
}

/** The Matter endpoint numbers of the devices' bridged endpoints. */
export function matterEndpoints(matter: MatterTestClient, deviceIds: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of deviceIds) {
    try {
      const number = matter.bridged(uniqueIdFor(id)).number;
      if (number !== undefined) out[id] = number;
    } catch {
      // not bridged to Matter (e.g. a camera)
    }
  }
  return out;
}

/** The bridge's name, read over HAP with the stored pairing (pair-verify first). */
export async function readBridgeName(hap: HapClient): Promise<unknown> {
  const name = await hap.find({
    service: Service.AccessoryInformation.UUID,
    characteristic: Characteristic.Name.UUID,
    accessory: 1,
  });
  return (await hap.read(name))[0];
}

/** Copy a tree and give it the modes the bridge keeps (git keeps no modes): 0700 directories, 0600 files. */
export function copyPrivate(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
  const walk = (path: string) => {
    if (statSync(path).isDirectory()) {
      chmodSync(path, 0o700);
      for (const name of readdirSync(path)) walk(join(path, name));
    } else chmodSync(path, 0o600);
  };
  walk(to);
}

/**
 * Write the fixture with the code in this checkout: start the bridge against the simulators, pair with
 * hap-controller, commission with matter.js's controller, stop the bridge (SIGTERM) and save its data
 * directory, both controllers' storage and the manifest under FIXTURE_DIR.
 */
export async function generateFixture(writtenBy: string): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "hb-fixture-"));
  const dataDir = join(work, "data");
  const controllerDir = join(work, "matter-controller");
  const pairingFile = join(work, "hap-pairing.json");
  const sims = new FixtureSimulators();
  let bridge: BridgeProcess | undefined;
  let hap: HapClient | undefined;
  let matter: MatterTestClient | undefined;
  try {
    const matterPort = await sims.start(join(work, "config.yaml"));
    bridge = new BridgeProcess(["--config", join(work, "config.yaml"), "--data", dataDir]);
    const ready = await bridge.ready(90_000);
    hap = await HapClient.pair(Number(ready.homekitPort), E2E_PIN, { file: pairingFile });
    // The fan and the detector are bridged accessories (the camera is a standalone one by default).
    let hapAidsNow = await hapAids(hap, sims.serials);
    const bridged = [sims.fanId, sims.smokeId];
    for (let tries = 0; bridged.some((id) => !(id in hapAidsNow)); tries++) {
      if (tries === 100) throw new Error("the fan and the detector did not show up over HAP");
      await pause(200);
      hapAidsNow = await hapAids(hap, sims.serials);
    }
    mkdirSync(controllerDir, { recursive: true });
    matter = await MatterTestClient.commission({
      port: matterPort,
      passcode: E2E_PASSCODE,
      discriminator: DISCRIMINATOR,
      storageDir: controllerDir,
    });
    const manifest: FixtureManifest = {
      writtenBy,
      matterNodeId: String(matter.nodeId),
      hapAids: hapAidsNow,
      matterEndpoints: matterEndpoints(matter, sims.deviceIds),
    };
    await hap.close();
    hap = undefined;
    await matter.close();
    matter = undefined;
    const code = await bridge.stop();
    if (code !== 0) throw new Error(`the bridge exited with ${code}`);
    for (const name of ["data", "matter-controller", "hap-pairing.json", "manifest.json"])
      rmSync(join(FIXTURE_DIR, name), { recursive: true, force: true });
    mkdirSync(FIXTURE_DIR, { recursive: true });
    cpSync(dataDir, join(FIXTURE_DIR, "data"), { recursive: true });
    cpSync(controllerDir, join(FIXTURE_DIR, "matter-controller"), { recursive: true });
    cpSync(pairingFile, join(FIXTURE_DIR, "hap-pairing.json"));
    writeFileSync(join(FIXTURE_DIR, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  } finally {
    await hap?.close().catch(() => undefined);
    await matter?.close().catch(() => undefined);
    if (bridge && bridge.exitCode === undefined) await bridge.stop("SIGKILL");
    await sims.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
