// matter.js's file storage, without a disk write in the way of each vendor change (issue 17, the
// Matter latencies).
//
// matter.js keeps one file per stored value and writes each with an fsync before the change is
// committed: before a controller's write reaches our code and before a vendor change starts its way
// to the controllers' reports. For the bridged devices' attribute values (fan speed, light level)
// that cost 2-3 ms per change here, more on an SD card, and tens of ms whenever the disk is busy
// (measured: bench/household.ts); it buys nothing: at every start the bridge pushes the live vendor
// state over whatever the storage held.
//
// This driver is matter.js's FileStorageDriver (same files, same format, same id "file", so a data
// directory moves between this driver and matter.js's own in both directions without a migration)
// with one change: a value that is replayed at start and already has its file is written behind.
// The commit only records it; the file is rewritten in the background (a temporary file renamed over
// the old one, no fsync: whole old or whole new after a crash), the latest value only when changes
// come faster than the disk. Reads see the value at once. A crash loses at most the values not yet
// written, and the start replays them. Everything else (fabrics, keys, ACLs, sessions, counters,
// event numbers, endpoint numbers, controller-written configuration, and a value's first write) goes
// through matter.js's own path and its fsync, before the commit completes.
import { rename, writeFile } from "node:fs/promises";
import { Environment, Logger, StorageService, fromJson, toJson } from "@matter/main";
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

const logger = Logger.get("BridgeFileStorage");

let writtenBehind = 0;

/** Values this process accepted to write behind so far (tests and the bench read it). */
export function writeBehindCount(): number {
  return writtenBehind;
}

export class BridgeFileStorageDriver extends FileStorageDriver {
  /** Per file: the last operation queued (a durable write, a delete, a write-behind run), so that the
   * operations on one file never overlap and land in order. */
  readonly #pending = new Map<string, Promise<void>>();
  /** Per file: the JSON of a replayed value not yet on disk. */
  readonly #behind = new Map<string, string>();

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
    const durable: Promise<void>[] = [];
    for (const [key, v] of entries) {
      const file = this.buildStorageKey(contexts, key);
      // A first write creates the file: matter.js's path, so the file's name is in its index.
      if (isReplayedValue(contexts, key) && (await this.has(contexts, key))) this.#writeBehind(file, toJson(v));
      else durable.push(this.#queue(file, () => super.set(contexts, key, v)));
    }
    const results = await Promise.allSettled(durable);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  override async get<T extends SupportedStorageTypes>(contexts: string[], key: string): Promise<T | undefined> {
    const file = this.buildStorageKey(contexts, key);
    const behind = this.#behind.get(file);
    if (behind !== undefined) return fromJson(behind) as T;
    await this.#pending.get(file)?.catch(() => {});
    return super.get<T>(contexts, key);
  }

  override async delete(contexts: string[], key: string): Promise<void> {
    const file = this.buildStorageKey(contexts, key);
    this.#behind.delete(file);
    await this.#queue(file, () => super.delete(contexts, key));
  }

  override async clearAll(contexts: string[]): Promise<void> {
    await this.settled();
    return super.clearAll(contexts);
  }

  override async close(): Promise<void> {
    await this.settled();
    return super.close();
  }

  /** Resolves once every queued write, written-behind ones included, is on disk (or failed). */
  async settled(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled(this.#pending.values());
  }

  #writeBehind(file: string, json: string): void {
    writtenBehind++;
    const queued = this.#behind.has(file);
    this.#behind.set(file, json);
    if (!queued) void this.#queue(file, () => this.#writeOut(file));
  }

  /** Write the file's value behind until it no longer changes meanwhile. */
  async #writeOut(file: string): Promise<void> {
    const path = this.filePath(file);
    const temporary = `${path}.tmp`; // matter.js's own name: a leftover is removed at the next start
    for (;;) {
      const json = this.#behind.get(file);
      if (json === undefined) return; // deleted meanwhile
      try {
        await writeFile(temporary, json, { encoding: "utf8", mode: 0o600 });
        await rename(temporary, path);
      } catch (error) {
        // Replayed at the next start anyway; the next change tries again.
        logger.warn(`Could not store ${file}:`, error);
        this.#behind.delete(file);
        return;
      }
      if (this.#behind.get(file) === json) {
        this.#behind.delete(file);
        return;
      }
    }
  }

  /** Run `operation` after every earlier one on the same file. */
  #queue(file: string, operation: () => Promise<void>): Promise<void> {
    const before = this.#pending.get(file);
    const next = (before ? before.catch(() => {}).then(operation) : operation()).finally(() => {
      if (this.#pending.get(file) === next) this.#pending.delete(file);
    });
    this.#pending.set(file, next);
    return next;
  }
}

/** Use the driver for every Matter node of this process that opens its storage from now on. */
export function useBridgeFileStorage(): void {
  Environment.default.get(StorageService).registerDriver(BridgeFileStorageDriver);
}
