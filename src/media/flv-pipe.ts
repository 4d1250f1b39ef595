// A camera's push as an FLV byte stream on an ffmpeg's stdin: the reader gets the metadata, sequence
// headers and the frames since the last keyframe at once (what node-media-server's GOP cache gave an
// RTMP reader), then every new tag, with no RTMP URL (and no stream key) on its command line.
// Timestamps stay monotonic across the camera's reconnects (each publish restarts its clock), and a
// reader that falls behind loses whole GOPs, never unbounded memory.
import type { Writable } from "node:stream";
import type { FlvTagData, FrameSource } from "./feed.ts";
import { FLV_VIDEO, flvHeader, flvTag, isSequenceHeader, isVideoKeyframe } from "./protocol/flv.ts";

export interface FlvPipeOptions {
  /** Whether the stream has audio (the FLV header says so; ffmpeg waits for announced streams). */
  audio: boolean;
  /** Write what is held (headers + GOP), then end: a snapshot. */
  once?: boolean;
  /** Stop writing (until the next keyframe) while this much is queued for the reader (default 4 MiB). */
  maxQueuedBytes?: number;
}

/** Gap put between the last tag of one publish and the first of the next. */
const RECONNECT_GAP_MS = 40;

/** Start writing; call the result to stop (it does not end `out`, except in `once` mode). */
export function pipeFlv(
  source: Required<Pick<FrameSource, "subscribeTags">>,
  out: Writable,
  options: FlvPipeOptions,
): () => void {
  const maxQueued = options.maxQueuedBytes ?? 4 * 1024 * 1024;
  let generation: number | undefined;
  let offset = 0;
  let last = 0;
  let dropping = false;
  out.write(flvHeader(options.audio, true));
  const write = (tag: FlvTagData): void => {
    if (tag.generation !== generation) {
      if (generation !== undefined) offset = last + RECONNECT_GAP_MS - tag.dts;
      generation = tag.generation;
    }
    const dts = Math.max(0, tag.dts + offset);
    last = Math.max(last, dts);
    if (!isSequenceHeader(tag.type, tag.body)) {
      const keyframe = tag.type === FLV_VIDEO && isVideoKeyframe(tag.body);
      if (dropping && keyframe && out.writableLength < maxQueued / 2) dropping = false;
      if (!dropping && out.writableLength > maxQueued) dropping = true;
      if (dropping) return;
    }
    out.write(flvTag(tag.type, dts, tag.body));
  };
  const unsubscribe = source.subscribeTags(write);
  if (options.once) {
    unsubscribe();
    out.end();
  }
  return unsubscribe;
}
