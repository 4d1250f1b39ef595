// <data>/hearthbridge.pid: an exclusive lock on the data directory, so the commands that change it
// (`reset`) and a second bridge can tell that a bridge holds it, and two bridges started at the same
// moment cannot both run (each would rewrite the other's pairings).
//
// Node has no flock(), so the lock is the file's existence: it appears whole and only if absent (a
// hard link from a finished temp file: link() fails with EEXIST, atomically). It holds the owner's
// pid and its kernel start time, so a file left by a killed bridge is known stale (the pid is gone,
// or now names another process) and is taken over. Taking over is itself guarded, so two starters
// that both saw the stale file cannot both remove it and one of them remove the other's new lock.
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "../core/storage.ts";

export const PID_FILE = "hearthbridge.pid";

/** A takeover guard older than this was left by a starter that died mid-takeover (it takes microseconds). */
const STALE_GUARD_MS = 5_000;
/** Attempts to claim while the file keeps changing under us (another starter at work), 50 ms apart:
 * longer than a stale guard lives. */
const CLAIM_ATTEMPTS = 160;

interface Holder {
  pid: number;
  /** /proc/<pid>/stat start time; absent in files of older versions and off Linux. */
  start: string | undefined;
}

/** The kernel's start time of a process (clock ticks after boot, field 22 of /proc/<pid>/stat): with the
 * pid it names one process, so a pid reused after a crash (in a container, the same small pid at
 * every start) is told apart. Undefined off Linux. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2, the command name, is in parentheses and may hold spaces: count from the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** For files without a start time: on Linux, check that the process is a Node process; elsewhere trust kill(0). */
function looksLikeBridge(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return true;
  }
  return /node|hearthbridge|main\.ts/.test(cmdline);
}

function parseHolder(text: string): Holder | undefined {
  const [pidText, start] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, start: start || undefined } : undefined;
}

function holderAlive(holder: Holder): boolean {
  if (!processAlive(holder.pid)) return false;
  const start = processStartTime(holder.pid);
  if (holder.start !== undefined && start !== undefined) return start === holder.start;
  return looksLikeBridge(holder.pid);
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The pid of a live bridge holding `dataDir`, or undefined. */
export function runningBridge(dataDir: string): number | undefined {
  const text = readText(join(dataDir, PID_FILE));
  const holder = text === undefined ? undefined : parseHolder(text);
  if (!holder || holder.pid === process.pid) return undefined;
  return holderAlive(holder) ? holder.pid : undefined;
}

/** Create `file` holding `content` only if it does not exist; false when it does. */
function createExclusive(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
    // A filesystem without hard links: O_EXCL create (a reader may then see the file empty for a moment).
    return createWithExcl(file, content);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function createWithExcl(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Remove the lock file if it still holds `staleText`, under a guard only one starter can hold. */
function removeStale(file: string, staleText: string): void {
  const guard = `${file}.takeover`;
  if (!createWithExcl(guard, `${process.pid}\n`)) {
    try {
      if (Date.now() - statSync(guard).mtimeMs > STALE_GUARD_MS) rmSync(guard, { force: true });
    } catch {
      // Gone meanwhile: the other starter finished.
    }
    return;
  }
  try {
    // Nobody else can remove the stale file while we hold the guard, so if it still reads the same it
    // is the same file, and no starter's new lock.
    if (readText(file) === staleText) rmSync(file, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Claim `dataDir` for this process; returns the release function (safe to call more than once).
 * Throws when a live bridge holds it. */
export function claimDataDir(dataDir: string): () => void {
  const file = join(dataDir, PID_FILE);
  const mine = `${`${process.pid} ${processStartTime(process.pid) ?? ""}`.trim()}\n`;
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    if (createExclusive(file, mine)) return releaser(file, mine);
    const text = readText(file);
    if (text === undefined) continue; // released or taken over meanwhile: try again at once
    const holder = parseHolder(text);
    if (holder && holder.pid !== process.pid && holderAlive(holder)) {
      const why = "two bridges on one data directory would corrupt the pairings";
      throw new Error(`another bridge (pid ${holder.pid}) is running on ${dataDir}; ${why}`);
    }
    removeStale(file, text);
    if (readText(file) !== undefined) pause(50); // another starter is taking over: let it finish
  }
  throw new Error(`could not claim ${file}: it kept changing (another bridge starting?)`);
}

function releaser(file: string, mine: string): () => void {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    try {
      if (readText(file) === mine) rmSync(file, { force: true });
    } catch {
      // Unreadable now: leave it; the next start sees this process gone and takes it over.
    }
  };
  process.once("exit", release);
  return release;
}
