// <data>/hearthbridge.pid: written by a running bridge, so the commands that change the data
// directory (`reset`) and a second bridge can tell that a bridge holds it. A file left by a bridge
// that was killed is ignored: its process is gone (or is not a bridge any more).
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { processAlive, writeFileAtomic } from "../core/storage.ts";

export const PID_FILE = "hearthbridge.pid";

/** On Linux, check that the process is a Node process (pid reuse after a crash); elsewhere trust kill(0). */
function looksLikeBridge(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return true;
  }
  return /node|hearthbridge|main\.ts/.test(cmdline);
}

/** The pid of a live bridge holding `dataDir`, or undefined. */
export function runningBridge(dataDir: string): number | undefined {
  const file = join(dataDir, PID_FILE);
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  return processAlive(pid) && looksLikeBridge(pid) ? pid : undefined;
}

/** Claim `dataDir` for this process; returns the release function (safe to call more than once). */
export function claimDataDir(dataDir: string): () => void {
  const other = runningBridge(dataDir);
  if (other !== undefined) throw new Error(`another bridge (pid ${other}) is running on ${dataDir}; two bridges on one data directory would corrupt the pairings`);
  const file = join(dataDir, PID_FILE);
  writeFileAtomic(file, `${process.pid}\n`, 0o600);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    try {
      if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file, { force: true });
    } catch {
      // Already gone.
    }
  };
  process.once("exit", release);
  return release;
}
