// The picture size from an H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1): enough of the SPS to
// reach pic_width/height and the frame cropping, over exp-Golomb codes with the emulation-prevention
// bytes removed. Returns null for anything truncated or out of range, never throws.
class BitReader {
  #bit = 0;
  readonly data: Buffer;
  constructor(data: Buffer) {
    this.data = data;
  }

  bit(): number {
    const byte = this.#bit >> 3;
    if (byte >= this.data.length) throw new RangeError("SPS truncated");
    const value = (this.data[byte]! >> (7 - (this.#bit & 7))) & 1;
    this.#bit++;
    return value;
  }

  bits(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value = value * 2 + this.bit();
    return value;
  }

  /** ue(v) */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) if (++zeros > 31) throw new RangeError("exp-Golomb code too long");
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v) */
  se(): number {
    const code = this.ue();
    return code % 2 ? (code + 1) / 2 : -code / 2;
  }
}

/** The RBSP: 0x000003 loses its 03 (7.4.1). */
function unescapeRbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    const escaped = i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0;
    if (escaped && out.at(-1) === 0 && out.at(-2) === 0) continue;
    out.push(nal[i]!);
  }
  return Buffer.from(out);
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(reader: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let i = 0; i < size; i++) {
    if (next !== 0) next = (last + reader.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Width and height in pixels of an SPS NAL unit (with its one-byte NAL header). */
export function parseH264Sps(nal: Buffer): { width: number; height: number } | null {
  try {
    if (nal.length < 4 || (nal[0]! & 0x1f) !== 7) return null;
    const reader = new BitReader(unescapeRbsp(nal.subarray(1, 512)));
    const profileIdc = reader.bits(8);
    reader.bits(16); // constraint flags, level_idc
    reader.ue(); // seq_parameter_set_id
    let chromaFormat = 1;
    let separateColourPlanes = 0;
    if (HIGH_PROFILES.has(profileIdc)) {
      chromaFormat = reader.ue();
      if (chromaFormat > 3) return null;
      if (chromaFormat === 3) separateColourPlanes = reader.bit();
      reader.ue(); // bit_depth_luma_minus8
      reader.ue(); // bit_depth_chroma_minus8
      reader.bit(); // qpprime_y_zero_transform_bypass_flag
      if (reader.bit()) {
        const lists = chromaFormat === 3 ? 12 : 8;
        for (let i = 0; i < lists; i++) if (reader.bit()) skipScalingList(reader, i < 6 ? 16 : 64);
      }
    }
    reader.ue(); // log2_max_frame_num_minus4
    const pocType = reader.ue();
    if (pocType === 0) reader.ue();
    else if (pocType === 1) {
      reader.bit();
      reader.se();
      reader.se();
      const cycle = reader.ue();
      if (cycle > 255) return null;
      for (let i = 0; i < cycle; i++) reader.se();
    } else if (pocType !== 2) return null;
    reader.ue(); // max_num_ref_frames
    reader.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = reader.ue() + 1;
    const heightUnits = reader.ue() + 1;
    const frameMbsOnly = reader.bit();
    if (!frameMbsOnly) reader.bit(); // mb_adaptive_frame_field_flag
    reader.bit(); // direct_8x8_inference_flag
    let crop = [0, 0, 0, 0];
    if (reader.bit()) crop = [reader.ue(), reader.ue(), reader.ue(), reader.ue()];
    const chroma = separateColourPlanes ? 0 : chromaFormat;
    const cropX = chroma === 1 || chroma === 2 ? 2 : 1;
    const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropX * (crop[0]! + crop[1]!);
    const height = (2 - frameMbsOnly) * heightUnits * 16 - cropY * (crop[2]! + crop[3]!);
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384) return null;
    return { width, height };
  } catch {
    return null;
  }
}
