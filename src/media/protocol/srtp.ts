// The send side of SRTP and SRTCP with AES_CM_128_HMAC_SHA1_80 (RFC 3711), the one suite HomeKit
// negotiates: session keys derived from the master key and salt (key derivation rate 0), AES
// counter mode over the payload, an 80-bit HMAC-SHA1 tag over the packet and the rollover counter.
// Hand-written on node:crypto: werift-rtp, the maintained TypeScript SRTP, brings a media toolkit
// (mediabunny) and a Buffer polyfill with it, and libsrtp bindings need a native build; the suite is
// a few dozen lines, checked against the RFC's test vectors and an independent receiver in the tests.
import { createCipheriv, createHmac, type Cipher } from "node:crypto";

const TAG_LENGTH = 10;
/** RFC 3711 4.3.1 labels. */
const LABEL = { rtpKey: 0, rtpAuth: 1, rtpSalt: 2, rtcpKey: 3, rtcpAuth: 4, rtcpSalt: 5 } as const;
/** RTCP's fixed part (header + sender SSRC) stays in clear. */
const RTCP_CLEAR = 8;
const SRTCP_E_FLAG = 0x80000000;

export interface SessionKeys {
  key: Buffer;
  auth: Buffer;
  salt: Buffer;
}

/** AES-CM(master key, (master salt XOR label << 48) << 16), `length` bytes: RFC 3711 4.3.1, r = 0. */
export function deriveKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7]! ^= label;
  const cipher = createCipheriv("aes-128-ctr", masterKey, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

export function sessionKeys(masterKey: Buffer, masterSalt: Buffer, rtcp = false): SessionKeys {
  if (masterKey.length !== 16 || masterSalt.length !== 14) {
    const got = `got ${masterKey.length} and ${masterSalt.length}`;
    throw new Error(`SRTP AES_CM_128_HMAC_SHA1_80 needs a 16-byte key and a 14-byte salt (${got})`);
  }
  return {
    key: deriveKey(masterKey, masterSalt, rtcp ? LABEL.rtcpKey : LABEL.rtpKey, 16),
    auth: deriveKey(masterKey, masterSalt, rtcp ? LABEL.rtcpAuth : LABEL.rtpAuth, 20),
    salt: deriveKey(masterKey, masterSalt, rtcp ? LABEL.rtcpSalt : LABEL.rtpSalt, 14),
  };
}

/** RFC 3711 4.1.1: IV = (session salt << 16) XOR (SSRC << 64) XOR (index << 16). */
export function counterIv(salt: Buffer, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  // index is at most 48 bits: high 16 and low 32 apart (JS bit operators are 32-bit).
  const high = Math.floor(index / 2 ** 32);
  iv.writeUInt16BE((iv.readUInt16BE(8) ^ high) & 0xffff, 8);
  iv.writeUInt32BE((iv.readUInt32BE(10) ^ index) >>> 0, 10);
  return iv;
}

/**
 * AES in counter mode with one long-lived cipher: the counter blocks (IV + 0, 1, 2 ...) are encrypted
 * in ECB and XORed in. A new aes-128-ctr cipher per packet cost about 8 us of set-up each, the larger
 * part of SRTP's cost at a camera's 200 packets a second (bench/camera.ts).
 */
export class AesCounterMode {
  readonly #ecb: Cipher;

  constructor(key: Buffer) {
    this.#ecb = createCipheriv("aes-128-ecb", key, null);
    this.#ecb.setAutoPadding(false);
  }

  /** XOR the keystream that starts at `iv` into `data`, in place. The IV's low 16 bits must be 0
   * (always so in SRTP, RFC 3711 4.1.1), so block numbers never carry into the rest of it. */
  apply(iv: Buffer, data: Buffer): void {
    const blocks = Math.ceil(data.length / 16);
    if (blocks > 0x10000) throw new Error("SRTP payload too large");
    // One native fill repeats the IV; the block numbers are plain byte writes (a native call per
    // block costs more than the AES).
    const counters = Buffer.allocUnsafe(blocks * 16).fill(iv.subarray(0, 16));
    for (let i = 1; i < blocks; i++) {
      counters[i * 16 + 14] = i >> 8;
      counters[i * 16 + 15] = i & 0xff;
    }
    const stream = this.#ecb.update(counters);
    for (let i = 0; i < data.length; i++) data[i]! ^= stream[i]!;
  }
}

function tag(auth: Buffer, packet: Buffer, trailer?: Buffer): Buffer {
  const hmac = createHmac("sha1", auth).update(packet);
  if (trailer) hmac.update(trailer);
  return hmac.digest().subarray(0, TAG_LENGTH);
}

/** Where an RTP packet's payload starts (fixed header, CSRCs, header extension). */
function rtpHeaderLength(packet: Buffer): number {
  let length = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) length += 4 + 4 * packet.readUInt16BE(length + 2);
  return length;
}

/** One sending SRTP + SRTCP context (one SSRC, one direction). */
export class SrtpSender {
  readonly #rtp: SessionKeys;
  readonly #rtcp: SessionKeys;
  readonly #rtpCipher: AesCounterMode;
  readonly #rtcpCipher: AesCounterMode;
  #roc = 0;
  #lastSeq: number | undefined;
  #rtcpIndex = 0;

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.#rtp = sessionKeys(masterKey, masterSalt);
    this.#rtcp = sessionKeys(masterKey, masterSalt, true);
    this.#rtpCipher = new AesCounterMode(this.#rtp.key);
    this.#rtcpCipher = new AesCounterMode(this.#rtcp.key);
  }

  /** The rollover counter (RFC 3711 3.3.1): counts wraps of the 16-bit sequence number. */
  get roc(): number {
    return this.#roc;
  }

  /** SRTP: the payload encrypted, the tag appended. Packets must come in sending order. */
  protectRtp(packet: Buffer): Buffer {
    const seq = packet.readUInt16BE(2);
    const wrapped = this.#lastSeq !== undefined && seq < this.#lastSeq && this.#lastSeq - seq > 0x8000;
    if (wrapped) this.#roc = (this.#roc + 1) >>> 0;
    this.#lastSeq = seq;
    const out = Buffer.allocUnsafe(packet.length + TAG_LENGTH);
    packet.copy(out);
    const sealed = out.subarray(0, packet.length);
    const iv = counterIv(this.#rtp.salt, packet.readUInt32BE(8), this.#roc * 65536 + seq);
    this.#rtpCipher.apply(iv, sealed.subarray(rtpHeaderLength(packet)));
    const roc = Buffer.alloc(4);
    roc.writeUInt32BE(this.#roc);
    tag(this.#rtp.auth, sealed, roc).copy(out, packet.length);
    return out;
  }

  /** SRTCP (RFC 3711 3.4): all but the first 8 bytes encrypted, E flag + 31-bit index, then the tag. */
  protectRtcp(packet: Buffer): Buffer {
    const index = this.#rtcpIndex;
    this.#rtcpIndex = (this.#rtcpIndex + 1) & 0x7fffffff;
    const out = Buffer.allocUnsafe(packet.length + 4 + TAG_LENGTH);
    packet.copy(out);
    const iv = counterIv(this.#rtcp.salt, packet.readUInt32BE(4), index);
    this.#rtcpCipher.apply(iv, out.subarray(RTCP_CLEAR, packet.length));
    out.writeUInt32BE((SRTCP_E_FLAG | index) >>> 0, packet.length);
    tag(this.#rtcp.auth, out.subarray(0, packet.length + 4)).copy(out, packet.length + 4);
    return out;
  }
}

export const SRTP_TAG_LENGTH = TAG_LENGTH;
