// H.264 out of RTP (RFC 6184, packetization mode 1: single NAL units, STAP-A, FU-A) into an Annex B
// byte stream that ffprobe can decode, and ffprobe's verdict on it (frames decoded, picture size).
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { promisify } from "node:util";
import type { RtpPacket } from "./srtp.ts";

const START_CODE = Buffer.from([0, 0, 0, 1]);
const STAP_A = 24;
const FU_A = 28;
const NAL_SPS = 7;

export class H264Depacketizer {
  readonly #nals: Buffer[] = [];
  #fragment: Buffer[] | undefined;
  #lastSequence: number | undefined;
  #started: boolean;
  /** Sequence gaps seen (lost or reordered packets). */
  gaps = 0;
  /** NAL unit types seen, in order (for assertions about keyframes). */
  readonly nalTypes: number[] = [];

  /** `fromKeyframe`: drop everything before the first SPS (a capture that begins mid-stream). */
  constructor(options: { fromKeyframe?: boolean } = {}) {
    this.#started = !options.fromKeyframe;
  }

  #emit(nal: Buffer): void {
    const type = nal[0]! & 0x1f;
    if (!this.#started) {
      if (type !== NAL_SPS) return;
      this.#started = true;
    }
    this.nalTypes.push(type);
    this.#nals.push(START_CODE, nal);
  }

  push(packet: RtpPacket): void {
    if (this.#lastSequence !== undefined && packet.sequence !== ((this.#lastSequence + 1) & 0xffff)) {
      this.gaps++;
      this.#fragment = undefined;
    }
    this.#lastSequence = packet.sequence;
    const data = packet.payload;
    if (!data.length) return;
    const type = data[0]! & 0x1f;
    if (type >= 1 && type <= 23) {
      this.#emit(data);
    } else if (type === STAP_A) {
      let offset = 1;
      while (offset + 2 <= data.length) {
        const size = data.readUInt16BE(offset);
        offset += 2;
        if (size === 0 || offset + size > data.length) break;
        this.#emit(data.subarray(offset, offset + size));
        offset += size;
      }
    } else if (type === FU_A && data.length > 2) {
      const header = data[1]!;
      if (header & 0x80) this.#fragment = [Buffer.from([(data[0]! & 0xe0) | (header & 0x1f)])];
      if (!this.#fragment) return; // the start was lost
      this.#fragment.push(data.subarray(2));
      if (header & 0x40) {
        this.#emit(Buffer.concat(this.#fragment));
        this.#fragment = undefined;
      }
    }
  }

  /** The Annex B byte stream so far. */
  annexB(): Buffer {
    return Buffer.concat(this.#nals);
  }
}

export interface DecodedVideo {
  width: number;
  height: number;
  /** Frames ffprobe decoded. */
  frames: number;
  profile: string | undefined;
}

const execFileAsync = promisify(execFile);

/** Decode an Annex B H.264 stream with ffprobe (the file is written to `path`). */
export async function probeH264(annexB: Buffer, path: string): Promise<DecodedVideo> {
  writeFileSync(path, annexB);
  const { stdout } = await execFileAsync("ffprobe", [
    "-v",
    "error",
    "-f",
    "h264",
    "-count_frames",
    "-select_streams",
    "v:0",
    "-show_entries",
    "stream=width,height,nb_read_frames,profile",
    "-of",
    "json",
    path,
  ]);
  const stream = (
    JSON.parse(stdout) as { streams?: { width?: number; height?: number; nb_read_frames?: string; profile?: string }[] }
  ).streams?.[0];
  if (!stream) throw new Error(`ffprobe found no video in ${path}`);
  return {
    width: stream.width ?? 0,
    height: stream.height ?? 0,
    frames: Number(stream.nb_read_frames ?? 0),
    profile: stream.profile,
  };
}
