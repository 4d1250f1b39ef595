// A camera's AAC as ADTS on an ffmpeg's stdin (no RTMP reader): each frame behind the ADTS header made
// from its AudioSpecificConfig. A reader that falls behind loses audio, never unbounded memory.
import type { Writable } from "node:stream";
import type { FrameSource } from "./feed.ts";
import { adtsHeader } from "./protocol/adts.ts";

/** Audio queued for a stalled reader past which frames are dropped. */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * Start writing; call the result to stop (it does not end `out`). `unframeable` is called once when the
 * camera's AAC cannot be framed as ADTS: nothing is written then.
 */
export function pipeAdts(source: Pick<FrameSource, "subscribe">, out: Writable, unframeable: () => void): () => void {
  let unusable = false;
  return source.subscribe({
    audio: (frame) => {
      const header = adtsHeader(frame.config, frame.data.length);
      if (!header) {
        if (!unusable) unframeable();
        unusable = true;
        return;
      }
      if (out.writableLength > MAX_QUEUED_BYTES) return;
      out.write(Buffer.concat([header, frame.data]));
    },
  });
}
