// Where the HomeKit host keeps its files: HAP-NodeJS's own persist files (pairings, accessory ids)
// in <dataDir>/homekit/hap, and our bridge layout (bridge usernames, which device lives on which
// bridge) in <dataDir>/homekit/bridges.json. Every file is 0600, every directory 0700.
import { chmodSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { HAPStorage } from "@homebridge/hap-nodejs";
import { ensureDataDir, JsonStore } from "../core/storage.ts";

let hapStorageDir: string | undefined;

/**
 * Point HAP-NodeJS's storage at `dir` and make it write files 0600. HAP-NodeJS keeps one storage per
 * process, so one process serves one HomeKit data directory.
 */
export function useHapStorage(dir: string): void {
  const wanted = resolve(dir);
  if (hapStorageDir !== undefined) {
    if (hapStorageDir !== wanted) throw new Error(`HAP storage is already at ${hapStorageDir}; one process serves one HomeKit data directory (asked for ${wanted})`);
    return;
  }
  ensureDataDir(wanted);
  HAPStorage.setCustomStoragePath(wanted);
  const storage = HAPStorage.storage();
  hapStorageDir = wanted;
  // HAP-NodeJS writes with the process umask (usually 0644). The directory is 0700 already; tighten
  // each file right after HAP wrote it, and any file left from before.
  const setItemSync = storage.setItemSync.bind(storage);
  storage.setItemSync = (key: string, value: unknown) => {
    setItemSync(key, value);
    chmodSync(join(wanted, key), 0o600);
  };
  for (const name of readdirSync(wanted)) {
    const file = join(wanted, name);
    if (statSync(file).isFile() && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  }
}

export interface BridgeLayoutData extends Record<string, unknown> {
  /** One entry per bridge, index = bridge number (0 = the main bridge). */
  bridges?: { username: string }[];
  /** Device id -> bridge number. Kept for absent devices too, so a device never moves bridge. */
  assignments?: Record<string, number>;
}

/** The persisted bridge layout. */
export class BridgeLayout {
  readonly #store: JsonStore<BridgeLayoutData>;

  constructor(dir: string) {
    this.#store = new JsonStore<BridgeLayoutData>(join(ensureDataDir(dir), "bridges.json"));
  }

  get usernames(): string[] {
    return (this.#store.get("bridges") ?? []).map((b) => b.username);
  }

  setUsername(index: number, username: string): void {
    const bridges = [...(this.#store.get("bridges") ?? [])];
    if (bridges.length < index) throw new Error(`bridge ${index} cannot be created before bridge ${bridges.length}`);
    if (bridges[index]?.username === username) return;
    bridges[index] = { username };
    this.#store.set("bridges", bridges);
  }

  assignment(deviceId: string): number | undefined {
    return this.#store.get("assignments")?.[deviceId];
  }

  /** Record where devices live, in one write. */
  assign(placements: Iterable<[deviceId: string, index: number]>): void {
    const assignments = { ...(this.#store.get("assignments") ?? {}) };
    let changed = false;
    for (const [deviceId, index] of placements) {
      if (assignments[deviceId] === index) continue;
      assignments[deviceId] = index;
      changed = true;
    }
    if (changed) this.#store.set("assignments", assignments);
  }

  /** How many devices are assigned to each bridge (present or not). */
  counts(): number[] {
    const counts: number[] = [];
    for (const index of Object.values(this.#store.get("assignments") ?? {})) counts[index] = (counts[index] ?? 0) + 1;
    return counts;
  }
}
