// The CameraSource an ecosystem host is handed for one camera: snapshots from the hub's last
// keyframe, and live streams that hold the hub (so the camera pushes) for exactly as long as they run.
import type { CameraRecorder, CameraSource, LiveStream, LiveStreamRequest } from "../core/camera.ts";
import type { Clock } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import { stdinInput } from "./ffmpeg-args.ts";
import type { StreamHub } from "./hub.ts";
import type { RtmpIngest } from "./ingest.ts";
import { startLiveSession, type LiveInput, type LiveSessionOptions, type VideoRelayMode } from "./live-session.ts";
import type { SnapshotMaker } from "./snapshot.ts";

export interface CameraSourceOptions {
  deviceId: string;
  name: string;
  ffmpeg: string;
  transcode: "auto" | "always";
  /** Who sends copy mode's video: this process from the ingest's frames, or ffmpeg (default native). */
  videoRelay?: VideoRelayMode;
  hub: Pick<StreamHub, "acquire" | "ready">;
  ingest: Pick<RtmpIngest, "status" | "frames">;
  snapshots: Pick<SnapshotMaker, "snapshot">;
  log: Logger;
  /** How long a live view waits for a camera that was not pushing (default 10 s). */
  readyTimeoutMs?: number;
  /** Live-session factory (tests may stub it). */
  startLive?: (options: LiveSessionOptions) => Promise<LiveStream>;
  /** Told when a live stream starts (+1) and ends (-1): the live-session gauge. */
  onLiveCount?: (delta: 1 | -1) => void;
  /** Handed to each live session (default: the real clock). */
  clock?: Clock;
  /** Event recording (HomeKit Secure Video) on the same hub. */
  recorder?: CameraRecorder;
}

export class MediaCameraSource implements CameraSource {
  readonly deviceId: string;
  readonly recorder: CameraRecorder | undefined;
  readonly #options: CameraSourceOptions;
  #sequence = 0;
  readonly #streams = new Set<LiveStream>();

  constructor(options: CameraSourceOptions) {
    this.deviceId = options.deviceId;
    this.recorder = options.recorder;
    this.#options = options;
  }

  snapshot(width: number, height: number): Promise<Buffer> {
    return this.#options.snapshots.snapshot(width, height);
  }

  async startLive(request: LiveStreamRequest): Promise<LiveStream> {
    const { hub, deviceId, name, log } = this.#options;
    const release = hub.acquire();
    let stream: LiveStream;
    try {
      // A reader started before the ingest holds a keyframe can fail to find the picture size.
      await hub.ready(this.#options.readyTimeoutMs ?? 10_000);
      const { input, known } = this.#input();
      stream = await (this.#options.startLive ?? startLiveSession)({
        ffmpeg: this.#options.ffmpeg,
        input,
        request,
        // What we could not read from the stream is not copied blindly.
        transcode: known ? this.#options.transcode : "always",
        videoRelay: this.#options.videoRelay,
        label: `live ${name} #${++this.#sequence}`,
        log,
        clock: this.#options.clock,
      });
    } catch (error) {
      release();
      throw error;
    }
    this.#streams.add(stream);
    this.#options.onLiveCount?.(1);
    void stream.ended.then(({ reason }) => {
      this.#streams.delete(stream);
      log.debug({ device: deviceId, reason }, `live ${name}: ended (${reason})`);
      this.#options.onLiveCount?.(-1);
      release();
    });
    return stream;
  }

  /** Stop every live stream of this camera (bridge shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#streams].map((stream) => stream.stop().catch(() => undefined)));
  }

  #input(): { input: LiveInput; known: boolean } {
    const { ingest, deviceId } = this.#options;
    const status = ingest.status(deviceId);
    const video = status?.video;
    const known =
      video?.codec === "h264" && video.width !== undefined && video.height !== undefined && video.profile !== undefined;
    return {
      known,
      input: {
        args: stdinInput("flv"),
        video: {
          width: video?.width ?? 1920,
          height: video?.height ?? 1080,
          fps: video?.fps,
          profile: video?.profile,
          level: video?.level,
        },
        audio: status?.audio ?? false,
        frames: ingest.frames(deviceId),
      },
    };
  }
}
