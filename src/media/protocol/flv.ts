// FLV (Adobe Flash Video File Format, v10.1 annex E): the container RTMP's media messages come from.
// A file header, then tags of (type, timestamp, body) each followed by the previous tag's size. We
// write it to feed ffmpeg a camera's stream on a pipe instead of an RTMP URL with the stream key in it.
export const FLV_AUDIO = 8;
export const FLV_VIDEO = 9;
export const FLV_SCRIPT = 18;

/** "FLV", version 1, which streams are present, header size 9, then PreviousTagSize0 = 0. */
export function flvHeader(audio: boolean, video: boolean): Buffer {
  return Buffer.from([0x46, 0x4c, 0x56, 1, (audio ? 4 : 0) | (video ? 1 : 0), 0, 0, 0, 9, 0, 0, 0, 0]);
}

/** One tag and its trailing PreviousTagSize. `timestamp` in ms, wrapping at 2^32. */
export function flvTag(type: number, timestamp: number, body: Buffer): Buffer {
  const header = Buffer.alloc(11);
  header[0] = type;
  header.writeUIntBE(body.length, 1, 3);
  header.writeUIntBE(timestamp & 0xffffff, 4, 3);
  header[7] = (timestamp >>> 24) & 0xff;
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(11 + body.length);
  return Buffer.concat([header, body, trailer]);
}

/** FLV video tag body byte 0: frame type (1 = keyframe) in the high nibble, codec id in the low one. */
export function isVideoKeyframe(body: Buffer): boolean {
  return body.length > 0 && body[0]! >> 4 === 1;
}

/** A sequence header (AVC/HEVC decoder configuration, AAC AudioSpecificConfig): packet type 0. */
export function isSequenceHeader(type: number, body: Buffer): boolean {
  if (body.length < 2) return false;
  if (type === FLV_VIDEO) return (body[0]! & 0x0f) === 7 || (body[0]! & 0x0f) === 12 ? body[1] === 0 : false;
  if (type === FLV_AUDIO) return body[0]! >> 4 === 10 && body[1] === 0;
  return false;
}
