// A tiny RTMP receiver for tests of the simulated camera's push: `ffmpeg -listen 1` on a free
// loopback port accepts one publisher, decodes what arrives and reports the streams it saw (codec,
// profile, size, audio) and how many video frames it decoded. Needs nothing but ffmpeg.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { waitFor } from "../../test/helpers/wait.ts";
import { DEFAULT_FFMPEG } from "./stream.ts";

export interface ReceivedVideo {
  codec: string;
  /** "Main", "High", "Constrained Baseline", ... as ffmpeg names it. */
  profile: string | undefined;
  width: number;
  height: number;
  fps: number | undefined;
}

export interface ReceivedAudio {
  codec: string;
  profile: string | undefined;
  sampleRate: number;
}

export interface Reception {
  code: number | null;
  signal: NodeJS.Signals | null;
  video: ReceivedVideo | undefined;
  audio: ReceivedAudio | undefined;
  /** Video frames decoded (ffmpeg's final report). */
  frames: number;
  stderr: string;
}

export interface ReceiverOptions {
  /** Stop after this many decoded video frames (default: run until the publisher leaves). */
  frames?: number;
  /** Give up when no publisher connects within this many seconds (default 20). */
  listenTimeoutS?: number;
  key?: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Is something listening on 127.0.0.1:port (Linux /proc/net/tcp, state 0A)? Probing with a
 * connection would use up the receiver's single accept. */
function listening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .some((line) => {
      const cols = line.trim().split(/\s+/);
      return cols[1]?.endsWith(hex) === true && cols[3] === "0A";
    });
}

export function parseReception(stderr: string): Pick<Reception, "video" | "audio" | "frames"> {
  // Only the input section (before "Stream mapping") describes what arrived.
  const input = stderr.split(/^Stream mapping:/m)[0] ?? "";
  const v = /Stream #0:\d+.*?: Video: (\w+)(?: \(([^)]+)\))?.*?, (\d+)x(\d+)(?:.*?, ([\d.]+) fps)?/.exec(input);
  const a = /Stream #0:\d+.*?: Audio: (\w+)(?: \(([^)]+)\))?.*?, (\d+) Hz/.exec(input);
  const frames = [...stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1]));
  return {
    video: v
      ? { codec: v[1]!, profile: v[2], width: Number(v[3]), height: Number(v[4]), fps: v[5] ? Number(v[5]) : undefined }
      : undefined,
    audio: a ? { codec: a[1]!, profile: a[2], sampleRate: Number(a[3]) } : undefined,
    frames: frames.length ? Math.max(...frames) : 0,
  };
}

export class RtmpReceiver {
  readonly url: string;
  readonly port: number;
  readonly done: Promise<Reception>;
  /** Emits "progress" whenever ffmpeg reports a new frame count. */
  readonly events = new EventEmitter<{ progress: [frames: number] }>();
  readonly #child: ChildProcess;
  #frames = 0;

  private constructor(port: number, url: string, child: ChildProcess) {
    this.port = port;
    this.url = url;
    this.#child = child;
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
      const counts = [...chunk.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1]));
      if (counts.length && Math.max(...counts) > this.#frames) {
        this.#frames = Math.max(...counts);
        this.events.emit("progress", this.#frames);
      }
    });
    this.done = new Promise((resolve) => {
      child.once("close", (code, signal) => resolve({ code, signal, stderr, ...parseReception(stderr) }));
    });
  }

  /** Start listening; resolves once the port accepts connections. */
  static async start(options: ReceiverOptions = {}): Promise<RtmpReceiver> {
    const port = await freePort();
    const url = `rtmp://127.0.0.1:${port}/live/${options.key ?? "testkey"}`;
    const args = [
      "-hide_banner",
      "-nostdin",
      "-stats_period",
      "0.25",
      "-loglevel",
      "info",
      "-listen",
      "1",
      "-timeout",
      String(options.listenTimeoutS ?? 20),
      "-i",
      url,
    ];
    if (options.frames !== undefined) args.push("-frames:v", String(options.frames));
    args.push("-f", "null", "-");
    const child = spawn(DEFAULT_FFMPEG, args, { stdio: ["ignore", "ignore", "pipe"] });
    const receiver = new RtmpReceiver(port, url, child);
    // No event says "listening": re-check the kernel's socket table until it is (or ffmpeg gave up).
    const ok = await waitFor(() => (listening(port) ? "listening" : receiver.running ? false : "exited"), 5000, {
      on: [[child, "exit"]],
      intervalMs: 20,
    }).catch(() => "timeout");
    if (ok !== "listening") {
      receiver.kill();
      const r = await receiver.done;
      throw new Error(`the RTMP receiver did not start listening on ${port} (${ok}): ${r.stderr.slice(-500)}`);
    }
    return receiver;
  }

  /** Video frames decoded so far (ffmpeg's progress report, every 0.25 s). */
  get frames(): number {
    return this.#frames;
  }

  /** Resolves once at least `n` frames were decoded; rejects if the receiver ends first. */
  async receiving(n = 1, timeoutMs = 10_000): Promise<void> {
    const state = await waitFor(() => (this.#frames >= n ? "ok" : this.running ? false : "ended"), timeoutMs, {
      on: [
        [this.events, "progress"],
        [this.#child, "exit"],
      ],
    });
    if (state === "ended") throw new Error(`the RTMP receiver ended after ${this.#frames} frames (wanted ${n})`);
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  kill(): void {
    if (this.running) this.#child.kill("SIGKILL");
  }
}
