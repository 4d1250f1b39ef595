// The Matter cameras (matter.cameras: true): one MatterCameraNode per registry device with the camera
// capability, each with its own port, passcode and discriminator, generated once and kept in
// <dataDir>/matter-cameras.json (0600) so a restart never changes what a controller paired with.
// Ports count up from matter.port + 10. A camera found later (an account added on the page) gets its
// node then; a camera that leaves (its account removed on the page) has its node stopped, its identity and
// fabrics kept, so adding the account again brings it back paired. The camera's sensors stay on the
// Matter bridge as before.
// A node that fails to start (its port taken by another program) is closed and left out, logged once,
// and tried again after 5 s, 10 s, 20 s, 40 s, then each minute, ten tries in all; a "device" event
// for the camera (its description changed, or its account removed and added again on the page) tries at
// once and starts the count afresh.
import { randomInt } from "node:crypto";
import { join } from "node:path";
import { type Clock, REAL_CLOCK, type TimerHandle } from "../../core/clock.ts";
import type { Logger } from "../../core/logger.ts";
import type { DeviceEntry, DeviceRegistry } from "../../core/registry.ts";
import { JsonStore } from "../../core/storage.ts";
import { randomSetupCodes } from "../pairing.ts";
import { MatterCameraNode } from "./camera-node.ts";
import type { CameraMediaPort } from "./link.ts";

export interface CameraIdentity {
  port: number;
  passcode: number;
  discriminator: number;
  /** The camera's name when its node last started (for `npm run pairing`, which starts nothing). */
  name?: string;
}

/** A camera node's codes as the web page shows them. */
export interface MatterCameraPairing {
  deviceId: string;
  name: string;
  port: number;
  manualPairingCode: string;
  qrPairingCode: string;
  commissioned: boolean;
}

export interface MatterCameraHostOptions {
  registry: DeviceRegistry;
  log: Logger;
  dataDir: string;
  /** The bridge's Matter port: cameras take matter.port + 10 and up. */
  bridgePort: number;
  /** Read at each new camera (the media layer may start later). */
  media(): CameraMediaPort | undefined;
  /** Tests: the clock of the start retries. */
  clock?: Clock;
}

/** Waits before each new try of a camera node that failed to start; the last one repeats until the tries
 * run out (a port another program holds for good must not cost a warning and a start each minute forever). */
export const START_RETRY_DELAYS_MS = [5_000, 10_000, 20_000, 40_000, 60_000] as const;
export const START_TRIES = 10;

/** A camera whose node failed to start: how often so far, and the pending retry. */
interface FailedStart {
  tries: number;
  timer: TimerHandle | undefined;
}

export class MatterCameraHost {
  readonly #options: MatterCameraHostOptions;
  readonly #store: JsonStore<{ cameras?: Record<string, CameraIdentity> }>;
  readonly #nodes = new Map<string, MatterCameraNode>();
  readonly #failed = new Map<string, FailedStart>();
  readonly #clock: Clock;
  #queue: Promise<void> = Promise.resolve();
  #running = false;
  readonly #onDevice = (entry: DeviceEntry) => this.#enqueue(() => this.#add(entry, { fresh: true }));
  readonly #onRemoved = (entry: DeviceEntry) => this.#enqueue(() => this.#remove(entry));

  constructor(options: MatterCameraHostOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#store = new JsonStore(join(options.dataDir, "matter-cameras.json"));
  }

  /** Each camera's node (pairing codes, port) for the log and the pairing command. */
  get nodes(): MatterCameraNode[] {
    return [...this.#nodes.values()];
  }

  /** The running camera nodes' codes (a node still starting is left out). */
  cameraPairings(): MatterCameraPairing[] {
    const out: MatterCameraPairing[] = [];
    for (const node of this.#nodes.values()) {
      try {
        const codes = node.pairingCodes();
        out.push({
          deviceId: node.deviceId,
          name: node.name,
          port: node.port,
          ...codes,
          commissioned: node.commissioned,
        });
      } catch {
        // not started yet: shown once it is
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.deviceId.localeCompare(b.deviceId));
  }

  async start(): Promise<void> {
    this.#running = true;
    for (const entry of this.#options.registry.devices) await this.#add(entry);
    this.#options.registry.on("device", this.#onDevice);
    this.#options.registry.on("removed", this.#onRemoved);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#options.registry.off("device", this.#onDevice);
    this.#options.registry.off("removed", this.#onRemoved);
    for (const failed of this.#failed.values()) this.#clock.clearTimeout(failed.timer);
    this.#failed.clear();
    await this.#queue;
    await Promise.allSettled([...this.#nodes.values()].map((n) => n.stop()));
    this.#nodes.clear();
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue
      .then(work)
      .catch((error: Error) => this.#options.log.warn({ err: error }, `Matter camera failed: ${error.message}`));
  }

  /** The camera's stored identity, made once. */
  identity(deviceId: string): CameraIdentity {
    const cameras = { ...(this.#store.get("cameras") ?? {}) };
    const known = cameras[deviceId];
    if (known) return known;
    const taken = Object.values(cameras).map((c) => c.port);
    const port = Math.max(this.#options.bridgePort + 9, ...taken) + 1;
    const made = { port, ...randomSetupCodes((max) => randomInt(0, max)) };
    cameras[deviceId] = made;
    this.#store.set("cameras", cameras);
    return made;
  }

  /** The stored identity with the camera's current name kept beside it. */
  #named(deviceId: string, name: string): CameraIdentity {
    const identity = this.identity(deviceId);
    if (identity.name === name) return identity;
    const named = { ...identity, name };
    this.#store.set("cameras", { ...(this.#store.get("cameras") ?? {}), [deviceId]: named });
    return named;
  }

  async #remove(entry: DeviceEntry): Promise<void> {
    this.#clock.clearTimeout(this.#failed.get(entry.info.id)?.timer);
    this.#failed.delete(entry.info.id);
    const node = this.#nodes.get(entry.info.id);
    if (!node) return;
    this.#nodes.delete(entry.info.id);
    await node.stop();
    this.#options.log.info(
      { device: entry.info.id, port: node.port },
      `Matter camera ${entry.info.name} stopped: the device left the bridge`,
    );
  }

  async #add(entry: DeviceEntry, { fresh = false } = {}): Promise<void> {
    const capability = entry.info.capabilities.camera;
    if (!this.#running || !capability || this.#nodes.has(entry.info.id)) return;
    const media = this.#options.media();
    if (!media) {
      this.#options.log.warn({ device: entry.info.id }, `${entry.info.name}: no camera video, so no Matter camera`);
      return;
    }
    const { name: _stored, ...identity } = this.#named(entry.info.id, entry.info.name);
    const node = new MatterCameraNode({
      deviceId: entry.info.id,
      name: entry.info.name,
      capability,
      media,
      log: this.#options.log,
      storageRoot: join(this.#options.dataDir, "matter-cameras"),
      ...identity,
    });
    const failed = this.#failed.get(entry.info.id);
    this.#clock.clearTimeout(failed?.timer);
    try {
      await node.start();
    } catch (error) {
      await node.stop().catch(() => undefined);
      this.#startFailed(entry, node.port, fresh || !failed ? 1 : failed.tries + 1, error as Error);
      return;
    }
    this.#failed.delete(entry.info.id);
    // Only a running node is kept: one left in the map after a failed start was never tried again.
    this.#nodes.set(entry.info.id, node);
    const codes = node.pairingCodes();
    this.#options.log.info(
      { device: entry.info.id, port: node.port, manualPairingCode: codes.manualPairingCode },
      `Matter camera ${entry.info.name}: pair it with ${codes.manualPairingCode} (${codes.qrPairingCode})`,
    );
  }

  /** Log the first failure of a run of tries (the rest at debug) and plan the next try while tries remain. */
  #startFailed(entry: DeviceEntry, port: number, tries: number, error: Error): void {
    const { id, name } = entry.info;
    const last = tries >= START_TRIES;
    const failure = { tries, timer: undefined as TimerHandle | undefined };
    this.#failed.set(id, failure);
    const fields = { device: id, port, tries, err: error };
    if (tries === 1)
      this.#options.log.warn(fields, `Matter camera ${name} did not start on port ${port}: ${error.message}`);
    else this.#options.log.debug(fields, `Matter camera ${name} did not start again (try ${tries})`);
    if (last) {
      this.#options.log.warn(
        { device: id, port, tries },
        `Matter camera ${name}: gave up after ${tries} tries; adding its account again or a restart tries again`,
      );
      return;
    }
    const wait = START_RETRY_DELAYS_MS[Math.min(tries - 1, START_RETRY_DELAYS_MS.length - 1)]!;
    failure.timer = this.#clock.setTimeout(() => {
      failure.timer = undefined;
      const current = this.#options.registry.devices.find((d) => d.info.id === id);
      if (current && this.#running) this.#enqueue(() => this.#add(current));
    }, wait);
    failure.timer.unref();
  }
}
