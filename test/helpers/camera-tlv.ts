// The camera TLV8 structures of the HomeKit Accessory Protocol (CameraRTPStreamManagement), written
// from the controller's side: build SetupEndpoints and SelectedRTPStreamConfiguration, read back the
// SetupEndpoints answer and the Supported{Video,Audio,RTP}Configuration values. hap-controller only
// ships a Map-based TLV codec that cannot carry repeated types (the resolution and profile lists),
// and the test must not borrow the codec of the library under test.

/** One TLV item: a byte, raw bytes, or nested items. */
export type TlvValue = number | Buffer | TlvItem[];
export type TlvItem = [type: number, value: TlvValue];

export function encodeTlv(items: TlvItem[]): Buffer {
  const out: Buffer[] = [];
  for (const [type, value] of items) {
    const data = typeof value === "number" ? Buffer.from([value]) : Buffer.isBuffer(value) ? value : encodeTlv(value);
    if (data.length === 0) out.push(Buffer.from([type, 0]));
    // Values over 255 bytes go as consecutive fragments of the same type.
    for (let offset = 0; offset < data.length; offset += 255) {
      const chunk = data.subarray(offset, offset + 255);
      out.push(Buffer.from([type, chunk.length]), chunk);
    }
  }
  return Buffer.concat(out);
}

export interface TlvEntry {
  type: number;
  value: Buffer;
}

/** Decode into entries in order (delimiters included), joining fragments of values over 255 bytes. */
export function decodeTlv(buffer: Buffer): TlvEntry[] {
  const entries: TlvEntry[] = [];
  let offset = 0;
  let lastFull = false;
  while (offset < buffer.length) {
    if (offset + 2 > buffer.length) throw new Error("TLV8: truncated header");
    const type = buffer[offset]!;
    const length = buffer[offset + 1]!;
    if (offset + 2 + length > buffer.length) throw new Error(`TLV8: type ${type} claims ${length} bytes past the end`);
    const value = buffer.subarray(offset + 2, offset + 2 + length);
    const previous = entries.at(-1);
    if (lastFull && previous?.type === type) previous.value = Buffer.concat([previous.value, value]);
    else entries.push({ type, value });
    lastFull = length === 255;
    offset += 2 + length;
  }
  return entries;
}

export function tlvAll(entries: TlvEntry[], type: number): Buffer[] {
  return entries.filter((e) => e.type === type).map((e) => e.value);
}

export function tlvOne(entries: TlvEntry[], type: number): Buffer {
  const found = entries.find((e) => e.type === type);
  if (!found) throw new Error(`TLV8: no item of type ${type} (have ${entries.map((e) => e.type).join(",")})`);
  return found.value;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function f32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeFloatLE(n);
  return b;
}

/** HAP: H.264 profile ids and levels as numbers on the wire. */
export const PROFILE = { baseline: 0, main: 1, high: 2 } as const;
export const LEVEL = { "3.1": 0, "3.2": 1, "4.0": 2 } as const;
export const SRTP_AES_CM_128_HMAC_SHA1_80 = 0;
export const AUDIO_CODEC_OPUS = 3;
export const AUDIO_CODEC_AAC_ELD = 2;
/** Sample rate codes: 0 = 8 kHz, 1 = 16 kHz, 2 = 24 kHz. */
export const SAMPLE_RATE_CODE = { 8: 0, 16: 1, 24: 2 } as const;
export const SESSION_COMMAND = { end: 0, start: 1, suspend: 2, resume: 3, reconfigure: 4 } as const;
export const SETUP_STATUS = { success: 0, busy: 1, error: 2 } as const;

export interface SrtpParameters {
  suite: number;
  key: Buffer;
  salt: Buffer;
}

export interface SetupEndpointsRequest {
  /** 16 bytes (a UUID). */
  sessionId: Buffer;
  address: string;
  videoPort: number;
  audioPort: number;
  video: { key: Buffer; salt: Buffer };
  audio: { key: Buffer; salt: Buffer };
}

export function setupEndpointsRequest(request: SetupEndpointsRequest): string {
  const srtp = (keys: { key: Buffer; salt: Buffer }): TlvItem[] => [
    [1, SRTP_AES_CM_128_HMAC_SHA1_80],
    [2, keys.key],
    [3, keys.salt],
  ];
  return encodeTlv([
    [1, request.sessionId],
    [
      3,
      [
        [1, request.address.includes(":") ? 1 : 0],
        [2, Buffer.from(request.address)],
        [3, u16(request.videoPort)],
        [4, u16(request.audioPort)],
      ],
    ],
    [4, srtp(request.video)],
    [5, srtp(request.audio)],
  ]).toString("base64");
}

export interface SetupEndpointsResponse {
  sessionId: Buffer;
  status: number;
  address?: string;
  ipv6?: boolean;
  videoPort?: number;
  audioPort?: number;
  video?: SrtpParameters;
  audio?: SrtpParameters;
  videoSsrc?: number;
  audioSsrc?: number;
}

function srtpParameters(value: Buffer): SrtpParameters {
  const e = decodeTlv(value);
  return { suite: tlvOne(e, 1)[0]!, key: tlvOne(e, 2), salt: tlvOne(e, 3) };
}

export function parseSetupEndpointsResponse(base64: string): SetupEndpointsResponse {
  const e = decodeTlv(Buffer.from(base64, "base64"));
  const response: SetupEndpointsResponse = { sessionId: tlvOne(e, 1), status: tlvOne(e, 2)[0]! };
  if (response.status !== SETUP_STATUS.success) return response;
  const address = decodeTlv(tlvOne(e, 3));
  response.ipv6 = tlvOne(address, 1)[0] === 1;
  response.address = tlvOne(address, 2).toString("utf8");
  response.videoPort = tlvOne(address, 3).readUInt16LE(0);
  response.audioPort = tlvOne(address, 4).readUInt16LE(0);
  response.video = srtpParameters(tlvOne(e, 4));
  response.audio = srtpParameters(tlvOne(e, 5));
  response.videoSsrc = tlvOne(e, 6).readUInt32LE(0);
  response.audioSsrc = tlvOne(e, 7).readUInt32LE(0);
  return response;
}

export interface SelectedVideo {
  profile: keyof typeof PROFILE;
  level: keyof typeof LEVEL;
  width: number;
  height: number;
  fps: number;
  payloadType: number;
  /** The controller's own SSRC for this stream. */
  ssrc: number;
  maxBitrate: number;
  rtcpInterval: number;
  mtu?: number;
}

export interface SelectedAudio {
  codec: number;
  sampleRateKHz: 8 | 16 | 24;
  packetTimeMs: number;
  payloadType: number;
  ssrc: number;
  maxBitrate: number;
  rtcpInterval: number;
  comfortNoisePayloadType: number;
}

function videoAttributes(v: { width: number; height: number; fps: number }): TlvItem[] {
  return [
    [1, u16(v.width)],
    [2, u16(v.height)],
    [3, v.fps],
  ];
}

/** SelectedRTPStreamConfiguration: START (video and audio), RECONFIGURE (video size/rate), END. */
export function selectedStreamConfiguration(options: {
  sessionId: Buffer;
  command: keyof typeof SESSION_COMMAND;
  video?: SelectedVideo;
  audio?: SelectedAudio;
}): string {
  const items: TlvItem[] = [
    [
      1,
      [
        [1, options.sessionId],
        [2, SESSION_COMMAND[options.command]],
      ],
    ],
  ];
  const v = options.video;
  if (v) {
    const rtp: TlvItem[] = [
      [1, v.payloadType],
      [2, u32(v.ssrc)],
      [3, u16(v.maxBitrate)],
      [4, f32(v.rtcpInterval)],
    ];
    if (v.mtu !== undefined) rtp.push([5, u16(v.mtu)]);
    items.push([
      2,
      [
        [1, 0], // H.264
        [
          2,
          [
            [1, PROFILE[v.profile]],
            [2, LEVEL[v.level]],
            [3, 0], // packetization mode: non-interleaved
          ],
        ],
        [3, videoAttributes(v)],
        [4, rtp],
      ],
    ]);
  }
  const a = options.audio;
  if (a) {
    items.push([
      3,
      [
        [1, a.codec],
        [
          2,
          [
            [1, 1], // channels
            [2, 0], // variable bit rate
            [3, SAMPLE_RATE_CODE[a.sampleRateKHz]],
            [4, a.packetTimeMs],
          ],
        ],
        [
          3,
          [
            [1, a.payloadType],
            [2, u32(a.ssrc)],
            [3, u16(a.maxBitrate)],
            [4, f32(a.rtcpInterval)],
            [6, a.comfortNoisePayloadType],
          ],
        ],
        [4, 0], // comfort noise off
      ],
    ]);
  }
  return encodeTlv(items).toString("base64");
}

export interface SupportedVideo {
  codec: number;
  profiles: number[];
  levels: number[];
  packetizationModes: number[];
  resolutions: [width: number, height: number, fps: number][];
}

export function parseSupportedVideo(base64: string): SupportedVideo[] {
  return tlvAll(decodeTlv(Buffer.from(base64, "base64")), 1).map((config) => {
    const e = decodeTlv(config);
    const params = decodeTlv(tlvOne(e, 2));
    return {
      codec: tlvOne(e, 1)[0]!,
      profiles: tlvAll(params, 1).map((b) => b[0]!),
      levels: tlvAll(params, 2).map((b) => b[0]!),
      packetizationModes: tlvAll(params, 3).map((b) => b[0]!),
      resolutions: tlvAll(e, 3).map((attributes) => {
        const a = decodeTlv(attributes);
        return [tlvOne(a, 1).readUInt16LE(0), tlvOne(a, 2).readUInt16LE(0), tlvOne(a, 3)[0]!] as [
          number,
          number,
          number,
        ];
      }),
    };
  });
}

export interface SupportedAudio {
  codecs: { codec: number; channels: number; bitrate: number; sampleRates: number[] }[];
  comfortNoise: boolean;
}

export function parseSupportedAudio(base64: string): SupportedAudio {
  const e = decodeTlv(Buffer.from(base64, "base64"));
  return {
    codecs: tlvAll(e, 1).map((config) => {
      const c = decodeTlv(config);
      const params = decodeTlv(tlvOne(c, 2));
      return {
        codec: tlvOne(c, 1)[0]!,
        channels: tlvOne(params, 1)[0]!,
        bitrate: tlvOne(params, 2)[0]!,
        sampleRates: tlvAll(params, 3).map((b) => b[0]!),
      };
    }),
    comfortNoise: tlvAll(e, 2)[0]?.[0] === 1,
  };
}

export function parseSupportedRTP(base64: string): { cryptoSuites: number[] } {
  return { cryptoSuites: tlvAll(decodeTlv(Buffer.from(base64, "base64")), 2).map((b) => b[0]!) };
}

/** StreamingStatus: 0 available, 1 in use, 2 unavailable. */
export function parseStreamingStatus(base64: string): number {
  return tlvOne(decodeTlv(Buffer.from(base64, "base64")), 1)[0]!;
}
