// matter.js's file storage, minus one fsync per vendor change (issue 17, the Matter latencies).
//
// matter.js keeps one file per stored value and writes each with an fsync before the change is
// committed: before a controller's write reaches our code and before a vendor change starts its way
// to the controllers' reports. For the bridged devices' attribute values (fan speed, light level,
// sensor readings) that costs 2-3 ms per change on an SSD, far more on an SD card, and buys nothing:
// at every start the bridge pushes the live vendor state over whatever the storage held.
//
// This driver is matter.js's FileStorageDriver (same files, same format, same id "file", so a data
// directory moves between this driver and matter.js's own in both directions without a migration)
// with one change: a value that is replayed at start and already has its file is written to a
// temporary file and renamed over the old one without an fsync. The rename keeps the file whole (old
// or new value after a power cut); the kernel writes it out within seconds. Everything else (fabrics,
// keys, ACLs, sessions, counters, event numbers, endpoint numbers, controller-written labels, and a
// value's first write) goes through matter.js's own path with its fsync.
import { rename, writeFile } from "node:fs/promises";
import { Environment, StorageService, toJson } from "@matter/main";
import type { SupportedStorageTypes } from "@matter/main";
import { FileStorageDriver } from "@matter/nodejs";

/** The context of the bridged devices' endpoints in the node's storage (host.ts: root -> "aggregator"). */
const BRIDGED = ["root", "parts", "aggregator", "parts"];

/** Per behavior, the stored attributes the Matter bindings in accessories/ set from the vendor state.
 * matter.js stores only writable and nonvolatile attributes; a sensor reading is never stored at all.
 * Configuration a controller writes and the bridge never replays (onLevel, startUpOnOff, labels,
 * sensitivity) is not here, so it stays durable. */
const REPLAYED: Record<string, ReadonlySet<string>> = {
  fanControl: new Set(["fanMode", "percentSetting", "speedSetting", "airflowDirection", "windSetting", "rockSetting"]),
  onOff: new Set(["onOff"]),
  levelControl: new Set(["currentLevel"]),
  colorControl: new Set([
    "colorMode",
    "enhancedColorMode",
    "colorTemperatureMireds",
    "currentHue",
    "enhancedCurrentHue",
    "currentSaturation",
    "currentX",
    "currentY",
  ]),
};

/** Whether a stored value is one the bridge replays from the vendor state at start: an attribute in
 * REPLAYED of a behavior on an endpoint under the aggregator. */
export function isReplayedValue(contexts: readonly string[], key: string): boolean {
  if (contexts.length <= BRIDGED.length + 1 || BRIDGED.some((part, i) => contexts[i] !== part)) return false;
  return REPLAYED[contexts[contexts.length - 1]!]?.has(key) ?? false;
}

let lazyWrites = 0;

/** Replayed values written without an fsync in this process so far (tests and the bench read it). */
export function lazyWriteCount(): number {
  return lazyWrites;
}

export class BridgeFileStorageDriver extends FileStorageDriver {
  /** Per file: the last write queued (ours or matter.js's), so writes to one file never overlap. */
  readonly #pending = new Map<string, Promise<void>>();

  static override async create(...args: Parameters<typeof FileStorageDriver.create>): Promise<FileStorageDriver> {
    const storage = new BridgeFileStorageDriver(args[0]);
    try {
      await storage.initialize();
    } catch (error) {
      await storage.close().catch(() => {});
      throw error;
    }
    return storage;
  }

  override set(contexts: string[], key: string, value: SupportedStorageTypes): Promise<void>;
  override set(contexts: string[], values: Record<string, SupportedStorageTypes>): Promise<void>;
  override async set(
    contexts: string[],
    keyOrValues: string | Record<string, SupportedStorageTypes>,
    value?: SupportedStorageTypes,
  ): Promise<void> {
    const entries = typeof keyOrValues === "string" ? [[keyOrValues, value!] as const] : Object.entries(keyOrValues);
    const writes = entries.map(([key, v]) => this.#queue(contexts, key, () => this.#write(contexts, key, v)));
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  override async get<T extends SupportedStorageTypes>(contexts: string[], key: string): Promise<T | undefined> {
    await this.#settled(this.buildStorageKey(contexts, key));
    return super.get<T>(contexts, key);
  }

  override async delete(contexts: string[], key: string): Promise<void> {
    await this.#queue(contexts, key, () => super.delete(contexts, key));
  }

  override async clearAll(contexts: string[]): Promise<void> {
    await Promise.allSettled(this.#pending.values());
    return super.clearAll(contexts);
  }

  override async close(): Promise<void> {
    await Promise.allSettled(this.#pending.values());
    return super.close();
  }

  async #write(contexts: string[], key: string, value: SupportedStorageTypes): Promise<void> {
    // A first write creates the file: matter.js's path, so the file's name is in its index.
    if (!isReplayedValue(contexts, key) || !(await this.has(contexts, key))) return super.set(contexts, key, value);
    const path = this.filePath(this.buildStorageKey(contexts, key));
    const temporary = `${path}.tmp`; // matter.js's own name: a leftover is removed at the next start
    await writeFile(temporary, toJson(value), { encoding: "utf8", mode: 0o600 });
    await rename(temporary, path);
    lazyWrites++;
  }

  /** Run `write` after every earlier write to the same file. */
  #queue(contexts: string[], key: string, write: () => Promise<void>): Promise<void> {
    const file = this.buildStorageKey(contexts, key);
    const before = this.#pending.get(file);
    const next = (before ? before.catch(() => {}).then(write) : write()).finally(() => {
      if (this.#pending.get(file) === next) this.#pending.delete(file);
    });
    this.#pending.set(file, next);
    return next;
  }

  async #settled(file: string): Promise<void> {
    await this.#pending.get(file)?.catch(() => {});
  }
}

/** Use the driver for every Matter node of this process that opens its storage from now on. */
export function useBridgeFileStorage(): void {
  Environment.default.get(StorageService).registerDriver(BridgeFileStorageDriver);
}
