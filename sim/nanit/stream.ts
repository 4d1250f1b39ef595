// The simulated camera's live-view push (docs/protocols/nanit.md §6.1, §6.2): after PUT_STREAMING STARTED the
// camera connects out and publishes RTMP (H.264 main + AAC) to the URL it was given. Here one ffmpeg per camera
// plays the camera: a test pattern and a tone, encoded cheaply, paced in real time. The push dies with the
// control session that requested it, on STOPPED, ~20 min after the last STARTED, and when the simulator stops.
// Written here rather than reusing src/media/ffmpeg.ts on purpose: the simulator stands in for the camera and
// must not share code with the bridge it tests.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";

export type StreamProfileName = "720p" | "1080p";

export const STREAM_PROFILES: Record<StreamProfileName, { width: number; height: number; fps: number }> = {
  "720p": { width: 1280, height: 720, fps: 15 },
  "1080p": { width: 1920, height: 1080, fps: 15 },
};

export interface StreamEvents {
  /** ffmpeg was spawned and is publishing (or trying to) to `url`. */
  "stream-start": [{ cameraUid: string; url: string; pid: number | undefined }];
  /** A STARTED for the URL already being pushed: no new ffmpeg, the auto-stop timer restarts. */
  "stream-renew": [{ cameraUid: string; url: string }];
  /** The push's ffmpeg is gone: "stopped" (STOPPED), "control-closed", "new-url", "auto-stop",
   * "standby", "simulator-stopped", or "ffmpeg exited (...)" when it ended by itself. */
  "stream-stop": [{ cameraUid: string; url: string; reason: string }];
}

export interface PusherOptions {
  ffmpeg: string;
  /** The camera's own connect time before it publishes. */
  publishDelayMs: number;
  /** The camera stops pushing this long after the last STARTED (Nanit: ~20 min); read at each STARTED. */
  autoStopMs: () => number;
  emit: <K extends keyof StreamEvents>(event: K, ...args: StreamEvents[K]) => void;
}

const STDERR_LINES = 60;
const SETPRIV = "/usr/bin/setpriv";

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const DEFAULT_FFMPEG = executable("/usr/bin/ffmpeg") ? "/usr/bin/ffmpeg" : "ffmpeg";

/** Arguments for one push: testsrc2 + a 440 Hz tone, x264 main (ultrafast to keep CPU low; CABAC
 * on, else x264 signals Constrained Baseline), a keyframe every 2 s, AAC, FLV over RTMP. */
export function pushArgs(url: string, profile: StreamProfileName): string[] {
  const { width, height, fps } = STREAM_PROFILES[profile];
  return [
    ...["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"],
    ...["-re", "-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=${fps}`],
    ...["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"],
    ...["-map", "0:v", "-map", "1:a"],
    ...["-c:v", "libx264", "-profile:v", "main", "-preset", "ultrafast", "-coder", "1", "-pix_fmt", "yuv420p"],
    ...["-maxrate", "2M", "-bufsize", "4M"],
    ...["-g", String(fps * 2), "-keyint_min", String(fps * 2), "-sc_threshold", "0"],
    ...["-c:a", "aac", "-b:a", "64k"],
    ...["-f", "flv", url],
  ];
}

interface Proc {
  cameraUid: string;
  url: string;
  child: ChildProcess;
  stderr: string[];
  stalled: boolean;
  /** Why we ended it (unset: it ended by itself). */
  reason?: string;
  exited: Promise<void>;
}

interface Push {
  cameraUid: string;
  url: string;
  profile: StreamProfileName;
  /** The control connection whose STARTED is in force. */
  owner: number;
  proc?: Proc;
  delay?: NodeJS.Timeout;
  autoStop?: NodeJS.Timeout;
}

export interface PushInfo {
  cameraUid: string;
  url: string;
  pid: number | undefined;
  stalled: boolean;
}

export class CameraPusher {
  readonly #o: PusherOptions;
  readonly #pushes = new Map<string, Push>();
  /** Every ffmpeg not yet exited (a replaced push's ffmpeg stays here until it is gone). */
  readonly #procs = new Set<Proc>();
  readonly #lastLog = new Map<string, string[]>();
  #stopped = false;

  constructor(options: PusherOptions) {
    this.#o = options;
  }

  /** ffmpeg children still running. */
  get live(): number {
    return this.#procs.size;
  }

  list(): PushInfo[] {
    return [...this.#procs].map((p) => ({ cameraUid: p.cameraUid, url: p.url, pid: p.child.pid, stalled: p.stalled }));
  }

  /** The tail of ffmpeg's stderr for the camera's current (or last) push. */
  log(cameraUid: string): string[] {
    return [...(this.#pushes.get(cameraUid)?.proc?.stderr ?? this.#lastLog.get(cameraUid) ?? [])];
  }

  /** A STARTED: a new push, a renewal (same URL) or a restart (another URL). */
  start(
    cameraUid: string,
    url: string,
    owner: number,
    profile: StreamProfileName,
  ): "started" | "renewed" | "restarted" {
    if (this.#stopped) return "started";
    const existing = this.#pushes.get(cameraUid);
    if (existing && existing.url === url) {
      existing.owner = owner;
      this.#armAutoStop(existing);
      this.#o.emit("stream-renew", { cameraUid, url });
      return "renewed";
    }
    if (existing) this.#end(existing, "new-url");
    const push: Push = { cameraUid, url, profile, owner };
    this.#pushes.set(cameraUid, push);
    this.#armAutoStop(push);
    if (this.#o.publishDelayMs > 0) push.delay = setTimeout(() => this.#spawn(push), this.#o.publishDelayMs);
    else this.#spawn(push);
    return existing ? "restarted" : "started";
  }

  stop(cameraUid: string, reason: string): void {
    const push = this.#pushes.get(cameraUid);
    if (push) this.#end(push, reason);
  }

  /** The control connection closed: pushes it requested die with it. */
  stopOwnedBy(owner: number, reason: string): void {
    for (const push of [...this.#pushes.values()]) if (push.owner === owner) this.#end(push, reason);
  }

  /** SIGSTOP: the RTMP connection stays open but no byte flows. */
  stall(cameraUid: string): boolean {
    return this.#signal(cameraUid, "SIGSTOP", true);
  }

  resume(cameraUid: string): boolean {
    return this.#signal(cameraUid, "SIGCONT", false);
  }

  /** Kill every push at once and wait until no ffmpeg is left. */
  async stopAll(): Promise<void> {
    this.#stopped = true;
    for (const push of [...this.#pushes.values()]) this.#end(push, "simulator-stopped");
    const left = [...this.#procs];
    for (const p of left) this.#kill(p, true);
    await Promise.all(left.map((p) => p.exited));
  }

  #signal(cameraUid: string, signal: NodeJS.Signals, stalled: boolean): boolean {
    const proc = this.#pushes.get(cameraUid)?.proc;
    if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return false;
    proc.child.kill(signal);
    proc.stalled = stalled;
    return true;
  }

  #armAutoStop(push: Push): void {
    clearTimeout(push.autoStop);
    push.autoStop = setTimeout(() => this.#end(push, "auto-stop"), this.#o.autoStopMs());
    push.autoStop.unref();
  }

  #end(push: Push, reason: string): void {
    clearTimeout(push.delay);
    clearTimeout(push.autoStop);
    if (this.#pushes.get(push.cameraUid) === push) this.#pushes.delete(push.cameraUid);
    if (push.proc) {
      push.proc.reason ??= reason;
      this.#kill(push.proc, false);
    }
  }

  #kill(proc: Proc, hard: boolean): void {
    const child = proc.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (hard) return void child.kill("SIGKILL");
    // A stalled ffmpeg only acts on SIGTERM once continued; SIGKILL if it lingers.
    if (proc.stalled) child.kill("SIGCONT");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"), 1000);
    timer.unref();
    void proc.exited.then(() => clearTimeout(timer));
  }

  #spawn(push: Push): void {
    push.delay = undefined;
    if (this.#stopped || this.#pushes.get(push.cameraUid) !== push) return;
    const args = pushArgs(push.url, push.profile);
    // pdeathsig: the kernel kills ffmpeg if the simulator's process dies without stopping it.
    const [command, argv] = executable(SETPRIV)
      ? [SETPRIV, ["--pdeathsig", "SIGKILL", "--", this.#o.ffmpeg, ...args]]
      : [this.#o.ffmpeg, args];
    // stdout ignored: ffmpeg output must never reach the test runner's stdout.
    const child = spawn(command, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let settle!: () => void;
    const proc: Proc = {
      cameraUid: push.cameraUid,
      url: push.url,
      child,
      stderr: [],
      stalled: false,
      exited: new Promise((resolve) => (settle = resolve)),
    };
    let partial = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? "";
      for (const line of lines) if (line) this.#ring(proc, line);
    });
    let exited = false;
    const onExit = (description: string): void => {
      if (exited) return;
      exited = true;
      this.#procs.delete(proc);
      this.#lastLog.set(proc.cameraUid, proc.stderr);
      if (this.#pushes.get(push.cameraUid) === push && push.proc === proc) this.#end(push, description);
      settle();
      this.#o.emit("stream-stop", { cameraUid: proc.cameraUid, url: proc.url, reason: proc.reason ?? description });
    };
    child.once("error", (error) => {
      this.#ring(proc, error.message);
      onExit(`ffmpeg failed to start (${error.message})`);
    });
    child.once("close", (code, signal) => onExit(`ffmpeg exited (${signal ?? `code ${code}`})`));
    this.#procs.add(proc);
    push.proc = proc;
    this.#o.emit("stream-start", { cameraUid: push.cameraUid, url: push.url, pid: child.pid });
  }

  #ring(proc: Proc, line: string): void {
    proc.stderr.push(line);
    if (proc.stderr.length > STDERR_LINES) proc.stderr.shift();
  }
}
