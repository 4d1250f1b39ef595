// A UDP port playing the HomeKit controller's receiving end of one stream (video or audio): it has
// the SRTP master key the controller would put in SetupEndpoints, keeps every packet that arrives,
// and verifies and decrypts each one as it comes.
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { EventEmitter, once } from "node:events";
import { isRtcp, SrtpReceiver, type RtpPacket, type SrtpKeys } from "./srtp.ts";

export interface SrtpSinkEvents {
  packet: [packet: RtpPacket];
}

export class SrtpSink extends EventEmitter<SrtpSinkEvents> {
  readonly socket: Socket;
  readonly keys: SrtpKeys;
  /** Raw SRTP packets (RTCP excluded), as received. */
  readonly raw: Buffer[] = [];
  /** Verified and decrypted RTP packets. */
  readonly packets: RtpPacket[] = [];
  /** Packets whose authentication tag did not verify with `keys`. */
  authFailures = 0;
  rtcpPackets = 0;
  #receiver: SrtpReceiver;

  private constructor(socket: Socket) {
    super();
    this.socket = socket;
    this.keys = { key: randomBytes(16), salt: randomBytes(14) };
    this.#receiver = new SrtpReceiver(this.keys);
    socket.on("message", (message) => {
      if (isRtcp(message)) {
        this.rtcpPackets++;
        return;
      }
      this.raw.push(message);
      let packet: RtpPacket;
      try {
        packet = this.#receiver.unprotect(message);
      } catch {
        this.authFailures++;
        return;
      }
      this.packets.push(packet);
      this.emit("packet", packet);
    });
  }

  static async open(address = "127.0.0.1"): Promise<SrtpSink> {
    const socket = createSocket(address.includes(":") ? "udp6" : "udp4");
    // Video bursts at a keyframe exceed the default receive buffer on a busy machine.
    socket.bind(0, address);
    await once(socket, "listening");
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // Capped by net.core.rmem_max; the default still works on loopback.
    }
    return new SrtpSink(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Forget what arrived so far (the decryption context is kept). */
  clear(): void {
    this.raw.length = 0;
    this.packets.length = 0;
    this.authFailures = 0;
  }

  /** Resolve once `predicate` holds, re-checked on every packet. */
  until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("packet", check);
        reject(
          new Error(
            `${what}: not within ${timeoutMs} ms (${this.packets.length} packets, ${this.authFailures} failed ` +
              `authentication)`,
          ),
        );
      }, timeoutMs);
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.off("packet", check);
        resolve();
      };
      this.on("packet", check);
    });
  }

  close(): void {
    this.socket.close();
  }
}
