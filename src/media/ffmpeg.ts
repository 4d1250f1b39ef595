// Running ffmpeg: find the binary, spawn it so it can never outlive the bridge, keep the tail of its
// stderr (scrubbed of secrets) for error messages, and stop it politely then firmly.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { scrub, type Logger } from "../core/logger.ts";

const SETPRIV = "/usr/bin/setpriv";
const STDERR_TAIL_LINES = 30;

let setprivAvailable: boolean | undefined;

function hasSetpriv(): boolean {
  if (setprivAvailable === undefined) {
    try {
      accessSync(SETPRIV, constants.X_OK);
      setprivAvailable = true;
    } catch {
      setprivAvailable = false;
    }
  }
  return setprivAvailable;
}

/** The ffmpeg to run: the config's path, else HEARTHBRIDGE_FFMPEG, else `ffmpeg` on the PATH. */
export function resolveFfmpeg(configured?: string): string {
  return configured ?? process.env.HEARTHBRIDGE_FFMPEG ?? "ffmpeg";
}

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last stderr lines, scrubbed of registered secrets. */
  stderrTail: string[];
}

export interface FfmpegOptions {
  /** Label for log lines ("live <camera> #3", "snapshot <camera>"). */
  label: string;
  log: Logger;
  /** stdin: "pipe" when input is written to it, else ignored. */
  stdin?: "pipe" | "ignore";
  /** stdout: "pipe" when output is read from it (snapshots), else ignored. */
  stdout?: "pipe" | "ignore";
  /** Called for each stderr line (after scrubbing); e.g. to notice the first frame. */
  onStderrLine?: (line: string) => void;
}

/** One ffmpeg child. `exited` always resolves, never rejects. */
export class FfmpegProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<FfmpegExit>;
  readonly #tail: string[] = [];
  #stopping: Promise<FfmpegExit> | undefined;

  constructor(ffmpeg: string, args: string[], options: FfmpegOptions) {
    // With setpriv, the kernel kills ffmpeg when the bridge dies, even by SIGKILL (PR_SET_PDEATHSIG
    // survives exec); Node has no API for it. Without setpriv (non-Linux dev machines) we rely on
    // explicit stops.
    const [command, argv] = hasSetpriv()
      ? [SETPRIV, ["--pdeathsig", "SIGKILL", "--", ffmpeg, ...args]]
      : [ffmpeg, args];
    this.child = spawn(command, argv, { stdio: [options.stdin ?? "ignore", options.stdout ?? "ignore", "pipe"] });
    let partial = "";
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? "";
      for (const raw of lines) {
        if (!raw) continue;
        const line = scrub(raw);
        this.#tail.push(line);
        if (this.#tail.length > STDERR_TAIL_LINES) this.#tail.shift();
        options.onStderrLine?.(line);
      }
    });
    this.exited = new Promise((done) => {
      this.child.once("error", (error: NodeJS.ErrnoException) => {
        this.#tail.push(
          error.code === "ENOENT" ? `${ffmpeg} not found: install ffmpeg or set media.ffmpeg` : error.message,
        );
        done({ code: null, signal: null, stderrTail: [...this.#tail] });
      });
      this.child.once("close", (code, signal) => done({ code, signal, stderrTail: [...this.#tail] }));
    });
    options.log.debug({ pid: this.child.pid }, `${options.label}: ffmpeg started`);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs = 2_000): Promise<FfmpegExit> {
    if (!this.#stopping) {
      if (this.running) this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.running && this.child.kill("SIGKILL"), graceMs);
      timer.unref();
      this.#stopping = this.exited.finally(() => clearTimeout(timer));
    }
    return this.#stopping;
  }
}
