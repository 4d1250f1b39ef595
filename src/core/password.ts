// Password hashing for the web page: scrypt with a random 16-byte salt, stored as one string
// "scrypt$N$r$p$<salt base64>$<hash base64>" so the parameters can change without breaking old hashes.
// Shared by the config (a plain `web.password` is hashed at load and the plain text dropped) and the
// set-password form (the hash goes to <data>/web.json, mode 0600).
import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from "node:crypto";

const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;
/** Longest password accepted: scrypt's cost does not depend on it, but a form field needs a bound. */
export const MAX_PASSWORD_LENGTH = 256;
export const MIN_PASSWORD_LENGTH = 8;

export const PASSWORD_HASH = /^scrypt\$(\d{1,7})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;

export function hashPasswordSync(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password.normalize("NFC"), salt, KEY_LENGTH, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFC"), salt, KEY_LENGTH, { N, r: R, p: P }, (error, hash) =>
      error ? reject(error) : resolve(`scrypt$${N}$${R}$${P}$${salt.toString("base64")}$${hash.toString("base64")}`),
    ),
  );
}

export function isPasswordHash(value: string): boolean {
  const m = PASSWORD_HASH.exec(value);
  if (!m) return false;
  const n = Number(m[1]);
  // A power of two, as scrypt needs, and bounded so a hand-edited hash cannot stall the process.
  return n >= 2 && n <= 1 << 20 && (n & (n - 1)) === 0 && Number(m[2]) >= 1 && Number(m[3]) >= 1 && Number(m[3]) <= 16;
}

/** Constant-time check of a password against a stored hash; false for a malformed hash. */
export function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = PASSWORD_HASH.exec(stored);
  if (!m || !isPasswordHash(stored) || password.length > MAX_PASSWORD_LENGTH) return Promise.resolve(false);
  const expected = Buffer.from(m[5]!, "base64");
  const options: ScryptOptions = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]), maxmem: 256 * 1024 * 1024 };
  return new Promise((resolve) =>
    scrypt(password.normalize("NFC"), Buffer.from(m[4]!, "base64"), expected.length, options, (error, hash) =>
      resolve(!error && hash.length === expected.length && timingSafeEqual(hash, expected)),
    ),
  );
}
