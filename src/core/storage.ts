// Atomic, crash-safe JSON files in the data directory. Losing a pairing or a rotated token is the
// worst bug this project can have, so every write is write-to-temp + fsync + rename + fsync(dir).
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, chmodSync, existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

/** Create the data directory (0700) and return its absolute path. */
export function ensureDataDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

/** Write a file atomically with the given mode (0600 by default: most of what we store is secret). */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, path);
  try {
    const dirFd = openSync(dirname(path), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

export function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** A small JSON document kept in one file, read once and written atomically on every change. */
export class JsonStore<T extends Record<string, unknown> = Record<string, unknown>> {
  readonly path: string;
  #data: T;

  constructor(path: string) {
    this.path = path;
    let loaded: T | undefined;
    try {
      loaded = readJson<T>(path);
    } catch (error) {
      throw new Error(`${path} is not valid JSON (${(error as Error).message}); move it away to start afresh`);
    }
    this.#data = loaded ?? ({} as T);
  }

  get<K extends keyof T>(key: K): T[K] | undefined {
    return this.#data[key];
  }

  set<K extends keyof T>(key: K, value: T[K] | undefined): void {
    if (value === undefined) delete this.#data[key];
    else this.#data[key] = value;
    writeFileAtomic(this.path, JSON.stringify(this.#data, null, 2));
  }

  /** A store for one namespace inside the same directory, e.g. one per account. */
  static in(dir: string, name: string): JsonStore {
    return new JsonStore(join(dir, `${name}.json`));
  }
}

/** The private store of one vendor account (sessions, assumed state): shared by the bridge and the login CLI. */
export function accountStore(dataDir: string, accountName: string): JsonStore {
  return JsonStore.in(ensureDataDir(join(dataDir, "accounts")), accountName.replace(/[^A-Za-z0-9._@-]/g, "_"));
}
