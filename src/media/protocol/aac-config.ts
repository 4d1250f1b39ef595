// The AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) that an FLV audio sequence header carries:
// which AAC (object type), its sample rate and channel count. A recording copies AAC only when it is
// AAC-LC, the one HomeKit Secure Video is offered (accessories/camera/homekit-recording.ts).

/** Object types of interest: 2 AAC-LC, 5 HE-AAC (SBR), 29 HE-AAC v2 (PS), 39 AAC-ELD. */
export const AAC_LC = 2;

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface AacConfig {
  objectType: number;
  sampleRate: number;
  channels: number;
}

/** Undefined when the bytes are not an AudioSpecificConfig we can read (too short, reserved rate or channels). */
export function parseAudioSpecificConfig(config: Buffer): AacConfig | undefined {
  let bit = 0;
  const read = (bits: number): number | undefined => {
    if (bit + bits > config.length * 8) return undefined;
    let value = 0;
    for (let i = 0; i < bits; i++, bit++) value = value * 2 + ((config[bit >> 3]! >> (7 - (bit & 7))) & 1);
    return value;
  };
  let objectType = read(5);
  if (objectType === 31) {
    const extended = read(6);
    objectType = extended === undefined ? undefined : 32 + extended;
  }
  const index = read(4);
  if (objectType === undefined || objectType === 0 || index === undefined) return undefined;
  const sampleRate = index === 15 ? read(24) : SAMPLE_RATES[index];
  const channels = read(4);
  // Channel configuration 0 means "in a program config element": not something a recording copies.
  if (!sampleRate || !channels || channels > 7) return undefined;
  return { objectType, sampleRate, channels: channels === 7 ? 8 : channels };
}

/** An FLV AAC tag's own header: the sound format byte and the AACPacketType. */
const FLV_AAC_HEADER = 2;
const FLV_SOUND_FORMAT_AAC = 10;

/** Whether an FLV audio sequence header is AAC that HomeKit takes as it is (AAC-LC). */
export function isCopyableAudio(header: Buffer | undefined): boolean {
  if (!header || header.length <= FLV_AAC_HEADER || header[0]! >> 4 !== FLV_SOUND_FORMAT_AAC) return false;
  return parseAudioSpecificConfig(header.subarray(FLV_AAC_HEADER))?.objectType === AAC_LC;
}
