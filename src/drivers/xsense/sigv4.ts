// AWS Signature V4 as X-Sense clients use it (docs/protocols/xsense.md §3.7, §4.1): header signing for the
// shadow REST calls (service `iotdata`, every header signed, exact-body hash) and query presigning
// for the MQTT-over-WebSocket URL (token appended after signing, outside the signed query).
import { createHash, createHmac } from "node:crypto";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export const SERVICE = "iotdata";
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** 20240101T120000Z */
export function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** RFC 3986 encoding (what AWS expects in canonical queries). */
export function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Canonical query: pairs encoded then sorted by key (then value). */
export function canonicalQuery(pairs: Array<[string, string]>): string {
  return pairs
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** Canonical URI: each path segment RFC 3986-encoded once (S3-style, no double encoding). */
export function canonicalPath(path: string): string {
  return (
    path
      .split("/")
      .map((s) => rfc3986(decodeURIComponent(s)))
      .join("/") || "/"
  );
}

export function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), "aws4_request");
}

export interface CanonicalRequestParts {
  method: string;
  path: string;
  query: Array<[string, string]>;
  /** Lower-case names to values. */
  headers: Record<string, string>;
  signedHeaders: string[];
  payloadHash: string;
}

export function canonicalRequest(p: CanonicalRequestParts): string {
  const names = [...p.signedHeaders].map((h) => h.toLowerCase()).sort();
  const headerLines = names.map((h) => `${h}:${(p.headers[h] ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
  return [
    p.method.toUpperCase(),
    canonicalPath(p.path),
    canonicalQuery(p.query),
    headerLines,
    names.join(";"),
    p.payloadHash,
  ].join("\n");
}

export function stringToSign(amzDateTime: string, scope: string, canonical: string): string {
  return ["AWS4-HMAC-SHA256", amzDateTime, scope, sha256Hex(canonical)].join("\n");
}

export function signature(
  secret: string,
  amzDateTime: string,
  region: string,
  service: string,
  canonical: string,
): string {
  const day = amzDateTime.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  return createHmac("sha256", signingKey(secret, day, region, service))
    .update(stringToSign(amzDateTime, scope, canonical), "utf8")
    .digest("hex");
}

export interface SignRequestInput {
  method: string;
  url: URL;
  /** Headers to send besides host, x-amz-date, x-amz-security-token, authorization (all get signed). */
  headers: Record<string, string>;
  /** The exact body bytes to send ("" for GET). */
  body: string;
  region: string;
  credentials: AwsCredentials;
  service?: string;
  now?: Date;
}

/** Sign a request: returns every header to send, including `host`, `x-amz-date`, `x-amz-security-token`
 * and `authorization`. Every header is signed (lower-cased, sorted). */
export function signRequest(input: SignRequestInput): Record<string, string> {
  const service = input.service ?? SERVICE;
  const when = amzDate(input.now ?? new Date());
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  headers.host = input.url.host;
  headers["x-amz-date"] = when;
  if (input.credentials.sessionToken) headers["x-amz-security-token"] = input.credentials.sessionToken;
  const signedHeaders = Object.keys(headers).sort();
  const canonical = canonicalRequest({
    method: input.method,
    path: input.url.pathname,
    query: [...input.url.searchParams.entries()],
    headers,
    signedHeaders,
    payloadHash: sha256Hex(input.body),
  });
  const scope = `${when.slice(0, 8)}/${input.region}/${service}/aws4_request`;
  const sig = signature(input.credentials.secretAccessKey, when, input.region, service, canonical);
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders.join(";")}, Signature=${sig}`;
  return headers;
}

/**
 * Presign the MQTT WebSocket URL: query `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
 * `X-Amz-SignedHeaders=host`; canonical request over GET, the URL's path, header `host`, payload hash of
 * the empty string; then `X-Amz-Security-Token` and `X-Amz-Signature` are appended (token unsigned).
 */
export function presignUrl(
  base: string,
  region: string,
  credentials: AwsCredentials,
  now: Date = new Date(),
  service = SERVICE,
): string {
  const url = new URL(base);
  const when = amzDate(now);
  const scope = `${when.slice(0, 8)}/${region}/${service}/aws4_request`;
  const query: Array<[string, string]> = [
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", when],
    ["X-Amz-SignedHeaders", "host"],
  ];
  const canonical = canonicalRequest({
    method: "GET",
    path: url.pathname,
    query,
    headers: { host: url.host },
    signedHeaders: ["host"],
    payloadHash: EMPTY_SHA256,
  });
  const sig = signature(credentials.secretAccessKey, when, region, service, canonical);
  const q = `${canonicalQuery(query)}&X-Amz-Security-Token=${rfc3986(credentials.sessionToken)}&X-Amz-Signature=${sig}`;
  return `${url.protocol}//${url.host}${url.pathname}?${q}`;
}
