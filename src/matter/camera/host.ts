// The Matter cameras (matter.cameras: true): one MatterCameraNode per registry device with the camera
// capability, each with its own port, passcode and discriminator, generated once and kept in
// <dataDir>/matter-cameras.json (0600) so a restart never changes what a controller paired with.
// Ports count up from matter.port + 10. A camera found later (an account added on the page) gets its
// node then; a camera that leaves (its account removed on the page) has its node stopped, its identity and
// fabrics kept, so adding the account again brings it back paired. The camera's sensors stay on the
// Matter bridge as before.
import { randomInt } from "node:crypto";
import { join } from "node:path";
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
}

export class MatterCameraHost {
  readonly #options: MatterCameraHostOptions;
  readonly #store: JsonStore<{ cameras?: Record<string, CameraIdentity> }>;
  readonly #nodes = new Map<string, MatterCameraNode>();
  #queue: Promise<void> = Promise.resolve();
  #running = false;
  readonly #onDevice = (entry: DeviceEntry) => this.#enqueue(() => this.#add(entry));
  readonly #onRemoved = (entry: DeviceEntry) => this.#enqueue(() => this.#remove(entry));

  constructor(options: MatterCameraHostOptions) {
    this.#options = options;
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
    const node = this.#nodes.get(entry.info.id);
    if (!node) return;
    this.#nodes.delete(entry.info.id);
    await node.stop();
    this.#options.log.info(
      { device: entry.info.id, port: node.port },
      `Matter camera ${entry.info.name} stopped: the device left the bridge`,
    );
  }

  async #add(entry: DeviceEntry): Promise<void> {
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
    this.#nodes.set(entry.info.id, node);
    await node.start();
    const codes = node.pairingCodes();
    this.#options.log.info(
      { device: entry.info.id, port: node.port, manualPairingCode: codes.manualPairingCode },
      `Matter camera ${entry.info.name}: pair it with ${codes.manualPairingCode} (${codes.qrPairingCode})`,
    );
  }
}
