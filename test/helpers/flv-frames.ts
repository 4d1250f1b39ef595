// An FLV file played in real time, looped, into a MediaFeed: the in-process frames the ingest would
// have from a camera pushing that file, for tests of the native video relay without an RTMP push.
import { readFileSync } from "node:fs";
import { parseAvcSequenceHeader } from "../../src/media/protocol/avc.ts";
import { MediaFeed, type FeedListener, type FrameSource } from "../../src/media/feed.ts";

interface Tag {
  type: number;
  time: number;
  body: Buffer;
}

const FLV_AUDIO = 8;
const FLV_VIDEO = 9;

export function readFlvTags(file: string): Tag[] {
  const data = readFileSync(file);
  if (data.toString("latin1", 0, 3) !== "FLV") throw new Error(`${file} is not FLV`);
  const tags: Tag[] = [];
  let offset = data.readUInt32BE(5) + 4;
  while (offset + 11 <= data.length) {
    const type = data[offset]! & 0x1f;
    const size = data.readUIntBE(offset + 1, 3);
    const time = data.readUIntBE(offset + 4, 3) | (data[offset + 7]! << 24);
    const body = data.subarray(offset + 11, offset + 11 + size);
    if (body.length < size) break;
    tags.push({ type, time, body });
    offset += 11 + size + 4;
  }
  return tags;
}

/** Plays `file` from its start when first subscribed to, and forever after (timers unref'd). */
export class FlvFileFrames implements FrameSource {
  readonly feed = new MediaFeed();
  readonly #tags: Tag[];
  readonly #loopMs: number;
  #started = false;

  constructor(file: string) {
    this.#tags = readFlvTags(file).filter((t) => t.type === FLV_AUDIO || t.type === FLV_VIDEO);
    const last = this.#tags.at(-1)?.time ?? 0;
    const videoTimes = this.#tags.filter((t) => t.type === FLV_VIDEO).map((t) => t.time);
    const step = videoTimes.length > 1 ? (videoTimes.at(-1)! - videoTimes[0]!) / (videoTimes.length - 1) : 66;
    this.#loopMs = last + step;
  }

  subscribe(listener: FeedListener): () => void {
    if (!this.#started) this.#start();
    return this.feed.subscribe(listener);
  }

  #start(): void {
    this.#started = true;
    this.feed.begin();
    const t0 = performance.now();
    let index = 0;
    let loop = 0;
    const next = (): void => {
      const now = performance.now() - t0;
      for (;;) {
        const tag = this.#tags[index]!;
        const time = tag.time + loop * this.#loopMs;
        if (time > now) {
          setTimeout(next, time - now).unref();
          return;
        }
        this.#deliver(tag, time);
        index++;
        if (index === this.#tags.length) {
          index = 0;
          loop++;
        }
      }
    };
    next();
  }

  #deliver(tag: Tag, time: number): void {
    const { body } = tag;
    if (tag.type === FLV_AUDIO) {
      if (body[0]! >> 4 === 10) this.feed.aacTag(body, time);
      return;
    }
    if ((body[0]! & 0x0f) !== 7) return;
    if (body[1] === 0) {
      const avc = parseAvcSequenceHeader(body);
      if (avc) this.feed.setAvc(avc);
      return;
    }
    this.feed.videoTag(body, time, body[0]! >> 4 === 1);
  }
}
