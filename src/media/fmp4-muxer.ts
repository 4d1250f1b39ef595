// A camera's FLV tags (H.264 + AAC as RTMP carries them) muxed into fragmented MP4 in this process, for
// HomeKit Secure Video: the initialization segment (ftyp + moov), then moof + mdat fragments, each
// starting on a video keyframe and holding whole GOPs up to about the fragment length the hub selected.
// Nothing is decoded or encoded: the AVCDecoderConfigurationRecord and AudioSpecificConfig become the
// avcC and esds, the length-prefixed NAL units and raw AAC frames the samples. Mediabunny writes the
// boxes (a maintained ISO BMFF muxer; it replaces one ffmpeg process per clip); protocol/mp4.ts splits
// its byte stream into the segments HomeKit is sent.
//
// Timestamps are the camera's, shifted so the clip starts at 0 on its first keyframe (the pre-buffer's),
// and continuous across a reconnect of the camera (a new publish restarts its clock). Mediabunny takes
// presentation times only and derives decode times from their order: with B-frames the trun carries
// signed composition offsets (version 1, as ISO/IEC 14496-12 allows); ffmpeg's reader shows such a
// video track starting a reorder delay late. Cameras streaming for live viewing rarely send B-frames.
import { EncodedAudioPacketSource, EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output } from "mediabunny";
import { StreamTarget, type StreamTargetChunk } from "mediabunny";
import type { FlvTagData } from "./feed.ts";
import { isCopyableAudio, parseAudioSpecificConfig, type AacConfig } from "./protocol/aac-config.ts";
import { parseAvcSequenceHeader } from "./protocol/avc.ts";
import { FLV_AUDIO, FLV_VIDEO, isSequenceHeader } from "./protocol/flv.ts";
import { Mp4Segmenter, type Mp4Segment } from "./protocol/mp4.ts";

/** FLV video tag: frame/codec byte, AVCPacketType, 24-bit composition time; AAC: format byte, packet type. */
const AVC_TAG_HEADER = 5;
const AAC_TAG_HEADER = 2;
const AVC_CODEC_ID = 7;
/** Gap put between the last frame of one publish and the first of the next (as flv-pipe.ts does). */
const RECONNECT_GAP_MS = 40;
/** An AAC-LC frame is 1024 samples; audio timestamps within this of the expected one are snapped to it. */
const AAC_FRAME_SAMPLES = 1024;
const AUDIO_SNAP_MS = 15;
/** A fragment ends at the first keyframe at least this far into the selected length: half, so a pre-buffer
 * (4 to 6 s of 2 s GOPs) holds two whole fragments at once. The clip yields a fragment only once the next
 * one is complete (recording.ts: the last must be flagged), so with whole-length fragments the hub would
 * wait for the camera's next 4 s before the first; with half, it is sent at once (as ffmpeg's
 * `frag_keyframe` did: a fragment per GOP). */
const FRAGMENT_FILL = 0.5;
/** Audio announced but silent for this long behind the video: the video goes on alone (mediabunny
 * interleaves, so a track that never sends would hold every fragment back). */
const AUDIO_SILENCE_MS = 3_000;
/** Audio frames held ahead of the video at most (about 12 s at 44.1 kHz): a push of audio alone cannot grow it. */
const MAX_PENDING_AUDIO = 512;
/** Bytes handed to mediabunny and not yet written: past this the muxer has fallen behind the camera. */
const MAX_BACKLOG_BYTES = 32 * 1024 * 1024;

export class Fmp4MuxError extends Error {
  override name = "Fmp4MuxError";
}

export interface FlvFmp4MuxerOptions {
  /** Mux the camera's audio (it must be AAC-LC: isCopyableAudio). */
  audio: boolean;
  /** The fragment length the hub selected, ms. */
  fragmentMs: number;
  /** Each segment once complete: the init segment first, then fragments in order. */
  onSegment: (segment: Mp4Segment) => void;
  /** Told once when muxing fails (bad input, the muxer's own error); nothing more is written then. */
  onError?: (error: Error) => void;
}

/** "avc1.PPCCLL" from the record's profile, constraint flags and level bytes. */
function avcCodecString(record: Buffer): string {
  return `avc1.${record.subarray(1, 4).toString("hex")}`;
}

interface Tracks {
  output: Output;
  video: EncodedVideoPacketSource;
  audio: EncodedAudioPacketSource | undefined;
  aac: AacConfig | undefined;
}

export class FlvFmp4Muxer {
  readonly #options: FlvFmp4MuxerOptions;
  readonly #segmenter = new Mp4Segmenter();
  #videoHeader: Buffer | undefined;
  #audioHeader: Buffer | undefined;
  #tracks: Tracks | undefined;
  /** Every mediabunny call, in order: add() must see packets in decode order. */
  #chain: Promise<void> = Promise.resolve();
  #error: Error | undefined;
  #closed = false;
  #written = 0;
  #backlogBytes = 0;
  // Timeline: clip ms = camera ms + offset; the offset changes when a new publish restarts the camera's clock.
  #generation: number | undefined;
  #offset = 0;
  #lastMs = 0;
  #lastVideoMs: number | undefined;
  #videoStepMs = 0;
  #nextAudioMs: number | undefined;
  #lastAudioMs: number | undefined;
  #audioOpen = false;
  #videoSkipping = false;
  /** Audio ahead of the video, held until the video catches up. */
  #pendingAudio: { ms: number; packet: EncodedPacket }[] = [];
  /** Clip ms of the first keyframe: the clip's time 0. */
  #base = 0;
  /** The decoder configurations, handed over with each track's first packet. */
  #videoMeta: EncodedVideoChunkMetadata | undefined;
  #audioMeta: EncodedAudioChunkMetadata | undefined;

  constructor(options: FlvFmp4MuxerOptions) {
    this.#options = options;
  }

  /** Why muxing failed, once it has. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Add one tag (sequence headers, then media from a keyframe on). Media before the first keyframe is skipped. */
  push(tag: FlvTagData): void {
    if (this.#closed || this.#error) return;
    try {
      this.#push(tag);
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  /** No more tags: the last fragment and the rest are written. Rejects with what went wrong, if anything did. */
  async finish(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const tracks = this.#tracks;
      this.#enqueue(async () => {
        if (!tracks) throw new Fmp4MuxError("the camera sent no keyframe");
        await tracks.output.finalize();
      });
    }
    await this.#chain;
    if (this.#error) throw this.#error;
  }

  /** Stop at once; nothing more is written. */
  async cancel(): Promise<void> {
    this.#closed = true;
    await this.#tracks?.output.cancel().catch(() => undefined);
  }

  #push(tag: FlvTagData): void {
    if (isSequenceHeader(tag.type, tag.body)) {
      this.#header(tag);
      return;
    }
    if (tag.generation !== this.#generation) {
      // A new publish: its clock starts over; keep the clip's going on from where it was.
      if (this.#generation !== undefined) this.#offset = this.#lastMs + RECONNECT_GAP_MS - tag.dts;
      this.#generation = tag.generation;
    }
    const ms = tag.dts + this.#offset;
    if (tag.type === FLV_VIDEO) this.#video(tag.body, ms);
    else if (tag.type === FLV_AUDIO) this.#audio(tag.body, ms);
  }

  #header(tag: FlvTagData): void {
    const current = tag.type === FLV_VIDEO ? this.#videoHeader : this.#audioHeader;
    if (this.#tracks && current && !current.equals(tag.body)) {
      // The track's configuration is in the moov already sent: a clip cannot change it midway.
      throw new Fmp4MuxError(`the camera changed its ${tag.type === FLV_VIDEO ? "video" : "audio"} settings`);
    }
    if (tag.type === FLV_VIDEO) this.#videoHeader = tag.body;
    else this.#audioHeader = tag.body;
  }

  #video(body: Buffer, ms: number): void {
    if (body.length <= AVC_TAG_HEADER || (body[0]! & 0x0f) !== AVC_CODEC_ID || body[1] !== 1) return;
    const key = body[0]! >> 4 === 1;
    if (!this.#tracks) {
      if (!key) return;
      this.#start(ms);
    } else if (this.#lastVideoMs !== undefined && ms <= this.#lastVideoMs) {
      // Time went back (a camera's glitch): skip to a keyframe past it, as a decoder would need anyway.
      this.#videoSkipping = true;
      return;
    }
    if (this.#videoSkipping) {
      if (!key) return;
      this.#videoSkipping = false;
    }
    if (this.#lastVideoMs !== undefined && ms > this.#lastVideoMs) this.#videoStepMs = ms - this.#lastVideoMs;
    this.#lastVideoMs = ms;
    this.#lastMs = Math.max(this.#lastMs, ms);
    const cts = body.readIntBE(2, 3);
    const tracks = this.#tracks!;
    const packet = new EncodedPacket(
      body.subarray(AVC_TAG_HEADER),
      key ? "key" : "delta",
      (ms + cts - this.#base) / 1000,
      this.#videoStepMs / 1000,
    );
    const meta = this.#videoMeta;
    this.#videoMeta = undefined;
    this.#enqueueAdd(packet, () => tracks.video.add(packet, meta));
    this.#releaseAudio(ms);
    // Audio announced but not coming: close its track so the video's fragments are not held for it.
    if (this.#audioOpen && ms - (this.#lastAudioMs ?? this.#base) > AUDIO_SILENCE_MS) {
      this.#audioOpen = false;
      this.#pendingAudio = [];
      this.#enqueue(async () => tracks.audio!.close());
    }
  }

  #audio(body: Buffer, ms: number): void {
    const tracks = this.#tracks;
    if (!tracks?.audio || !tracks.aac || !this.#audioOpen || body.length <= AAC_TAG_HEADER || body[1] !== 1) return;
    if (ms < this.#base) return;
    const frameMs = (AAC_FRAME_SAMPLES / tracks.aac.sampleRate) * 1000;
    // FLV rounds to whole ms: snap to the sample clock unless the camera skipped (a gap) or drifted.
    const expected = this.#nextAudioMs;
    const at = expected !== undefined && Math.abs(ms - expected) < AUDIO_SNAP_MS ? expected : ms;
    // Time went back: the frame overlaps what was sent (every AAC frame stands alone; skip just this one).
    if (expected !== undefined && at < expected - frameMs / 2) return;
    this.#nextAudioMs = at + frameMs;
    this.#lastAudioMs = ms;
    this.#lastMs = Math.max(this.#lastMs, ms);
    const packet = new EncodedPacket(body.subarray(AAC_TAG_HEADER), "key", (at - this.#base) / 1000, frameMs / 1000);
    this.#pendingAudio.push({ ms: at, packet });
    if (this.#pendingAudio.length > MAX_PENDING_AUDIO) this.#pendingAudio.shift();
    if (this.#lastVideoMs !== undefined) this.#releaseAudio(this.#lastVideoMs);
  }

  /** Audio up to the video's time goes to the muxer; what is past the last video frame when the clip ends
   * is dropped (it would make a fragment of its own, with no picture). */
  #releaseAudio(videoMs: number): void {
    const tracks = this.#tracks!;
    while (this.#pendingAudio.length && this.#pendingAudio[0]!.ms <= videoMs) {
      const { packet } = this.#pendingAudio.shift()!;
      const meta = this.#audioMeta;
      this.#audioMeta = undefined;
      this.#enqueueAdd(packet, () => tracks.audio!.add(packet, meta));
    }
  }

  /** The first keyframe: the tracks are known now (mediabunny needs them before it starts). */
  #start(ms: number): void {
    const header = this.#videoHeader;
    const config = header && parseAvcSequenceHeader(header);
    if (!header || !config) throw new Fmp4MuxError("no usable H.264 sequence header before the first keyframe");
    if (!config.width || !config.height) throw new Fmp4MuxError("the H.264 sequence header has no readable size");
    const record = header.subarray(AVC_TAG_HEADER);
    let aac: AacConfig | undefined;
    if (this.#options.audio) {
      if (!isCopyableAudio(this.#audioHeader)) throw new Fmp4MuxError("the camera's audio is not AAC-LC");
      aac = parseAudioSpecificConfig(this.#audioHeader!.subarray(AAC_TAG_HEADER));
    }
    const target = new StreamTarget(new WritableStream<StreamTargetChunk>({ write: (chunk) => this.#write(chunk) }));
    const output = new Output({
      format: new Mp4OutputFormat({
        fastStart: "fragmented",
        minimumFragmentDuration: (this.#options.fragmentMs / 1000) * FRAGMENT_FILL,
      }),
      target,
    });
    const video = new EncodedVideoPacketSource("avc");
    output.addVideoTrack(video);
    const audio = aac ? new EncodedAudioPacketSource("aac") : undefined;
    if (audio) output.addAudioTrack(audio);
    this.#tracks = { output, video, audio, aac };
    this.#audioOpen = audio !== undefined;
    this.#base = ms;
    this.#videoMeta = {
      decoderConfig: {
        codec: avcCodecString(record),
        codedWidth: config.width,
        codedHeight: config.height,
        description: record,
      },
    };
    if (aac)
      this.#audioMeta = {
        decoderConfig: {
          codec: "mp4a.40.2",
          sampleRate: aac.sampleRate,
          numberOfChannels: aac.channels,
          description: this.#audioHeader!.subarray(AAC_TAG_HEADER),
        },
      };
    this.#enqueue(() => output.start());
  }

  #write(chunk: StreamTargetChunk): void {
    // Fragmented output is written in order; anything else would mean a seek we cannot follow on a stream.
    if (chunk.position !== this.#written) throw new Fmp4MuxError(`out-of-order write at ${chunk.position}`);
    this.#written += chunk.data.length;
    for (const segment of this.#segmenter.push(
      Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.length),
    ))
      this.#options.onSegment(segment);
  }

  /** A packet for mediabunny, counted until it has taken it. */
  #enqueueAdd(packet: EncodedPacket, add: () => Promise<void>): void {
    const bytes = packet.data.byteLength;
    this.#backlogBytes += bytes;
    if (this.#backlogBytes > MAX_BACKLOG_BYTES) throw new Fmp4MuxError("the muxer fell behind the camera");
    this.#enqueue(async () => {
      this.#backlogBytes -= bytes;
      await add();
    });
  }

  #enqueue(work: () => Promise<unknown>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#error) return;
      try {
        await work();
      } catch (error) {
        this.#fail(error as Error);
      }
    });
  }

  #fail(error: Error): void {
    if (this.#error) return;
    this.#error = error instanceof Fmp4MuxError ? error : new Fmp4MuxError(error.message);
    this.#pendingAudio = [];
    void this.#tracks?.output.cancel().catch(() => undefined);
    this.#options.onError?.(this.#error);
  }
}
