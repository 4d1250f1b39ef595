// The X-Sense app API (`POST {api}/app`, docs/protocols/xsense.md §3): the envelope, the common fields, the
// request MAC and the error codes that mean "session expired".
import { readBodyCapped } from "../../core/http.ts";
import { forgetSecret, registerSecret } from "../../core/logger.ts";
import { requestSignal } from "../../core/timing.ts";
import { decodeClientSecret, requestMac, UNAUTH_MAC } from "./mac.ts";

export const DEFAULT_API = "https://api.x-sense-iot.com";
/** docs/protocols/xsense.md §3.4: the most recent APK-checked version, Android. */
export const DEFAULT_APP_VERSION = "v1.40.0_20260612";
export const DEFAULT_CLIENT_TYPE = "2";

/** errCodes the apps treat as "session expired" (docs/protocols/xsense.md §2.6). */
export const SESSION_ERR_CODES = new Set(["10000008", "10000020"]);

export class XSenseApiError extends Error {
  override name = "XSenseApiError";
  readonly bizCode: string;
  readonly errCode: string | undefined;
  readonly httpStatus: number;
  constructor(bizCode: string, message: string, httpStatus: number, errCode?: string) {
    super(`X-Sense ${bizCode}: ${message}`);
    this.bizCode = bizCode;
    this.errCode = errCode;
    this.httpStatus = httpStatus;
  }
}

/** The session is gone (expired, or another login of the same account displaced it): log in again. */
export class XSenseSessionError extends XSenseApiError {
  override name = "XSenseSessionError";
}

export interface ClientInfo {
  clientName?: string;
  cgtRegion: string;
  userPoolId: string;
  clientId: string;
  /** Derived from `clientSecret` (docs/protocols/xsense.md §2.1). */
  secret: Buffer;
}

export interface ApiOptions {
  /** Base URL; `/app` is appended. */
  base: string;
  appVersion?: string;
  clientType?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** `v1.22.0_20240914.1` → `1220`. */
export function appCodeOf(appVersion: string): string {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(appVersion);
  if (!m) throw new Error(`cannot derive an appCode from appVersion ${appVersion}`);
  return `${m[1]}${m[2]}${m[3]}`;
}

export class XSenseApi {
  readonly #url: string;
  readonly appVersion: string;
  readonly appCode: string;
  readonly clientType: string;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  secret: Buffer | undefined;
  accessToken: string | undefined;

  constructor(options: ApiOptions) {
    this.#url = `${options.base.replace(/\/+$/, "")}/app`;
    this.appVersion = options.appVersion ?? DEFAULT_APP_VERSION;
    this.appCode = appCodeOf(this.appVersion);
    this.clientType = options.clientType ?? DEFAULT_CLIENT_TYPE;
    this.#timeoutMs = options.timeoutMs;
    this.#signal = options.signal;
  }

  /** bizCode 101001 (unauthenticated): Cognito parameters and the obfuscated client secret. */
  async clientInfo(): Promise<ClientInfo> {
    const data = await this.#post("101001", {}, false);
    const d = data as Record<string, unknown> | null;
    if (
      !d ||
      typeof d !== "object" ||
      typeof d.userPoolId !== "string" ||
      typeof d.clientId !== "string" ||
      typeof d.clientSecret !== "string"
    ) {
      throw new XSenseApiError("101001", "the client info answer lacks userPoolId/clientId/clientSecret", 200);
    }
    registerSecret(d.clientSecret);
    const secret = decodeClientSecret(d.clientSecret, this.appCode);
    registerSecret(secret.toString("utf8"));
    this.secret = secret;
    return {
      ...(typeof d.clientName === "string" ? { clientName: d.clientName } : {}),
      cgtRegion: typeof d.cgtRegion === "string" ? d.cgtRegion : "us-east-1",
      userPoolId: d.userPoolId,
      clientId: d.clientId,
      secret,
    };
  }

  /** An authenticated call; resolves with `reData`. */
  call(bizCode: string, params: Record<string, unknown>): Promise<unknown> {
    return this.#post(bizCode, params, true);
  }

  async #post(bizCode: string, params: Record<string, unknown>, auth: boolean): Promise<unknown> {
    if (auth && (!this.secret || !this.accessToken)) throw new XSenseSessionError(bizCode, "not logged in", 0);
    const mac = auth ? requestMac(params, this.secret!) : UNAUTH_MAC;
    // A MAC is secret only for the life of its request: scrubbed meanwhile, then forgotten.
    if (auth) registerSecret(mac);
    try {
      return await this.#send(bizCode, params, auth, mac);
    } finally {
      if (auth) forgetSecret(mac);
    }
  }

  async #send(bizCode: string, params: Record<string, unknown>, auth: boolean, mac: string): Promise<unknown> {
    const body = {
      ...params,
      clientType: this.clientType,
      mac,
      appVersion: this.appVersion,
      bizCode,
      appCode: this.appCode,
    };
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (auth) headers.authorization = this.accessToken!; // raw JWT, no "Bearer"
    const request = requestSignal(this.#timeoutMs, this.#signal);
    let response: Response;
    let text: string;
    try {
      try {
        response = await fetch(this.#url, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          signal: request.signal,
        });
      } catch (error) {
        throw new XSenseApiError(bizCode, `request failed: ${(error as Error).message}`, 0);
      }
      try {
        text = await readBodyCapped(response);
      } catch (error) {
        throw new XSenseApiError(bizCode, `reading the answer failed: ${(error as Error).message}`, response.status);
      }
    } finally {
      request.dispose();
    }
    let json: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      // not JSON
    }
    if (response.status >= 400) {
      const message = String(json?.message ?? json?.reMsg ?? `HTTP ${response.status}`);
      // HTTP 500 "not authorised exception" seen by users when the session is gone (docs/protocols/xsense.md §2.6).
      if (auth && (response.status === 401 || /not autho/i.test(message)))
        throw new XSenseSessionError(bizCode, message, response.status);
      throw new XSenseApiError(bizCode, message, response.status);
    }
    if (!json) throw new XSenseApiError(bizCode, "the answer is not a JSON object", response.status);
    if (json.reCode === 200 || json.reCode === "200") return json.reData;
    const errCode = json.errCode === undefined ? undefined : String(json.errCode);
    const reMsg = String(json.reMsg ?? "error");
    if (auth && ((errCode && SESSION_ERR_CODES.has(errCode)) || /bizCode cannot be empty/i.test(reMsg))) {
      throw new XSenseSessionError(bizCode, `${reMsg} (errCode ${errCode ?? "-"})`, response.status, errCode);
    }
    throw new XSenseApiError(
      bizCode,
      `${reMsg} (reCode ${String(json.reCode)}, errCode ${errCode ?? "-"})`,
      response.status,
      errCode,
    );
  }
}
