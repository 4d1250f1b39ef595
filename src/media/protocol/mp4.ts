// ISO BMFF (ISO/IEC 14496-12) as ffmpeg's fragmented-MP4 muxer writes it to a pipe: top-level boxes
// of (32-bit size, 4-char type, body), a 64-bit size when size is 1. A recording is an initialization
// segment (ftyp + moov) and then fragments (moof + mdat; any styp / sidx / prft before a moof belongs
// to it). This splits the byte stream into those units; it never looks inside mdat.

/** Largest box we accept: a camera's fragment of a few seconds is a few MB; anything huge is corrupt. */
export const MAX_BOX_BYTES = 64 * 1024 * 1024;

export class Mp4FormatError extends Error {
  override name = "Mp4FormatError";
}

export interface Mp4Box {
  /** Four characters, e.g. "moof". */
  type: string;
  /** The whole box, header included. */
  data: Buffer;
}

/** Splits a byte stream into top-level boxes, across chunk boundaries. */
export class Mp4BoxReader {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #maxBoxBytes: number;

  constructor(maxBoxBytes = MAX_BOX_BYTES) {
    this.#maxBoxBytes = maxBoxBytes;
  }

  /** Bytes held that do not yet make a whole box. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  /** Add bytes; returns the boxes they completed, in order. Throws Mp4FormatError on a bad size. */
  push(chunk: Buffer): Mp4Box[] {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    const boxes: Mp4Box[] = [];
    for (;;) {
      const size = this.#nextSize();
      if (size === undefined || this.#pendingBytes < size) break;
      const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
      boxes.push({ type: all.toString("latin1", 4, 8), data: all.subarray(0, size) });
      const rest = all.subarray(size);
      this.#pending = rest.length ? [rest] : [];
      this.#pendingBytes = rest.length;
    }
    return boxes;
  }

  #nextSize(): number | undefined {
    if (this.#pendingBytes < 8) return undefined;
    const head = this.#pending[0]!.length >= 16 ? this.#pending[0]! : Buffer.concat(this.#pending).subarray(0, 16);
    let size = head.readUInt32BE(0);
    if (size === 1) {
      if (head.length < 16) return undefined;
      const large = head.readBigUInt64BE(8);
      if (large > BigInt(this.#maxBoxBytes))
        throw new Mp4FormatError(`box of ${large} bytes is larger than ${this.#maxBoxBytes}`);
      size = Number(large);
      if (size < 16) throw new Mp4FormatError(`64-bit box size ${size} is smaller than its header`);
    } else if (size === 0) {
      // "To the end of the file": a pipe has no end to measure; ffmpeg's fMP4 never writes it.
      throw new Mp4FormatError("box of size 0 (to end of file) in a stream");
    } else if (size < 8) {
      throw new Mp4FormatError(`box size ${size} is smaller than its header`);
    }
    if (size > this.#maxBoxBytes) throw new Mp4FormatError(`box of ${size} bytes is larger than ${this.#maxBoxBytes}`);
    return size;
  }
}

export type Mp4Segment = { kind: "init"; data: Buffer } | { kind: "fragment"; data: Buffer };

/** Boxes allowed before the moov (besides ftyp) and between fragments, kept with what follows. */
const LEADING = new Set(["ftyp", "styp", "sidx", "prft", "free", "skip", "uuid", "emsg"]);

/**
 * Groups boxes into the initialization segment (everything up to and including moov) and fragments
 * (everything up to and including each mdat that follows a moof). Throws on a stream that is not
 * fragmented MP4 (an mdat before any moof, a moof before the moov).
 */
export class Mp4Segmenter {
  readonly #reader: Mp4BoxReader;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #initDone = false;
  #inFragment = false;

  constructor(maxBoxBytes = MAX_BOX_BYTES) {
    this.#reader = new Mp4BoxReader(maxBoxBytes);
  }

  push(chunk: Buffer): Mp4Segment[] {
    const out: Mp4Segment[] = [];
    for (const box of this.#reader.push(chunk)) {
      if (!this.#initDone) {
        if (box.type === "moof" || box.type === "mdat") throw new Mp4FormatError(`${box.type} before the moov`);
        this.#hold(box.data);
        if (box.type === "moov") {
          this.#initDone = true;
          out.push({ kind: "init", data: this.#take() });
        } else if (!LEADING.has(box.type)) {
          throw new Mp4FormatError(`unexpected ${box.type} box before the moov`);
        }
        continue;
      }
      if (box.type === "moof") {
        if (this.#inFragment) throw new Mp4FormatError("moof without its mdat");
        this.#inFragment = true;
        this.#hold(box.data);
      } else if (box.type === "mdat") {
        if (!this.#inFragment) throw new Mp4FormatError("mdat without a moof");
        this.#hold(box.data);
        this.#inFragment = false;
        out.push({ kind: "fragment", data: this.#take() });
      } else if (box.type === "mfra" || box.type === "moov") {
      } else {
        this.#hold(box.data);
      }
    }
    if (this.#heldBytes > MAX_BOX_BYTES * 2) throw new Mp4FormatError("fragment too large");
    return out;
  }

  #hold(data: Buffer): void {
    this.#held.push(data);
    this.#heldBytes += data.length;
  }

  #take(): Buffer {
    const data = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held);
    this.#held = [];
    this.#heldBytes = 0;
    return data;
  }
}

/** The children of a container box's body (e.g. the trafs in a moof). */
export function childBoxes(box: Buffer, headerBytes = 8): Mp4Box[] {
  const reader = new Mp4BoxReader();
  return reader.push(box.subarray(headerBytes));
}

/**
 * The first sample of a moof's first track run: is it a sync sample (keyframe)? Reads tfhd's
 * default-sample-flags and trun's first-sample-flags / per-sample flags (ISO/IEC 14496-12 8.8.7, 8.8.8).
 * `trackId` picks the traf; undefined: the first one.
 */
export function fragmentStartsWithSync(moof: Buffer, trackId?: number): boolean {
  for (const traf of childBoxes(moof).filter((b) => b.type === "traf")) {
    const children = childBoxes(traf.data);
    const tfhd = children.find((b) => b.type === "tfhd")?.data;
    const trun = children.find((b) => b.type === "trun")?.data;
    if (!tfhd || !trun) continue;
    const tfhdFlags = tfhd.readUIntBE(9, 3);
    if (trackId !== undefined && tfhd.readUInt32BE(12) !== trackId) continue;
    let offset = 16;
    if (tfhdFlags & 0x01) offset += 8; // base-data-offset
    if (tfhdFlags & 0x02) offset += 4; // sample-description-index
    if (tfhdFlags & 0x08) offset += 4; // default-sample-duration
    if (tfhdFlags & 0x10) offset += 4; // default-sample-size
    let flags = tfhdFlags & 0x20 ? tfhd.readUInt32BE(offset) : undefined;
    const trunFlags = trun.readUIntBE(9, 3);
    let at = 16;
    if (trunFlags & 0x01) at += 4; // data-offset
    if (trunFlags & 0x04) {
      flags = trun.readUInt32BE(at);
    } else if (trunFlags & 0x400) {
      at += trunFlags & 0x100 ? 4 : 0;
      at += trunFlags & 0x200 ? 4 : 0;
      flags = trun.readUInt32BE(at);
    }
    if (flags === undefined) return false;
    // sample_is_non_sync_sample is bit 16; sample_depends_on == 2 means "does not depend on others".
    return (flags & 0x10000) === 0;
  }
  return false;
}
