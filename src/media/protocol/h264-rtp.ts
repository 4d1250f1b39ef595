// H.264 into RTP (RFC 6184, packetization mode 1, which HomeKit calls "non-interleaved"): a NAL unit
// that fits goes alone in a packet, a larger one is cut into FU-A fragments; the marker bit closes
// each access unit. The RTP header is ours (RFC 3550): version 2, the viewer's payload type and SSRC,
// a sequence number that starts at random and counts every packet.
import { randomBytes } from "node:crypto";

const RTP_HEADER = 12;
const FU_A = 28;
const FU_HEADER = 2;
export const NAL_IDR = 5;
export const NAL_SPS = 7;
export const NAL_PPS = 8;

export interface PacketizerOptions {
  payloadType: number;
  ssrc: number;
  /** Largest RTP packet (header + payload) we may produce. */
  maxPacketSize: number;
  /** First sequence number (default random, RFC 3550 5.1). */
  sequence?: number;
}

/** The NAL units of an AVCC frame (each behind a `lengthSize`-byte length); undefined when malformed. */
export function splitAvcc(data: Buffer, lengthSize: number): Buffer[] | undefined {
  const units: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (offset + lengthSize > data.length) return undefined;
    const length = data.readUIntBE(offset, lengthSize);
    offset += lengthSize;
    if (offset + length > data.length) return undefined;
    if (length > 0) units.push(data.subarray(offset, offset + length));
    offset += length;
  }
  return units;
}

export function nalType(unit: Buffer): number {
  return unit[0]! & 0x1f;
}

export class H264Packetizer {
  readonly #payloadType: number;
  readonly #ssrc: number;
  readonly #maxPayload: number;
  #sequence: number;

  constructor(options: PacketizerOptions) {
    this.#payloadType = options.payloadType & 0x7f;
    this.#ssrc = options.ssrc >>> 0;
    this.#maxPayload = options.maxPacketSize - RTP_HEADER;
    // A fragment must carry at least one byte of the NAL unit.
    if (this.#maxPayload < FU_HEADER + 1) throw new Error(`RTP packet size ${options.maxPacketSize} is too small`);
    this.#sequence = (options.sequence ?? randomBytes(2).readUInt16BE(0)) & 0xffff;
  }

  /** The sequence number the next packet gets. */
  get sequence(): number {
    return this.#sequence;
  }

  /** RTP packets for one access unit at `timestamp` (90 kHz); the last one carries the marker bit. */
  packetize(units: readonly Buffer[], timestamp: number): Buffer[] {
    const payloads: Buffer[][] = [];
    for (const unit of units) {
      if (unit.length <= this.#maxPayload) {
        payloads.push([unit]);
        continue;
      }
      // FU indicator: the NAL unit's F and NRI bits with type 28; FU header: S/E bits and its type.
      const indicator = (unit[0]! & 0xe0) | FU_A;
      const type = nalType(unit);
      const chunk = this.#maxPayload - FU_HEADER;
      for (let offset = 1; offset < unit.length; offset += chunk) {
        const end = Math.min(unit.length, offset + chunk);
        const header = type | (offset === 1 ? 0x80 : 0) | (end === unit.length ? 0x40 : 0);
        payloads.push([Buffer.from([indicator, header]), unit.subarray(offset, end)]);
      }
    }
    return payloads.map((parts, i) => this.#packet(parts, timestamp, i === payloads.length - 1));
  }

  #packet(parts: Buffer[], timestamp: number, marker: boolean): Buffer {
    const header = Buffer.alloc(RTP_HEADER);
    header[0] = 0x80;
    header[1] = (marker ? 0x80 : 0) | this.#payloadType;
    header.writeUInt16BE(this.#sequence, 2);
    header.writeUInt32BE(timestamp >>> 0, 4);
    header.writeUInt32BE(this.#ssrc, 8);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    return Buffer.concat([header, ...parts]);
  }
}
