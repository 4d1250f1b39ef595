// One viewer's live stream, sent as SRTP to the address, ports, SSRCs and keys the ecosystem
// negotiated. Copy mode when the camera's H.264 already fits what the viewer asked for (no decode, no
// encode), x264 otherwise. Copy mode's video goes out natively from the ingest's frames
// (video-relay.ts, media.videoRelay "native") and ffmpeg only turns the camera's AAC into Opus, fed
// the AAC frames on stdin; or (media.videoRelay "ffmpeg", or no in-process frames) one ffmpeg reads
// the camera's push (as FLV on its stdin, or what the caller's input options say) and does both.
// Transcoding is always ffmpeg. No key is ever on ffmpeg's command line: it sends plain RTP to a
// loopback port of ours and srtp-forwarder.ts encrypts it.
import { randomUUID } from "node:crypto";
import type { Clock } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import type { LiveStream, LiveStreamRequest, LiveStreamVideo } from "../core/camera.ts";
import type { FrameSource } from "./feed.ts";
import { FfmpegProcess, type FfmpegExit } from "./ffmpeg.ts";
import { opusRtpOutput, stdinInput } from "./ffmpeg-args.ts";
import { pipeFlv } from "./flv-pipe.ts";
import { pipeAdts } from "./adts-pipe.ts";
import { SrtpForwarder } from "./srtp-forwarder.ts";
import { VideoRelay } from "./video-relay.ts";

export interface LiveInput {
  /** ffmpeg input options and -i, e.g. ["-probesize","32","-analyzeduration","0","-f","flv","-i","pipe:0"];
   * with `-i pipe:0` the camera's stream is written to ffmpeg's stdin from `frames`. */
  args: string[];
  /** What the source carries (copy-mode decision). */
  video: { width: number; height: number; fps?: number; profile?: "baseline" | "main" | "high"; level?: string };
  audio: boolean;
  /** The camera's frames in this process (the ingest's feed): copy mode's video is relayed from them. */
  frames?: FrameSource;
}

export type VideoRelayMode = "native" | "ffmpeg";

export interface LiveSessionOptions {
  ffmpeg: string;
  input: LiveInput;
  request: LiveStreamRequest;
  transcode: "auto" | "always";
  /** Who sends copy mode's video (default "native" when the input has frames). */
  videoRelay?: VideoRelayMode;
  label: string;
  log: Logger;
  /** The native relay's sender reports run on this (default: the real clock). */
  clock?: Clock;
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

/** Where ffmpeg sends each kind of RTP: loopback ports of the session's SRTP forwarders. */
export interface RtpPorts {
  video: number;
  audio?: number;
}

/** ffmpeg's SRTP output kept its packets this much under pkt_size (its srtp protocol's overhead);
 * our forwarder adds the same tag, so the viewer sees the packet sizes it saw before. */
const SRTP_OVERHEAD = 14;

function rtpUrl(port: number, packetSize: number): string {
  return `rtp://127.0.0.1:${port}?rtcpport=${port}&pkt_size=${packetSize - SRTP_OVERHEAD}`;
}

/** ffmpeg's -ssrc is a signed 32-bit option; HomeKit's SSRCs are unsigned. */
export function signedSsrc(ssrc: number): number {
  return ssrc | 0;
}

function opusFrameMs(packetTimeMs: number): number {
  return OPUS_FRAME_MS.reduce((best, ms) => (Math.abs(ms - packetTimeMs) < Math.abs(best - packetTimeMs) ? ms : best));
}

/** Whether the viewer gets audio: it asked, gave a port and keys, and the camera has some. */
export function wantsAudio(input: LiveInput, request: LiveStreamRequest): boolean {
  const { audio, target } = request;
  return (
    !!audio &&
    input.audio &&
    target.audioPort !== undefined &&
    !!target.audioSrtpKey &&
    !!target.audioSrtpSalt &&
    target.audioSsrc !== undefined
  );
}

/** Opus as RTP to the audio forwarder, when the viewer gets audio. */
function audioOutput(input: LiveInput, request: LiveStreamRequest, port: number | undefined): string[] | undefined {
  const { audio, target } = request;
  if (!audio || !wantsAudio(input, request) || port === undefined) return undefined;
  return opusRtpOutput({
    frameMs: opusFrameMs(audio.packetTimeMs),
    sampleRate: audio.sampleRateKHz * 1000,
    kbps: Math.max(8, Math.round(audio.maxBitrate)),
    payloadType: audio.payloadType,
    ssrc: target.audioSsrc!,
    url: rtpUrl(port, AUDIO_PACKET_SIZE),
  });
}

/**
 * The audio-only ffmpeg of a natively relayed session: ADTS AAC on stdin (the ingest's frames, no
 * RTMP reader), Opus out; undefined when there is no audio to send.
 */
export function audioArgs(
  input: LiveInput,
  request: LiveStreamRequest,
  audioPort: number | undefined,
): string[] | undefined {
  const audio = audioOutput(input, request, audioPort);
  if (!audio) return undefined;
  return [
    "-hide_banner",
    "-loglevel",
    "warning",
    "-sdp_file",
    "/dev/null",
    ...stdinInput("aac"),
    "-map",
    "0:a:0",
    ...audio,
  ];
}

/** The ffmpeg arguments for one session (no key in them: see RtpPorts). */
export function liveArgs(
  input: LiveInput,
  request: LiveStreamRequest,
  mode: "copy" | "transcode",
  ports: RtpPorts,
): string[] {
  const { target, video } = request;
  // -sdp_file: without it ffmpeg prints the SDP to stdout.
  const args = ["-hide_banner", "-nostdin", "-loglevel", "warning", "-sdp_file", "/dev/null", ...input.args];

  args.push("-map", "0:v:0");
  if (mode === "copy") {
    // RTMP/FLV carries H.264 as length-prefixed NALs with SPS/PPS out of band; RTP wants Annex B with
    // SPS/PPS before every keyframe, so a late decoder can start.
    args.push("-c:v", "copy", "-bsf:v", "h264_mp4toannexb");
  } else {
    const kbps = Math.max(100, Math.round(video.maxBitrate));
    args.push(
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-tune",
      "zerolatency",
      "-pix_fmt",
      "yuv420p",
      "-profile:v",
      video.profile,
      "-level:v",
      video.level,
      "-vf",
      `scale=${video.width}:${video.height}:force_original_aspect_ratio=decrease:force_divisible_by=2`,
      "-r",
      String(video.fps),
      "-g",
      String(Math.max(1, Math.round(video.fps * GOP_SECONDS))),
      "-b:v",
      `${kbps}k`,
      "-maxrate",
      `${kbps}k`,
      "-bufsize",
      `${kbps * 2}k`,
    );
  }
  args.push(
    "-payload_type",
    String(video.payloadType),
    "-ssrc",
    String(signedSsrc(target.videoSsrc)),
    "-f",
    "rtp",
    rtpUrl(ports.video, video.mtu),
  );

  const audio = audioOutput(input, request, ports.audio);
  if (audio) args.push("-map", "0:a:0", ...audio);
  return args;
}

function describeExit(exit: FfmpegExit): string {
  const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
  const last = exit.stderrTail.at(-1);
  return `ffmpeg exited with ${how}${last ? `: ${last}` : ""}`;
}

/** What runs for a session now: ffmpeg (video and audio, or audio only), and the native video relay. */
interface Parts {
  process?: FfmpegProcess;
  relay?: VideoRelay;
  /** Encrypt what ffmpeg sends. */
  forwarders: SrtpForwarder[];
  /** Stops feeding ffmpeg's stdin from the ingest. */
  unsubscribe?: () => void;
}

class LiveSession implements LiveStream {
  readonly id = randomUUID();
  readonly ended: Promise<{ reason: string }>;
  readonly #options: LiveSessionOptions;
  readonly #request: LiveStreamRequest;
  #mode: "copy" | "transcode" = "copy";
  #parts: Parts | undefined;
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

  /** Whether copy mode's video is relayed natively (tests, bench). */
  get nativeVideo(): boolean {
    return this.#parts?.relay !== undefined;
  }

  #wantedMode(): "copy" | "transcode" {
    return this.#options.transcode === "auto" && copyFits(this.#options.input.video, this.#request.video)
      ? "copy"
      : "transcode";
  }

  /** Start the session's parts for the current request; resolves once they run (rejects when they cannot start). */
  async launch(): Promise<void> {
    const { input, log, label, videoRelay } = this.#options;
    this.#mode = this.#wantedMode();
    const native = this.#mode === "copy" && (videoRelay ?? "native") === "native" && input.frames !== undefined;
    const parts: Parts = { forwarders: [] };
    this.#parts = parts;
    const { video, target } = this.#request;
    log.info(
      {
        mode: this.#mode,
        video: native ? "native" : "ffmpeg",
        width: video.width,
        height: video.height,
        fps: video.fps,
        audio: !!(this.#request.audio && input.audio),
      },
      `${label}: live stream (${this.#mode}${native ? ", native video" : ""})`,
    );
    const audioPort = wantsAudio(input, this.#request)
      ? await this.#forward(
          parts,
          target.address,
          target.audioPort!,
          target.audioSrtpKey!,
          target.audioSrtpSalt!,
          target.audioSsrc!,
        )
      : undefined;
    if (!native) {
      const videoPort = await this.#forward(
        parts,
        target.address,
        target.videoPort,
        target.videoSrtpKey,
        target.videoSrtpSalt,
        target.videoSsrc,
      );
      const args = liveArgs(input, this.#request, this.#mode, { video: videoPort, audio: audioPort });
      const fromPipe = input.args.includes("pipe:0");
      const child = await this.#spawn(parts, args, fromPipe ? "pipe" : undefined);
      if (fromPipe) {
        if (!input.frames?.subscribeTags) throw new Error("ffmpeg input pipe:0 without a stream to feed it");
        const stdin = child.child.stdin!;
        // EPIPE when ffmpeg dies: its exit tells the story.
        stdin.on("error", () => undefined);
        const unsubscribe = pipeFlv({ subscribeTags: input.frames.subscribeTags.bind(input.frames) }, stdin, {
          audio: input.audio,
        });
        parts.unsubscribe = () => {
          unsubscribe();
          stdin.end();
        };
      }
      return;
    }
    parts.relay = await VideoRelay.start({
      source: input.frames!,
      address: target.address,
      port: target.videoPort,
      key: target.videoSrtpKey,
      salt: target.videoSrtpSalt,
      ssrc: target.videoSsrc,
      payloadType: video.payloadType,
      mtu: video.mtu,
      label,
      log,
      clock: this.#options.clock,
    });
    const relay = parts.relay;
    void relay.ended.then(({ reason }) => this.#partEnded(parts, `video relay ended: ${reason}`));
    const audio = audioArgs(input, this.#request, audioPort);
    if (!audio) return;
    const child = await this.#spawn(parts, audio, "pipe");
    const stdin = child.child.stdin!;
    // EPIPE when ffmpeg dies: its exit tells the story.
    stdin.on("error", () => undefined);
    const unsubscribe = pipeAdts(input.frames!, stdin, () =>
      log.warn(`${label}: the camera's AAC cannot be framed as ADTS; no audio`),
    );
    parts.unsubscribe = () => {
      unsubscribe();
      // ffmpeg blocked on a read of its stdin would only notice SIGTERM with the next frame: EOF now.
      stdin.end();
    };
  }

  async #forward(
    parts: Parts,
    address: string,
    port: number,
    key: Buffer,
    salt: Buffer,
    ssrc: number,
  ): Promise<number> {
    const forwarder = await SrtpForwarder.start({ address, port, key, salt, ssrc });
    parts.forwarders.push(forwarder);
    return forwarder.localPort;
  }

  async #spawn(parts: Parts, args: string[], stdin?: "pipe"): Promise<FfmpegProcess> {
    const { ffmpeg, log, label } = this.#options;
    const child = new FfmpegProcess(ffmpeg, args, { label, log, ...(stdin ? { stdin } : {}) });
    parts.process = child;
    void child.exited.then((exit) => {
      const reason = describeExit(exit);
      if (parts === this.#parts && !this.#finished && !this.#stopping)
        this.#options.log.warn({ stderr: exit.stderrTail.slice(-5) }, `${label}: ${reason}`);
      this.#partEnded(parts, reason);
    });
    await new Promise<void>((resolve, reject) => {
      child.child.once("spawn", resolve);
      child.child.once("error", reject);
    });
    return child;
  }

  /** One part of the running set ended on its own: the session ends (a replaced or stopped set does not). */
  #partEnded(parts: Parts, reason: string): void {
    if (parts !== this.#parts || this.#finished || this.#stopping) return;
    this.#end(reason);
    void this.#stopParts(parts);
  }

  async #stopParts(parts: Parts | undefined): Promise<void> {
    if (!parts) return;
    parts.unsubscribe?.();
    parts.relay?.stop();
    await parts.process?.stop();
    for (const forwarder of parts.forwarders) forwarder.close();
  }

  #end(reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
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
      const old = this.#parts;
      this.#parts = undefined;
      await this.#stopParts(old);
      if (this.#finished) return;
      try {
        await this.launch();
      } catch (error) {
        this.#end(`ffmpeg could not restart: ${(error as Error).message}`);
        await this.#stopParts(this.#parts);
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
      await this.#stopParts(this.#parts);
      this.#end("stopped");
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Start one viewer's stream; resolves once it runs. `ended` resolves when it is gone. */
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
