// Copy mode without ffmpeg: one viewer's video sent straight from the camera's frames in the ingest.
// Each H.264 access unit is packetized (RFC 6184), encrypted with the viewer's SRTP key and sent by
// UDP; SPS and PPS go before every IDR so a decoder can start at any keyframe, and the viewer starts
// at the held keyframe (or waits for the next). An RTCP sender report goes every second, as SRTCP:
// HomeKit takes RTCP as the sign that a stream is alive. Measured in bench/camera.ts: a fraction of
// what the ffmpeg copy cost (RTMP read + remux + SRTP in a separate process).
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { REAL_CLOCK, type Clock, type TimerHandle } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import type { FrameSource, VideoFrame } from "./feed.ts";
import { AccessUnits } from "./access-units.ts";
import { H264Packetizer } from "./protocol/h264-rtp.ts";
import { RTP_CLOCK_KHZ, senderReportPacket } from "./protocol/rtcp.ts";
import { SRTP_TAG_LENGTH, SrtpSender } from "./protocol/srtp.ts";

const CNAME = Buffer.from("hearthbridge");
const DEFAULT_MTU = 1378;

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
  /** The report interval and the reports' times (tests: a manual clock). */
  clock?: Clock;
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
  readonly #accessUnits = new AccessUnits();
  readonly #clock: Clock;
  #unsubscribe: (() => void) | undefined;
  #rtcpTimer: TimerHandle | undefined;
  #finish!: (result: { reason: string }) => void;
  #stopped = false;
  /** The last access unit sent: its RTP timestamp and when (clock.now()). */
  #lastRtp: { timestamp: number; at: number } | undefined;
  /** The held GOP is being sent (its frames are older than they look). */
  #replaying = false;
  /** Packets sent when the last sender report went. */
  #packetsAtReport = -1;

  private constructor(options: VideoRelayOptions, socket: Socket) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#socket = socket;
    this.#srtp = new SrtpSender(options.key, options.salt);
    const mtu = options.mtu && options.mtu > 0 ? options.mtu : DEFAULT_MTU;
    // The whole SRTP packet (with its tag) must fit the viewer's MTU.
    this.#packetizer = new H264Packetizer({
      payloadType: options.payloadType,
      ssrc: options.ssrc,
      maxPacketSize: mtu - SRTP_TAG_LENGTH,
    });
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
    relay.#rtcpTimer = relay.#clock.setInterval(() => relay.#senderReport(), options.rtcpIntervalMs ?? 1_000);
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
    this.#clock.clearInterval(this.#rtcpTimer);
    try {
      this.#socket.close();
    } catch {
      // closed already
    }
    this.#finish({ reason });
  }

  #frame(frame: VideoFrame): void {
    if (this.#stopped) return;
    const unit = this.#accessUnits.next(frame);
    if (!unit) return;
    const { units, timestamp } = unit;
    for (const packet of this.#packetizer.packetize(units, timestamp)) {
      this.#stats.packets++;
      this.#stats.octets += packet.length - 12;
      this.#socket.send(this.#srtp.protectRtp(packet));
    }
    this.#stats.frames++;
    const first = this.#lastRtp === undefined;
    this.#lastRtp = { timestamp, at: this.#clock.now() };
    // As ffmpeg does: a first report right with the stream, so the viewer can map it to wall time.
    if (first && !this.#replaying) this.#senderReport();
  }

  /**
   * RTCP SR (RFC 3550 6.4.1) + SDES CNAME, as one compound SRTCP packet. Like ffmpeg, only while
   * video flows: reports without video would tell the viewer a stream lives whose camera is gone.
   */
  #senderReport(): void {
    if (this.#stopped || !this.#lastRtp || this.#stats.packets === this.#packetsAtReport) return;
    this.#packetsAtReport = this.#stats.packets;
    const wallMs = this.#clock.wallNow();
    const sinceLastFrame = this.#clock.now() - this.#lastRtp.at;
    const rtpTimestamp = (this.#lastRtp.timestamp + Math.round(sinceLastFrame * RTP_CLOCK_KHZ)) >>> 0;
    const { packets, octets } = this.#stats;
    const { ssrc } = this.#options;
    const report = senderReportPacket({ ssrc, wallMs, rtpTimestamp, packets, octets, cname: CNAME });
    this.#stats.senderReports++;
    this.#socket.send(this.#srtp.protectRtcp(report));
  }
}
