// The Matter host: one ServerNode (a bridge: root + aggregator) with one bridged endpoint tree per
// registry device, rendered through accessories/ bindings (see bridged.ts for the composition).
// Storage lives in <dataDir>/matter (fabrics, endpoint numbers, attribute values). Stored attribute
// values beat the ones given at construction, so the live state is pushed once the node runs.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Endpoint, ServerNode, VendorId, type Environment } from "@matter/main";
import { AggregatorEndpoint } from "@matter/main/endpoints/aggregator";
import type { BindingContext } from "../../accessories/types.ts";
import type { Logger } from "../core/logger.ts";
import type { DeviceEntry, DeviceRegistry } from "../core/registry.ts";
import type { StatePatch } from "../core/model.ts";
import { ensureDataDir, protectTree } from "../core/storage.ts";
import { useBridgeFileStorage } from "./file-storage.ts";
import { bridgedInfo, buildBridged, partsFor, shapeOf, type BridgedDevice } from "./bridged.ts";
import { EndpointNumbers, numbersInUse } from "./endpoint-numbers.ts";
import { discriminatorProblem, passcodeProblem } from "./pairing.ts";
import { EVENT_BUFFER, configureMatter, environmentAt } from "./platform.ts";
import { RootEndpointWithBoundedEvents } from "./event-store.ts";
import { CommissioningGuard } from "./commissioning-guard.ts";
import { controllerWarnings, type ControllerWarning } from "./controller-limits.ts";
import { type FabricView, fabricsOf, removeFabric } from "./fabrics.ts";

export interface MatterHostOptions {
  registry: DeviceRegistry;
  log: Logger;
  /** The bridge's data directory; matter.js storage goes to <dataDir>/matter. */
  dataDir: string;
  /** Bridge name shown by controllers (BasicInformation nodeLabel / productLabel). */
  name: string;
  /** UDP port for Matter (default 5540). */
  port?: number;
  passcode: number;
  discriminator: number;
  /** Test vendor and product id by default (0xFFF1 / 0x8000): uncertified bridges must use test ids. */
  vendorId?: number;
  productId?: number;
  /** Restrict mDNS to one interface (matter.js advertises on every non-loopback one otherwise). */
  mdnsInterface?: string;
}

export interface PairingCodes {
  manualPairingCode: string;
  qrPairingCode: string;
}

/** The node id inside the storage root: the storage directory is <dataDir>/matter. */
const NODE_ID = "matter";

export class MatterHost {
  readonly #options: MatterHostOptions;
  readonly #log: Logger;
  readonly #registry: DeviceRegistry;
  readonly #storageDir: string;
  #env: Environment | undefined;
  #node: ServerNode | undefined;
  #aggregator: Endpoint | undefined;
  #numbers: EndpointNumbers | undefined;
  readonly #devices = new Map<string, BridgedDevice>();
  /** Per-device chain so endpoint creation, updates and removal never overlap. */
  readonly #queues = new Map<string, Promise<void>>();
  #running = false;
  /** Warnings already logged (each once while it holds). */
  readonly #warned = new Set<string>();
  readonly #listeners = {
    device: (entry: DeviceEntry) => this.#enqueue(entry.info.id, () => this.#deviceChanged(entry)),
    state: (entry: DeviceEntry, patch: StatePatch) => {
      const reportedAt = this.#registry.reportedAt; // only valid now, inside the registry's emit
      this.#enqueue(entry.info.id, () => this.#stateChanged(entry, patch, reportedAt));
    },
    availability: (entry: DeviceEntry) => this.#enqueue(entry.info.id, () => this.#availabilityChanged(entry)),
    removed: (entry: DeviceEntry) => this.#enqueue(entry.info.id, () => this.#removeDevice(entry)),
  };

  constructor(options: MatterHostOptions) {
    const problem = passcodeProblem(options.passcode) ?? discriminatorProblem(options.discriminator);
    if (problem) throw new Error(problem);
    this.#options = options;
    this.#log = options.log;
    this.#registry = options.registry;
    this.#storageDir = join(options.dataDir, NODE_ID);
  }

  get port(): number {
    return this.#options.port ?? 5540;
  }

  get running(): boolean {
    return this.#running;
  }

  /** True once at least one controller holds a fabric on this bridge. */
  get commissioned(): boolean {
    return this.#readState(() => this.#node?.state.commissioning.commissioned) ?? false;
  }

  get fabricCount(): number {
    return this.fabrics().length;
  }

  /** The event buffer the node runs with (platform.ts, EVENT_BUFFER), for diagnostics. */
  get eventBuffer(): { minEventAllowance: number; maxEventAllowance: number } | undefined {
    return this.#node && this.#readState(() => this.#node!.state.events.buffers);
  }

  /** The controllers' fabrics with their ecosystems' names (web page). */
  fabrics(): FabricView[] {
    return (this.#node && this.#readState(() => fabricsOf(this.#node!))) ?? [];
  }

  /** Leave one fabric as matter.js does for a controller's RemoveFabric (fabrics.ts). */
  async removeFabric(fabricIndex: number): Promise<void> {
    if (!this.#node || !this.#running) throw new Error("the Matter bridge is not running");
    const gone = await removeFabric(this.#node, fabricIndex);
    this.#log.info({ fabricIndex, vendor: gone.vendor }, `Matter fabric ${fabricIndex} (${gone.vendor}) removed`);
    // The reset dropped the stored attribute values: the live state goes out again.
    if (gone.reset) for (const device of this.#devices.values()) await this.#attach(device);
  }

  /** Leave every fabric: the bridge is commissionable again with the same codes (no restart). */
  async resetFabrics(): Promise<number> {
    const all = this.fabrics();
    for (const f of all) await this.removeFabric(f.fabricIndex);
    return all.length;
  }

  /** The node's state cannot be read while matter.js resets it (after its last fabric left): undefined. */
  #readState<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch {
      return undefined;
    }
  }

  pairingCodes(): PairingCodes {
    if (!this.#node) throw new Error("the Matter host is not started");
    const { manualPairingCode, qrPairingCode } = this.#node.state.commissioning.pairingCodes;
    return { manualPairingCode, qrPairingCode };
  }

  /** Controller limits this bridge breaks now (controller-limits.ts), for the log, status and doctor. */
  get warnings(): ControllerWarning[] {
    const endpoints = [...this.#devices.values()].reduce((n, d) => n + d.parts.length, 0);
    return controllerWarnings(this.port, endpoints);
  }

  /** Log each warning once when it starts to hold; forget it once it no longer does. */
  #logWarnings(): void {
    const now = this.warnings;
    for (const w of now) if (!this.#warned.has(w.key)) this.#log.warn({ warning: w.key }, w.message);
    this.#warned.clear();
    for (const w of now) this.#warned.add(w.key);
  }

  /** The endpoint number of a device's (parent) endpoint, for diagnostics and tests. */
  endpointNumber(deviceId: string): number | undefined {
    return this.#devices.get(deviceId)?.endpoint.number;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    const o = this.#options;
    configureMatter(this.#log, o.mdnsInterface === undefined ? {} : { mdnsInterface: o.mdnsInterface });
    useBridgeFileStorage();
    ensureDataDir(o.dataDir);
    // A commissioning a crash cut short is rolled back before anyone can use its half-added fabric.
    const guard = new CommissioningGuard(o.dataDir, this.#storageDir, this.#log);
    guard.beforeStart();
    mkdirSync(this.#storageDir, { recursive: true, mode: 0o700 });
    chmodSync(this.#storageDir, 0o700);
    this.#env = environmentAt(`hearthbridge-${NODE_ID}`, o.dataDir);
    this.#numbers = new EndpointNumbers(o.dataDir, this.#log);

    const node = await ServerNode.create(RootEndpointWithBoundedEvents, {
      id: NODE_ID,
      environment: this.#env,
      events: { buffers: EVENT_BUFFER },
      network: { port: this.port },
      commissioning: { passcode: o.passcode, discriminator: o.discriminator },
      productDescription: { name: o.name, deviceType: AggregatorEndpoint.deviceType },
      basicInformation: {
        vendorName: "Hearthbridge",
        vendorId: VendorId(o.vendorId ?? 0xfff1),
        productId: o.productId ?? 0x8000,
        productName: "Hearthbridge",
        productLabel: o.name.slice(0, 64),
        nodeLabel: o.name.slice(0, 32),
        serialNumber: `hearthbridge-${o.discriminator}`,
        hardwareVersion: 1,
        softwareVersion: 1,
        softwareVersionString: "0.1.0",
      },
    });
    this.#node = node;
    const aggregator = new Endpoint(AggregatorEndpoint, { id: "aggregator" });
    await node.add(aggregator);
    this.#aggregator = aggregator;

    for (const entry of this.#registry.devices) await this.#addDevice(entry, false);
    this.#numbers.save();
    node.events.commissioning.fabricsChanged.on(() => {
      this.#log.info({ fabrics: this.fabricCount }, "Matter fabrics changed");
      this.#protectStorage();
    });

    await node.start();
    await guard.afterStart(node);
    guard.watch(node);
    this.#running = true;
    this.#registry.on("device", this.#listeners.device);
    this.#registry.on("state", this.#listeners.state);
    this.#registry.on("availability", this.#listeners.availability);
    this.#registry.on("removed", this.#listeners.removed);
    // Starting the node takes seconds, and the registry did not wait: devices found, changed (a camera's
    // sound machine tracks) or removed meanwhile were never heard. Catch up with the registry as it is now,
    // which also pushes the live state over whatever the storage held from the last run.
    const catchUp: Promise<void>[] = [];
    for (const entry of this.#registry.devices)
      catchUp.push(this.#enqueue(entry.info.id, () => this.#deviceChanged(entry)));
    for (const [id, device] of this.#devices)
      if (!this.#registry.get(id)) catchUp.push(this.#enqueue(id, () => this.#dropDevice(id, device)));
    await Promise.all(catchUp);
    this.#protectStorage();
    this.#log.info(
      { port: this.port, devices: this.#devices.size, commissioned: this.commissioned, fabrics: this.fabricCount },
      this.commissioned
        ? `Matter bridge running with ${this.fabricCount} fabric(s)`
        : "Matter bridge running, waiting to be commissioned",
    );
    this.#logWarnings();
  }

  async stop(): Promise<void> {
    this.#registry.off("device", this.#listeners.device);
    this.#registry.off("state", this.#listeners.state);
    this.#registry.off("availability", this.#listeners.availability);
    this.#registry.off("removed", this.#listeners.removed);
    await Promise.allSettled([...this.#queues.values()]);
    const node = this.#node;
    this.#node = undefined;
    this.#aggregator = undefined;
    this.#numbers = undefined;
    this.#devices.clear();
    this.#running = false;
    if (node) {
      try {
        await node.close();
      } catch (error) {
        this.#log.warn({ err: error }, "Matter node did not close cleanly");
      }
      this.#protectStorage();
    }
    this.#env = undefined;
  }

  #enqueue(id: string, work: () => Promise<void>): Promise<void> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const next = previous
      .then(work)
      .catch((error: unknown) => this.#log.warn({ err: error, device: id }, "Matter update failed"))
      .finally(() => {
        if (this.#queues.get(id) === next) this.#queues.delete(id);
      });
    this.#queues.set(id, next);
    return next;
  }

  #contextFor(id: string): BindingContext {
    const registry = this.#registry;
    const log = this.#log;
    return {
      get entry() {
        const entry = registry.get(id);
        if (!entry) throw new Error(`device ${id} left the registry`);
        return entry;
      },
      command: (patch, options) =>
        registry.command(id, patch, options).catch((error: Error) => {
          log.warn({ device: id, command: patch }, `Matter command to ${id} failed: ${error.message}`);
          throw error;
        }),
    };
  }

  async #addDevice(entry: DeviceEntry, live: boolean): Promise<void> {
    const aggregator = this.#aggregator;
    if (!aggregator) return;
    const device = buildBridged(entry, this.#contextFor(entry.info.id), this.#numberFor());
    if (!device) {
      this.#log.debug({ device: entry.info.id }, "nothing to show in Matter for this device");
      return;
    }
    await aggregator.add(device.endpoint);
    this.#numbers?.remember(device.endpoint, { save: live });
    this.#devices.set(entry.info.id, device);
    if (live) this.#logWarnings();
    this.#log.debug(
      { device: entry.info.id, endpoint: device.endpoint.number, parts: device.parts.map(({ part }) => part.id) },
      `Matter endpoint for ${entry.info.name}`,
    );
    if (live) await this.#attach(device);
  }

  /** The remembered number of an endpoint id, unless another endpoint holds it now (matter.js would refuse it:
   * only possible after matter.js's storage was reset and handed the number out again). */
  #numberFor(): (endpointId: string) => number | undefined {
    const used = this.#node ? numbersInUse(this.#node) : new Set<number>();
    return (endpointId) => {
      const number = this.#numbers?.get(endpointId);
      if (number === undefined || used.has(number)) return undefined;
      used.add(number);
      return number;
    };
  }

  async #attach(device: BridgedDevice): Promise<void> {
    const entry = this.#registry.get(device.deviceId);
    if (!entry) return;
    await device.endpoint.set({ bridgedDeviceBasicInformation: bridgedInfo(entry) } as never);
    for (const { part, endpoint } of device.parts) await part.attach(endpoint);
  }

  async #deviceChanged(entry: DeviceEntry): Promise<void> {
    if (!this.#running) return;
    const existing = this.#devices.get(entry.info.id);
    if (!existing) return this.#addDevice(entry, true);
    if (shapeOf(partsFor(this.#contextFor(entry.info.id))) !== existing.shape) {
      // Capabilities changed: rebuild the device's endpoints under the same ids and numbers (endpoint-numbers.ts).
      this.#devices.delete(entry.info.id);
      await existing.endpoint.delete();
      return this.#addDevice(entry, true);
    }
    await this.#attach(existing);
  }

  async #stateChanged(entry: DeviceEntry, patch: StatePatch, reportedAt: number | undefined): Promise<void> {
    const device = this.#devices.get(entry.info.id);
    if (!device || !this.#running) return;
    for (const { part } of device.parts) await part.update(entry.state, patch);
    this.#registry.delivered("matter", reportedAt);
  }

  /** Its account was removed: the endpoint leaves the aggregator (controllers see the parts list change).
   * Other devices keep their endpoints and numbers; this one comes back under the same endpoint id and number. */
  async #removeDevice(entry: DeviceEntry): Promise<void> {
    const device = this.#devices.get(entry.info.id);
    if (!device || !this.#running) return;
    await this.#dropDevice(entry.info.id, device);
    this.#log.info({ device: entry.info.id }, `${entry.info.name} left the Matter bridge`);
  }

  async #dropDevice(id: string, device: BridgedDevice): Promise<void> {
    if (this.#devices.get(id) !== device) return;
    this.#devices.delete(id);
    await device.endpoint.delete();
    this.#logWarnings();
  }

  async #availabilityChanged(entry: DeviceEntry): Promise<void> {
    const device = this.#devices.get(entry.info.id);
    if (!device || !this.#running) return;
    await device.endpoint.set({ bridgedDeviceBasicInformation: { reachable: entry.available } } as never);
  }

  /** Best effort: matter.js writes its files with the process umask; keep them 0600 in a 0700 tree. */
  #protectStorage(): void {
    protectTree(this.#storageDir);
  }
}
