// Server side of Cognito's SRP-6a variant (what amazon-cognito-identity-js' AuthenticationHelper
// computes on the client), with node:crypto and bigint. Group: RFC 5054 3072-bit, g = 2;
// k = H(pad(N) ‖ pad(g)); u = H(pad(A) ‖ pad(B)); x = H(pad(salt) ‖ H(poolName ‖ userId ‖ ":" ‖ password));
// key = HKDF(ikm = pad(S), salt = pad(u), info = "Caldera Derived Key" ‖ 0x01)[0..16];
// signature = Base64(HMAC-SHA256(key, poolName ‖ userId ‖ SECRET_BLOCK bytes ‖ TIMESTAMP)).
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const N_HEX =
  "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
  "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
  "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
  "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
  "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
  "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
  "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C" +
  "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

export const N = BigInt(`0x${N_HEX}`);
export const g = 2n;

/** Hex of a non-negative bigint, even length, "00" prepended when the top bit is set (the library's padHex). */
export function padHex(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (/^[89a-f]/i.test(hex)) hex = `00${hex}`;
  return hex;
}

function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function hexHash(hex: string): string {
  return sha256Hex(Buffer.from(hex, "hex"));
}

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = ((base % mod) + mod) % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

export const k = BigInt(`0x${hexHash(padHex(N) + padHex(g))}`);

function randomBig(bytes: number): bigint {
  return BigInt(`0x${randomBytes(bytes).toString("hex")}`);
}

export interface Verifier {
  saltHex: string;
  v: bigint;
}

export function makeVerifier(poolName: string, userId: string, password: string): Verifier {
  const salt = randomBig(16);
  const saltHex = salt.toString(16);
  const x = xValue(poolName, userId, password, saltHex);
  return { saltHex, v: modPow(g, x, N) };
}

function xValue(poolName: string, userId: string, password: string, saltHex: string): bigint {
  const inner = sha256Hex(Buffer.from(`${poolName}${userId}:${password}`, "utf8"));
  return BigInt(`0x${hexHash(padHex(BigInt(`0x${saltHex}`)) + inner)}`);
}

export interface ServerChallenge {
  b: bigint;
  B: bigint;
}

export function serverChallenge(verifier: Verifier): ServerChallenge {
  for (;;) {
    const b = randomBig(128);
    const B = (k * verifier.v + modPow(g, b, N)) % N;
    if (B % N !== 0n) return { b, B };
  }
}

/** The 16-byte key both sides derive; undefined when A is invalid. */
export function serverKey(verifier: Verifier, challenge: ServerChallenge, A: bigint): Buffer | undefined {
  if (A % N === 0n) return undefined;
  const u = BigInt(`0x${hexHash(padHex(A) + padHex(challenge.B))}`);
  if (u === 0n) return undefined;
  const S = modPow(A * modPow(verifier.v, u, N), challenge.b, N);
  const prk = createHmac("sha256", Buffer.from(padHex(u), "hex"))
    .update(Buffer.from(padHex(S), "hex"))
    .digest();
  const okm = createHmac("sha256", prk)
    .update(Buffer.concat([Buffer.from("Caldera Derived Key", "utf8"), Buffer.from([1])]))
    .digest();
  return okm.subarray(0, 16);
}

export function claimSignature(
  key: Buffer,
  poolName: string,
  userId: string,
  secretBlockB64: string,
  timestamp: string,
): string {
  return createHmac("sha256", key)
    .update(
      Buffer.concat([
        Buffer.from(poolName, "utf8"),
        Buffer.from(userId, "utf8"),
        Buffer.from(secretBlockB64, "base64"),
        Buffer.from(timestamp, "utf8"),
      ]),
    )
    .digest("base64");
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** "Ddd Mmm D HH:MM:SS UTC YYYY" with an unpadded day of month. */
const WEEKDAYS = "Sun|Mon|Tue|Wed|Thu|Fri|Sat";
const MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec";
export const TIMESTAMP_RE = new RegExp(`^(${WEEKDAYS}) (${MONTHS}) [1-9]\\d? \\d{2}:\\d{2}:\\d{2} UTC \\d{4}$`);
