// SRTP for what ffmpeg sends, without the key on ffmpeg's command line (`-srtp_out_params` is an
// option only, and /proc/<pid>/cmdline is readable by every local user). ffmpeg sends plain RTP and
// RTCP to a loopback UDP port of ours; each packet is encrypted here (protocol/srtp.ts, as the native
// relay does) and sent on to the viewer. Only packets from loopback that carry the session's SSRC are taken,
// and the first sender of each kind (RTP, RTCP: ffmpeg uses one socket per kind) is the only one
// accepted after it.
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { SrtpSender } from "./protocol/srtp.ts";

export interface SrtpForwarderOptions {
  /** The viewer. */
  address: string;
  port: number;
  key: Buffer;
  salt: Buffer;
  /** The SSRC ffmpeg was told to use (unsigned). */
  ssrc: number;
}

const RTCP_TYPES_FIRST = 200;
const RTCP_TYPES_LAST = 206;

export class SrtpForwarder {
  readonly #in: Socket;
  readonly #out: Socket;
  readonly #srtp: SrtpSender;
  readonly #ssrc: number;
  /** "address:port" of the first RTP and RTCP sender. */
  #rtpFrom: string | undefined;
  #rtcpFrom: string | undefined;
  #forwarded = 0;
  #refused = 0;
  #closed = false;

  private constructor(options: SrtpForwarderOptions, input: Socket, output: Socket) {
    this.#in = input;
    this.#out = output;
    this.#ssrc = options.ssrc >>> 0;
    this.#srtp = new SrtpSender(options.key, options.salt);
    input.on("message", (packet, from) => this.#packet(packet, from));
    // A viewer's RTCP receiver reports come back here: nothing to do with them.
    output.on("message", () => undefined);
    input.on("error", () => undefined);
    output.on("error", () => undefined);
  }

  static async start(options: SrtpForwarderOptions): Promise<SrtpForwarder> {
    const input = createSocket("udp4");
    const output = createSocket(isIPv6(options.address) ? "udp6" : "udp4");
    try {
      await new Promise<void>((resolve, reject) => {
        input.once("error", reject);
        input.bind(0, "127.0.0.1", () => {
          input.off("error", reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        output.once("error", reject);
        output.connect(options.port, options.address, () => {
          output.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      input.close();
      output.close();
      throw error;
    }
    return new SrtpForwarder(options, input, output);
  }

  /** Where ffmpeg sends its RTP and RTCP. */
  get localPort(): number {
    return this.#in.address().port;
  }

  /** Packets encrypted and sent / dropped (not loopback, wrong SSRC, a second sender). */
  get stats(): { forwarded: number; refused: number } {
    return { forwarded: this.#forwarded, refused: this.#refused };
  }

  #packet(packet: Buffer, from: RemoteInfo): void {
    if (this.#closed) return;
    const rtcp = packet.length >= 8 && packet[1]! >= RTCP_TYPES_FIRST && packet[1]! <= RTCP_TYPES_LAST;
    const ssrcAt = rtcp ? 4 : 8;
    const sender = `${from.address}:${from.port}`;
    const pinned = rtcp ? this.#rtcpFrom : this.#rtpFrom;
    const version2 = (packet[0]! & 0xc0) === 0x80;
    const ours = packet.length >= ssrcAt + 4 && packet.readUInt32BE(ssrcAt) === this.#ssrc;
    const valid = from.address === "127.0.0.1" && version2 && ours;
    if (!valid || (pinned !== undefined && pinned !== sender)) {
      this.#refused++;
      return;
    }
    if (rtcp) this.#rtcpFrom = sender;
    else this.#rtpFrom = sender;
    this.#forwarded++;
    this.#out.send(rtcp ? this.#srtp.protectRtcp(packet) : this.#srtp.protectRtp(packet));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#in.close();
    this.#out.close();
  }
}
