// Runs the real bridge from its CLI in a child process, as a user would, and lets a test await
// its JSON log lines (the "ready" line carries the bound ports).
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
/** What the bridge runs from: the bundle the image ships when the runner built it (test/run.ts, bench/run.ts:
 * HEARTHBRIDGE_ENTRY=dist/app/main.js), else the sources (a test file run on its own). */
export const BRIDGE_ENTRY = process.env.HEARTHBRIDGE_ENTRY ?? "src/main.ts";

export interface LogLine {
  level: number;
  msg: string;
  event?: string;
  [key: string]: unknown;
}

export class BridgeProcess extends EventEmitter<{ line: [LogLine]; exit: [number | null] }> {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  exitCode: number | null | undefined;

  /** `nodeArgs` go before the script (V8 flags that NODE_OPTIONS does not accept, e.g. --optimize-for-size). */
  constructor(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []) {
    super();
    this.child = spawn(process.execPath, [...nodeArgs, BRIDGE_ENTRY, "--log-json", ...args], {
      cwd: root,
      env: {
        ...process.env,
        MATTER_LOG_LEVEL: process.env.BRIDGE_MATTER_LOG_LEVEL ?? "error",
        MATTER_LOG_FORMAT: "plain",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 30, msg: text };
      }
      this.lines.push(line);
      this.emit("line", line);
    });
    createInterface({ input: this.child.stderr! }).on("line", (text) => this.stderr.push(text));
    this.child.on("exit", (code) => {
      this.exitCode = code;
      this.emit("exit", code);
    });
  }

  /**
   * Resolve once the Matter bridge built `device`'s endpoint with the part `partId` (needs log level debug).
   * A device whose parts change once it synced (a camera's sound machine tracks) has its endpoint rebuilt,
   * seconds later under load; commission after this, or the controller gets the structure before it.
   */
  matterEndpointWith(device: string, partId: string, timeoutMs = 30_000): Promise<LogLine> {
    return this.waitForLine(
      (l) => l.msg === `Matter endpoint for ${device}` && (l.parts as string[] | undefined)?.includes(partId) === true,
      timeoutMs,
    );
  }

  /** Resolve with the first log line (already seen or future) matching the predicate. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out waiting for a log line; last lines:\n${this.lines
              .slice(-15)
              .map((l) => l.msg)
              .join("\n")}\nstderr:\n${this.stderr.slice(-15).join("\n")}`,
          ),
        );
      }, timeoutMs);
      const onLine = (line: LogLine) => {
        if (!predicate(line)) return;
        cleanup();
        resolve(line);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(
          new Error(
            `bridge exited with ${code} before the expected line; stderr:\n${this.stderr.join("\n")}\n` +
              `last lines:\n${this.lines
                .slice(-15)
                .map((l) => l.msg)
                .join("\n")}`,
          ),
        );
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.off("line", onLine);
        this.off("exit", onExit);
      };
      this.on("line", onLine);
      this.on("exit", onExit);
    });
  }

  ready(timeoutMs?: number): Promise<LogLine> {
    return this.waitForLine((l) => l.event === "ready", timeoutMs);
  }

  /** Wait for the process to end (without signalling it). */
  exited(): Promise<number | null> {
    if (this.exitCode !== undefined) return Promise.resolve(this.exitCode);
    return new Promise((resolve) => this.once("exit", resolve));
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill(signal);
    return this.exited();
  }
}
