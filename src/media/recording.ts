// One HomeKit Secure Video clip: the camera's push (pre-buffer first, then live) as FLV on an
// ffmpeg's stdin, copied (no decode, no encode) into fragmented MP4 on its stdout, split into the
// initialization segment and moof+mdat fragments (protocol/mp4.ts). ffmpeg's mov muxer is the kept
// library here: `frag_keyframe` starts every fragment on a keyframe where the camera has one, and
// `frag_duration` cuts fragments no longer than the hub asked when the camera's GOP is longer.
//
// The consumer reads packets with one fragment of look-ahead: HomeKit wants the last packet flagged
// as such, and only once the input has ended do we know which fragment is the last one.
import type { Clock, TimerHandle } from "../core/clock.ts";
import { REAL_CLOCK } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import type { FlvTagData } from "./feed.ts";
import { FfmpegProcess } from "./ffmpeg.ts";
import { pipeFlv } from "./flv-pipe.ts";
import { Mp4Segmenter, type Mp4Segment } from "./protocol/mp4.ts";

export interface RecordingPacket {
  kind: "init" | "fragment";
  data: Buffer;
  /** The last packet of the clip. */
  last: boolean;
}

export interface RecordingClipOptions {
  ffmpeg: string;
  /** Where the FLV tags come from: headers, buffered tags, then live (a Prebuffer). */
  source: { subscribeTags(listener: (tag: FlvTagData) => void): () => void };
  /** Clock ms of the last tag the camera sent (stall detection); undefined before any. */
  lastTagAt: () => number | undefined;
  /** The push carries audio and the clip should have it (copied: the camera's AAC-LC). */
  audio: boolean;
  /** Largest fragment, ms (HomeKit's selected fragment length, typically 4000). */
  fragmentMs: number;
  label: string;
  log: Logger;
  clock?: Clock;
  /** No tag for this long = the camera stopped pushing: the clip ends with what it has (default 5 s). */
  stallMs?: number;
  /** Packets queued for a consumer that does not read this many bytes: the clip is stopped (default 64 MiB). */
  maxQueuedBytes?: number;
}

export interface ClipEnd {
  /** "ended: <why>" after a clean end, else why it was cut short. */
  reason: string;
  /** The last packet went out flagged (or would have, had the consumer read it). */
  clean: boolean;
  fragments: number;
  bytes: number;
}

const STALL_CHECK_MS = 500;

/** ffmpeg arguments for one clip: FLV in on stdin, fragmented MP4 out on stdout, codecs copied. */
export function recordingArgs(audio: boolean, fragmentMs: number): string[] {
  return [
    ...["-hide_banner", "-loglevel", "warning", "-nostats"],
    // The feed hands over the sequence headers and a keyframe at once: no probing needed.
    ...["-probesize", "32", "-analyzeduration", "0", "-f", "flv", "-i", "pipe:0"],
    ...["-map", "0:v:0", ...(audio ? ["-map", "0:a:0?"] : ["-an"])],
    ...["-c", "copy"],
    ...["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof"],
    ...["-frag_duration", String(Math.max(500, Math.round(fragmentMs)) * 1000)],
    "pipe:1",
  ];
}

export class RecordingClip {
  readonly ended: Promise<ClipEnd>;
  readonly #options: RecordingClipOptions;
  readonly #clock: Clock;
  readonly #ffmpeg: FfmpegProcess;
  readonly #segmenter = new Mp4Segmenter();
  readonly #queue: Mp4Segment[] = [];
  #queuedBytes = 0;
  #wake: (() => void) | undefined;
  #unpipe: (() => void) | undefined;
  #stallTimer: TimerHandle | undefined;
  /** The input ended (gracefully): what ffmpeg still writes is the clip's tail. */
  #ending: string | undefined;
  /** ffmpeg is gone and its output parsed: nothing more will be queued. */
  #outputDone = false;
  #stopped: string | undefined;
  #fragments = 0;
  #bytes = 0;
  #yieldedLast = false;
  #resolveEnded!: (end: ClipEnd) => void;

  constructor(options: RecordingClipOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve));
    this.#ffmpeg = new FfmpegProcess(options.ffmpeg, recordingArgs(options.audio, options.fragmentMs), {
      label: options.label,
      log: options.log,
      stdin: "pipe",
      stdout: "pipe",
    });
    const { stdin, stdout } = this.#ffmpeg.child;
    // ffmpeg gone before we stopped writing: the exit handler reports why.
    stdin?.on("error", () => undefined);
    stdout?.on("data", (chunk: Buffer) => this.#output(chunk));
    this.#unpipe = pipeFlv(options.source, stdin!, { audio: options.audio });
    this.#stallTimer = this.#clock.setInterval(() => this.#checkStall(), STALL_CHECK_MS);
    this.#stallTimer.unref();
    void this.#ffmpeg.exited.then((exit) => {
      this.#outputDone = true;
      this.#clock.clearInterval(this.#stallTimer);
      this.#options.log.debug({ code: exit.code, signal: exit.signal }, `${this.#options.label}: ffmpeg exited`);
      if (exit.code !== 0 && this.#ending && !this.#stopped && this.#fragments === 0) {
        this.#options.log.warn(
          `${this.#options.label}: ffmpeg made no fragment: ${exit.stderrTail.slice(-3).join(" | ") || "no output"}`,
        );
      }
      if (!this.#ending && !this.#stopped) {
        const why =
          `ffmpeg exited (${exit.code ?? exit.signal}): ` + `${exit.stderrTail.slice(-3).join(" | ") || "no output"}`;
        this.#options.log.warn(`${this.#options.label}: ${why}`);
        this.#ending = why;
      }
      this.#notify();
      this.#finishIfDrained();
    });
  }

  /** Fragments produced so far. */
  get fragments(): number {
    return this.#fragments;
  }

  /** End gracefully: no more input, ffmpeg writes the tail, the last fragment goes out flagged. Idempotent. */
  end(reason: string): void {
    if (this.#ending || this.#stopped) return;
    this.#ending = reason;
    this.#options.log.debug(`${this.#options.label}: ending (${reason})`);
    this.#unpipe?.();
    this.#unpipe = undefined;
    this.#ffmpeg.child.stdin?.end();
  }

  /** Stop at once (the consumer went away): ffmpeg is killed, queued packets dropped. Resolves once it is gone. */
  async stop(reason: string): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = reason;
      this.#unpipe?.();
      this.#unpipe = undefined;
      this.#clock.clearInterval(this.#stallTimer);
      this.#queue.length = 0;
      this.#queuedBytes = 0;
      this.#notify();
    }
    await this.#ffmpeg.stop();
    this.#finish(reason, false);
  }

  /** The init segment, then each fragment; the last one flagged. Ends early (unflagged) if stopped. */
  async *packets(): AsyncGenerator<RecordingPacket> {
    for (;;) {
      if (this.#stopped) return;
      const drained = this.#outputDone;
      if (this.#queue.length >= 2 || (drained && this.#queue.length === 1) || this.#queue[0]?.kind === "init") {
        const segment = this.#queue.shift()!;
        this.#queuedBytes -= segment.data.length;
        const last = drained && this.#queue.length === 0 && segment.kind === "fragment";
        if (last) {
          // Settled before the yield: a consumer that stops at the last packet (HAP-NodeJS breaks
          // out of its loop) never resumes this generator.
          this.#yieldedLast = true;
          this.#finishIfDrained();
        }
        yield { kind: segment.kind, data: segment.data, last };
        if (last) return;
        continue;
      }
      if (drained) {
        this.#finishIfDrained();
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #output(chunk: Buffer): void {
    if (this.#stopped) return;
    let segments: Mp4Segment[];
    try {
      segments = this.#segmenter.push(chunk);
    } catch (error) {
      this.#options.log.warn(`${this.#options.label}: ffmpeg wrote no fragmented MP4 (${(error as Error).message})`);
      void this.stop("bad output from ffmpeg");
      return;
    }
    for (const segment of segments) {
      if (segment.kind === "fragment") this.#fragments++;
      this.#bytes += segment.data.length;
      this.#queue.push(segment);
      this.#queuedBytes += segment.data.length;
    }
    if (this.#queuedBytes > (this.#options.maxQueuedBytes ?? 64 * 1024 * 1024)) {
      this.#options.log.warn(
        `${this.#options.label}: the recording's reader fell ` +
          `${Math.round(this.#queuedBytes / 1e6)} MB behind; stopping`,
      );
      void this.stop("reader too slow");
      return;
    }
    if (segments.length) this.#notify();
  }

  #checkStall(): void {
    if (this.#ending || this.#stopped) return;
    const last = this.#options.lastTagAt();
    const stallMs = this.#options.stallMs ?? 5_000;
    if (last !== undefined && this.#clock.now() - last < stallMs) return;
    if (last === undefined) return;
    this.#options.log.info(
      `${this.#options.label}: the camera stopped pushing ${Math.round((this.#clock.now() - last) / 1000)} s ago; ` +
        `the clip ends here`,
    );
    this.end("the camera stopped pushing");
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #finishIfDrained(): void {
    if (this.#outputDone && this.#queue.length === 0)
      this.#finish(this.#stopped ?? `ended: ${this.#ending ?? "input ended"}`, this.#yieldedLast);
  }

  #resolved = false;
  #finish(reason: string, clean: boolean): void {
    if (this.#resolved) return;
    this.#resolved = true;
    this.#clock.clearInterval(this.#stallTimer);
    this.#resolveEnded({ reason, clean, fragments: this.#fragments, bytes: this.#bytes });
  }
}
