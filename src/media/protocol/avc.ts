// H.264 as RTMP carries it (FLV video tags): the AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1)
// tells profile, level and the SPS/PPS; frames are length-prefixed NAL units. We read the record for
// the stream's info and turn the last keyframe into an Annex B picture a decoder can take on stdin
// (a snapshot without opening an RTMP reader). Hand-written: it is a few dozen lines and no
// maintained npm package does just this without pulling in a whole demuxer.
import { parseH264Sps } from "./h264-sps.ts";

export type H264Profile = "baseline" | "main" | "high";

export interface AvcConfig {
  profileIdc: number;
  /** Undefined for profiles a viewer cannot be assumed to decode (extended, high 10, 4:2:2, ...). */
  profile: H264Profile | undefined;
  /** "3.1", "4.0", "4.1" ... */
  level: string;
  width: number | undefined;
  height: number | undefined;
  lengthSize: number;
  sps: Buffer[];
  pps: Buffer[];
}

/** FLV video tag body: byte 0 frame type / codec, byte 1 AVCPacketType, 3 bytes composition time. */
const AVC_TAG_HEADER = 5;
const START_CODE = Buffer.from([0, 0, 0, 1]);

function profileName(idc: number): H264Profile | undefined {
  if (idc === 66) return "baseline";
  if (idc === 77) return "main";
  if (idc === 100) return "high";
  return undefined;
}

/** Parse the sequence header tag body; undefined when it is not a well-formed record. */
export function parseAvcSequenceHeader(tag: Buffer): AvcConfig | undefined {
  const record = tag.subarray(AVC_TAG_HEADER);
  if (record.length < 7 || record[0] !== 1) return undefined;
  const profileIdc = record[1]!;
  const levelIdc = record[3]!;
  const lengthSize = (record[4]! & 0x03) + 1;
  let offset = 5;
  const readSet = (count: number): Buffer[] | undefined => {
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (offset + 2 > record.length) return undefined;
      const length = record.readUInt16BE(offset);
      offset += 2;
      if (offset + length > record.length) return undefined;
      out.push(Buffer.from(record.subarray(offset, offset + length)));
      offset += length;
    }
    return out;
  };
  const sps = readSet(record[offset++]! & 0x1f);
  if (!sps || offset >= record.length) return undefined;
  const pps = readSet(record[offset++]!);
  if (!pps || !sps.length || !pps.length) return undefined;
  const size = parseH264Sps(sps[0]!);
  return {
    profileIdc,
    profile: profileName(profileIdc),
    level: (levelIdc / 10).toFixed(1),
    width: size?.width,
    height: size?.height,
    lengthSize,
    sps,
    pps,
  };
}

/** SPS + PPS + the frame's NAL units, each behind a start code; undefined when the frame is malformed. */
export function keyframeToAnnexB(config: AvcConfig, tag: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  for (const unit of [...config.sps, ...config.pps]) parts.push(START_CODE, unit);
  let offset = AVC_TAG_HEADER;
  while (offset < tag.length) {
    if (offset + config.lengthSize > tag.length) return undefined;
    const length = tag.readUIntBE(offset, config.lengthSize);
    offset += config.lengthSize;
    if (length === 0 || offset + length > tag.length) return undefined;
    parts.push(START_CODE, tag.subarray(offset, offset + length));
    offset += length;
  }
  return Buffer.concat(parts);
}
