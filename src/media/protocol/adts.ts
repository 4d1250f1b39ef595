// AAC framing for ffmpeg's stdin: RTMP carries raw AAC frames behind an AudioSpecificConfig; ffmpeg
// reading a pipe needs each frame behind an ADTS header. A pure codec: no I/O, no timing.

/** ADTS sampling frequency index 15 means "explicit", which ADTS cannot carry. */
const EXPLICIT_FREQUENCY = 15;

/**
 * The 7-byte ADTS header (ISO 13818-7 6.2, no CRC) that makes a raw AAC frame a stream ffmpeg reads
 * on stdin; undefined when the AudioSpecificConfig has nothing ADTS can say (explicit rate, AOT > 4).
 */
export function adtsHeader(config: Buffer, frameLength: number): Buffer | undefined {
  if (config.length < 2) return undefined;
  const objectType = config[0]! >> 3;
  const frequency = ((config[0]! & 0x07) << 1) | (config[1]! >> 7);
  const channels = (config[1]! >> 3) & 0x0f;
  if (objectType < 1 || objectType > 4 || frequency === EXPLICIT_FREQUENCY) return undefined;
  const length = frameLength + 7;
  if (length > 0x1fff) return undefined;
  return Buffer.from([
    0xff,
    0xf1,
    ((objectType - 1) << 6) | (frequency << 2) | (channels >> 2),
    ((channels & 3) << 6) | (length >> 11),
    (length >> 3) & 0xff,
    ((length & 7) << 5) | 0x1f,
    0xfc,
  ]);
}
