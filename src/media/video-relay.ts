// Copy mode without ffmpeg: one viewer's video sent straight from the camera's frames in the ingest.
// Each H.264 access unit is packetized (RFC 6184), encrypted with the viewer's SRTP key and sent by
// UDP; SPS and PPS go before every IDR so a decoder can start at any keyframe, and the viewer starts
// at the held keyframe (or waits for the next). An RTCP sender report goes every second, as SRTCP:
// HomeKit takes RTCP as the sign that a stream is alive. Measured in bench/camera.ts: a fraction of
// what the ffmpeg copy cost (RTMP read + remux + SRTP in a separate process).
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Logger } from "../core/logger.ts";
import type { FrameSource, VideoFrame } from "./feed.ts";
import { H264Packetizer, NAL_IDR, NAL_SPS, nalType, splitAvcc } from "./h264-rtp.ts";
import { SRTP_TAG_LENGTH, SrtpSender } from "./srtp.ts";

const RTP_CLOCK_KHZ = 90;
const RTCP_SR = 200;
const RTCP_SDES = 202;
const SDES_CNAME = 1;
const CNAME = Buffer.from("hearthbridge");
/** Seconds from 1900 (NTP) to 1970 (Unix). */
const NTP_UNIX_OFFSET = 2_208_988_800;
const DEFAULT_MTU = 1378;
/** A camera clock jump (a new publish, a wrap, a broken encoder) larger than this is a discontinuity. */
const MAX_FRAME_GAP_MS = 5_000;
const DEFAULT_FRAME_MS = 66;

export interface VideoRelayOptions {
  source: FrameSource;
  address: string;
  port: number;
  key: Buffer;
  salt: Buffer;
  ssrc: number;
  payloadType: number;
  /** Largest UDP payload the viewer accepts (HomeKit's MTU; 1378 when it says none). */
  mtu?: number;
  label: string;
  log: Logger;
  rtcpIntervalMs?: number;
}

export interface VideoRelayStats {
  packets: number;
  /** RTP payload octets (the sender report's count). */
  octets: number;
  frames: number;
  senderReports: number;
}

export class VideoRelay {
  readonly ended: Promise<{ reason: string }>;
  readonly #options: VideoRelayOptions;
  readonly #socket: Socket;
  readonly #srtp: SrtpSender;
  readonly #packetizer: H264Packetizer;
  readonly #stats: VideoRelayStats = { packets: 0, octets: 0, frames: 0, senderReports: 0 };
  /** Random start of the RTP clock (RFC 3550 5.1). */
  readonly #timestampBase = Math.floor(Math.random() * 2 ** 32);
  #unsubscribe: (() => void) | undefined;
  #rtcpTimer: NodeJS.Timeout | undefined;
  #finish!: (result: { reason: string }) => void;
  #stopped = false;
  #waitKeyframe = true;
  #generation: number | undefined;
  /** Camera ms -> our ms: shifts each new publish to continue where the last one left off. */
  #offset = 0;
  #lastDts: number | undefined;
  #frameMs = DEFAULT_FRAME_MS;
  /** The last access unit sent: its RTP timestamp and when (performance.now()). */
  #lastRtp: { timestamp: number; at: number } | undefined;
  /** The held GOP is being sent (its frames are older than they look). */
  #replaying = false;
  /** Packets sent when the last sender report went. */
  #packetsAtReport = -1;

  private constructor(options: VideoRelayOptions, socket: Socket) {
    this.#options = options;
    this.#socket = socket;
    this.#srtp = new SrtpSender(options.key, options.salt);
    const mtu = options.mtu && options.mtu > 0 ? options.mtu : DEFAULT_MTU;
    // The whole SRTP packet (with its tag) must fit the viewer's MTU.
    this.#packetizer = new H264Packetizer({ payloadType: options.payloadType, ssrc: options.ssrc, maxPacketSize: mtu - SRTP_TAG_LENGTH });
    this.ended = new Promise((done) => {
      this.#finish = done;
    });
    // A send error (no route for a moment, a full buffer, a port that refused the last packet) loses
    // packets, not the stream: the viewer's RTCP silence is what ends a stream whose viewer is gone.
    let reported = false;
    socket.on("error", (error) => {
      if (!reported) options.log.warn({ err: error }, `${options.label}: video send failed: ${error.message}`);
      reported = true;
    });
  }

  /** Open a UDP socket to the viewer and start relaying (the held keyframe goes out at once when there is one). */
  static async start(options: VideoRelayOptions): Promise<VideoRelay> {
    const socket = createSocket(isIPv6(options.address) ? "udp6" : "udp4");
    // Connected: each send skips the address lookup dgram does per packet for an unconnected socket.
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(options.port, options.address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    try {
      // A viewer's burst at a keyframe is larger than the default send buffer.
      socket.setSendBufferSize(1024 * 1024);
    } catch {
      // capped by net.core.wmem_max: the default works too
    }
    const relay = new VideoRelay(options, socket);
    relay.#replaying = true;
    relay.#unsubscribe = options.source.subscribe({ video: (frame) => relay.#frame(frame) });
    relay.#replaying = false;
    // After the held GOP, not with its first frame: its last frame is the one that belongs to "now".
    relay.#senderReport();
    relay.#rtcpTimer = setInterval(() => relay.#senderReport(), options.rtcpIntervalMs ?? 1_000);
    relay.#rtcpTimer.unref();
    return relay;
  }

  get stats(): Readonly<VideoRelayStats> {
    return this.#stats;
  }

  stop(): void {
    this.#end("stopped");
  }

  #end(reason: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    clearInterval(this.#rtcpTimer);
    try {
      this.#socket.close();
    } catch {
      // closed already
    }
    this.#finish({ reason });
  }

  #frame(frame: VideoFrame): void {
    if (this.#stopped) return;
    if (frame.generation !== this.#generation) {
      // A new publish (the camera reconnected): its clock starts anew and its first frames may not
      // be decodable without a keyframe of its own.
      this.#generation = frame.generation;
      this.#waitKeyframe = true;
      this.#rebase(frame.dts);
    } else if (this.#lastDts !== undefined && (frame.dts < this.#lastDts - 1_000 || frame.dts > this.#lastDts + MAX_FRAME_GAP_MS)) {
      this.#rebase(frame.dts);
    }
    if (this.#waitKeyframe && !frame.keyframe) return;
    const units = splitAvcc(frame.data, frame.config.lengthSize);
    if (!units?.length) return;
    if (this.#lastDts !== undefined && frame.dts > this.#lastDts) this.#frameMs = Math.min(200, frame.dts - this.#lastDts);
    this.#lastDts = frame.dts;
    const types = units.map(nalType);
    if (types.includes(NAL_IDR) && !types.includes(NAL_SPS)) units.unshift(...frame.config.sps, ...frame.config.pps);
    this.#waitKeyframe = false;
    const timestamp = (this.#timestampBase + Math.round((frame.pts + this.#offset) * RTP_CLOCK_KHZ)) >>> 0;
    for (const packet of this.#packetizer.packetize(units, timestamp)) {
      this.#stats.packets++;
      this.#stats.octets += packet.length - 12;
      this.#socket.send(this.#srtp.protectRtp(packet));
    }
    this.#stats.frames++;
    const first = this.#lastRtp === undefined;
    this.#lastRtp = { timestamp, at: performance.now() };
    // As ffmpeg does: a first report right with the stream, so the viewer can map it to wall time.
    if (first && !this.#replaying) this.#senderReport();
  }

  /** Continue the RTP clock one frame after the last frame sent, whatever the camera's clock says. */
  #rebase(dts: number): void {
    if (this.#lastDts === undefined) {
      this.#offset = -dts;
      return;
    }
    this.#offset = this.#lastDts + this.#offset + this.#frameMs - dts;
    this.#lastDts = undefined;
  }

  /**
   * RTCP SR (RFC 3550 6.4.1) + SDES CNAME, as one compound SRTCP packet. Like ffmpeg, only while
   * video flows: reports without video would tell the viewer a stream lives whose camera is gone.
   */
  #senderReport(): void {
    if (this.#stopped || !this.#lastRtp || this.#stats.packets === this.#packetsAtReport) return;
    this.#packetsAtReport = this.#stats.packets;
    const nowMs = performance.timeOrigin + performance.now();
    const rtpNow = (this.#lastRtp.timestamp + Math.round((performance.now() - this.#lastRtp.at) * RTP_CLOCK_KHZ)) >>> 0;
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = RTCP_SR;
    sr.writeUInt16BE(sr.length / 4 - 1, 2);
    sr.writeUInt32BE(this.#options.ssrc >>> 0, 4);
    const seconds = Math.floor(nowMs / 1000);
    sr.writeUInt32BE((seconds + NTP_UNIX_OFFSET) >>> 0, 8);
    sr.writeUInt32BE(Math.floor(((nowMs - seconds * 1000) / 1000) * 2 ** 32) >>> 0, 12);
    sr.writeUInt32BE(rtpNow, 16);
    sr.writeUInt32BE(this.#stats.packets >>> 0, 20);
    sr.writeUInt32BE(this.#stats.octets >>> 0, 24);
    // SDES chunk: SSRC, CNAME item, a terminating zero, padded to 32 bits.
    const itemsLength = 2 + CNAME.length + 1;
    const chunk = Buffer.alloc(4 + Math.ceil(itemsLength / 4) * 4);
    chunk.writeUInt32BE(this.#options.ssrc >>> 0, 0);
    chunk[4] = SDES_CNAME;
    chunk[5] = CNAME.length;
    CNAME.copy(chunk, 6);
    const sdes = Buffer.alloc(4);
    sdes[0] = 0x81;
    sdes[1] = RTCP_SDES;
    sdes.writeUInt16BE((4 + chunk.length) / 4 - 1, 2);
    this.#stats.senderReports++;
    this.#socket.send(this.#srtp.protectRtcp(Buffer.concat([sr, sdes, chunk])));
  }
}
