// The receive side of SRTP with AES_CM_128_HMAC_SHA1_80 (RFC 3711), just enough to check what the
// bridge sends to HomeKit: session key derivation, rollover counter estimation, the 80-bit
// authentication tag, AES counter-mode decryption. Hand-written on node:crypto because no
// maintained npm package does only this (the SRTP libraries are bound to a WebRTC stack or native
// libsrtp builds).
import { createCipheriv, createHmac, timingSafeEqual } from "node:crypto";

const TAG_LENGTH = 10;

export interface SrtpKeys {
  /** 16-byte master key and 14-byte master salt, as negotiated in SetupEndpoints. */
  key: Buffer;
  salt: Buffer;
}

/** RFC 3711 4.3.1 with a key derivation rate of 0: AES-CM(master key, (salt XOR label<<48) << 16). */
function deriveKey(master: SrtpKeys, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  master.salt.copy(iv, 0);
  iv[7]! ^= label;
  const cipher = createCipheriv("aes-128-ctr", master.key, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** Where the payload starts: after the fixed header, CSRCs and any header extension. */
export function rtpHeaderLength(packet: Buffer): number {
  const csrcCount = packet[0]! & 0x0f;
  let length = 12 + 4 * csrcCount;
  if (packet[0]! & 0x10) length += 4 + 4 * packet.readUInt16BE(length + 2);
  return length;
}

export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  /** Decrypted payload (padding removed). */
  payload: Buffer;
}

export class SrtpReceiveError extends Error {
  override name = "SrtpReceiveError";
}

/** One SRTP receive context (one SSRC, one direction). */
export class SrtpReceiver {
  readonly #sessionKey: Buffer;
  readonly #authKey: Buffer;
  readonly #sessionSalt: Buffer;
  #roc = 0;
  #highestSeq: number | undefined;

  constructor(master: SrtpKeys) {
    if (master.key.length !== 16 || master.salt.length !== 14)
      throw new Error("AES_CM_128_HMAC_SHA1_80 needs a 16-byte key and a 14-byte salt");
    this.#sessionKey = deriveKey(master, 0x00, 16);
    this.#authKey = deriveKey(master, 0x01, 20);
    this.#sessionSalt = deriveKey(master, 0x02, 14);
  }

  /** RFC 3711 3.3.1 / appendix A: the rollover counter this sequence number most likely belongs to. */
  #guessRoc(seq: number): number {
    const last = this.#highestSeq;
    if (last === undefined) return this.#roc;
    if (last < 0x8000) return seq - last > 0x8000 ? this.#roc - 1 : this.#roc;
    return last - 0x8000 > seq ? this.#roc + 1 : this.#roc;
  }

  #tagValid(authenticated: Buffer, tag: Buffer, roc: number): boolean {
    const rocBytes = Buffer.alloc(4);
    rocBytes.writeUInt32BE(roc >>> 0);
    const expected = createHmac("sha1", this.#authKey)
      .update(authenticated)
      .update(rocBytes)
      .digest()
      .subarray(0, TAG_LENGTH);
    return timingSafeEqual(expected, tag);
  }

  /**
   * Verify and decrypt one SRTP packet; throws SrtpReceiveError when the tag does not verify. A
   * sender that restarted (a new ffmpeg after a reconfigure) begins again at rollover counter 0 with
   * a new random sequence number: when the guessed counter fails, the neighbours and 0 are tried,
   * and only a verifying tag is accepted.
   */
  unprotect(packet: Buffer): RtpPacket {
    if (packet.length < 12 + TAG_LENGTH || packet[0]! >> 6 !== 2) throw new SrtpReceiveError("not an RTP packet");
    const headerLength = rtpHeaderLength(packet);
    if (headerLength > packet.length - TAG_LENGTH) throw new SrtpReceiveError("truncated RTP header");
    const seq = packet.readUInt16BE(2);
    const ssrc = packet.readUInt32BE(8);
    const authenticated = packet.subarray(0, packet.length - TAG_LENGTH);
    const tag = packet.subarray(packet.length - TAG_LENGTH);
    const guess = this.#guessRoc(seq);
    const roc = [guess, guess - 1, guess + 1, 0].find((r) => r >= 0 && this.#tagValid(authenticated, tag, r));
    if (roc === undefined) throw new SrtpReceiveError(`authentication tag does not verify (seq ${seq})`);
    const resync = roc !== guess;
    if (resync || this.#highestSeq === undefined || roc > this.#roc || (roc === this.#roc && seq > this.#highestSeq)) {
      this.#roc = roc;
      this.#highestSeq = seq;
    }
    const index = BigInt(roc) * 65536n + BigInt(seq);
    const iv = Buffer.alloc(16);
    this.#sessionSalt.copy(iv, 0);
    const ssrcBytes = Buffer.alloc(4);
    ssrcBytes.writeUInt32BE(ssrc);
    for (let i = 0; i < 4; i++) iv[4 + i]! ^= ssrcBytes[i]!;
    const indexBytes = Buffer.alloc(8);
    indexBytes.writeBigUInt64BE(index);
    for (let i = 0; i < 6; i++) iv[8 + i]! ^= indexBytes[2 + i]!;
    const decipher = createCipheriv("aes-128-ctr", this.#sessionKey, iv);
    let payload = Buffer.concat([decipher.update(authenticated.subarray(headerLength)), decipher.final()]);
    if (packet[0]! & 0x20 && payload.length)
      payload = payload.subarray(0, payload.length - payload[payload.length - 1]!);
    return {
      payloadType: packet[1]! & 0x7f,
      marker: (packet[1]! & 0x80) !== 0,
      sequence: seq,
      timestamp: packet.readUInt32BE(4),
      ssrc,
      payload,
    };
  }
}

/** SRTCP packets share the port (rtcp-mux): RTCP payload types 200-204 land in 72-76 after masking. */
export function isRtcp(packet: Buffer): boolean {
  const pt = packet[1]!;
  return pt >= 200 && pt <= 206;
}
