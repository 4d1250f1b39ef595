// Where the HomeKit host keeps its files: HAP-NodeJS's own persist files (pairings, accessory ids)
// in <dataDir>/homekit/hap, and our bridge layout (bridge usernames, which device lives on which
// bridge, and the identity of each camera published on its own) in <dataDir>/homekit/bridges.json.
// Every file is 0600, every directory 0700.
//
// HAP-NodeJS 2.2.3's HAPFileStorage writes temp + rename but never fsyncs (a power cut can lose a
// pairing that was just made) and creates its files with the process umask before we could chmod
// them (AccessoryInfo holds the bridge's long-term secret key). So HAP gets our own backend with the
// same four methods and on-disk layout (one JSON file per key), writing through writeFileAtomic.
import { chmodSync, closeSync, fsyncSync, openSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { HAPStorage } from "@homebridge/hap-nodejs";
import { ensureDataDir, JsonStore, writeFileAtomic } from "../core/storage.ts";

/** writeFileAtomic's temp files: `<name>.<pid>.tmp`. */
const TEMP_FILE = /\.(\d+)\.tmp$/;

/**
 * HAP-NodeJS's storage interface (initSync, getItem, setItemSync, removeItemSync), kept file-for-file
 * compatible with its HAPFileStorage: a file per key named after the key, holding JSON.stringify(value).
 * Every write is temp + fsync + rename + fsync(dir), mode 0600.
 */
export class AtomicHapStorage {
  readonly dir: string;
  readonly #data = new Map<string, unknown>();

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** Load every value; drop temp files a killed process left behind (the target file is intact). */
  initSync(): void {
    ensureDataDir(this.dir);
    this.#data.clear();
    for (const name of readdirSync(this.dir)) {
      const file = join(this.dir, name);
      if (TEMP_FILE.test(name)) {
        // Ours are `<key>.<pid>.tmp`, HAPFileStorage's `.<key>.<pid>.tmp`: this process claimed the data directory.
        if (Number(TEMP_FILE.exec(name)![1]) !== process.pid) rmSync(file, { force: true });
        continue;
      }
      if (name.startsWith(".")) continue;
      let stat;
      try {
        stat = statSync(file);
      } catch {
        continue;
      }
      if (!stat.isFile()) continue;
      if ((stat.mode & 0o077) !== 0) chmodSync(file, 0o600);
      try {
        this.#data.set(name, JSON.parse(readFileSync(file, "utf8")));
      } catch {
        // As HAP-NodeJS: an unreadable value is absent. Atomic writes never leave one behind.
      }
    }
  }

  getItem(key: string): unknown {
    return this.#data.get(key);
  }

  /** Write first, then remember: a value that did not reach the disk is never served. */
  setItemSync(key: string, value: unknown): void {
    assertPlainKey(key);
    writeFileAtomic(join(this.dir, key), JSON.stringify(value), 0o600);
    this.#data.set(key, value);
  }

  removeItemSync(key: string): void {
    assertPlainKey(key);
    rmSync(join(this.dir, key), { force: true });
    this.#data.delete(key);
    fsyncDir(this.dir);
  }
}

/** Same rule as HAP-NodeJS: a key is a plain file name (no directory, no leading dot, not a temp name). */
function assertPlainKey(key: string): void {
  if (!key || key.startsWith(".") || /[/\\]/.test(key) || TEMP_FILE.test(key))
    throw new Error(`HAP storage key must be a plain file name, got ${JSON.stringify(key)}`);
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the unlink still happened.
  }
}

let hapStorage: AtomicHapStorage | undefined;

/**
 * Point HAP-NodeJS's storage at `dir`, backed by AtomicHapStorage. HAP-NodeJS keeps one storage per
 * process, so one process serves one HomeKit data directory.
 */
export function useHapStorage(dir: string): AtomicHapStorage {
  const wanted = resolve(dir);
  if (hapStorage !== undefined) {
    if (hapStorage.dir !== wanted)
      throw new Error(
        `HAP storage is already at ${hapStorage.dir}; ` +
          `one process serves one HomeKit data directory (asked for ${wanted})`,
      );
    return hapStorage;
  }
  const storage = new AtomicHapStorage(wanted);
  storage.initSync();
  // HAPStorage has no public way to supply a backend; it hands out `INSTANCE.localStore` once set.
  // Checked right after, so a HAP-NodeJS that changed shape fails here and not by losing pairings.
  HAPStorage.setCustomStoragePath(wanted);
  const instance = (HAPStorage as unknown as { INSTANCE?: { localStore?: unknown } }).INSTANCE;
  if (!instance || instance.localStore !== undefined)
    throw new Error("HAP-NodeJS's HAPStorage changed shape: cannot install the atomic storage");
  instance.localStore = storage;
  if ((HAPStorage.storage() as unknown) !== storage) throw new Error("HAP-NodeJS did not take the atomic storage");
  hapStorage = storage;
  return storage;
}

export interface BridgeLayoutData extends Record<string, unknown> {
  /** One entry per bridge, index = bridge number (0 = the main bridge). */
  bridges?: { username: string }[];
  /** Device id -> bridge number. Kept for absent devices too, so a device never moves bridge. */
  assignments?: Record<string, number>;
  /** Cameras published as their own accessories: device id -> their HomeKit identity. */
  cameras?: Record<string, CameraIdentity>;
}

/** A standalone camera accessory's identity, generated once: changing any of it unpairs the camera. */
export interface CameraIdentity {
  username: string;
  pincode: string;
  /** The port it listens on; absent when ports are chosen by the system (port 0). */
  port?: number;
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

  camera(deviceId: string): CameraIdentity | undefined {
    return this.#store.get("cameras")?.[deviceId];
  }

  get cameras(): Record<string, CameraIdentity> {
    return { ...(this.#store.get("cameras") ?? {}) };
  }

  setCamera(deviceId: string, identity: CameraIdentity): void {
    const cameras = this.cameras;
    if (JSON.stringify(cameras[deviceId]) === JSON.stringify(identity)) return;
    cameras[deviceId] = identity;
    this.#store.set("cameras", cameras);
  }

  /** How many devices are assigned to each bridge (present or not). */
  counts(): number[] {
    const counts: number[] = [];
    for (const index of Object.values(this.#store.get("assignments") ?? {})) counts[index] = (counts[index] ?? 0) + 1;
    return counts;
  }
}
