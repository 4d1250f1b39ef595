// One viewer's live stream: one ffmpeg that reads the camera's push (input options from the caller)
// and sends SRTP to the address, ports, SSRCs and keys the ecosystem negotiated. Copy mode when the
// camera's H.264 already fits what the viewer asked for (no decode, no encode), x264 otherwise.
import { randomUUID } from "node:crypto";
import { isIPv6 } from "node:net";
import { forgetSecret, registerSecret, type Logger } from "../core/logger.ts";
import type { LiveStream, LiveStreamRequest, LiveStreamVideo } from "../core/camera.ts";
import { FfmpegProcess, type FfmpegExit } from "./ffmpeg.ts";

export interface LiveInput {
  /** ffmpeg input options and -i, e.g. ["-probesize","32","-analyzeduration","0","-i","rtmp://127.0.0.1:1935/live/KEY"] */
  args: string[];
  /** What the source carries (copy-mode decision). */
  video: { width: number; height: number; fps?: number; profile?: "baseline" | "main" | "high"; level?: string };
  audio: boolean;
}

export interface LiveSessionOptions {
  ffmpeg: string;
  input: LiveInput;
  request: LiveStreamRequest;
  transcode: "auto" | "always";
  label: string;
  log: Logger;
}

const PROFILE_RANK = { baseline: 0, main: 1, high: 2 } as const;
/** Opus frame sizes libopus accepts (HomeKit may ask 30 ms, which Opus cannot frame). */
const OPUS_FRAME_MS = [10, 20, 40, 60];
const AUDIO_PACKET_SIZE = 188;
const GOP_SECONDS = 2;

/**
 * Can the camera's H.264 go to this viewer untouched? The level is not compared: HomeKit only
 * offers 3.1 to 4.0, every Apple decoder plays higher levels, and re-encoding a 1080p camera that
 * says 4.1 would cost a small machine its CPU for nothing.
 */
export function copyFits(source: LiveInput["video"], video: LiveStreamVideo): boolean {
  if (source.width > video.width || source.height > video.height) return false;
  // An unknown profile is taken as main: what cameras of this kind push (Nanit: main).
  if (PROFILE_RANK[source.profile ?? "main"] > PROFILE_RANK[video.profile]) return false;
  // "Roughly": a 15.2 fps camera still fits a 15 fps request.
  if (source.fps !== undefined && source.fps > video.fps * 1.1 + 0.5) return false;
  return true;
}

function srtpUrl(address: string, port: number, packetSize: number): string {
  const host = isIPv6(address) ? `[${address}]` : address;
  return `srtp://${host}:${port}?rtcpport=${port}&pkt_size=${packetSize}`;
}

/** ffmpeg's -ssrc is a signed 32-bit option; HomeKit's SSRCs are unsigned. */
export function signedSsrc(ssrc: number): number {
  return ssrc | 0;
}

function srtpParams(key: Buffer, salt: Buffer): string {
  if (key.length !== 16 || salt.length !== 14) throw new Error(`SRTP AES_CM_128_HMAC_SHA1_80 needs a 16-byte key and a 14-byte salt (got ${key.length} and ${salt.length})`);
  return Buffer.concat([key, salt]).toString("base64");
}

function opusFrameMs(packetTimeMs: number): number {
  return OPUS_FRAME_MS.reduce((best, ms) => (Math.abs(ms - packetTimeMs) < Math.abs(best - packetTimeMs) ? ms : best));
}

/** The ffmpeg arguments for one session; `secrets` are the SRTP parameters to scrub. */
export function liveArgs(input: LiveInput, request: LiveStreamRequest, mode: "copy" | "transcode"): { args: string[]; secrets: string[] } {
  const { target, video } = request;
  const videoParams = srtpParams(target.videoSrtpKey, target.videoSrtpSalt);
  const secrets = [videoParams];
  // -sdp_file: without it ffmpeg prints the SDP, SRTP key included, to stdout.
  const args = ["-hide_banner", "-nostdin", "-loglevel", "warning", "-sdp_file", "/dev/null", ...input.args];

  args.push("-map", "0:v:0");
  if (mode === "copy") {
    // RTMP/FLV carries H.264 as length-prefixed NALs with SPS/PPS out of band; RTP wants Annex B with
    // SPS/PPS before every keyframe, so a late decoder can start.
    args.push("-c:v", "copy", "-bsf:v", "h264_mp4toannexb");
  } else {
    const kbps = Math.max(100, Math.round(video.maxBitrate));
    args.push(
      "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
      "-profile:v", video.profile, "-level:v", video.level,
      "-vf", `scale=${video.width}:${video.height}:force_original_aspect_ratio=decrease:force_divisible_by=2`,
      "-r", String(video.fps), "-g", String(Math.max(1, Math.round(video.fps * GOP_SECONDS))),
      "-b:v", `${kbps}k`, "-maxrate", `${kbps}k`, "-bufsize", `${kbps * 2}k`,
    );
  }
  args.push(
    "-payload_type", String(video.payloadType), "-ssrc", String(signedSsrc(target.videoSsrc)),
    "-f", "rtp", "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", videoParams,
    srtpUrl(target.address, target.videoPort, video.mtu),
  );

  const audio = request.audio;
  if (audio && input.audio && target.audioPort !== undefined && target.audioSrtpKey && target.audioSrtpSalt && target.audioSsrc !== undefined) {
    const audioParams = srtpParams(target.audioSrtpKey, target.audioSrtpSalt);
    secrets.push(audioParams);
    args.push(
      "-map", "0:a:0", "-c:a", "libopus", "-application", "lowdelay", "-frame_duration", String(opusFrameMs(audio.packetTimeMs)),
      "-ar", String(audio.sampleRateKHz * 1000), "-ac", "1", "-b:a", `${Math.max(8, Math.round(audio.maxBitrate))}k`,
      "-payload_type", String(audio.payloadType), "-ssrc", String(signedSsrc(target.audioSsrc)),
      "-f", "rtp", "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", audioParams,
      srtpUrl(target.address, target.audioPort, AUDIO_PACKET_SIZE),
    );
  }
  return { args, secrets };
}

function describeExit(exit: FfmpegExit): string {
  const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
  const last = exit.stderrTail.at(-1);
  return `ffmpeg exited with ${how}${last ? `: ${last}` : ""}`;
}

class LiveSession implements LiveStream {
  readonly id = randomUUID();
  readonly ended: Promise<{ reason: string }>;
  readonly #options: LiveSessionOptions;
  readonly #request: LiveStreamRequest;
  #mode: "copy" | "transcode" = "copy";
  #process: FfmpegProcess | undefined;
  #secrets: string[] = [];
  #finished = false;
  #stopping = false;
  #finish!: (result: { reason: string }) => void;
  /** Serialises reconfigure() and stop(). */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: LiveSessionOptions) {
    this.#options = options;
    this.#request = { ...options.request, video: { ...options.request.video } };
    this.ended = new Promise((done) => {
      this.#finish = done;
    });
  }

  get mode(): "copy" | "transcode" {
    return this.#mode;
  }

  #wantedMode(): "copy" | "transcode" {
    return this.#options.transcode === "auto" && copyFits(this.#options.input.video, this.#request.video) ? "copy" : "transcode";
  }

  /** Spawn ffmpeg for the current request; resolves once the child exists (or rejects when it cannot start). */
  async launch(): Promise<void> {
    const { ffmpeg, input, log, label } = this.#options;
    this.#mode = this.#wantedMode();
    const { args, secrets } = liveArgs(input, this.#request, this.#mode);
    for (const secret of secrets) registerSecret(secret);
    this.#secrets = secrets;
    const { video } = this.#request;
    log.info({ mode: this.#mode, width: video.width, height: video.height, fps: video.fps, audio: !!(this.#request.audio && input.audio) }, `${label}: live stream (${this.#mode})`);
    const child = new FfmpegProcess(ffmpeg, args, { label, log });
    this.#process = child;
    void child.exited.then((exit) => this.#exited(child, exit));
    await new Promise<void>((resolve, reject) => {
      child.child.once("spawn", resolve);
      child.child.once("error", reject);
    });
  }

  #exited(child: FfmpegProcess, exit: FfmpegExit): void {
    // A process replaced by reconfigure() or stopped by stop() does not end the session by itself.
    if (child !== this.#process || this.#finished || this.#stopping) return;
    const reason = describeExit(exit);
    this.#options.log.warn({ stderr: exit.stderrTail.slice(-5) }, `${this.#options.label}: ${reason}`);
    this.#end(reason);
  }

  #end(reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const secret of this.#secrets) forgetSecret(secret);
    this.#finish({ reason });
  }

  reconfigure(video: Partial<LiveStreamVideo>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#finished) return;
      const before = JSON.stringify(this.#request.video);
      Object.assign(this.#request.video, Object.fromEntries(Object.entries(video).filter(([, v]) => v !== undefined)));
      if (JSON.stringify(this.#request.video) === before) return;
      // A copied stream that still fits needs nothing: the camera's picture does not change.
      if (this.#mode === "copy" && this.#wantedMode() === "copy") return;
      const old = this.#process;
      this.#process = undefined;
      await old?.stop();
      if (this.#finished) return;
      try {
        await this.launch();
      } catch (error) {
        this.#end(`ffmpeg could not restart: ${(error as Error).message}`);
        throw error;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  stop(): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#finished) return;
      this.#stopping = true;
      await this.#process?.stop();
      this.#end("stopped");
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Start ffmpeg for one viewer; resolves once it runs. `ended` resolves when it is gone. */
export async function startLiveSession(options: LiveSessionOptions): Promise<LiveStream> {
  const session = new LiveSession(options);
  try {
    await session.launch();
  } catch (error) {
    await session.stop();
    throw new Error(`${options.label}: ffmpeg could not start (${(error as Error).message})`);
  }
  return session;
}
