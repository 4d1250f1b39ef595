// One camera's sound as Opus RTP for all its WebRTC viewers: one ffmpeg per camera (not per viewer)
// turns the camera's AAC (the ingest's frames, written to its stdin as ADTS) into Opus, sent as plain
// RTP to a loopback port of ours; each packet goes to every viewer, whose sender rewrites SSRC,
// payload type and sequence, and encrypts it (DTLS-SRTP). Runs while anyone listens.
import { randomBytes } from "node:crypto";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { Logger } from "../../core/logger.ts";
import type { FrameSource } from "../feed.ts";
import { FfmpegProcess } from "../ffmpeg.ts";
import { opusRtpOutput, stdinInput } from "../ffmpeg-args.ts";
import { pipeAdts } from "../adts-pipe.ts";

export type RtpListener = (packet: Buffer) => void;

export interface OpusFeedOptions {
  ffmpeg: string;
  frames: FrameSource;
  label: string;
  log: Logger;
}

/** Opus in WebRTC runs at 48 kHz (RFC 7587); 20 ms frames, a low bitrate for a baby monitor's room sound. */
export function opusArgs(port: number, ssrc: number): string[] {
  return [
    ...["-hide_banner", "-nostdin", "-loglevel", "warning", "-sdp_file", "/dev/null"],
    ...stdinInput("aac"),
    ...["-map", "0:a:0"],
    ...opusRtpOutput({
      frameMs: 20,
      sampleRate: 48000,
      kbps: 32,
      payloadType: 111,
      // Only packets with it are taken from the loopback port.
      ssrc,
      // Its RTCP comes here too (and is dropped) rather than to a port of someone else.
      url: `rtp://127.0.0.1:${port}?rtcpport=${port}&pkt_size=1200`,
    }),
  ];
}

const RTCP_FIRST = 200;
const RTCP_LAST = 206;

export class OpusFeed {
  readonly #options: OpusFeedOptions;
  readonly #listeners = new Set<RtpListener>();
  #running: { socket: Socket; process: FfmpegProcess; unsubscribe: () => void } | undefined;
  /** "address:port" of the first RTP sender: only ffmpeg's socket is taken after it. */
  #from: string | undefined;
  #ssrc = 0;

  constructor(options: OpusFeedOptions) {
    this.#options = options;
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Whether the encoder runs (tests: nothing is left once the last viewer left). */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /** Each Opus RTP packet from now on; call the result to stop. The first listener starts ffmpeg. */
  async subscribe(listener: RtpListener): Promise<() => void> {
    this.#listeners.add(listener);
    if (!this.#running) await this.#start();
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      this.#stop();
    };
  }

  async #start(): Promise<void> {
    const { ffmpeg, frames, label, log } = this.#options;
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.on("error", () => undefined);
    this.#from = undefined;
    this.#ssrc = randomBytes(4).readUInt32BE(0);
    socket.on("message", (packet, from) => this.#packet(packet, from));
    const process = new FfmpegProcess(ffmpeg, opusArgs(socket.address().port, this.#ssrc), {
      label,
      log,
      stdin: "pipe",
    });
    const stdin = process.child.stdin!;
    // EPIPE when ffmpeg dies: its exit tells the story.
    stdin.on("error", () => undefined);
    const unsubscribe = pipeAdts(frames, stdin, () =>
      log.warn(`${label}: the camera's AAC cannot be framed as ADTS; no sound`),
    );
    const running = { socket, process, unsubscribe };
    this.#running = running;
    void process.exited.then((exit) => {
      if (this.#running !== running) return;
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
      log.warn({ stderr: exit.stderrTail.slice(-5) }, `${label}: the Opus encoder exited with ${how}; no sound`);
      this.#stop();
    });
  }

  #packet(packet: Buffer, from: RemoteInfo): void {
    if (packet.length < 12 || (packet[1]! >= RTCP_FIRST && packet[1]! <= RTCP_LAST)) return;
    if (packet.readUInt32BE(8) !== this.#ssrc) return;
    const sender = `${from.address}:${from.port}`;
    this.#from ??= sender;
    if (sender !== this.#from) return;
    for (const listener of this.#listeners) listener(packet);
  }

  #stop(): void {
    const running = this.#running;
    if (!running) return;
    this.#running = undefined;
    running.unsubscribe();
    // ffmpeg blocked on a read of its stdin would only notice SIGTERM with the next frame: EOF now.
    running.process.child.stdin?.end();
    void running.process.stop();
    running.socket.close();
  }

  /** Stop for good (bridge shutdown). */
  async close(): Promise<void> {
    this.#listeners.clear();
    const process = this.#running?.process;
    this.#stop();
    await process?.exited;
  }
}
