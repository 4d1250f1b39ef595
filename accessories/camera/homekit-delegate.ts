// A camera in HomeKit: HAP-NodeJS's CameraController with a streaming delegate that turns HomeKit's
// requests (SetupEndpoints -> prepareStream, SelectedRTPStreamConfiguration -> START / RECONFIGURE /
// STOP, /resource -> snapshot) into calls on a vendor-neutral CameraSource. Nothing here runs
// ffmpeg or knows where the video comes from.
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import {
  CameraController,
  Characteristic,
  type Service,
  type AudioStreamingSamplerate,
  type CameraStreamingDelegate,
  type CameraStreamingOptions,
  type H264Level,
  type H264Profile,
  type PrepareStreamCallback,
  type PrepareStreamRequest,
  type SnapshotRequest,
  type SnapshotRequestCallback,
  type SRTPCryptoSuites,
  type StreamingRequest,
  type StreamRequestCallback,
} from "@homebridge/hap-nodejs";
import type { CameraSource, LiveStream, LiveStreamRequest, LiveStreamVideo } from "../../src/core/camera.ts";
import type { Logger } from "../../src/core/logger.ts";
import { cameraRecordingOptions, HomeKitRecordingDelegate } from "./homekit-recording.ts";

// HAP-NodeJS's enums used here are `const enum`s, which isolatedModules cannot read: their values,
// from the HAP specification, as numbers.
/** SRTPCryptoSuites.AES_CM_128_HMAC_SHA1_80 */
const SRTP_AES_CM_128_HMAC_SHA1_80 = 0 as SRTPCryptoSuites;
/** H264Profile.BASELINE / MAIN / HIGH */
const PROFILES = [0, 1, 2] as H264Profile[];
/** H264Level.LEVEL3_1 / LEVEL3_2 / LEVEL4_0 */
const LEVELS = [0, 1, 2] as H264Level[];
const PROFILE_NAMES = ["baseline", "main", "high"] as const;
const LEVEL_NAMES = ["3.1", "3.2", "4.0"] as const;

/** Sizes offered to HomeKit, each at 30 and 15 fps (320x240 is what an Apple Watch asks for). */
const RESOLUTIONS: [number, number][] = [
  [1920, 1080],
  [1280, 720],
  [640, 360],
  [480, 270],
  [320, 240],
  [320, 180],
];

/** Two viewers at once (HomeKit opens one RTP stream management service per viewer). */
export const CAMERA_STREAM_COUNT = 2;
/** A viewer whose RTCP reports stopped is gone (its stream is ended); armed by the first report. */
const DEFAULT_RTCP_TIMEOUT_MS = 15_000;

export function cameraStreamingOptions(audio: boolean): CameraStreamingOptions {
  return {
    supportedCryptoSuites: [SRTP_AES_CM_128_HMAC_SHA1_80],
    video: {
      codec: { profiles: PROFILES, levels: LEVELS },
      resolutions: RESOLUTIONS.flatMap(([w, h]) => [
        [w, h, 30],
        [w, h, 15],
      ]),
    },
    // No ffmpeg we can ship has an AAC-ELD encoder: Opus, at the 16 and 24 kHz HomeKit requires.
    ...(audio
      ? { audio: { codecs: [{ type: "OPUS", audioChannels: 1, samplerate: [16, 24] as AudioStreamingSamplerate[] }] } }
      : {}),
  };
}

/** A random non-zero 32-bit SSRC. */
function randomSsrc(): number {
  for (;;) {
    const ssrc = randomBytes(4).readUInt32BE(0);
    if (ssrc !== 0) return ssrc;
  }
}

interface Session {
  readonly id: string;
  readonly target: LiveStreamRequest["target"];
  /** Our return ports: where the controller sends RTCP (kept bound for the session). */
  readonly sockets: Socket[];
  stream?: LiveStream;
  starting?: Promise<LiveStream | undefined>;
  ended: boolean;
  lastRtcp?: number;
  rtcpTimer?: NodeJS.Timeout;
}

export interface HomeKitCameraOptions {
  /** For log lines. */
  name: string;
  source: CameraSource;
  /** The source carries audio: offer Opus (else HomeKit gets video only). */
  audio: boolean;
  log: Logger;
  rtcpTimeoutMs?: number;
}

async function bindReturnPort(family: "udp4" | "udp6", address: string | undefined): Promise<Socket> {
  const socket = createSocket(family);
  socket.on("error", () => undefined);
  socket.bind(0, address);
  try {
    await once(socket, "listening");
  } catch (error) {
    socket.close();
    if (address !== undefined) return bindReturnPort(family, undefined);
    throw error;
  }
  return socket;
}

export class HomeKitCameraDelegate implements CameraStreamingDelegate {
  readonly #options: HomeKitCameraOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #rtcpTimeoutMs: number;
  controller: CameraController | undefined;

  constructor(options: HomeKitCameraOptions) {
    this.#options = options;
    this.#rtcpTimeoutMs = options.rtcpTimeoutMs ?? DEFAULT_RTCP_TIMEOUT_MS;
  }

  /** Live sessions (prepared or streaming). */
  get sessions(): number {
    return this.#sessions.size;
  }

  handleSnapshotRequest(request: SnapshotRequest, callback: SnapshotRequestCallback): void {
    const started = performance.now();
    this.#options.source.snapshot(request.width, request.height).then(
      (jpeg) => {
        this.#options.log.debug(
          {
            width: request.width,
            height: request.height,
            bytes: jpeg.length,
            ms: Math.round(performance.now() - started),
          },
          `${this.#options.name}: snapshot`,
        );
        callback(undefined, jpeg);
      },
      (error: Error) => {
        this.#options.log.warn({ err: error }, `${this.#options.name}: snapshot failed: ${error.message}`);
        callback(error);
      },
    );
  }

  prepareStream(request: PrepareStreamRequest, callback: PrepareStreamCallback): void {
    this.#prepare(request).then(
      (response) => callback(undefined, response),
      (error: Error) => {
        this.#options.log.warn(`${this.#options.name}: stream setup refused: ${error.message}`);
        callback(error);
      },
    );
  }

  async #prepare(request: PrepareStreamRequest): Promise<Parameters<PrepareStreamCallback>[1]> {
    const { video, audio } = request;
    for (const [kind, s] of [
      ["video", video],
      ["audio", audio],
    ] as const) {
      if (s.srtpCryptoSuite !== SRTP_AES_CM_128_HMAC_SHA1_80)
        throw new Error(
          `the controller chose SRTP suite ${s.srtpCryptoSuite} for ${kind}; only AES_CM_128_HMAC_SHA1_80 is offered`,
        );
      if (s.srtp_key.length !== 16 || s.srtp_salt.length !== 14)
        throw new Error(`${kind} SRTP key/salt of ${s.srtp_key.length}/${s.srtp_salt.length} bytes`);
    }
    // A repeated SetupEndpoints for the same session replaces the earlier one.
    const previous = this.#sessions.get(request.sessionID);
    if (previous) await this.#close(previous, "set up again");
    const family = request.addressVersion === "ipv6" ? "udp6" : "udp4";
    const local = family === "udp4" ? request.sourceAddress.replace(/^::ffff:/, "") : request.sourceAddress;
    const sockets = [await bindReturnPort(family, local)];
    if (this.#options.audio) sockets.push(await bindReturnPort(family, local));
    const videoSsrc = randomSsrc();
    let audioSsrc = randomSsrc();
    while (audioSsrc === videoSsrc) audioSsrc = randomSsrc();
    const session: Session = {
      id: request.sessionID,
      target: {
        address: request.targetAddress,
        videoPort: video.port,
        videoSrtpKey: video.srtp_key,
        videoSrtpSalt: video.srtp_salt,
        videoSsrc,
        ...(this.#options.audio
          ? { audioPort: audio.port, audioSrtpKey: audio.srtp_key, audioSrtpSalt: audio.srtp_salt, audioSsrc }
          : {}),
      },
      sockets,
      ended: false,
    };
    for (const socket of sockets) socket.on("message", () => this.#rtcpSeen(session));
    this.#sessions.set(session.id, session);
    const port = (i: number) => sockets[i]!.address().port;
    // The keys HomeKit sent are the ones we encrypt with; they are echoed back as HAP expects.
    return {
      video: { port: port(0), ssrc: videoSsrc, srtp_key: video.srtp_key, srtp_salt: video.srtp_salt },
      ...(this.#options.audio
        ? { audio: { port: port(1), ssrc: audioSsrc, srtp_key: audio.srtp_key, srtp_salt: audio.srtp_salt } }
        : {}),
    };
  }

  handleStreamRequest(request: StreamingRequest, callback: StreamRequestCallback): void {
    const session = this.#sessions.get(request.sessionID);
    // HAP-NodeJS's StreamRequestTypes is a const enum: "start" | "reconfigure" | "stop" on the wire.
    const type = request.type as string;
    if (!session) {
      if (type === "stop") callback();
      else callback(new Error(`unknown stream session ${request.sessionID}`));
      return;
    }
    let work: Promise<void>;
    if (type === "start" && "audio" in request) work = this.#start(session, request);
    else if (type === "reconfigure" && "video" in request) work = this.#reconfigure(session, request.video);
    else work = this.#close(session, "stopped by HomeKit");
    work.then(
      () => callback(),
      (error: Error) => {
        this.#options.log.warn(`${this.#options.name}: ${type} failed: ${error.message}`);
        // HAP resets its side after an error; ours goes too.
        void this.#close(session, `${type} failed`);
        callback(error);
      },
    );
  }

  async #start(session: Session, request: Extract<StreamingRequest, { audio: unknown }>): Promise<void> {
    if (session.starting) throw new Error("stream already started");
    const { video, audio } = request;
    const live: LiveStreamRequest = {
      target: session.target,
      video: {
        width: video.width,
        height: video.height,
        fps: video.fps,
        maxBitrate: video.max_bit_rate,
        payloadType: video.pt,
        mtu: video.mtu,
        profile: PROFILE_NAMES[video.profile as number] ?? "main",
        level: LEVEL_NAMES[video.level as number] ?? "4.0",
      },
    };
    // "OPUS" is AudioStreamingCodecType.OPUS (a const enum); other codecs are never offered.
    if (this.#options.audio && (audio.codec as string) === "OPUS" && session.target.audioPort !== undefined) {
      live.audio = {
        codec: "opus",
        sampleRateKHz: (audio.sample_rate as number) === 16 ? 16 : 24,
        channels: 1,
        maxBitrate: audio.max_bit_rate,
        payloadType: audio.pt,
        packetTimeMs: audio.packet_time,
      };
    }
    this.#options.log.info(
      {
        session: session.id,
        width: video.width,
        height: video.height,
        fps: video.fps,
        kbps: video.max_bit_rate,
        audio: !!live.audio,
      },
      `${this.#options.name}: HomeKit viewer starts a stream`,
    );
    session.starting = this.#options.source.startLive(live).then(async (stream) => {
      if (session.ended) {
        await stream.stop();
        return undefined;
      }
      session.stream = stream;
      void stream.ended.then(({ reason }) => {
        if (session.ended) return;
        // "stopped": the media layer stopped it (the bridge is shutting down), not a failure.
        this.#options.log[reason === "stopped" ? "info" : "warn"](
          { session: session.id },
          `${this.#options.name}: stream ended (${reason})`,
        );
        void this.#close(session, reason);
        this.controller?.forceStopStreamingSession(session.id);
      });
      return stream;
    });
    // Stopped while starting: the stream was stopped at once and HAP has already reset its side.
    await session.starting;
  }

  async #reconfigure(
    session: Session,
    video: { width: number; height: number; fps: number; max_bit_rate: number },
  ): Promise<void> {
    const stream = session.stream ?? (await session.starting);
    if (!stream) throw new Error("no stream to reconfigure");
    const change: Partial<LiveStreamVideo> = {
      width: video.width,
      height: video.height,
      fps: video.fps,
      maxBitrate: video.max_bit_rate,
    };
    this.#options.log.info(
      { session: session.id, ...change },
      `${this.#options.name}: HomeKit viewer reconfigures the stream`,
    );
    await stream.reconfigure(change);
  }

  #rtcpSeen(session: Session): void {
    session.lastRtcp = Date.now();
    if (session.rtcpTimer || session.ended) return;
    const every = Math.max(250, Math.min(1000, this.#rtcpTimeoutMs / 4));
    session.rtcpTimer = setInterval(() => {
      if (Date.now() - (session.lastRtcp ?? 0) < this.#rtcpTimeoutMs) return;
      this.#options.log.info(
        { session: session.id },
        `${this.#options.name}: no RTCP from the viewer for ${Math.round(this.#rtcpTimeoutMs / 1000)} s; ending its ` +
          `stream`,
      );
      void this.#close(session, "viewer went silent");
      this.controller?.forceStopStreamingSession(session.id);
    }, every);
    session.rtcpTimer.unref();
  }

  /** End a session: stop its stream (awaiting ffmpeg's exit) and free its ports. Idempotent. */
  async #close(session: Session, reason: string): Promise<void> {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    if (session.ended) return;
    session.ended = true;
    clearInterval(session.rtcpTimer);
    for (const socket of session.sockets) socket.close();
    const stream = session.stream ?? (await session.starting?.catch(() => undefined));
    if (stream) {
      this.#options.log.debug({ session: session.id }, `${this.#options.name}: stream ends (${reason})`);
      await stream.stop();
    }
  }

  /** Stop every session (the accessory goes away or the bridge stops). */
  async close(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((session) => this.#close(session, "camera removed")));
  }
}

export interface CameraControllerParts {
  controller: CameraController;
  delegate: HomeKitCameraDelegate;
  /** HomeKit Secure Video, when the source can record. */
  recording?: HomeKitRecordingDelegate;
}

/** A CameraController for one camera, with its delegate; with HomeKit Secure Video when the source records
 * (`motion`: the accessory's motion sensor, linked to the camera as its recording trigger). */
export function createCameraController(options: HomeKitCameraOptions & { motion?: Service }): CameraControllerParts {
  const delegate = new HomeKitCameraDelegate(options);
  const recorder = options.source.recorder;
  let controller: CameraController | undefined;
  const recording = recorder
    ? new HomeKitRecordingDelegate({
        name: options.name,
        recorder,
        log: options.log,
        audioActive: () => {
          const service = controller?.recordingManagement?.recordingManagementService;
          return options.audio && Boolean(service?.getCharacteristic(Characteristic.RecordingAudioActive).value);
        },
      })
    : undefined;
  controller = new CameraController({
    cameraStreamCount: CAMERA_STREAM_COUNT,
    delegate,
    streamingOptions: cameraStreamingOptions(options.audio),
    ...(recording ? { recording: { options: cameraRecordingOptions(), delegate: recording } } : {}),
    ...(recording && options.motion ? { sensors: { motion: options.motion } } : {}),
  });
  delegate.controller = controller;
  return { controller, delegate, ...(recording ? { recording } : {}) };
}
