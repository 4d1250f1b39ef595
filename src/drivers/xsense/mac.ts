// The X-Sense app-API request MAC and the client-secret decoding (docs/protocols/xsense.md §2.1, §3.3).
import { createHash, createHmac } from "node:crypto";

/** The literal MAC the app sends on unauthenticated calls (101001). */
export const UNAUTH_MAC = "abcdefg";

/** Fields every /app body carries; never part of the MAC. */
export const COMMON_FIELDS = ["clientType", "appVersion", "bizCode", "appCode", "mac"] as const;

/**
 * Decode the obfuscated `clientSecret` of bizCode 101001: base64-decode, drop the leading bytes that
 * spell the decimal appCode, drop the last byte. Returns the raw secret bytes.
 */
export function decodeClientSecret(encoded: string, appCode: string): Buffer {
  const raw = Buffer.from(encoded, "base64");
  const prefix = String(appCode).length;
  if (raw.length <= prefix + 1) throw new Error("the client secret from 101001 is too short to decode");
  return raw.subarray(prefix, raw.length - 1);
}

/** The inverse of decodeClientSecret (the simulator's side). */
export function encodeClientSecret(secret: Buffer | string, appCode: string, trailer = "X"): string {
  return Buffer.concat([Buffer.from(appCode, "utf8"), Buffer.from(secret), Buffer.from(trailer, "utf8")]).toString(
    "base64",
  );
}

/** Compact, Gson-style JSON (no spaces, non-ASCII unescaped) of a non-scalar parameter. */
function macJson(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/** The text one parameter value contributes to the MAC ("Java StringBuilder text"). */
export function macText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) {
    if (value.length === 0) return "";
    if (typeof value[0] === "string") return value.map((v) => (typeof v === "string" ? v : macText(v))).join("");
    return macJson(value);
  }
  return macJson(value);
}

/** The concatenated text of the custom parameters, in body (insertion) order, common fields skipped. */
export function macInput(params: Record<string, unknown>): string {
  let text = "";
  for (const [key, value] of Object.entries(params)) {
    if ((COMMON_FIELDS as readonly string[]).includes(key)) continue;
    text += macText(value);
  }
  return text;
}

/** mac = lowercase hex MD5( UTF-8 text of the parameter values ‖ secret bytes ). */
export function requestMac(params: Record<string, unknown>, secret: Buffer): string {
  return createHash("md5")
    .update(Buffer.from(macInput(params), "utf8"))
    .update(secret)
    .digest("hex");
}

/** SECRET_HASH = Base64( HMAC-SHA256( key = secret, message = username ‖ clientId ) ). */
export function secretHash(secret: Buffer, username: string, clientId: string): string {
  return createHmac("sha256", secret)
    .update(username + clientId, "utf8")
    .digest("base64");
}
