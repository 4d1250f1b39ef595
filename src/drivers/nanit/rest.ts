// Nanit REST (docs/protocols/nanit.md §2, §3): login with the MFA 482 step, rotating refresh, /babies,
// /babies/{uid}/messages and the camera's uc_token. Plain http:// works too (simulators).
import { requestOnce, StatusError } from "../../core/http.ts";
import { isUnsafeKey } from "../../core/safe-keys.ts";

export const DEFAULT_API = "https://api.nanit.com";
export const DEFAULT_WEBSOCKET = "wss://api.nanit.com/focus/cameras/{camera_uid}/user_connect";
/** HN/EM: MFA needs a mobile-style User-Agent; IF: the API-version header is required with MFA. */
export const USER_AGENT = "Nanit/767 CFNetwork/1498.700.2 Darwin/23.6.0";
export const API_VERSION = "1";

/** Login refused: bad credentials (401) or a wrong/expired MFA code. */
export class NanitAuthError extends StatusError {
  override name = "NanitAuthError";
  declare readonly status: number;
  constructor(status: number, message: string) {
    super(message, status);
  }
}

/** HTTP 482: the account uses MFA; the code went out by SMS (or e-mail). */
export class NanitMfaRequiredError extends Error {
  override name = "NanitMfaRequiredError";
  readonly mfaToken: string;
  readonly phoneSuffix: string | undefined;
  readonly channel: string | undefined;
  constructor(mfaToken: string, phoneSuffix?: string, channel?: string) {
    super(
      "Nanit wants a verification code" +
        (phoneSuffix ? ` (sent by ${channel ?? "sms"} to the phone ending ${phoneSuffix})` : ""),
    );
    this.mfaToken = mfaToken;
    this.phoneSuffix = phoneSuffix;
    this.channel = channel;
  }
}

/** The session is gone (refresh token expired, already used, or refused): a person must log in. */
export class NanitLoginRequiredError extends Error {
  override name = "NanitLoginRequiredError";
}

/** An access token was refused (HTTP 401) on a REST call. */
export class NanitUnauthorizedError extends Error {
  override name = "NanitUnauthorizedError";
}

/** Anything transient: network, timeouts, 429, 5xx, unexpected answers. */
export class NanitHttpError extends StatusError {
  override name = "NanitHttpError";
}

export interface HttpOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

interface HttpResult {
  status: number;
  body: string;
}

/** One request on its own connection with the app's headers, failures as NanitHttpError. */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  options: HttpOptions,
): Promise<HttpResult> {
  const all: Record<string, string> = {
    "user-agent": USER_AGENT,
    "nanit-api-version": API_VERSION,
    accept: "application/json",
    ...headers,
  };
  if (body !== undefined) {
    all["content-type"] = "application/json";
    all["content-length"] = String(Buffer.byteLength(body));
  }
  return requestOnce(
    { url, method, headers: all, body, timeoutMs: options.timeoutMs, signal: options.signal },
    (message, status) => new NanitHttpError(message, status),
  );
}

function parse(res: HttpResult): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(res.body) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** OAuth-style {error, error_description} or {message} (HN `_extract_error_message`). */
function errorText(res: HttpResult): string {
  const p = parse(res);
  const text = [p?.error_description, p?.message, p?.error].find((v) => typeof v === "string" && v);
  return typeof text === "string" ? text.slice(0, 200) : `HTTP ${res.status}`;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

function tokensFrom(res: HttpResult, what: string): Tokens {
  const p = parse(res);
  if (
    !p ||
    typeof p.access_token !== "string" ||
    typeof p.refresh_token !== "string" ||
    !p.access_token ||
    !p.refresh_token
  ) {
    throw new NanitHttpError(`Nanit ${what} answer has no access_token/refresh_token`, res.status);
  }
  return { accessToken: p.access_token, refreshToken: p.refresh_token };
}

export interface LoginBody {
  email: string;
  password: string;
  mfa_token?: string;
  mfa_code?: string;
  channel?: "sms" | "email";
}

/** POST /login. 201 (or 200) -> tokens; 482 -> NanitMfaRequiredError; 401 -> NanitAuthError. */
export async function postLogin(api: string, body: LoginBody, options: HttpOptions): Promise<Tokens> {
  const res = await send(`${api}/login`, "POST", {}, JSON.stringify(body), options);
  if (res.status === 482) {
    // 482 is not a standard status: read the body and trust the mfa_token in it (HN).
    const p = parse(res);
    if (!p || typeof p.mfa_token !== "string" || !p.mfa_token)
      throw new NanitHttpError("Nanit answered 482 without an mfa_token", 482);
    throw new NanitMfaRequiredError(
      p.mfa_token,
      typeof p.phone_suffix === "string" ? p.phone_suffix : undefined,
      typeof p.channel === "string" ? p.channel : undefined,
    );
  }
  if (res.status === 401 || res.status === 403) {
    const what = body.mfa_code
      ? "the verification code (wrong or expired: use the latest one)"
      : "the e-mail or password";
    throw new NanitAuthError(res.status, `Nanit refused ${what}: ${errorText(res)} (HTTP ${res.status})`);
  }
  if (res.status !== 201 && res.status !== 200)
    throw new NanitHttpError(`Nanit login answered HTTP ${res.status}: ${errorText(res)}`, res.status);
  return tokensFrom(res, "login");
}

/** POST /tokens/refresh. The refresh token is single use: the answer carries its successor.
 * 404 (expired / already used) and 401 mean a person must log in again; 429, 5xx and timeouts are transient. */
export async function postRefresh(
  api: string,
  refreshToken: string,
  accessToken: string | undefined,
  options: HttpOptions,
): Promise<Tokens> {
  const headers: Record<string, string> = accessToken ? { authorization: accessToken } : {};
  const res = await send(
    `${api}/tokens/refresh`,
    "POST",
    headers,
    JSON.stringify({ refresh_token: refreshToken }),
    options,
  );
  if (res.status === 404 || res.status === 401) {
    throw new NanitLoginRequiredError(
      `Nanit refused the refresh token (${errorText(res)}, HTTP ${res.status}): it expired or was already used`,
    );
  }
  if (res.status !== 200 && res.status !== 201)
    throw new NanitHttpError(`Nanit token refresh answered HTTP ${res.status}: ${errorText(res)}`, res.status);
  return tokensFrom(res, "token refresh");
}

/** GET with an access token: bare for REST, `Bearer` for /focus/* (docs/protocols/nanit.md §2.6). 401 ->
 * NanitUnauthorizedError. */
export async function getJson(
  api: string,
  path: string,
  accessToken: string,
  options: HttpOptions,
): Promise<Record<string, unknown>> {
  const authorization = path.startsWith("/focus/") ? `Bearer ${accessToken}` : accessToken;
  const res = await send(`${api}${path}`, "GET", { authorization }, undefined, options);
  const route = path.split("?")[0];
  if (res.status === 401) throw new NanitUnauthorizedError(`Nanit refused the access token on GET ${route} (HTTP 401)`);
  if (res.status !== 200)
    throw new NanitHttpError(`GET ${route} answered HTTP ${res.status}: ${errorText(res)}`, res.status);
  const p = parse(res);
  if (!p) throw new NanitHttpError(`GET ${route} answer is not a JSON object`, res.status);
  return p;
}

export interface BabyCamera {
  babyUid: string;
  babyName: string;
  cameraUid: string;
  /** `<lan-ip>:442` as the cloud reports it. */
  privateAddress: string | undefined;
  firmware: string | undefined;
  hardware: string | undefined;
  connected: boolean | undefined;
  /** The baby's Sound & Light Machine (`speaker.speaker.uid`), when there is one. */
  speakerUid?: string;
}

/** The babies that have a camera. Malformed entries (and unusable camera uids) are skipped (reported in `skipped`). */
export function parseBabies(body: Record<string, unknown>): { cameras: BabyCamera[]; skipped: number } {
  const list = Array.isArray(body.babies) ? body.babies : [];
  const cameras: BabyCamera[] = [];
  let skipped = 0;
  for (const item of list) {
    const b = item as Record<string, unknown> | null;
    const camera = (b?.camera && typeof b.camera === "object" ? b.camera : {}) as Record<string, unknown>;
    const cameraUid =
      typeof b?.camera_uid === "string" && b.camera_uid
        ? b.camera_uid
        : typeof camera.uid === "string" && camera.uid
          ? camera.uid
          : undefined;
    // Camera uids key plain objects (the pinned certificates): "__proto__" or "constructor" there
    // would read Object.prototype or Object.
    if (!b || typeof b.uid !== "string" || !b.uid || !cameraUid || isUnsafeKey(cameraUid)) {
      skipped++;
      continue;
    }
    const speaker = (b.speaker && typeof b.speaker === "object" ? b.speaker : {}) as Record<string, unknown>;
    const inner = (speaker.speaker && typeof speaker.speaker === "object" ? speaker.speaker : {}) as Record<
      string,
      unknown
    >;
    const speakerUid = typeof inner.uid === "string" && inner.uid && !isUnsafeKey(inner.uid) ? inner.uid : undefined;
    cameras.push({
      ...(speakerUid ? { speakerUid } : {}),
      babyUid: b.uid,
      babyName: typeof b.name === "string" && b.name.trim() ? b.name.trim() : "Baby",
      cameraUid,
      privateAddress:
        typeof camera.private_address === "string" && camera.private_address ? camera.private_address : undefined,
      firmware: typeof camera.version === "string" ? camera.version : undefined,
      hardware: typeof camera.hardware === "string" ? camera.hardware : undefined,
      connected: typeof camera.connected === "boolean" ? camera.connected : undefined,
    });
  }
  return { cameras, skipped };
}

export interface BabyMessage {
  id: number;
  type: string;
  /** Unix seconds. */
  time: number;
}

export function parseMessages(body: Record<string, unknown>): BabyMessage[] {
  const list = Array.isArray(body.messages) ? body.messages : [];
  const out: BabyMessage[] = [];
  for (const item of list) {
    const m = item as Record<string, unknown> | null;
    if (m && typeof m.id === "number" && typeof m.type === "string" && typeof m.time === "number")
      out.push({ id: m.id, type: m.type, time: m.time });
  }
  return out.sort((a, b) => a.id - b.id);
}

/** The local-socket token from /focus/cameras/{uid}/uc_token; the shape `{token}` is UL's reading
 * (docs/protocols/nanit.md §9.1). */
export function parseUcToken(body: Record<string, unknown>): string {
  const nested =
    body.uc_token && typeof body.uc_token === "object" ? (body.uc_token as Record<string, unknown>).token : undefined;
  const token = [body.token, body.uc_token, nested].find((v) => typeof v === "string" && v);
  if (typeof token !== "string") throw new NanitHttpError("the uc_token answer has no token");
  return token;
}

/** Seconds-since-epoch `exp` of a JWT, undefined when the token is not a JWT. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as { exp?: unknown };
    return typeof payload.exp === "number" && Number.isFinite(payload.exp) ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}
