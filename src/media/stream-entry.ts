// One camera's stream as the ingest holds it, and what every RTMP media message of its publisher does
// to it: learn the codec, size and frame rate from the stream itself, keep the last keyframe for
// snapshots, and hand frames and FLV tags to in-process readers (feed.ts). The publisher is whoever
// feeds the camera's stream: the camera's own push to our listener, or our read of the vendor's cloud.
import type { Logger } from "../core/logger.ts";
import type { MediaFeed } from "./feed.ts";
import { amf0ValueLength, decodeAmf0, type Amf0Value } from "./protocol/amf0.ts";
import { parseAvcSequenceHeader, type AvcConfig } from "./protocol/avc.ts";
import { FLV_AUDIO, FLV_SCRIPT, FLV_VIDEO, isVideoKeyframe } from "./protocol/flv.ts";
import type { RtmpMessage } from "./protocol/rtmp-chunk.ts";

const FLV_CODEC_H264 = 7;
const FLV_CODEC_AAC = 10;
const AVC_SEQUENCE_HEADER = 0;
/** Frame rate is measured over at least this much stream time when the metadata does not say. */
const FPS_WINDOW_MS = 1_000;

/** Where a stream reaches the bridge: the camera pushes to our ingest, or we read it from the cloud. */
export type PublisherPath = "local" | "cloud";

/** Whoever feeds a stream; close() cuts it. */
export interface Publisher {
  /** The camera's address (local), or the cloud host we read from. */
  address: string;
  path: PublisherPath;
  close(): void;
}

export interface StreamEntry {
  deviceId: string;
  key: string;
  path: string;
  bytesIn: number;
  publisher?: Publisher;
  publishStartedAt?: number;
  keyframeHeldAt?: number;
  avc?: AvcConfig;
  otherCodec?: boolean;
  keyframe?: Buffer;
  audio: boolean;
  /** From the publisher's onMetaData. */
  metadataFps?: number;
  fps?: number;
  fpsFirstDts?: number;
  fpsFrames: number;
  /** Its frames and FLV tags for in-process readers (native relay, ffmpeg on a pipe, snapshots). */
  feed: MediaFeed;
}

/** A new publish: forget everything learned from the previous one. */
export function resetForPublish(entry: StreamEntry, publisher: Publisher, now: number): void {
  entry.publisher = publisher;
  entry.publishStartedAt = now;
  entry.keyframeHeldAt = undefined;
  entry.keyframe = undefined;
  entry.avc = undefined;
  entry.otherCodec = false;
  entry.audio = false;
  entry.metadataFps = undefined;
  entry.fps = undefined;
  entry.fpsFirstDts = undefined;
  entry.fpsFrames = 0;
  entry.feed.begin();
}

function metadataObject(values: Amf0Value[]): Record<string, Amf0Value> | undefined {
  const at = values.indexOf("onMetaData");
  const object = at >= 0 ? values[at + 1] : undefined;
  return object && typeof object === "object" && !Array.isArray(object) && !(object instanceof Date)
    ? object
    : undefined;
}

/** One audio, video or data message of the entry's publisher. Returns true when it was the publish's
 * first keyframe (readers and snapshots can start). */
export function applyMedia(entry: StreamEntry, message: RtmpMessage, log: Logger, now: () => number): boolean {
  const { type, timestamp: dts } = message;
  const body = message.payload;
  if (type === FLV_SCRIPT) {
    applyMetadata(entry, body, log);
    return false;
  }
  if (body.length === 0) return false;
  entry.feed.tag(type, dts, body);
  if (type === FLV_AUDIO) {
    entry.audio = true;
    if (body[0]! >> 4 === FLV_CODEC_AAC) entry.feed.aacTag(body, dts);
    return false;
  }
  if (type !== FLV_VIDEO) return false;
  const h264 = (body[0]! & 0x0f) === FLV_CODEC_H264;
  if (!h264) entry.otherCodec = true;
  if (h264 && body[1] === AVC_SEQUENCE_HEADER) {
    const avc = parseAvcSequenceHeader(body);
    if (avc) {
      entry.avc = avc;
      entry.feed.setAvc(avc);
    } else log.debug({ device: entry.deviceId }, "unreadable AVC sequence header");
    return false;
  }
  const keyframe = isVideoKeyframe(body);
  measureFps(entry, dts);
  if (h264) entry.feed.videoTag(body, dts, keyframe);
  if (!keyframe) return false;
  // The message's buffer is ours alone (the chunk reader allocates one per message).
  entry.keyframe = body;
  if (entry.keyframeHeldAt !== undefined) return false;
  entry.keyframeHeldAt = now();
  return true;
}

/** onMetaData: the frame rate and whether there is audio; kept (without "@setDataFrame") for FLV readers. */
function applyMetadata(entry: StreamEntry, body: Buffer, log: Logger): void {
  let values: Amf0Value[];
  let tag = body;
  try {
    values = decodeAmf0(body);
    if (values[0] === "@setDataFrame") tag = body.subarray(amf0ValueLength(body));
  } catch (error) {
    log.debug({ device: entry.deviceId, err: error }, "unreadable RTMP metadata");
    return;
  }
  const metadata = metadataObject(values);
  if (!metadata) return;
  const fps = metadata.framerate ?? metadata.videoframerate;
  if (typeof fps === "number" && fps > 0 && fps < 1000) entry.metadataFps = fps;
  if (typeof metadata.audiocodecid === "number" && metadata.audiocodecid > 0) entry.audio = true;
  entry.feed.tag(FLV_SCRIPT, 0, tag);
}

function measureFps(entry: StreamEntry, dts: number): void {
  if (entry.metadataFps !== undefined) {
    entry.fps = entry.metadataFps;
    return;
  }
  if (entry.fpsFirstDts === undefined) {
    entry.fpsFirstDts = dts;
    entry.fpsFrames = 0;
    return;
  }
  entry.fpsFrames++;
  const span = dts - entry.fpsFirstDts;
  if (span >= FPS_WINDOW_MS) entry.fps = Math.round((entry.fpsFrames * 1000 * 10) / span) / 10;
}
