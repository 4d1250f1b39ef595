// The server side of the RTMP handshake: C0 + C1 in, S0 + S1 + S2 out, then C2 (ignored). A client
// that signs its C1 (Flash's "complex" handshake: an HMAC-SHA256 digest at an offset derived from
// four of its bytes; ffmpeg and most camera firmwares do) gets a signed S1 and an S2 keyed on its
// digest, as Adobe's servers answer; a plain C1 is echoed back (the simple handshake). The keys are
// the well-known constants every open-source RTMP server carries (nginx-rtmp, SRS, node-media-server).
import { createHmac, randomBytes } from "node:crypto";

export const RTMP_VERSION = 3;
export const HANDSHAKE_SIZE = 1536;
const DIGEST_SIZE = 32;

const FMS_KEY = Buffer.from("Genuine Adobe Flash Media Server 001", "latin1");
const FP_KEY = Buffer.from("Genuine Adobe Flash Player 001", "latin1");
const KEY_TAIL = Buffer.from("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae", "hex");
const FMS_FULL_KEY = Buffer.concat([FMS_KEY, KEY_TAIL]);

function hmac(key: Buffer, ...data: Buffer[]): Buffer {
  const mac = createHmac("sha256", key);
  for (const part of data) mac.update(part);
  return mac.digest();
}

/** Where the digest sits: schema 1 derives it from bytes 8-11, schema 0 from bytes 772-775. */
function digestOffset(block: Buffer, schema: 0 | 1): number {
  const at = schema === 1 ? 8 : 772;
  const sum = block[at]! + block[at + 1]! + block[at + 2]! + block[at + 3]!;
  return (sum % 728) + (schema === 1 ? 12 : 776);
}

function digestOf(block: Buffer, offset: number, key: Buffer): Buffer {
  return hmac(key, block.subarray(0, offset), block.subarray(offset + DIGEST_SIZE));
}

/** The schema whose digest checks out with Flash Player's key; undefined for a plain C1. */
export function signedSchema(c1: Buffer): 0 | 1 | undefined {
  for (const schema of [0, 1] as const) {
    const offset = digestOffset(c1, schema);
    if (digestOf(c1, offset, FP_KEY).equals(c1.subarray(offset, offset + DIGEST_SIZE))) return schema;
  }
  return undefined;
}

/** S0 + S1 + S2 for this C1 (1536 bytes). */
export function serverHandshake(c1: Buffer): Buffer {
  if (c1.length !== HANDSHAKE_SIZE) throw new Error(`C1 must be ${HANDSHAKE_SIZE} bytes`);
  const schema = signedSchema(c1);
  if (schema === undefined) return Buffer.concat([Buffer.from([RTMP_VERSION]), c1, c1]);
  // S1: time 0, a non-zero server version (so the client checks our digest), random, our digest.
  const s1 = Buffer.concat([Buffer.from([0, 0, 0, 0, 1, 2, 3, 4]), randomBytes(HANDSHAKE_SIZE - 8)]);
  const s1Offset = digestOffset(s1, schema);
  digestOf(s1, s1Offset, FMS_KEY).copy(s1, s1Offset);
  // S2: random, then a signature keyed on the client's digest.
  const c1Offset = digestOffset(c1, schema);
  const key = hmac(FMS_FULL_KEY, c1.subarray(c1Offset, c1Offset + DIGEST_SIZE));
  const s2 = randomBytes(HANDSHAKE_SIZE);
  hmac(key, s2.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE)).copy(s2, HANDSHAKE_SIZE - DIGEST_SIZE);
  return Buffer.concat([Buffer.from([RTMP_VERSION]), s1, s2]);
}

/** Client side, for tests: a C1 signed as Flash Player signs it (schema 1). */
export function signedC1(): Buffer {
  const c1 = Buffer.concat([Buffer.from([0, 0, 0, 0, 9, 0, 124, 2]), randomBytes(HANDSHAKE_SIZE - 8)]);
  const offset = digestOffset(c1, 1);
  digestOf(c1, offset, FP_KEY).copy(c1, offset);
  return c1;
}

/** Client side, for tests: whether S1 carries the server digest and S2 the signature for this C1. */
export function verifyServerHandshake(c1: Buffer, s1: Buffer, s2: Buffer, schema: 0 | 1): boolean {
  const s1Offset = digestOffset(s1, schema);
  if (!digestOf(s1, s1Offset, FMS_KEY).equals(s1.subarray(s1Offset, s1Offset + DIGEST_SIZE))) return false;
  const c1Offset = digestOffset(c1, schema);
  const key = hmac(FMS_FULL_KEY, c1.subarray(c1Offset, c1Offset + DIGEST_SIZE));
  return hmac(key, s2.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE)).equals(s2.subarray(HANDSHAKE_SIZE - DIGEST_SIZE));
}
