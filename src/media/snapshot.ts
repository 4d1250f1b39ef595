// Snapshots: a JPEG decoded from the last keyframe the ingest holds, fed to ffmpeg on stdin (no RTMP
// reader, so no stream key on its command line; no probing), so a warm camera answers in a few
// hundred milliseconds. Results are cached for a few seconds per size and concurrent requests share
// one ffmpeg. A camera that is not pushing is started (the hub lingers after, so the next look is
// instant).
//
// Size: the picture is scaled to fit inside the requested width x height keeping the camera's aspect
// ratio, so it is exactly the requested size whenever the aspects match (the resolutions we
// advertise are the camera's 16:9) and never distorted when they do not. HomeKit accepts either.
import type { Writable } from "node:stream";
import { REAL_CLOCK, type Clock } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import { FfmpegProcess } from "./ffmpeg.ts";
import { stdinInput } from "./ffmpeg-args.ts";
import { pipeFlv } from "./flv-pipe.ts";
import type { StreamHub } from "./hub.ts";
import type { RtmpIngest } from "./ingest.ts";

export interface SnapshotOptions {
  deviceId: string;
  name: string;
  ffmpeg: string;
  hub: Pick<StreamHub, "acquire" | "ready">;
  ingest: Pick<RtmpIngest, "keyframeAnnexB" | "frames" | "status">;
  log: Logger;
  /** How long a snapshot is reused (default 3 s). */
  cacheMs?: number;
  /** How long to wait for a camera that was not pushing (default 10 s). */
  readyTimeoutMs?: number;
  /** ffmpeg is killed after this long (default 5 s). */
  decodeTimeoutMs?: number;
  /** The cache's age and the decode timeout run on this (tests: a manual clock). */
  clock?: Clock;
}

interface CacheEntry {
  /** clock.now() when the picture was made; undefined while it is being made. */
  at: number | undefined;
  jpeg: Promise<Buffer>;
}

const MAX_SIDE = 4096;

function clampSide(value: number, fallback: number): number {
  return Number.isFinite(value) && value >= 16 ? Math.min(MAX_SIDE, Math.round(value)) : fallback;
}

export class SnapshotMaker {
  readonly #options: SnapshotOptions;
  readonly #clock: Clock;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #running = new Set<FfmpegProcess>();
  #spawned = 0;
  #closed = false;

  constructor(options: SnapshotOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
  }

  /** ffmpeg processes started so far (tests: concurrent requests share one). */
  get spawned(): number {
    return this.#spawned;
  }

  snapshot(width: number, height: number): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new Error(`${this.#options.name}: media is stopping`));
    const w = clampSide(width, 640);
    const h = clampSide(height, 360);
    const key = `${w}x${h}`;
    const cached = this.#cache.get(key);
    // A picture being made is shared; a made one is reused for cacheMs after it was made.
    const fresh = (at: number): boolean => this.#clock.now() - at < (this.#options.cacheMs ?? 3_000);
    if (cached && (cached.at === undefined || fresh(cached.at))) return cached.jpeg;
    const jpeg = this.#make(w, h);
    const entry: CacheEntry = { at: undefined, jpeg };
    this.#cache.set(key, entry);
    jpeg.then(
      () => {
        entry.at = this.#clock.now();
      },
      // A failure is not cached: the next request tries again.
      () => {
        if (this.#cache.get(key) === entry) this.#cache.delete(key);
      },
    );
    return jpeg;
  }

  async #make(width: number, height: number): Promise<Buffer> {
    const { deviceId, hub, ingest } = this.#options;
    if (ingest.status(deviceId)?.keyframeHeldAt === undefined) {
      const release = hub.acquire();
      try {
        await hub.ready(this.#options.readyTimeoutMs ?? 10_000);
      } finally {
        // The hub lingers before it stops the camera: a second look soon after is instant.
        release();
      }
    }
    const picture = ingest.keyframeAnnexB(deviceId);
    if (picture) return this.#decode(["-f", "h264", "-i", "pipe:0"], (stdin) => stdin.end(picture), width, height);
    // Another codec: what the ingest holds (sequence headers, the frames since the keyframe) as FLV.
    const frames = ingest.frames(deviceId);
    if (!frames.subscribeTags) throw new Error(`${this.#options.name}: no picture held`);
    const feed = { subscribeTags: frames.subscribeTags.bind(frames) };
    const audio = ingest.status(deviceId)?.audio ?? false;
    return this.#decode(stdinInput("flv"), (stdin) => pipeFlv(feed, stdin, { audio, once: true }), width, height);
  }

  async #decode(input: string[], feed: (stdin: Writable) => void, width: number, height: number): Promise<Buffer> {
    const { ffmpeg, log, name } = this.#options;
    const scale = `scale=${width}:${height}:force_original_aspect_ratio=decrease:force_divisible_by=2`;
    const args = [
      "-hide_banner",
      "-loglevel",
      "error",
      ...input,
      "-frames:v",
      "1",
      "-vf",
      scale,
      "-f",
      "image2pipe",
      "-c:v",
      "mjpeg",
      "-q:v",
      "4",
      "pipe:1",
    ];
    const child = new FfmpegProcess(ffmpeg, args, { label: `snapshot ${name}`, log, stdin: "pipe", stdout: "pipe" });
    this.#spawned++;
    this.#running.add(child);
    const chunks: Buffer[] = [];
    child.child.stdout?.on("data", (chunk: Buffer) => chunks.push(chunk));
    // EPIPE when ffmpeg dies early: its exit status tells the story.
    child.child.stdin?.on("error", () => undefined);
    feed(child.child.stdin!);
    const timer = this.#clock.setTimeout(() => void child.stop(500), this.#options.decodeTimeoutMs ?? 5_000);
    const exit = await child.exited;
    this.#clock.clearTimeout(timer);
    this.#running.delete(child);
    const jpeg = Buffer.concat(chunks);
    if (exit.code !== 0 || jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
      const why = exit.stderrTail.at(-1) ?? (exit.signal ? `killed (${exit.signal})` : `exit code ${exit.code}`);
      throw new Error(`${name}: snapshot failed: ${why}`);
    }
    return jpeg;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cache.clear();
    await Promise.all([...this.#running].map((child) => child.stop(500)));
  }
}
