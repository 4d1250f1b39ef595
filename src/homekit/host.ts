// The HomeKit host: one HAP bridge (more past HomeKit's 149 bridged accessories), one bridged
// accessory per registry device, pairing storage in the data directory, advertising (or none).
// It never imports a driver: devices come from the registry, writes go back to it as commands.
import { EventEmitter, once } from "node:events";
import { createServer } from "node:net";
import { join } from "node:path";
import { Bridge, HAPConnection, uuid, type Categories, type PublishInfo } from "@homebridge/hap-nodejs";
import type { DeviceEntry, DeviceRegistry, RegistryEvents } from "../core/registry.ts";
import type { Logger } from "../core/logger.ts";
import { ensureDataDir } from "../core/storage.ts";
import { randomUsername } from "../core/identity.ts";
import { publishBridge, type AdvertiserChoice } from "./advertiser.ts";
import { BridgeLayout, useHapStorage } from "./storage.ts";
import { DeviceAccessory } from "./device-accessory.ts";

/** HomeKit takes 150 accessories per bridge, the bridge itself included. */
export const MAX_BRIDGED_ACCESSORIES = 149;
export const DEFAULT_HOMEKIT_PORT = 51826;

const BRIDGE_CATEGORY = 2 as Categories; // Categories.BRIDGE (a const enum in HAP-NodeJS's types)

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
}

export interface HomeKitHostEvents {
  /** A bridge's HAP server listens (index 0 = the main bridge). */
  listening: [bridge: number, port: number];
  paired: [bridge: number];
  unpaired: [bridge: number];
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

interface BridgeSlot {
  index: number;
  name: string;
  username: string;
  bridge: Bridge;
  accessories: Set<string>;
  port?: number;
  publishing?: Promise<void>;
}

/** HAP-NodeJS batches events for EVENT_COALESCING_DELAY (250 ms); alarms must go out at once. */
function disableEventCoalescing(): void {
  // Declared `static readonly` in the typings, a plain writable static at runtime.
  (HAPConnection as unknown as { EVENT_COALESCING_DELAY: number }).EVENT_COALESCING_DELAY = 0;
}

async function assertPortFree(port: number, host: string | undefined): Promise<void> {
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(port, host, done);
    });
  } catch (error) {
    throw new Error(`HomeKit port ${port} is not free (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); set homekit.port to another port`);
  }
  await new Promise<void>((done) => server.close(() => done()));
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
  /** Devices per bridge, counting assignments of absent devices (their place is kept). */
  #counts: number[] = [];
  #layout: BridgeLayout | undefined;
  #state: "new" | "starting" | "started" | "stopped" = "new";

  readonly #onDevice = (entry: DeviceEntry): void => {
    const known = this.#devices.get(entry.info.id);
    if (known) {
      known.accessory.describe(entry.info);
      return;
    }
    this.#addDevices([entry]);
  };
  readonly #onState = (...[entry, patch]: RegistryEvents["state"]): void => {
    this.#devices.get(entry.info.id)?.accessory.update(entry.state, patch);
  };
  readonly #onAvailability = (entry: DeviceEntry): void => {
    this.#devices.get(entry.info.id)?.accessory.setAvailable(entry.available);
  };

  constructor(options: HomeKitHostOptions) {
    super();
    if (!/^\d{3}-\d{2}-\d{3}$/.test(options.pincode)) throw new Error(`HomeKit setup code must look like 031-45-154 (got ${options.pincode})`);
    const port = options.port ?? DEFAULT_HOMEKIT_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`HomeKit port must be 0-65535 (got ${port})`);
    if (options.username !== undefined && !/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/i.test(options.username)) throw new Error(`HomeKit username must look like 0E:12:34:56:78:9A (got ${options.username})`);
    this.pincode = options.pincode;
    this.#registry = options.registry;
    this.#log = options.log;
    this.#dir = join(options.dataDir, "homekit");
    this.#name = options.name;
    this.#basePort = port;
    this.#username = options.username?.toUpperCase();
    this.#advertiser = options.advertiser ?? "ciao";
    this.#bind = options.bind;
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
      this.#log.warn(`the main bridge's username changed from ${saved} to ${this.#username}: Apple Home will see a new, unpaired bridge`);
    }
    layout.setUsername(0, this.#username ?? saved ?? randomUsername());
    for (let i = 0; i < Math.max(1, layout.usernames.length); i++) this.#slot(i);

    this.#addDevices(this.#registry.devices);
    this.#registry.on("device", this.#onDevice);
    this.#registry.on("state", this.#onState);
    this.#registry.on("availability", this.#onAvailability);

    for (const slot of this.#slots) await this.#publish(slot);
    this.#state = "started";
  }

  /** Unpublish every bridge and close its sockets. */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#registry.off("device", this.#onDevice);
    this.#registry.off("state", this.#onState);
    this.#registry.off("availability", this.#onAvailability);
    await Promise.allSettled(this.#slots.map((slot) => slot.publishing));
    await Promise.allSettled(this.#slots.map((slot) => slot.bridge.unpublish()));
  }

  /** The main bridge's bound port (the configured one until it listens). */
  get port(): number {
    return this.#slots[0]?.port ?? this.#basePort;
  }

  /** Controllers paired with the main bridge. */
  get pairedClients(): number {
    return this.#slots[0] ? this.#pairedClients(this.#slots[0]) : 0;
  }

  get bridges(): BridgeStatus[] {
    return this.#slots.map((slot) => ({
      index: slot.index,
      name: slot.name,
      username: slot.username,
      port: slot.port,
      accessories: slot.accessories.size,
      pairedClients: this.#pairedClients(slot),
    }));
  }

  /** The X-HM:// setup URI (the QR code's content) of a bridge, main bridge by default. Needs start(). */
  setupURI(bridge = 0): string {
    const slot = this.#slots[bridge];
    if (!slot?.bridge._accessoryInfo) throw new Error(`HomeKit bridge ${bridge} is not published`);
    return slot.bridge.setupURI();
  }

  #pairedClients(slot: BridgeSlot): number {
    return Object.keys(slot.bridge._accessoryInfo?.pairedClients ?? {}).length;
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
      bridge.on("characteristic-warning", (warning) => this.#log.debug({ bridge: i }, `HAP: [${warning.originatorChain.join("@")}] ${warning.message}`));
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
    const ordered = [...entries].sort((a, b) => Number(layout.assignment(b.info.id) !== undefined) - Number(layout.assignment(a.info.id) !== undefined));
    const placements: [string, number][] = [];
    const touched = new Set<BridgeSlot>();
    for (const entry of ordered) {
      const id = entry.info.id;
      if (this.#devices.has(id)) continue;
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
      const accessory = new DeviceAccessory({
        entry: () => this.#registry.get(id) ?? entry,
        command: async (patch) => {
          try {
            await this.#registry.command(id, patch);
          } catch (error) {
            this.#log.warn({ device: id, err: error }, `HomeKit command to ${entry.info.name} failed: ${(error as Error).message}`);
            throw error;
          }
        },
        log: this.#log,
      });
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
        if (!slot.publishing) void this.#publish(slot).catch((error: Error) => this.#log.error({ err: error }, `${slot.name} could not be published`));
      }
    }
  }

  #publish(slot: BridgeSlot): Promise<void> {
    slot.publishing ??= (async () => {
      const port = this.#basePort === 0 ? 0 : this.#basePort + slot.index;
      if (port !== 0 && (this.#bind === undefined || typeof this.#bind === "string")) await assertPortFree(port, this.#bind);
      const listening = once(slot.bridge, "listening") as Promise<[number, string]>;
      const info: Omit<PublishInfo, "advertiser"> = { username: slot.username, pincode: this.pincode, category: BRIDGE_CATEGORY, port, bind: this.#bind };
      await publishBridge(slot.bridge, info, this.#advertiser);
      const [bound] = await listening;
      slot.port = bound;
      this.#log.info({ bridge: slot.index, port: bound, accessories: slot.accessories.size, advertiser: this.#advertiser }, `${slot.name} listens on port ${bound}`);
      this.emit("listening", slot.index, bound);
    })();
    return slot.publishing;
  }
}
