// CameraAvStreamManagement (Matter 1.5, cluster 0x0551) with Video, Audio and Snapshot, the features the
// Camera device type requires. The camera's own H.264 goes out untouched (no transcoding), so there is
// one encoder: every video allocation that fits the camera's one profile gets the same stream, and one
// that cannot be met (another codec, a minimum above what the camera sends) is refused with the spec's
// DYNAMIC_CONSTRAINT_ERROR. Audio is the shared Opus encoder (48 kHz mono). CaptureSnapshot is a JPEG
// from the held keyframe (the HomeKit snapshot path), scaled to fit the requested size; it is a large
// message (over TCP). README "Matter cameras" lists the statuses.
import { CameraAvStreamManagementServer } from "@matter/main/behaviors/camera-av-stream-management";
import { CameraAvStreamManagement } from "@matter/main/clusters/camera-av-stream-management";
import { Status, StatusResponseError, StreamUsage } from "@matter/main/types";
import type { CameraProfile } from "../../core/camera.ts";
import { CameraLink } from "./link.ts";

const { VideoCodec, AudioCodec, ImageCodec } = CameraAvStreamManagement;
type VideoStream = CameraAvStreamManagement.VideoStream;
type Resolution = CameraAvStreamManagement.VideoResolution;

/** The one stream of each kind (passthrough: one encoder). IDs are the spec's uint16. */
export const VIDEO_STREAM_ID = 1;
export const AUDIO_STREAM_ID = 1;
export const SNAPSHOT_STREAM_ID = 1;
const OPUS = { sampleRate: 48_000, bitDepth: 16, channels: 1, bitRate: 32_000 };
/** Bits per second the camera's H.264 takes at most. */
const MAX_VIDEO_BITRATE = 4_000_000;
const MIN_VIDEO_BITRATE = 100_000;
const MAX_SNAPSHOT_SIDE = 4096;

const Base = CameraAvStreamManagementServer.with("Video", "Audio", "Snapshot");

function refuse(code: Status, message: string): never {
  throw new StatusResponseError(message, code);
}

/** The largest profile the camera pushes (its capability lists them largest first). */
export function mainProfile(profiles: readonly CameraProfile[]): CameraProfile {
  return profiles[0] ?? { width: 1280, height: 720, fps: 15 };
}

/** The attributes a camera with this profile starts with (fixed ones and empty allocations). */
export function initialState(profile: CameraProfile, audio: boolean) {
  const resolution = { width: profile.width, height: profile.height };
  return {
    maxContentBufferSize: 4 * 1024 * 1024,
    maxNetworkBandwidth: MAX_VIDEO_BITRATE + (audio ? OPUS.bitRate : 0),
    supportedStreamUsages: [StreamUsage.LiveView],
    streamUsagePriorities: [StreamUsage.LiveView],
    maxConcurrentEncoders: 1,
    maxEncodedPixelRate: profile.width * profile.height * profile.fps,
    videoSensorParams: { sensorWidth: profile.width, sensorHeight: profile.height, maxFps: profile.fps },
    minViewportResolution: resolution,
    rateDistortionTradeOffPoints: [{ codec: VideoCodec.H264, resolution, minBitRate: MIN_VIDEO_BITRATE }],
    currentFrameRate: 0,
    allocatedVideoStreams: [],
    viewport: { x1: 0, y1: 0, x2: profile.width, y2: profile.height },
    microphoneCapabilities: {
      maxNumberOfChannels: 1,
      supportedCodecs: [AudioCodec.Opus],
      supportedSampleRates: [OPUS.sampleRate],
      supportedBitDepths: [OPUS.bitDepth],
    },
    allocatedAudioStreams: [],
    microphoneMuted: !audio,
    microphoneVolumeLevel: 254,
    microphoneMaxLevel: 254,
    microphoneMinLevel: 1,
    snapshotCapabilities: [{ resolution, maxFrameRate: 1, imageCodec: ImageCodec.Jpeg, requiresEncodedPixels: false }],
    allocatedSnapshotStreams: [],
  };
}

/** Width and height from a JPEG's start-of-frame marker (undefined when there is none). */
export function jpegSize(jpeg: Buffer): Resolution | undefined {
  let offset = 2;
  while (offset + 9 < jpeg.length && jpeg[offset] === 0xff) {
    const marker = jpeg[offset + 1]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: jpeg.readUInt16BE(offset + 5), width: jpeg.readUInt16BE(offset + 7) };
    offset += 2 + jpeg.readUInt16BE(offset + 2);
  }
  return undefined;
}

const fits = (min: Resolution, max: Resolution) => min.width <= max.width && min.height <= max.height;

export class CameraStreamsServer extends Base {
  override videoStreamAllocate(
    request: CameraAvStreamManagement.VideoStreamAllocateRequest,
  ): CameraAvStreamManagement.VideoStreamAllocateResponse {
    const profile = mainProfile(this.env.get(CameraLink).capability.profiles);
    const { minFrameRate, maxFrameRate, minBitRate, maxBitRate, minResolution, maxResolution } = request;
    if (!this.state.supportedStreamUsages.includes(request.streamUsage))
      refuse(Status.InvalidInState, `stream usage ${request.streamUsage} is not supported`);
    if (minFrameRate > maxFrameRate || minBitRate > maxBitRate || !fits(minResolution, maxResolution))
      refuse(Status.ConstraintError, "a minimum is above its maximum");
    const camera = { width: profile.width, height: profile.height };
    if (request.videoCodec !== VideoCodec.H264) refuse(Status.DynamicConstraintError, "only H.264 video is offered");
    if (!fits(minResolution, camera) || minFrameRate > profile.fps || minBitRate > MAX_VIDEO_BITRATE)
      refuse(
        Status.DynamicConstraintError,
        `the camera sends ${profile.width}x${profile.height} at ${profile.fps} fps`,
      );
    const existing = this.state.allocatedVideoStreams.find((s) => s.videoStreamId === VIDEO_STREAM_ID);
    if (!existing) {
      const stream: VideoStream = {
        videoStreamId: VIDEO_STREAM_ID,
        streamUsage: request.streamUsage,
        videoCodec: VideoCodec.H264,
        minFrameRate: Math.min(minFrameRate, profile.fps),
        maxFrameRate: profile.fps,
        minResolution: camera,
        maxResolution: camera,
        minBitRate: MIN_VIDEO_BITRATE,
        maxBitRate: MAX_VIDEO_BITRATE,
        keyFrameInterval: request.keyFrameInterval,
        referenceCount: 0,
      };
      this.state.allocatedVideoStreams = [stream];
    }
    return { videoStreamId: VIDEO_STREAM_ID };
  }

  override videoStreamDeallocate({ videoStreamId }: CameraAvStreamManagement.VideoStreamDeallocateRequest): void {
    this.state.allocatedVideoStreams = this.#release(this.state.allocatedVideoStreams, "videoStreamId", videoStreamId);
  }

  override audioStreamAllocate(
    request: CameraAvStreamManagement.AudioStreamAllocateRequest,
  ): CameraAvStreamManagement.AudioStreamAllocateResponse {
    if (!this.state.supportedStreamUsages.includes(request.streamUsage))
      refuse(Status.InvalidInState, `stream usage ${request.streamUsage} is not supported`);
    if (!this.env.get(CameraLink).capability.audio) refuse(Status.ResourceExhausted, "this camera has no sound");
    if (request.audioCodec !== AudioCodec.Opus) refuse(Status.DynamicConstraintError, "only Opus audio is offered");
    if (request.channelCount !== OPUS.channels || request.sampleRate !== OPUS.sampleRate)
      refuse(Status.DynamicConstraintError, "the camera's sound is Opus 48 kHz mono");
    if (!this.state.allocatedAudioStreams.some((s) => s.audioStreamId === AUDIO_STREAM_ID)) {
      this.state.allocatedAudioStreams = [
        {
          audioStreamId: AUDIO_STREAM_ID,
          streamUsage: request.streamUsage,
          audioCodec: AudioCodec.Opus,
          channelCount: OPUS.channels,
          sampleRate: OPUS.sampleRate,
          bitRate: OPUS.bitRate,
          bitDepth: OPUS.bitDepth,
          referenceCount: 0,
        },
      ];
    }
    return { audioStreamId: AUDIO_STREAM_ID };
  }

  override audioStreamDeallocate({ audioStreamId }: CameraAvStreamManagement.AudioStreamDeallocateRequest): void {
    this.state.allocatedAudioStreams = this.#release(this.state.allocatedAudioStreams, "audioStreamId", audioStreamId);
  }

  override snapshotStreamAllocate(
    request: CameraAvStreamManagement.SnapshotStreamAllocateRequest,
  ): CameraAvStreamManagement.SnapshotStreamAllocateResponse {
    const { minResolution, maxResolution } = request;
    if (!fits(minResolution, maxResolution)) refuse(Status.ConstraintError, "minResolution is above maxResolution");
    if (request.imageCodec !== ImageCodec.Jpeg)
      refuse(Status.DynamicConstraintError, "only JPEG snapshots are offered");
    if (minResolution.width > MAX_SNAPSHOT_SIDE || minResolution.height > MAX_SNAPSHOT_SIDE)
      refuse(Status.DynamicConstraintError, `snapshots are at most ${MAX_SNAPSHOT_SIDE} pixels a side`);
    if (!this.state.allocatedSnapshotStreams.some((s) => s.snapshotStreamId === SNAPSHOT_STREAM_ID)) {
      this.state.allocatedSnapshotStreams = [
        {
          snapshotStreamId: SNAPSHOT_STREAM_ID,
          imageCodec: ImageCodec.Jpeg,
          frameRate: 1,
          minResolution,
          maxResolution,
          quality: request.quality,
          referenceCount: 0,
          encodedPixels: false,
          hardwareEncoder: false,
        },
      ];
    }
    return { snapshotStreamId: SNAPSHOT_STREAM_ID };
  }

  override snapshotStreamDeallocate({
    snapshotStreamId,
  }: CameraAvStreamManagement.SnapshotStreamDeallocateRequest): void {
    const streams = this.state.allocatedSnapshotStreams;
    this.state.allocatedSnapshotStreams = this.#release(streams, "snapshotStreamId", snapshotStreamId);
  }

  override setStreamPriorities({ streamPriorities }: CameraAvStreamManagement.SetStreamPrioritiesRequest): void {
    const supported = this.state.supportedStreamUsages;
    if (new Set(streamPriorities).size !== streamPriorities.length)
      refuse(Status.AlreadyExists, "a stream usage is listed twice");
    if (streamPriorities.some((usage) => !supported.includes(usage)))
      refuse(Status.DynamicConstraintError, "a stream usage is not supported");
    this.state.streamUsagePriorities = streamPriorities;
  }

  override async captureSnapshot({
    snapshotStreamId,
    requestedResolution,
  }: CameraAvStreamManagement.CaptureSnapshotRequest): Promise<CameraAvStreamManagement.CaptureSnapshotResponse> {
    const link = this.env.get(CameraLink);
    if (snapshotStreamId === null && this.state.allocatedSnapshotStreams.length === 0)
      refuse(Status.NotFound, "no snapshot stream is allocated");
    if (
      snapshotStreamId !== null &&
      !this.state.allocatedSnapshotStreams.some((s) => s.snapshotStreamId === snapshotStreamId)
    )
      refuse(Status.NotFound, `no snapshot stream ${snapshotStreamId}`);
    const { width, height } = requestedResolution;
    if (width > MAX_SNAPSHOT_SIDE || height > MAX_SNAPSHOT_SIDE || width < 16 || height < 16)
      refuse(Status.ConstraintError, `a snapshot is 16 to ${MAX_SNAPSHOT_SIDE} pixels a side`);
    let jpeg: Buffer;
    try {
      jpeg = await link.media.snapshot(link.deviceId, width, height);
    } catch (error) {
      link.log.warn({ device: link.deviceId }, `Matter snapshot of ${link.name} failed: ${(error as Error).message}`);
      refuse(Status.Failure, "the camera gave no picture");
    }
    const resolution = jpegSize(jpeg);
    if (!resolution) refuse(Status.Failure, "the snapshot is not a JPEG");
    return { data: jpeg, imageCodec: ImageCodec.Jpeg, resolution };
  }

  /** Deallocation: NOT_FOUND for an unknown id, INVALID_IN_STATE while a session uses the stream. */
  #release<K extends string, T extends Record<K, number> & { referenceCount: number }>(
    streams: T[],
    key: K,
    id: number,
  ): T[] {
    const stream = streams.find((s) => s[key] === id);
    if (!stream) refuse(Status.NotFound, `no stream ${id}`);
    if (stream.referenceCount > 0) refuse(Status.InvalidInState, `stream ${id} is in use by a WebRTC session`);
    return streams.filter((s) => s !== stream);
  }
}
