// HomeKit Secure Video for a camera: HAP-NodeJS's RecordingManagement (the Home app's "Stream / Detect
// Activity / Stream & Allow Recording" settings, kept by HAP-NodeJS in its controller storage in the
// data directory) calls this delegate; it turns those settings and the home hub's recording streams
// into calls on the vendor-neutral CameraRecorder. The motion sensor is linked to the camera so the
// hub analyses its events. Nothing here runs ffmpeg.
import {
  HDSProtocolError,
  type AudioRecordingCodecType,
  type AudioRecordingSamplerate,
  type CameraRecordingConfiguration,
  type CameraRecordingDelegate,
  type CameraRecordingOptions,
  type H264Level,
  type H264Profile,
  type HDSProtocolSpecificErrorReason,
  type MediaContainerType,
  type RecordingPacket as HapRecordingPacket,
  type VideoCodecType,
} from "@homebridge/hap-nodejs";
import type { CameraRecorder, RecordingClipStream } from "../../src/core/camera.ts";
import type { Logger } from "../../src/core/logger.ts";

// HAP-NodeJS's enums below are `const enum`s (unreadable under isolatedModules): values from its typings.
const FRAGMENTED_MP4 = 0 as MediaContainerType;
const H264 = 0 as VideoCodecType;
const AAC_LC = 0 as AudioRecordingCodecType;
/** AudioRecordingSamplerate.KHZ_16 ... KHZ_48: the camera's AAC is copied, so every rate is offered. */
const SAMPLE_RATES = [1, 2, 3, 4, 5] as AudioRecordingSamplerate[];
/** H264Profile BASELINE / MAIN / HIGH and H264Level 3.1 / 3.2 / 4.0. */
const PROFILES = [0, 1, 2] as H264Profile[];
const LEVELS = [0, 1, 2] as H264Level[];
const NOT_ALLOWED = 1 as HDSProtocolSpecificErrorReason;
const UNEXPECTED_FAILURE = 5 as HDSProtocolSpecificErrorReason;
const INVALID_CONFIGURATION = 9 as HDSProtocolSpecificErrorReason;

/** HAP's minimum pre-buffer; the hub may select less, never more. */
export const PREBUFFER_MS = 4_000;
/** What HomeKit Secure Video cameras use; the hub selects it. */
export const FRAGMENT_MS = 4_000;

/** HomeKit requires 1920x1080 and 1280x720 to be offered; the clip has the camera's own size (copied). */
const RESOLUTIONS: [number, number][] = [
  [1920, 1080],
  [1280, 720],
  [640, 360],
];

export function cameraRecordingOptions(): CameraRecordingOptions {
  return {
    prebufferLength: PREBUFFER_MS,
    mediaContainerConfiguration: [{ type: FRAGMENTED_MP4, fragmentLength: FRAGMENT_MS }],
    video: {
      type: H264,
      parameters: { profiles: PROFILES, levels: LEVELS },
      resolutions: RESOLUTIONS.flatMap(([w, h]) => [
        [w, h, 30],
        [w, h, 15],
      ]),
    },
    audio: { codecs: [{ type: AAC_LC, audioChannels: 1, samplerate: SAMPLE_RATES }] },
  };
}

export interface HomeKitRecordingOptions {
  name: string;
  recorder: CameraRecorder;
  log: Logger;
  /** Whether the Home app allows audio in recordings (RecordingAudioActive); read per clip. */
  audioActive: () => boolean;
}

export class HomeKitRecordingDelegate implements CameraRecordingDelegate {
  readonly #options: HomeKitRecordingOptions;
  #active = false;
  #configuration: CameraRecordingConfiguration | undefined;
  readonly #clips = new Map<number, RecordingClipStream>();

  constructor(options: HomeKitRecordingOptions) {
    this.#options = options;
  }

  /** Recording is on (the Home app's "Stream & Allow Recording" and a configuration the hub selected). */
  get recording(): boolean {
    return this.#active && this.#configuration !== undefined;
  }

  updateRecordingActive(active: boolean): void {
    this.#active = active;
    this.#apply();
  }

  updateRecordingConfiguration(configuration: CameraRecordingConfiguration | undefined): void {
    this.#configuration = configuration;
    if (configuration) {
      const [width, height, fps] = configuration.videoCodec.resolution;
      this.#options.log.debug(
        {
          width,
          height,
          fps,
          prebufferMs: configuration.prebufferLength,
          fragmentMs: configuration.mediaContainerConfiguration.fragmentLength,
        },
        `${this.#options.name}: the home hub selected a recording configuration`,
      );
    }
    this.#apply();
  }

  /** The camera's trigger sensor changed (motion, or an opted-in sensor). */
  trigger(active: boolean): void {
    this.#options.recorder.trigger(active);
  }

  async *handleRecordingStreamRequest(streamId: number, signal?: AbortSignal): AsyncGenerator<HapRecordingPacket> {
    const configuration = this.#configuration;
    if (!configuration) throw new HDSProtocolError(INVALID_CONFIGURATION);
    let clip: RecordingClipStream;
    try {
      clip = await this.#options.recorder.record({
        fragmentMs: configuration.mediaContainerConfiguration.fragmentLength,
        audio: this.#options.audioActive(),
      });
    } catch (error) {
      this.#options.log.warn(`${this.#options.name}: no recording for the home hub: ${(error as Error).message}`);
      throw new HDSProtocolError(this.recording ? UNEXPECTED_FAILURE : NOT_ALLOWED);
    }
    if (signal?.aborted) {
      await clip.stop("closed by the home hub");
      return;
    }
    this.#clips.set(streamId, clip);
    const onAbort = (): void => void clip.stop("closed by the home hub");
    signal?.addEventListener("abort", onAbort, { once: true });
    let sentLast = false;
    try {
      for await (const packet of clip.packets()) {
        sentLast = packet.last;
        yield { data: packet.data, isLast: packet.last };
        if (packet.last) return;
      }
      // Cut short (recording turned off, muxing failed): tell the hub instead of leaving it waiting.
      if (!signal?.aborted) throw new HDSProtocolError(this.recording ? UNEXPECTED_FAILURE : NOT_ALLOWED);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#clips.delete(streamId);
      if (!sentLast) await clip.stop(signal?.aborted ? "closed by the home hub" : "recording stream ended");
    }
  }

  acknowledgeStream(streamId: number): void {
    this.#options.log.debug({ streamId }, `${this.#options.name}: the home hub acknowledged the recording`);
  }

  closeRecordingStream(streamId: number, reason: HDSProtocolSpecificErrorReason | undefined): void {
    const clip = this.#clips.get(streamId);
    this.#options.log.debug(
      { streamId, reason },
      `${this.#options.name}: the home hub closed recording stream ${streamId}`,
    );
    if (clip)
      void clip.stop(
        reason === undefined ? "the home hub's data stream closed" : `closed by the home hub (reason ${reason})`,
      );
  }

  /** The accessory goes away: clips stop and the pre-buffer is dropped (the media layer owns the recorder). */
  async close(): Promise<void> {
    this.#active = false;
    this.#options.recorder.configure(undefined);
    await Promise.all([...this.#clips.values()].map((clip) => clip.stop("camera removed")));
  }

  #apply(): void {
    this.#options.recorder.configure(
      this.recording ? Math.max(PREBUFFER_MS, this.#configuration!.prebufferLength) : undefined,
    );
  }
}
