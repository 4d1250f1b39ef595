// The registry holds every device the drivers found, its last state and availability, and routes
// commands from the ecosystem hosts to the owning driver. Hosts subscribe to its events.
import { EventEmitter } from "node:events";
import type { Driver, DriverSink, LinkState } from "./driver.ts";
import { applyPatch, diffPatch, type Command, type DeviceInfo, type DeviceState, type StatePatch } from "./model.ts";
import type { Logger } from "./logger.ts";
import type { CloudStream, StreamInterruption, StreamRequest } from "./camera.ts";
import { CommandCoalescer, type SubmitOptions } from "./coalesce.ts";

/** How long a held command (half of a user action, src/core/coalesce.ts) waits for its other half. */
export const DEFAULT_COMMAND_HOLD_MS = 20;

export interface RegistryOptions {
  /** Upper bound of the wait of a held command, in ms (0: never hold). */
  commandHoldMs?: number;
}

export interface DeviceEntry {
  info: DeviceInfo;
  state: DeviceState;
  available: boolean;
}

export interface RegistryEvents {
  /** A device appeared for the first time, or its description (name, capabilities) changed. */
  device: [entry: DeviceEntry];
  /** State changed; `patch` holds only what differs from before. */
  state: [entry: DeviceEntry, patch: StatePatch];
  availability: [entry: DeviceEntry];
  /** The device left: its account was removed at runtime (hosts take its accessory and endpoint away). */
  removed: [entry: DeviceEntry];
  link: [account: string, state: LinkState, detail?: string];
  /** An account was renamed: its devices stay (same ids), now under the new name. */
  "account-renamed": [from: string, to: string];
  /** A command finished (for metrics): how long the driver took, and its error if it failed. */
  command: [entry: DeviceEntry, durationMs: number, error?: Error];
  /** A camera's push was lost on the vendor side; stream hubs re-request it if anyone watches. */
  "stream-interrupted": [entry: DeviceEntry, reason: StreamInterruption];
}

/** Where a state change is delivered, for the event latency metric. */
export type Ecosystem = "homekit" | "matter";

export class CommandError extends Error {
  override name = "CommandError";
}

export class DeviceRegistry extends EventEmitter<RegistryEvents> {
  readonly #devices = new Map<string, DeviceEntry>();
  readonly #drivers = new Map<string, Driver>();
  readonly #links = new Map<string, LinkState>();
  /** Drivers of removed or renamed accounts: a report that was still on its way is dropped. */
  readonly #retired = new WeakSet<Driver>();
  readonly #log: Logger;
  readonly #coalescer: CommandCoalescer;
  /** Per device, the fields the vendor reported while a command was in flight. */
  readonly #reportedDuringCommand = new Map<string, Set<string>[]>();
  #reportedAt: number | undefined;
  /** Metrics: vendor report → host delivery, in ms. A single hook rather than an event, so timing
   * adds no allocation per report; unset, reports are not even timestamped. */
  deliveryObserver: ((ecosystem: Ecosystem, ms: number) => void) | undefined;

  constructor(log: Logger, options: RegistryOptions = {}) {
    super();
    this.#log = log;
    const holdMs = options.commandHoldMs ?? DEFAULT_COMMAND_HOLD_MS;
    this.#coalescer = new CommandCoalescer((id, command) => this.#execute(id, command), holdMs);
    // Hosts add one listener per accessory set; a bridge of many devices is normal.
    this.setMaxListeners(0);
  }

  get devices(): DeviceEntry[] {
    return [...this.#devices.values()];
  }

  get(id: string): DeviceEntry | undefined {
    return this.#devices.get(id);
  }

  /** performance.now() when the vendor report being emitted as 'state' reached the registry; undefined
   * for a command's assumed state (or with no deliveryObserver). Valid only inside a 'state' listener. */
  get reportedAt(): number | undefined {
    return this.#reportedAt;
  }

  /** A host has pushed a state change out (HAP updateValue, Matter attributes set); `reportedAt` is
   * what its 'state' listener read. */
  delivered(ecosystem: Ecosystem, reportedAt: number | undefined): void {
    if (reportedAt !== undefined) this.deliveryObserver?.(ecosystem, performance.now() - reportedAt);
  }

  linkState(account: string): LinkState | undefined {
    return this.#links.get(account);
  }

  /** Forget an account whose driver was stopped: its devices leave (a 'removed' event each) and its
   * link state goes. Returns the devices that left. */
  removeAccount(account: string): DeviceEntry[] {
    const gone = [...this.#devices.values()].filter((e) => e.info.account === account);
    for (const entry of gone) {
      const driver = this.#drivers.get(entry.info.id);
      if (driver) this.#retired.add(driver);
      this.#devices.delete(entry.info.id);
      this.#drivers.delete(entry.info.id);
      this.#log.info({ device: entry.info.id }, `${entry.info.name} removed with account ${account}`);
      this.emit("removed", entry);
    }
    this.#links.delete(account);
    return gone;
  }

  /** An account was renamed and its stopped driver replaced: its devices stay, same ids and entries, and
   * only their account changes (a 'device' event each, no 'removed'), so HomeKit and Matter keep them
   * paired. Reports still on their way from the old driver are dropped. Returns the devices. */
  renameAccount(from: string, to: string, oldDriver?: Driver): DeviceEntry[] {
    if (oldDriver) this.#retired.add(oldDriver);
    const moved = [...this.#devices.values()].filter((e) => e.info.account === from);
    for (const entry of moved) {
      const driver = this.#drivers.get(entry.info.id);
      if (driver) this.#retired.add(driver);
      entry.info = { ...entry.info, account: to };
    }
    const link = this.#links.get(from);
    this.#links.delete(from);
    if (link !== undefined) this.#links.set(to, link);
    this.emit("account-renamed", from, to);
    for (const entry of moved) this.emit("device", entry);
    return moved;
  }

  /** The sink a driver reports through. Every device it reports is routed back to it for commands. */
  sinkFor(driver: Driver): DriverSink {
    return {
      deviceFound: (info, state) => {
        if (!this.#retired.has(driver)) this.#deviceFound(driver, info, state);
      },
      stateChanged: (id, patch) => {
        if (!this.#retired.has(driver)) this.#vendorReported(id, patch);
      },
      availabilityChanged: (id, available) => {
        if (!this.#retired.has(driver)) this.#availabilityChanged(driver, id, available);
      },
      linkStateChanged: (state, detail) => {
        if (this.#retired.has(driver)) return;
        this.#links.set(driver.accountName, state);
        this.emit("link", driver.accountName, state, detail);
      },
      streamInterrupted: (id, reason) => {
        const entry = this.#devices.get(id);
        if (entry) this.emit("stream-interrupted", entry, reason);
      },
    };
  }

  /** Ask a camera's driver to start or stop pushing its stream. */
  async requestStream(id: string, request: StreamRequest): Promise<CloudStream | undefined> {
    const entry = this.#devices.get(id);
    const driver = this.#drivers.get(id);
    if (!entry || !driver) throw new CommandError(`unknown device ${id}`);
    if (!driver.requestStream) throw new CommandError(`${entry.info.name} is not a camera`);
    return (await driver.requestStream(id, request)) ?? undefined;
  }

  /** Send a command to a device's driver. Commands for one device issued in the same macrotask go
   * out as one (src/core/coalesce.ts): a user action that arrives in pieces is one vendor command.
   * On success the commanded state is applied at once, except for fields the vendor itself reported
   * while the command was in flight: its report wins. */
  async command(id: string, command: Command, options?: SubmitOptions): Promise<void> {
    this.#commandTarget(id);
    return this.#coalescer.submit(id, command, options);
  }

  #commandTarget(id: string): { entry: DeviceEntry; driver: Driver } {
    const entry = this.#devices.get(id);
    const driver = this.#drivers.get(id);
    if (!entry || !driver) throw new CommandError(`unknown device ${id}`);
    if (!entry.available) throw new CommandError(`${entry.info.name} is not reachable`);
    return { entry, driver };
  }

  async #execute(id: string, command: Command): Promise<void> {
    // Checked again: the device may have gone while the command was held.
    const { entry, driver } = this.#commandTarget(id);
    const reported = new Set<string>();
    const watches = this.#reportedDuringCommand.get(id) ?? [];
    watches.push(reported);
    this.#reportedDuringCommand.set(id, watches);
    const started = performance.now();
    try {
      await driver.command(id, command);
      this.emit("command", entry, performance.now() - started);
    } catch (error) {
      this.emit("command", entry, performance.now() - started, error as Error);
      throw error;
    } finally {
      watches.splice(watches.indexOf(reported), 1);
      if (!watches.length) this.#reportedDuringCommand.delete(id);
    }
    const assumed = withoutFields(command, reported);
    if (assumed) this.#stateChanged(id, assumed);
  }

  #deviceFound(driver: Driver, info: DeviceInfo, state: DeviceState): void {
    const existing = this.#devices.get(info.id);
    this.#drivers.set(info.id, driver);
    if (!existing) {
      const entry: DeviceEntry = { info, state, available: true };
      this.#devices.set(info.id, entry);
      this.#log.info({ device: info.id, model: info.model }, `found ${info.name}`);
      this.emit("device", entry);
      return;
    }
    const described = JSON.stringify(existing.info) !== JSON.stringify(info);
    existing.info = info;
    if (described) this.emit("device", existing);
    this.#availabilityChanged(driver, info.id, true);
    this.#vendorReported(info.id, state);
  }

  #vendorReported(id: string, patch: StatePatch): void {
    const watches = this.#reportedDuringCommand.get(id);
    if (watches) for (const field of fieldsOf(patch)) for (const w of watches) w.add(field);
    this.#reportedAt = this.deliveryObserver ? performance.now() : undefined;
    try {
      this.#stateChanged(id, patch);
    } finally {
      this.#reportedAt = undefined;
    }
  }

  #stateChanged(id: string, patch: StatePatch): void {
    const entry = this.#devices.get(id);
    if (!entry) {
      this.#log.debug({ device: id }, "state for a device that was never listed, ignored");
      return;
    }
    const delta = diffPatch(entry.state, patch);
    if (!delta) return;
    entry.state = applyPatch(entry.state, delta);
    // A fault is worth a line of its own: some devices (a light) have no place to show it but the web page.
    if (delta.fault !== undefined) {
      if (delta.fault) this.#log.warn({ device: id }, `${entry.info.name} reports a fault: ${delta.fault}`);
      else this.#log.info({ device: id }, `${entry.info.name}: fault cleared`);
    }
    this.emit("state", entry, delta);
  }

  #availabilityChanged(driver: Driver, id: string | undefined, available: boolean): void {
    const targets = id
      ? [this.#devices.get(id)]
      : [...this.#devices.values()].filter((e) => this.#drivers.get(e.info.id) === driver);
    for (const entry of targets) {
      if (!entry || entry.available === available) continue;
      entry.available = available;
      this.#log.info(
        { device: entry.info.id },
        `${entry.info.name} is ${available ? "reachable again" : "unreachable"}`,
      );
      this.emit("availability", entry);
    }
  }
}

/** "part.key" names of every field a patch sets (scalar parts are named by themselves). */
function fieldsOf(patch: StatePatch): string[] {
  const out: string[] = [];
  for (const [part, value] of Object.entries(patch)) {
    if (value !== null && typeof value === "object") for (const key of Object.keys(value)) out.push(`${part}.${key}`);
    else out.push(part);
  }
  return out;
}

/** The patch minus the named fields; undefined when nothing is left. */
function withoutFields(patch: StatePatch, fields: Set<string>): StatePatch | undefined {
  if (!fields.size) return patch;
  const out: Record<string, unknown> = {};
  for (const [part, value] of Object.entries(patch)) {
    if (value !== null && typeof value === "object") {
      const kept = Object.fromEntries(Object.entries(value).filter(([key]) => !fields.has(`${part}.${key}`)));
      if (Object.keys(kept).length) out[part] = kept;
    } else if (!fields.has(part)) out[part] = value;
  }
  return Object.keys(out).length ? (out as StatePatch) : undefined;
}
