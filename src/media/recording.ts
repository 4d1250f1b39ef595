// One HomeKit Secure Video clip: the camera's push (pre-buffer first, then live) as FLV tags, copied (no
// decode, no encode) into fragmented MP4: the initialization segment, then moof+mdat fragments, each
// starting on a keyframe. A muxer in this process does it (recording-muxers.ts, fmp4-muxer.ts); ffmpeg
// only when the camera's audio must be encoded to AAC-LC first, or when asked (the bench compares both).
//
// The consumer reads packets with one fragment of look-ahead: HomeKit wants the last packet flagged
// as such, and only once the input has ended do we know which fragment is the last one.
import type { Clock, TimerHandle } from "../core/clock.ts";
import { REAL_CLOCK } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import type { Mp4Segment } from "./protocol/mp4.ts";
import { ffmpegMuxer, inProcessMuxer, type ClipMuxer, type TagSource } from "./recording-muxers.ts";

export { recordingArgs } from "./recording-muxers.ts";

/** How a clip is muxed: in this process, ffmpeg copying the codecs, or ffmpeg encoding the audio to AAC-LC. */
export type ClipMuxing = "in-process" | "ffmpeg-copy" | "ffmpeg-audio";

export interface RecordingPacket {
  kind: "init" | "fragment";
  data: Buffer;
  /** The last packet of the clip. */
  last: boolean;
}

export interface RecordingClipOptions {
  ffmpeg: string;
  /** Default in-process (the camera's audio must then be AAC-LC, or the clip have none). */
  muxing?: ClipMuxing;
  /** Where the FLV tags come from: headers, buffered tags, then live (a Prebuffer). */
  source: TagSource;
  /** Clock ms of the last tag the camera sent (stall detection); undefined before any. */
  lastTagAt: () => number | undefined;
  /** The push carries audio and the clip should have it. */
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

export class RecordingClip {
  readonly ended: Promise<ClipEnd>;
  readonly #options: RecordingClipOptions;
  readonly #clock: Clock;
  readonly #muxer: ClipMuxer;
  readonly #queue: Mp4Segment[] = [];
  #queuedBytes = 0;
  #wake: (() => void) | undefined;
  #stallTimer: TimerHandle | undefined;
  /** The input ended (gracefully): what the muxer still writes is the clip's tail. */
  #ending: string | undefined;
  /** The muxer is done: nothing more will be queued. */
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
    const muxing = options.muxing ?? "in-process";
    const common = {
      source: options.source,
      audio: options.audio,
      fragmentMs: options.fragmentMs,
      label: options.label,
      log: options.log,
      onSegment: (segment: Mp4Segment) => this.#output(segment),
    };
    this.#muxer =
      muxing === "in-process"
        ? inProcessMuxer(common)
        : ffmpegMuxer({ ...common, ffmpeg: options.ffmpeg, encodeAudio: muxing === "ffmpeg-audio" });
    this.#stallTimer = this.#clock.setInterval(() => this.#checkStall(), STALL_CHECK_MS);
    this.#stallTimer.unref();
    void this.#muxer.done.then((failure) => {
      this.#outputDone = true;
      this.#clock.clearInterval(this.#stallTimer);
      if (failure && !this.#stopped) {
        // Cut short by the muxer: the clip ends with what it has, its last fragment flagged.
        this.#options.log.warn(`${this.#options.label}: ${failure}${this.#fragments ? "" : " (no fragment)"}`);
        this.#ending ??= failure;
      }
      this.#notify();
      this.#finishIfDrained();
    });
  }

  /** Fragments produced so far. */
  get fragments(): number {
    return this.#fragments;
  }

  /** End gracefully: no more input, the muxer writes the tail, the last fragment goes out flagged. Idempotent. */
  end(reason: string): void {
    if (this.#ending || this.#stopped) return;
    this.#ending = reason;
    this.#options.log.debug(`${this.#options.label}: ending (${reason})`);
    this.#muxer.end();
  }

  /** Stop at once (the consumer went away): the muxer (an ffmpeg: killed) stops, queued packets are dropped.
   * Resolves once nothing of the clip runs. */
  async stop(reason: string): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = reason;
      this.#clock.clearInterval(this.#stallTimer);
      this.#queue.length = 0;
      this.#queuedBytes = 0;
      this.#notify();
    }
    await this.#muxer.stop();
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

  #output(segment: Mp4Segment): void {
    if (this.#stopped) return;
    if (segment.kind === "fragment") this.#fragments++;
    this.#bytes += segment.data.length;
    this.#queue.push(segment);
    this.#queuedBytes += segment.data.length;
    if (this.#queuedBytes > (this.#options.maxQueuedBytes ?? 64 * 1024 * 1024)) {
      this.#options.log.warn(
        `${this.#options.label}: the recording's reader fell ` +
          `${Math.round(this.#queuedBytes / 1e6)} MB behind; stopping`,
      );
      void this.stop("reader too slow");
      return;
    }
    this.#notify();
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
