// Atomic, crash-safe JSON files in the data directory. Losing a pairing or a rotated token is the
// worst bug this project can have, so every write is write-to-temp + fsync + rename + fsync(dir).
import {
  mkdirSync,
  openSync,
  writeSync,
  fsyncSync,
  closeSync,
  renameSync,
  readFileSync,
  chmodSync,
  existsSync,
  statSync,
  rmSync,
  readdirSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/** Create the data directory (0700) and return its absolute path. */
export function ensureDataDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Remove the temp files writeFileAtomic left next to `path` when a process was killed mid-write
 * (`<name>.<pid>.tmp`). Only those of dead processes, or of this one: its writes are synchronous, so
 * none of its own is in flight. The target file itself is intact (the rename never happened).
 */
export function removeStaleTemps(path: string): void {
  const name = basename(path);
  let entries: string[];
  try {
    entries = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(`${name}.`)) continue;
    const m = /^\.(\d+)\.tmp$/.exec(entry.slice(name.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || !processAlive(pid)) rmSync(join(dirname(path), entry), { force: true });
  }
}

/** Write a file atomically with the given mode (0600 by default: most of what we store is secret). */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  removeStaleTemps(path);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, "w", mode);
    try {
      writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (error) {
    // The target is untouched; do not leave the half-written temp file behind.
    rmSync(tmp, { force: true });
    throw error;
  }
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
    removeStaleTemps(path);
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

/** The file name of an account's store inside <data>/accounts (names with other characters share one). */
export function accountFileName(accountName: string): string {
  return `${accountName.replace(/[^A-Za-z0-9._@-]/g, "_")}.json`;
}

/** The private store of one vendor account (sessions, assumed state): shared by the bridge and the login CLI. */
export function accountStore(dataDir: string, accountName: string): JsonStore {
  return new JsonStore(join(ensureDataDir(join(dataDir, "accounts")), accountFileName(accountName)));
}

/** Best effort, for trees a library writes with the process umask (matter.js's storage): directories 0700,
 * files 0600. A file replaced while walking is caught by the next pass. */
export function protectTree(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      if (st.isDirectory()) {
        if ((st.mode & 0o077) !== 0) chmodSync(path, 0o700);
        protectTree(path);
      } else if ((st.mode & 0o077) !== 0) chmodSync(path, 0o600);
    } catch {
      // replaced meanwhile
    }
  }
}
