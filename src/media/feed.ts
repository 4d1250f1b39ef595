// A camera's frames inside the bridge, as the ingest demuxes them from its push: H.264 access units
// (AVCC, with the sequence header's SPS/PPS) and AAC frames. It keeps the frames since the last
// keyframe, so a viewer that subscribes gets a decodable picture at once (what an RTMP server's GOP
// cache gives a player), then every new frame as it arrives. Listeners run synchronously in the
// ingest's data handler: they must be quick; one that throws is dropped (a viewer's bug must not cut
// the camera's connection, which is what an exception in the RTMP data handler does). The same push is
// kept as FLV tags (any codec) for ffmpeg readers fed on a pipe (flv-pipe.ts).
import type { AvcConfig } from "./protocol/avc.ts";
import { FLV_AUDIO, FLV_SCRIPT, FLV_VIDEO, isSequenceHeader, isVideoKeyframe } from "./protocol/flv.ts";

/** FLV video tag body: frame type/codec, AVCPacketType, 24-bit signed composition time. */
const AVC_TAG_HEADER = 5;
const AVC_NALU = 1;
/** AAC tag body: sound format byte, AACPacketType. */
const AAC_TAG_HEADER = 2;
/** Bounds of what is kept since the last keyframe (a camera with a very long GOP is cut off). */
const GOP_MAX_FRAMES = 600;
const GOP_MAX_BYTES = 16 * 1024 * 1024;

export interface VideoFrame {
  /** Counts the camera's publishes: a new one restarts its timestamps and begins at a keyframe. */
  generation: number;
  config: AvcConfig;
  keyframe: boolean;
  /** Milliseconds of the camera's clock (FLV). */
  dts: number;
  pts: number;
  /** NAL units, each behind a config.lengthSize-byte length. A copy the listener may keep. */
  data: Buffer;
}

export interface AudioFrame {
  generation: number;
  /** AudioSpecificConfig (ISO 14496-3 1.6.2.1) from the AAC sequence header. */
  config: Buffer;
  dts: number;
  /** One raw AAC frame. Valid only during the call: copy what you keep. */
  data: Buffer;
}

export interface FeedListener {
  video?(frame: VideoFrame): void;
  audio?(frame: AudioFrame): void;
}

/** One media message of the push as an FLV tag: any codec, for ffmpeg fed on a pipe. */
export interface FlvTagData {
  generation: number;
  /** 8 audio, 9 video, 18 metadata (onMetaData, without RTMP's "@setDataFrame"). */
  type: number;
  dts: number;
  /** The tag body; shared, never to be modified. */
  body: Buffer;
}

/** What a live session reads (a fake in tests). */
export interface FrameSource {
  /** The frames since the last keyframe at once, then each new one; call the result to stop. */
  subscribe(listener: FeedListener): () => void;
  /** The stream as FLV tags: metadata and sequence headers, the tags since the last keyframe, then
   * each new one. Optional: sources without it cannot feed ffmpeg. */
  subscribeTags?(listener: (tag: FlvTagData) => void): () => void;
}

export class MediaFeed implements FrameSource {
  readonly #listeners = new Set<FeedListener>();
  #generation = 0;
  #avc: AvcConfig | undefined;
  #aac: Buffer | undefined;
  #gop: VideoFrame[] = [];
  #gopBytes = 0;
  /** The GOP grew past its bounds: nothing is kept until the next keyframe. */
  #gopOverflow = false;
  readonly #tagListeners = new Set<(tag: FlvTagData) => void>();
  /** Metadata and sequence headers of this publish, by kind. */
  readonly #headers = new Map<string, FlvTagData>();
  #tagGop: FlvTagData[] = [];
  #tagGopBytes = 0;
  #tagGopOverflow = false;

  get listeners(): number {
    return this.#listeners.size;
  }

  /** A new publish: forget the old one's configuration and frames. */
  begin(): void {
    this.#generation++;
    this.#avc = undefined;
    this.#aac = undefined;
    this.#headers.clear();
    this.end();
  }

  /** The publish ended: its frames are no picture to start a viewer with. */
  end(): void {
    this.#gop = [];
    this.#gopBytes = 0;
    this.#gopOverflow = false;
    this.#tagGop = [];
    this.#tagGopBytes = 0;
    this.#tagGopOverflow = false;
  }

  /** Every media message of the push (the body is kept as is: the caller must not reuse it). */
  tag(type: number, dts: number, body: Buffer): void {
    const tag: FlvTagData = { generation: this.#generation, type, dts, body };
    if (type === FLV_SCRIPT) this.#headers.set("metadata", tag);
    else if (isSequenceHeader(type, body)) this.#headers.set(type === FLV_VIDEO ? "video" : "audio", tag);
    else if (type === FLV_VIDEO && isVideoKeyframe(body)) {
      this.#tagGop = [tag];
      this.#tagGopBytes = body.length;
      this.#tagGopOverflow = false;
    } else if ((type === FLV_VIDEO || type === FLV_AUDIO) && this.#tagGop.length > 0 && !this.#tagGopOverflow) {
      this.#tagGop.push(tag);
      this.#tagGopBytes += body.length;
      if (this.#tagGop.length > GOP_MAX_FRAMES * 2 || this.#tagGopBytes > GOP_MAX_BYTES) {
        this.#tagGop = [];
        this.#tagGopBytes = 0;
        this.#tagGopOverflow = true;
      }
    }
    for (const listener of this.#tagListeners) {
      try {
        listener(tag);
      } catch (error) {
        this.#tagListeners.delete(listener);
        this.onListenerError?.(error as Error);
      }
    }
  }

  subscribeTags(listener: (tag: FlvTagData) => void): () => void {
    for (const kind of ["metadata", "video", "audio"]) {
      const header = this.#headers.get(kind);
      if (header) listener(header);
    }
    for (const tag of this.#tagGop) listener(tag);
    this.#tagListeners.add(listener);
    return () => this.#tagListeners.delete(listener);
  }

  setAvc(config: AvcConfig): void {
    this.#avc = config;
  }

  /** An FLV video tag body of an H.264 frame (the demuxer's buffer: copied here). */
  videoTag(body: Buffer, dts: number, keyframe: boolean): void {
    const avc = this.#avc;
    if (!avc || body.length <= AVC_TAG_HEADER || body[1] !== AVC_NALU) return;
    const cts = (body.readUIntBE(2, 3) << 8) >> 8;
    const frame: VideoFrame = {
      generation: this.#generation,
      config: avc,
      keyframe,
      dts,
      pts: dts + cts,
      data: Buffer.from(body.subarray(AVC_TAG_HEADER)),
    };
    if (keyframe) {
      this.#gop = [];
      this.#gopBytes = 0;
      this.#gopOverflow = false;
    }
    if (!this.#gopOverflow && (keyframe || this.#gop.length > 0)) {
      this.#gop.push(frame);
      this.#gopBytes += frame.data.length;
      if (this.#gop.length > GOP_MAX_FRAMES || this.#gopBytes > GOP_MAX_BYTES) {
        this.#gop = [];
        this.#gopBytes = 0;
        this.#gopOverflow = true;
      }
    }
    for (const listener of this.#listeners) this.#call(listener, () => listener.video?.(frame));
  }

  /** An FLV audio tag body of AAC: the sequence header (AudioSpecificConfig) or a raw frame. */
  aacTag(body: Buffer, dts: number): void {
    if (body.length <= AAC_TAG_HEADER) return;
    if (body[1] === 0) {
      this.#aac = Buffer.from(body.subarray(AAC_TAG_HEADER));
      return;
    }
    const config = this.#aac;
    if (!config) return;
    const frame: AudioFrame = { generation: this.#generation, config, dts, data: body.subarray(AAC_TAG_HEADER) };
    for (const listener of this.#listeners) this.#call(listener, () => listener.audio?.(frame));
  }

  #call(listener: FeedListener, deliver: () => void): void {
    try {
      deliver();
    } catch (error) {
      this.#listeners.delete(listener);
      this.onListenerError?.(error as Error);
    }
  }

  /** Told when a listener threw and was dropped (the ingest logs it). */
  onListenerError: ((error: Error) => void) | undefined;

  subscribe(listener: FeedListener): () => void {
    for (const frame of this.#gop) listener.video?.(frame);
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
