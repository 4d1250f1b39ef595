// The HomeKit host: one HAP bridge (more past HomeKit's 149 bridged accessories), one bridged
// accessory per registry device, pairing storage in the data directory, advertising (or none).
// Cameras are published as accessories of their own by default (own port and setup code, as Home
// Assistant and Scrypted do), with their sensors and switches on the same accessory.
// It never imports a driver: devices come from the registry, writes go back to it as commands.
import { EventEmitter, once } from "node:events";
import { join } from "node:path";
import { type Accessory, Bridge, uuid, type Categories, type PublishInfo } from "@homebridge/hap-nodejs";
import type { CameraSource, CameraSourceProvider } from "../core/camera.ts";
import type { DeviceEntry, DeviceRegistry, RegistryEvents } from "../core/registry.ts";
import type { Logger } from "../core/logger.ts";
import { ensureDataDir } from "../core/storage.ts";
import { randomPincode, randomUsername } from "../core/identity.ts";
import { publishBridge, type AdvertiserChoice } from "./advertiser.ts";
import { BridgeLayout, useHapStorage, type CameraIdentity } from "./storage.ts";
import { DeviceAccessory } from "./device-accessory.ts";
import { assertPortFree, cameraPortFor } from "./ports.ts";
import { controllersOf, type PairingTarget, removeAllControllers, removeController } from "./pairings.ts";
import { disableEventCoalescing, flushEvents } from "./event-delivery.ts";

// hap-nodejs registers source-map-support when imported. It then parses the source map of every hap-nodejs
// file on a stack it formats (HAP formats one per listener it registers on a connection) and keeps it: about
// 6 MB of heap for the mixed household (README, "Household" bench). Node's own stack format is enough.
if (Error.prepareStackTrace?.name === "prepareStackTrace") Reflect.deleteProperty(Error, "prepareStackTrace");

/** HomeKit takes 150 accessories per bridge, the bridge itself included. */
export const MAX_BRIDGED_ACCESSORIES = 149;
export const DEFAULT_HOMEKIT_PORT = 51826;
/** Standalone cameras listen from the bridge's port + 100 up (bridge N takes port + N). */
export const CAMERA_PORT_OFFSET = 100;

const BRIDGE_CATEGORY = 2 as Categories; // Categories.BRIDGE (a const enum in HAP-NodeJS's types)
const IP_CAMERA_CATEGORY = 17 as Categories; // Categories.IP_CAMERA

export interface HomeKitHostOptions {
  registry: DeviceRegistry;
  log: Logger;
  /** The data directory; HomeKit files go to <dataDir>/homekit. */
  dataDir: string;
  /** Name of the main bridge; extra bridges are "<name> 2", "<name> 3"... */
  name: string;
  /** Port of the main bridge (default 51826); bridge N listens on port + N. 0 = any free port for every bridge. */
  port?: number;
  /** Setup code "XXX-XX-XXX", shared by every bridge. */
  pincode: string;
  /** MAC-style username of the main bridge; generated once and kept in bridges.json when absent. */
  username?: string;
  advertiser?: AdvertiserChoice;
  /** Addresses or interfaces the HAP servers bind to (HAP-NodeJS's `bind`); default all. */
  bind?: string | string[];
  /** The media layer's camera sources; without it cameras show only their sensors and switches. */
  cameras?: CameraSourceProvider;
  /** `standalone` (default): each camera is its own accessory; `bridged`: cameras stay on the bridge. */
  cameraMode?: "standalone" | "bridged";
  /** First port for standalone cameras (default `port` + 100; 0 = any free port). Kept per camera once chosen. */
  cameraPort?: number;
}

export interface HomeKitHostEvents {
  /** A bridge's HAP server listens (index 0 = the main bridge). */
  listening: [bridge: number, port: number];
  paired: [bridge: number];
  unpaired: [bridge: number];
  /** A standalone camera's HAP server listens. */
  "camera-listening": [deviceId: string, port: number];
  "camera-paired": [deviceId: string];
  "camera-unpaired": [deviceId: string];
}

/** What a user needs to pair a standalone camera (status page, pairing CLI). */
export interface CameraPairing {
  deviceId: string;
  name: string;
  pincode: string;
  /** The X-HM:// QR code content; undefined until the camera was published. */
  setupURI: string | undefined;
  port: number | undefined;
  paired: boolean;
}

export interface BridgeStatus {
  index: number;
  name: string;
  username: string;
  /** Bound port; undefined until the bridge listens. */
  port: number | undefined;
  accessories: number;
  pairedClients: number;
}

interface CameraSlot {
  deviceId: string;
  identity: CameraIdentity;
  accessory: DeviceAccessory;
  port?: number;
  publishing?: Promise<void>;
}

interface BridgeSlot {
  index: number;
  name: string;
  username: string;
  bridge: Bridge;
  accessories: Set<string>;
  port?: number;
  publishing?: Promise<void>;
}

export class HomeKitHost extends EventEmitter<HomeKitHostEvents> {
  readonly pincode: string;
  readonly #registry: DeviceRegistry;
  readonly #log: Logger;
  readonly #dir: string;
  readonly #name: string;
  readonly #basePort: number;
  readonly #username: string | undefined;
  readonly #advertiser: AdvertiserChoice;
  readonly #bind: string | string[] | undefined;
  readonly #slots: BridgeSlot[] = [];
  readonly #devices = new Map<string, { accessory: DeviceAccessory; slot: BridgeSlot }>();
  readonly #cameraSources: CameraSourceProvider | undefined;
  readonly #cameraMode: "standalone" | "bridged";
  readonly #cameraBasePort: number;
  readonly #cameras = new Map<string, CameraSlot>();
  /** Devices per bridge, counting assignments of absent devices (their place is kept). */
  #counts: number[] = [];
  #layout: BridgeLayout | undefined;
  #state: "new" | "starting" | "started" | "stopped" = "new";

  readonly #onDevice = (entry: DeviceEntry): void => {
    const known = this.#accessoryOf(entry.info.id);
    if (known) {
      known.describe(entry.info);
      return;
    }
    this.#addDevices([entry]);
  };
  readonly #onState = (...[entry, patch]: RegistryEvents["state"]): void => {
    const accessory = this.#accessoryOf(entry.info.id);
    if (!accessory) return;
    const reportedAt = this.#registry.reportedAt;
    accessory.update(entry.state, patch);
    flushEvents(accessory.accessory);
    this.#registry.delivered("homekit", reportedAt);
  };
  readonly #onAvailability = (entry: DeviceEntry): void => {
    const accessory = this.#accessoryOf(entry.info.id);
    if (!accessory) return;
    accessory.setAvailable(entry.available);
    flushEvents(accessory.accessory);
  };
  /** Its account was removed: the accessory leaves its bridge (controllers see the new list at once).
   * Its place in bridges.json stays, so the device comes back as the same accessory if the account does. */
  readonly #onRemoved = (entry: DeviceEntry): void => {
    const id = entry.info.id;
    const bridged = this.#devices.get(id);
    if (bridged) {
      this.#devices.delete(id);
      bridged.slot.accessories.delete(id);
      bridged.slot.bridge.removeBridgedAccessory(bridged.accessory.accessory);
      void bridged.accessory.close();
      this.#log.info({ device: id }, `${entry.info.name} left ${bridged.slot.name}`);
      return;
    }
    const camera = this.#cameras.get(id);
    if (!camera) return;
    this.#cameras.delete(id);
    void (async () => {
      await camera.publishing?.catch(() => undefined);
      await camera.accessory.accessory.unpublish();
      await camera.accessory.close();
    })().catch((error: Error) =>
      this.#log.warn({ err: error, device: id }, `camera ${entry.info.name} did not stop cleanly`),
    );
    this.emit("camera-unpaired", id);
  };

  constructor(options: HomeKitHostOptions) {
    super();
    if (!/^\d{3}-\d{2}-\d{3}$/.test(options.pincode))
      throw new Error(`HomeKit setup code must look like 031-45-154 (got ${options.pincode})`);
    const port = options.port ?? DEFAULT_HOMEKIT_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`HomeKit port must be 0-65535 (got ${port})`);
    if (options.username !== undefined && !/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/i.test(options.username))
      throw new Error(`HomeKit username must look like 0E:12:34:56:78:9A (got ${options.username})`);
    const cameraPort = options.cameraPort ?? (port === 0 ? 0 : port + CAMERA_PORT_OFFSET);
    if (!Number.isInteger(cameraPort) || cameraPort < 0 || cameraPort > 65535)
      throw new Error(`HomeKit camera port must be 0-65535 (got ${cameraPort})`);
    this.pincode = options.pincode;
    this.#registry = options.registry;
    this.#log = options.log;
    this.#dir = join(options.dataDir, "homekit");
    this.#name = options.name;
    this.#basePort = port;
    this.#username = options.username?.toUpperCase();
    this.#advertiser = options.advertiser ?? "ciao";
    this.#bind = options.bind;
    this.#cameraSources = options.cameras;
    this.#cameraMode = options.cameraMode ?? "standalone";
    this.#cameraBasePort = cameraPort;
  }

  /** Build the bridges with every device the registry holds now, publish them, and follow the registry. */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error("HomeKitHost.start() can be called once");
    this.#state = "starting";
    disableEventCoalescing();
    ensureDataDir(this.#dir);
    useHapStorage(join(this.#dir, "hap"));
    const layout = (this.#layout = new BridgeLayout(this.#dir));
    this.#counts = layout.counts();

    const saved = layout.usernames[0];
    if (this.#username && saved && saved !== this.#username) {
      this.#log.warn(
        `the main bridge's username changed from ${saved} to ${this.#username}: ` +
          "Apple Home will see a new, unpaired bridge",
      );
    }
    layout.setUsername(0, this.#username ?? saved ?? randomUsername());
    for (let i = 0; i < Math.max(1, layout.usernames.length); i++) this.#slot(i);

    this.#addDevices(this.#registry.devices);
    this.#registry.on("device", this.#onDevice);
    this.#registry.on("state", this.#onState);
    this.#registry.on("availability", this.#onAvailability);
    this.#registry.on("removed", this.#onRemoved);

    for (const slot of this.#slots) await this.#publish(slot);
    // A camera that cannot be published must not keep the bridge down.
    for (const camera of this.#cameras.values())
      await this.#publishCamera(camera).catch((error: Error) =>
        this.#log.error(
          { err: error, device: camera.deviceId },
          `camera ${camera.accessory.accessory.displayName} could not be published: ${error.message}`,
        ),
      );
    this.#state = "started";
  }

  /** Unpublish every bridge and close its sockets. */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#registry.off("device", this.#onDevice);
    this.#registry.off("state", this.#onState);
    this.#registry.off("availability", this.#onAvailability);
    this.#registry.off("removed", this.#onRemoved);
    const cameras = [...this.#cameras.values()];
    await Promise.allSettled([
      ...this.#slots.map((slot) => slot.publishing),
      ...cameras.map((camera) => camera.publishing),
    ]);
    await Promise.allSettled([
      ...this.#slots.map((slot) => slot.bridge.unpublish()),
      ...cameras.map((camera) => camera.accessory.accessory.unpublish()),
    ]);
    // Live streams end with their viewers' connections; make sure no ffmpeg outlives the host.
    await Promise.allSettled(
      [...cameras.map((camera) => camera.accessory), ...[...this.#devices.values()].map((d) => d.accessory)].map(
        (accessory) => accessory.close(),
      ),
    );
  }

  /** The main bridge's bound port (the configured one until it listens). */
  get port(): number {
    return this.#slots[0]?.port ?? this.#basePort;
  }

  /** Controllers paired with the main bridge. */
  get pairedClients(): number {
    return this.#slots[0] ? controllersOf(this.#slots[0].bridge).length : 0;
  }

  get bridges(): BridgeStatus[] {
    return this.#slots.map((slot) => ({
      index: slot.index,
      name: slot.name,
      username: slot.username,
      port: slot.port,
      accessories: slot.accessories.size,
      pairedClients: controllersOf(slot.bridge).length,
    }));
  }

  /** The X-HM:// setup URI (the QR code's content) of a bridge, main bridge by default. Needs start(). */
  setupURI(bridge = 0): string {
    const slot = this.#slots[bridge];
    if (!slot?.bridge._accessoryInfo) throw new Error(`HomeKit bridge ${bridge} is not published`);
    return slot.bridge.setupURI();
  }

  /** Pairing details of every standalone camera. */
  cameraPairings(): CameraPairing[] {
    return [...this.#cameras.values()].map((camera) => {
      const accessory = camera.accessory.accessory;
      return {
        deviceId: camera.deviceId,
        name: this.#registry.get(camera.deviceId)?.info.name ?? accessory.displayName,
        pincode: camera.identity.pincode,
        setupURI: accessory._accessoryInfo ? accessory.setupURI() : undefined,
        port: camera.port,
        paired: Object.keys(accessory._accessoryInfo?.pairedClients ?? {}).length > 0,
      };
    });
  }

  /** Each bridge's and standalone camera's paired controllers; removal of one, or of all (pairings.ts). */
  pairings(): PairingTarget[] {
    return this.#pairingTargets().map(({ accessory, ...t }) => ({ ...t, controllers: controllersOf(accessory) }));
  }

  async removePairing(target: string, controller: string): Promise<void> {
    const found = this.#pairingTargets().find((t) => t.target === target);
    if (!found) throw new Error(`no HomeKit bridge or camera ${target}`);
    await removeController(found.accessory, controller);
    this.#log.info({ target, controller }, `${found.name}: HomeKit pairing ${controller} removed on the web page`);
  }

  async resetPairings(): Promise<number> {
    let removed = 0; // every controller of every bridge and camera: each pairs again with its setup code
    for (const { accessory } of this.#pairingTargets()) removed += await removeAllControllers(accessory);
    this.#log.info({ removed }, `HomeKit reset on the web page: ${removed} pairing(s) removed`);
    return removed;
  }

  #pairingTargets(): (Omit<PairingTarget, "controllers"> & { accessory: Accessory })[] {
    const cameras = [...this.#cameras.values()].map(({ deviceId: id, accessory: { accessory } }) => ({
      target: `camera-${id}`,
      name: this.#registry.get(id)?.info.name ?? accessory.displayName,
      accessory,
    }));
    const bridges = this.#slots.map((s) => ({ target: `bridge-${s.index}`, name: s.name, accessory: s.bridge }));
    return [...bridges, ...cameras];
  }

  #accessoryOf(deviceId: string): DeviceAccessory | undefined {
    return this.#devices.get(deviceId)?.accessory ?? this.#cameras.get(deviceId)?.accessory;
  }

  #deviceAccessory(entry: DeviceEntry, camera: CameraSource | undefined): DeviceAccessory {
    const id = entry.info.id;
    return new DeviceAccessory({
      entry: () => this.#registry.get(id) ?? entry,
      command: async (patch) => {
        try {
          await this.#registry.command(id, patch);
        } catch (error) {
          this.#log.warn(
            { device: id, err: error },
            `HomeKit command to ${entry.info.name} failed: ${(error as Error).message}`,
          );
          throw error;
        }
      },
      log: this.#log,
      camera,
    });
  }

  /** The media layer's source for a camera device (asked once per device). */
  #cameraSource(entry: DeviceEntry): CameraSource | undefined {
    if (!entry.info.capabilities.camera || !this.#cameraSources) return undefined;
    try {
      return this.#cameraSources.sourceFor(entry.info.id);
    } catch (error) {
      this.#log.warn(
        { device: entry.info.id, err: error },
        `no video for ${entry.info.name}: ${(error as Error).message}`,
      );
      return undefined;
    }
  }

  /** A camera as its own accessory, with an identity (username, setup code, port) kept across restarts. */
  #addStandaloneCamera(entry: DeviceEntry, source: CameraSource): void {
    const layout = this.#layout!;
    const id = entry.info.id;
    const saved = layout.camera(id);
    const identity: CameraIdentity = {
      username: saved?.username ?? randomUsername(),
      pincode: saved?.pincode ?? randomPincode(),
      ...(saved?.port ? { port: saved.port } : {}),
    };
    layout.setCamera(id, identity);
    const accessory = this.#deviceAccessory(entry, source);
    accessory.accessory.category = IP_CAMERA_CATEGORY;
    const camera: CameraSlot = { deviceId: id, identity, accessory };
    const hap = accessory.accessory;
    hap.on("listening", (port) => {
      camera.port = port;
    });
    hap.on("paired", () => {
      this.#log.info({ device: id }, `${hap.displayName}: paired with a HomeKit controller`);
      this.emit("camera-paired", id);
    });
    hap.on("unpaired", () => {
      this.#log.info({ device: id }, `${hap.displayName}: last HomeKit controller removed the pairing`);
      this.emit("camera-unpaired", id);
    });
    this.#cameras.set(id, camera);
    if (this.#state === "started")
      void this.#publishCamera(camera).catch((error: Error) =>
        this.#log.error(
          { err: error, device: id },
          `camera ${hap.displayName} could not be published: ${error.message}`,
        ),
      );
  }

  /** The port for a standalone camera (ports.ts). */
  #cameraPortFor(camera: CameraSlot): Promise<number> {
    const ports = { basePort: this.#cameraBasePort, bind: this.#bind, layout: this.#layout!, log: this.#log };
    const { deviceId, identity } = camera;
    return cameraPortFor(ports, { deviceId, identity, name: camera.accessory.accessory.displayName });
  }

  #publishCamera(camera: CameraSlot): Promise<void> {
    camera.publishing ??= (async () => {
      const hap = camera.accessory.accessory;
      const port = await this.#cameraPortFor(camera);
      const listening = once(hap, "listening") as Promise<[number, string]>;
      // addIdentifyingMaterial would append 4 hex digits to the camera's name in the Home app.
      const info: Omit<PublishInfo, "advertiser"> = {
        username: camera.identity.username,
        pincode: camera.identity.pincode,
        category: IP_CAMERA_CATEGORY,
        port,
        bind: this.#bind,
        addIdentifyingMaterial: false,
      };
      await publishBridge(hap, info, this.#advertiser);
      const [bound] = await listening;
      camera.port = bound;
      if (port !== 0 && camera.identity.port !== bound) {
        camera.identity = { ...camera.identity, port: bound };
        this.#layout!.setCamera(camera.deviceId, camera.identity);
      }
      this.#log.info(
        { device: camera.deviceId, port: bound, advertiser: this.#advertiser },
        `camera ${hap.displayName} listens on port ${bound} (setup code ${camera.identity.pincode})`,
      );
      this.emit("camera-listening", camera.deviceId, bound);
    })();
    return camera.publishing;
  }

  /** The bridge with this index, creating it (and any before it) with a persisted username. */
  #slot(index: number): BridgeSlot {
    const layout = this.#layout!;
    while (this.#slots.length <= index) {
      const i = this.#slots.length;
      let username = layout.usernames[i];
      if (!username) {
        username = randomUsername();
        layout.setUsername(i, username);
      }
      const name = i === 0 ? this.#name : `${this.#name} ${i + 1}`;
      const bridge = new Bridge(name, uuid.generate(`hearthbridge:bridge:${username}`));
      const slot: BridgeSlot = { index: i, name, username, bridge, accessories: new Set() };
      bridge.on("listening", (port) => {
        slot.port = port;
      });
      bridge.on("paired", () => {
        this.#log.info(`${name}: paired with a HomeKit controller`);
        this.emit("paired", i);
      });
      bridge.on("unpaired", () => {
        this.#log.info(`${name}: last HomeKit controller removed the pairing`);
        this.emit("unpaired", i);
      });
      bridge.on("characteristic-warning", (warning) =>
        this.#log.debug({ bridge: i }, `HAP: [${warning.originatorChain.join("@")}] ${warning.message}`),
      );
      this.#slots.push(slot);
    }
    return this.#slots[index]!;
  }

  /** Where a device lives: its saved bridge, else the first bridge with room (a new one if none). */
  #place(deviceId: string): number {
    const saved = this.#layout!.assignment(deviceId);
    if (saved !== undefined) return saved;
    let index = 0;
    while ((this.#counts[index] ?? 0) >= MAX_BRIDGED_ACCESSORIES) index++;
    this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    return index;
  }

  #addDevices(entries: DeviceEntry[]): void {
    const layout = this.#layout!;
    // Devices with a saved place first, so newcomers never take a place that is already promised.
    const ordered = [...entries].sort(
      (a, b) => Number(layout.assignment(b.info.id) !== undefined) - Number(layout.assignment(a.info.id) !== undefined),
    );
    const placements: [string, number][] = [];
    const touched = new Set<BridgeSlot>();
    for (const entry of ordered) {
      const id = entry.info.id;
      if (this.#devices.has(id) || this.#cameras.has(id)) continue;
      const camera = this.#cameraSource(entry);
      if (camera && this.#cameraMode === "standalone") {
        this.#addStandaloneCamera(entry, camera);
        continue;
      }
      let index = this.#place(id);
      let slot = this.#slot(index);
      if (slot.accessories.size >= MAX_BRIDGED_ACCESSORIES) {
        // Only a hand-edited bridges.json gets here; move the device rather than drop it.
        this.#log.warn({ device: id }, `${slot.name} is full; ${entry.info.name} moves to another bridge`);
        index = this.#counts.findIndex((n, i) => i !== index && (n ?? 0) < MAX_BRIDGED_ACCESSORIES);
        if (index < 0) index = this.#counts.length;
        this.#counts[index] = (this.#counts[index] ?? 0) + 1;
        slot = this.#slot(index);
      }
      const accessory = this.#deviceAccessory(entry, camera);
      slot.bridge.addBridgedAccessory(accessory.accessory);
      slot.accessories.add(id);
      this.#devices.set(id, { accessory, slot });
      placements.push([id, index]);
      touched.add(slot);
    }
    layout.assign(placements);
    // Bridges created after start (overflow) are published as soon as they hold something.
    if (this.#state === "started") {
      for (const slot of touched) {
        if (!slot.publishing)
          void this.#publish(slot).catch((error: Error) =>
            this.#log.error({ err: error }, `${slot.name} could not be published`),
          );
      }
    }
  }

  #publish(slot: BridgeSlot): Promise<void> {
    slot.publishing ??= (async () => {
      const port = this.#basePort === 0 ? 0 : this.#basePort + slot.index;
      if (port !== 0 && (this.#bind === undefined || typeof this.#bind === "string"))
        await assertPortFree(port, this.#bind);
      const listening = once(slot.bridge, "listening") as Promise<[number, string]>;
      const info: Omit<PublishInfo, "advertiser"> = {
        username: slot.username,
        pincode: this.pincode,
        category: BRIDGE_CATEGORY,
        port,
        bind: this.#bind,
      };
      await publishBridge(slot.bridge, info, this.#advertiser);
      const [bound] = await listening;
      slot.port = bound;
      this.#log.info(
        { bridge: slot.index, port: bound, accessories: slot.accessories.size, advertiser: this.#advertiser },
        `${slot.name} listens on port ${bound}`,
      );
      this.emit("listening", slot.index, bound);
    })();
    return slot.publishing;
  }
}
