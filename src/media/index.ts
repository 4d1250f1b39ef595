// The media layer as main.ts sees it: one RTMP ingest, one stream hub + snapshot maker + CameraSource
// per camera device in the registry, keep-warm per config, and one stop() for all of it.
import type {
  CameraSource,
  CameraSourceProvider,
  LiveStream,
  StreamInterruption,
  StreamAnswer,
  StreamRequest,
} from "../core/camera.ts";
import type { Clock } from "../core/clock.ts";
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import type { StatePatch } from "../core/model.ts";
import type { DeviceEntry, DeviceRegistry } from "../core/registry.ts";
import { MediaCameraSource } from "./camera-source.ts";
import { resolveFfmpeg } from "./ffmpeg.ts";
import { StreamHub, type StreamHubState, type StreamHubTiming } from "./hub.ts";
import { RtmpIngest } from "./ingest.ts";
import type { LiveSessionOptions } from "./live-session.ts";
import { MediaCameraRecorder } from "./recorder.ts";
import { SnapshotMaker } from "./snapshot.ts";
import { StreamSource, type StreamSourceTiming } from "./stream-source.ts";
import { DEFAULT_WEBRTC, WebRtcService } from "./webrtc/service.ts";

/** Keys with defaults may be left out, as config literals in tests and tools do. */
type Defaulted = "videoRelay" | "rtmpLimits" | "allowedCameras" | "source" | "webrtc";
export type MediaConfig = Omit<Config["media"], Defaulted> & Partial<Pick<Config["media"], Defaulted>>;

export interface MediaServiceOptions {
  config: MediaConfig;
  registry: DeviceRegistry;
  log: Logger;
  /** Defaults to `(id, r) => registry.requestStream(id, r)`. */
  requestStream?: (deviceId: string, request: StreamRequest) => Promise<StreamAnswer>;
  /** Tests: shorter hub intervals, snapshot cache, ready timeout, a stubbed live session. */
  hubTiming?: Partial<StreamHubTiming>;
  /** Tests and the bench: media.source's fallback wait and cloud timings. */
  sourceTiming?: Partial<StreamSourceTiming>;
  snapshotCacheMs?: number;
  /** Tests on a loaded machine: how long one snapshot's ffmpeg may take (default 5 s). */
  snapshotDecodeTimeoutMs?: number;
  readyTimeoutMs?: number;
  startLive?: (options: LiveSessionOptions) => Promise<LiveStream>;
  /** Tests: one clock for the ingest, hubs, snapshots and live sessions (default: the real clock). */
  clock?: Clock;
}

interface CameraMedia {
  hub: StreamHub;
  path: StreamSource;
  snapshots: SnapshotMaker;
  source: MediaCameraSource;
  recorder: MediaCameraRecorder;
}

export class MediaService implements CameraSourceProvider {
  readonly ingest: RtmpIngest;
  /** Live views over WebRTC (the web page's WHEP endpoint). */
  readonly webrtc: WebRtcService;
  readonly #options: MediaServiceOptions;
  readonly #log: Logger;
  readonly #cameras = new Map<string, CameraMedia>();
  #liveSessions = 0;
  #stopped = false;

  readonly #onDevice = (entry: DeviceEntry): void => {
    if (!entry.info.capabilities.camera || this.#stopped) return;
    const { hub } = this.#camera(entry);
    if (keepWarm(this.#options.config.keepWarm, entry) && !hub.state().keepWarm) {
      this.#log.info({ device: entry.info.id }, `${entry.info.name}: kept warm (always pushing)`);
      hub.setKeepWarm(true);
    }
  };

  readonly #onInterrupted = (entry: DeviceEntry, reason: StreamInterruption): void => {
    this.#cameras.get(entry.info.id)?.hub.interrupted(reason);
  };

  // "standby" is the neutral switch a camera's sleep mode maps to (see the model's switch capability).
  readonly #onState = (entry: DeviceEntry, patch: StatePatch): void => {
    if (patch.switches?.standby === false) this.#cameras.get(entry.info.id)?.hub.standbyEnded();
  };

  constructor(options: MediaServiceOptions) {
    this.#options = options;
    this.#log = options.log;
    const { config } = options;
    this.ingest = new RtmpIngest({
      bind: config.bind,
      port: config.rtmpPort,
      rtmpHost: config.rtmpHost,
      limits: config.rtmpLimits,
      allowedCameras: config.allowedCameras,
      log: options.log.child({ part: "rtmp" }),
      clock: options.clock,
    });
    this.webrtc = new WebRtcService({
      settings: config.webrtc ?? DEFAULT_WEBRTC,
      ffmpeg: resolveFfmpeg(config.ffmpeg),
      camera: (deviceId) => {
        const entry = options.registry.get(deviceId);
        const capability = entry?.info.capabilities.camera;
        if (!entry || !capability || this.#stopped) return undefined;
        const { hub } = this.#camera(entry);
        const ingest = this.ingest;
        return {
          name: entry.info.name,
          hub,
          frames: ingest.frames(deviceId),
          status: () => ingest.status(deviceId),
          audio: capability.audio,
        };
      },
      log: options.log.child({ part: "webrtc" }),
      clock: options.clock,
      readyTimeoutMs: options.readyTimeoutMs,
    });
  }

  /** Listen for pushes and serve every camera the registry knows now or learns later. */
  async start(): Promise<void> {
    await this.ingest.start();
    const { registry } = this.#options;
    registry.on("device", this.#onDevice);
    registry.on("stream-interrupted", this.#onInterrupted);
    registry.on("state", this.#onState);
    for (const entry of registry.devices) this.#onDevice(entry);
  }

  sourceFor(deviceId: string): CameraSource | undefined {
    const entry = this.#options.registry.get(deviceId);
    if (!entry?.info.capabilities.camera || this.#stopped) return undefined;
    return this.#camera(entry).source;
  }

  /** Live streams running now (metrics gauge). */
  get liveSessions(): number {
    return this.#liveSessions;
  }

  /** Per camera: viewers, push state, bytes, last error (status page). */
  state(): StreamHubState[] {
    return [...this.#cameras.values()].map((c) => c.hub.state());
  }

  hub(deviceId: string): StreamHub | undefined {
    return this.#cameras.get(deviceId)?.hub;
  }

  /** A camera's event recorder (HomeKit Secure Video), for the bench and the status page. */
  recorder(deviceId: string): MediaCameraRecorder | undefined {
    return this.#cameras.get(deviceId)?.recorder;
  }

  #camera(entry: DeviceEntry): CameraMedia {
    const existing = this.#cameras.get(entry.info.id);
    if (existing) return existing;
    if (this.#stopped) throw new Error("media is stopped");
    const { config, registry, log } = this.#options;
    const deviceId = entry.info.id;
    const name = entry.info.name;
    const ffmpeg = resolveFfmpeg(config.ffmpeg);
    const cameraLog = log.child({ device: deviceId });
    this.ingest.register(deviceId);
    const request = this.#options.requestStream ?? ((id: string, r: StreamRequest) => registry.requestStream(id, r));
    const { clock } = this.#options;
    const path = new StreamSource({
      deviceId,
      name,
      mode: config.source ?? "auto",
      ingest: this.ingest,
      request: (r) => request(deviceId, r),
      log: cameraLog,
      clock,
      timing: this.#options.sourceTiming,
    });
    const hub = new StreamHub({
      deviceId,
      name,
      ingest: this.ingest,
      requestStream: (r) => path.request(r),
      log: cameraLog,
      timing: { ...hubTimingFromEnv(), ...this.#options.hubTiming },
      clock,
    });
    const snapshots = new SnapshotMaker({
      deviceId,
      name,
      ffmpeg,
      hub,
      ingest: this.ingest,
      log: cameraLog,
      cacheMs: this.#options.snapshotCacheMs,
      decodeTimeoutMs: this.#options.snapshotDecodeTimeoutMs,
      readyTimeoutMs: this.#options.readyTimeoutMs,
      clock,
    });
    const recorder = new MediaCameraRecorder({
      deviceId,
      name,
      ffmpeg,
      hub,
      ingest: this.ingest,
      log: cameraLog,
      clock,
      readyTimeoutMs: this.#options.readyTimeoutMs,
    });
    const source = new MediaCameraSource({
      deviceId,
      name,
      ffmpeg,
      transcode: config.transcode,
      videoRelay: config.videoRelay,
      hub,
      ingest: this.ingest,
      snapshots,
      log: cameraLog,
      readyTimeoutMs: this.#options.readyTimeoutMs,
      startLive: this.#options.startLive,
      onLiveCount: (delta) => {
        this.#liveSessions += delta;
      },
      clock,
      recorder,
    });
    const camera = { hub, path, snapshots, source, recorder };
    this.#cameras.set(deviceId, camera);
    return camera;
  }

  /** Stop every camera's push (told to stop, bounded wait), every ffmpeg, then the ingest. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const { registry } = this.#options;
    registry.off("device", this.#onDevice);
    registry.off("stream-interrupted", this.#onInterrupted);
    registry.off("state", this.#onState);
    await this.webrtc.stop();
    await Promise.all(
      [...this.#cameras.values()].map(({ source, recorder }) => Promise.all([source.close(), recorder.close()])),
    );
    await Promise.all(
      [...this.#cameras.values()].map(({ hub, snapshots }) => Promise.all([hub.close(), snapshots.close()])),
    );
    for (const { path } of this.#cameras.values()) path.close();
    await this.ingest.stop();
  }
}

/** Tests only: HEARTHBRIDGE_TEST_HUB_LINGER_MS shortens the 30 s linger after the last viewer, so an
 * end-to-end test of the real bridge can see the camera told to stop without waiting half a minute.
 * Not a config key on purpose: users have no reason to change it. */
function hubTimingFromEnv(): Partial<StreamHubTiming> {
  const raw = process.env.HEARTHBRIDGE_TEST_HUB_LINGER_MS;
  const lingerMs = raw ? Number(raw) : NaN;
  return Number.isFinite(lingerMs) && lingerMs >= 0 ? { lingerMs } : {};
}

/** media.keepWarm lists cameras by name (case-insensitive), by device id, or by the vendor's id. */
export function keepWarm(list: string[], entry: DeviceEntry): boolean {
  const { id, name } = entry.info;
  const vendorId = id.slice(id.indexOf(":") + 1);
  return list.some((item) => item === id || item === vendorId || item.toLowerCase() === name.toLowerCase());
}
