// The RTCP a sender sends (RFC 3550): a sender report (6.4.1) with an SDES CNAME (6.5) behind it, as
// one compound packet, and the RTP clock of H.264 video (90 kHz) kept continuous across a camera's
// reconnects. Pure: the caller says what time it is and sends the bytes.

export const RTP_CLOCK_KHZ = 90;
const RTCP_SR = 200;
const RTCP_SDES = 202;
const SDES_CNAME = 1;
/** Seconds from 1900 (NTP) to 1970 (Unix). */
const NTP_UNIX_OFFSET = 2_208_988_800;
/** A camera clock jump (a new publish, a wrap, a broken encoder) larger than this is a discontinuity. */
const MAX_FRAME_GAP_MS = 5_000;
const DEFAULT_FRAME_MS = 66;

export interface SenderReport {
  ssrc: number;
  /** Wall-clock time of the report, epoch milliseconds (written as NTP). */
  wallMs: number;
  /** The RTP timestamp that corresponds to wallMs. */
  rtpTimestamp: number;
  /** Packets and payload octets sent so far. */
  packets: number;
  octets: number;
  cname: Buffer;
}

/** SR + SDES CNAME as one compound RTCP packet (to be protected as SRTCP by the caller). */
export function senderReportPacket(report: SenderReport): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = RTCP_SR;
  sr.writeUInt16BE(sr.length / 4 - 1, 2);
  sr.writeUInt32BE(report.ssrc >>> 0, 4);
  const seconds = Math.floor(report.wallMs / 1000);
  sr.writeUInt32BE((seconds + NTP_UNIX_OFFSET) >>> 0, 8);
  sr.writeUInt32BE(Math.floor(((report.wallMs - seconds * 1000) / 1000) * 2 ** 32) >>> 0, 12);
  sr.writeUInt32BE(report.rtpTimestamp >>> 0, 16);
  sr.writeUInt32BE(report.packets >>> 0, 20);
  sr.writeUInt32BE(report.octets >>> 0, 24);
  // SDES chunk: SSRC, CNAME item, a terminating zero, padded to 32 bits.
  const itemsLength = 2 + report.cname.length + 1;
  const chunk = Buffer.alloc(4 + Math.ceil(itemsLength / 4) * 4);
  chunk.writeUInt32BE(report.ssrc >>> 0, 0);
  chunk[4] = SDES_CNAME;
  chunk[5] = report.cname.length;
  report.cname.copy(chunk, 6);
  const sdes = Buffer.alloc(4);
  sdes[0] = 0x81;
  sdes[1] = RTCP_SDES;
  sdes.writeUInt16BE((4 + chunk.length) / 4 - 1, 2);
  return Buffer.concat([sr, sdes, chunk]);
}

/**
 * A camera's presentation times (ms) as one 90 kHz RTP clock from a random start (RFC 3550 5.1). A new
 * publish, or a jump in the camera's clock, continues one frame after the last frame placed, whatever
 * the camera's clock says.
 */
export class RtpTimeline {
  readonly #base: number;
  #generation: number | undefined;
  /** Camera ms -> our ms: shifts each new publish to continue where the last one left off. */
  #offset = 0;
  #lastDts: number | undefined;
  #frameMs = DEFAULT_FRAME_MS;

  constructor(base: number) {
    this.#base = base >>> 0;
  }

  /** Look at a frame's publish and dts; true when it begins a new publish (its first frames may need
   * a keyframe of their own). Call for every frame, sent or not. */
  observe(generation: number, dts: number): boolean {
    if (generation !== this.#generation) {
      this.#generation = generation;
      this.#rebase(dts);
      return true;
    }
    if (this.#lastDts !== undefined && (dts < this.#lastDts - 1_000 || dts > this.#lastDts + MAX_FRAME_GAP_MS)) {
      this.#rebase(dts);
    }
    return false;
  }

  /** A frame goes out: its RTP timestamp. */
  place(dts: number, pts: number): number {
    if (this.#lastDts !== undefined && dts > this.#lastDts) this.#frameMs = Math.min(200, dts - this.#lastDts);
    this.#lastDts = dts;
    return (this.#base + Math.round((pts + this.#offset) * RTP_CLOCK_KHZ)) >>> 0;
  }

  #rebase(dts: number): void {
    if (this.#lastDts === undefined) {
      this.#offset = -dts;
      return;
    }
    this.#offset = this.#lastDts + this.#offset + this.#frameMs - dts;
    this.#lastDts = undefined;
  }
}
