// A camera's recent past for HomeKit Secure Video: while recording is enabled, the last `windowMs`
// (or a little more) of its push as FLV tags, always starting at a keyframe, so a recording that
// begins on a motion trigger shows the seconds before it. Whole GOPs are kept: the oldest one is
// dropped only once the GOPs after it still cover the window. Trimming goes by the camera's own
// timestamps, not by arrival time, so a burst after a network hiccup is still measured right.
// It is itself a tag source: a reader gets the stream headers, the buffered tags, then live tags.
// A hub opens a recording a moment after the motion that triggers it (0.5-2 s for a real one, more on
// a busy bridge), and the clip must begin the pre-buffer before the trigger, not before the open: the
// buffer keeps `lateOpenMs` more than the window, and a reader asks for the replay to begin at a
// moment of the past (the keyframe at or before it).
import type { FlvTagData, FrameSource } from "./feed.ts";
import { FLV_AUDIO, FLV_SCRIPT, FLV_VIDEO, isSequenceHeader, isVideoKeyframe } from "./protocol/flv.ts";

/** Bounds whatever the window: a camera with a huge bitrate or no keyframes never eats the bridge. */
const MAX_BYTES = 32 * 1024 * 1024;
const MAX_TAGS = 4_000;

export interface PrebufferStats {
  /** Milliseconds of media held (first to last tag's timestamp). */
  durationMs: number;
  bytes: number;
  tags: number;
  gops: number;
}

type TagSource = Required<Pick<FrameSource, "subscribeTags">>;

/** A keyframe that is a picture: an AVC end-of-sequence tag (packet type 2) carries the keyframe flag
 * too (ffmpeg writes one when a push ends), and a GOP must not start with it. */
function isPictureKeyframe(body: Buffer): boolean {
  return isVideoKeyframe(body) && ((body[0]! & 0x0f) !== 7 || body[1] === 1);
}

export class Prebuffer implements TagSource {
  readonly windowMs: number;
  /** What is kept: the window plus the slack for a late open. */
  readonly keepMs: number;
  /** GOPs, oldest first; each starts with a keyframe tag. */
  #gops: FlvTagData[][] = [];
  #bytes = 0;
  #tags = 0;
  #generation: number | undefined;
  readonly #headers = new Map<string, FlvTagData>();
  readonly #listeners = new Set<(tag: FlvTagData) => void>();
  readonly #unsubscribe: () => void;
  #lastTagAt: number | undefined;
  readonly #now: () => number;
  #onCovered: ((durationMs: number) => void) | undefined;

  /** `now` (a clock's now()) stamps the arrival of each tag: lastTagAt tells a stalled push.
   * `onCovered` is told once, when the buffer first holds the whole window. */
  constructor(
    source: TagSource,
    windowMs: number,
    now: () => number,
    onCovered?: (durationMs: number) => void,
    lateOpenMs = 0,
  ) {
    this.windowMs = windowMs;
    this.keepMs = windowMs + lateOpenMs;
    this.#now = now;
    this.#onCovered = onCovered;
    this.#unsubscribe = source.subscribeTags((tag) => this.#add(tag));
  }

  /** When the last tag arrived (clock ms), undefined before any. */
  get lastTagAt(): number | undefined {
    return this.#lastTagAt;
  }

  /** What is held (all of it; with `fromMs`, the duration a replay from that moment holds). */
  stats(fromMs?: number): PrebufferStats {
    const first = this.#gops[fromMs === undefined ? 0 : this.#startIndex(fromMs)]?.[0];
    const last = this.#gops.at(-1)?.at(-1);
    return {
      durationMs: first && last ? last.dts - first.dts : 0,
      bytes: this.#bytes,
      tags: this.#tags,
      gops: this.#gops.length,
    };
  }

  /** The stream's sequence header of this kind, as the camera last sent it (a clip's codec checks). */
  header(kind: "video" | "audio"): Buffer | undefined {
    return this.#headers.get(kind)?.body;
  }

  /** Headers, then the buffered tags from the keyframe at or before `fromMs` (clock ms; the oldest
   * held when earlier; by default the window before the last tag), then live tags. */
  subscribeTags(listener: (tag: FlvTagData) => void, fromMs?: number): () => void {
    for (const kind of ["metadata", "video", "audio"]) {
      const header = this.#headers.get(kind);
      if (header) listener(header);
    }
    for (const gop of this.#gops.slice(this.#startIndex(fromMs))) for (const tag of gop) listener(tag);
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stop buffering and forget everything (recording turned off). */
  close(): void {
    this.#unsubscribe();
    this.#listeners.clear();
    this.#clear();
    this.#headers.clear();
  }

  #add(tag: FlvTagData): void {
    this.#lastTagAt = this.#now();
    if (tag.generation !== this.#generation) {
      // A new publish restarts the camera's timestamps and sends new headers: the old frames cannot
      // be measured against the new ones (readers handle the gap: see flv-pipe.ts).
      this.#generation = tag.generation;
      this.#clear();
      this.#headers.clear();
    }
    if (tag.type === FLV_SCRIPT) this.#headers.set("metadata", tag);
    else if (isSequenceHeader(tag.type, tag.body)) this.#headers.set(tag.type === FLV_VIDEO ? "video" : "audio", tag);
    else if (tag.type === FLV_VIDEO && isPictureKeyframe(tag.body)) {
      this.#gops.push([tag]);
      this.#count(tag);
      this.#trim(tag.dts);
    } else if ((tag.type === FLV_VIDEO || tag.type === FLV_AUDIO) && this.#gops.length > 0) {
      this.#gops.at(-1)!.push(tag);
      this.#count(tag);
      if (this.#bytes > MAX_BYTES || this.#tags > MAX_TAGS) this.#trim(tag.dts, true);
    }
    if (this.#onCovered && this.#gops.length > 0) {
      const { durationMs } = this.stats();
      if (durationMs >= this.windowMs) {
        const told = this.#onCovered;
        this.#onCovered = undefined;
        told(durationMs);
      }
    }
    for (const listener of this.#listeners) {
      try {
        listener(tag);
      } catch {
        // A reader's bug (its pipe) must not stop the buffering or the other readers.
        this.#listeners.delete(listener);
      }
    }
  }

  /** The GOP a replay from `fromMs` starts with: the last whose keyframe is at or before that moment,
   * measured back from the last tag on the camera's timeline. */
  #startIndex(fromMs: number | undefined): number {
    const last = this.#gops.at(-1)?.at(-1);
    if (!last || this.#lastTagAt === undefined) return 0;
    const back = fromMs === undefined ? this.windowMs : this.#lastTagAt - fromMs;
    const target = last.dts - back;
    let index = 0;
    for (let i = 0; i < this.#gops.length; i++) if (this.#gops[i]![0]!.dts <= target) index = i;
    return index;
  }

  #count(tag: FlvTagData): void {
    this.#bytes += tag.body.length;
    this.#tags++;
  }

  /** Drop the oldest GOP while the next one still starts at least keepMs before `latest`. */
  #trim(latest: number, overSize = false): void {
    while (this.#gops.length > 1) {
      const next = this.#gops[1]![0]!;
      const coveredWithout = latest - next.dts >= this.keepMs;
      if (!coveredWithout && !(overSize && (this.#bytes > MAX_BYTES || this.#tags > MAX_TAGS))) break;
      const dropped = this.#gops.shift()!;
      for (const tag of dropped) {
        this.#bytes -= tag.body.length;
        this.#tags--;
      }
    }
    // One GOP alone past the bounds (no keyframes for a long time): keep nothing until the next one.
    if (overSize && (this.#bytes > MAX_BYTES || this.#tags > MAX_TAGS)) this.#clear();
  }

  #clear(): void {
    this.#gops = [];
    this.#bytes = 0;
    this.#tags = 0;
  }
}
