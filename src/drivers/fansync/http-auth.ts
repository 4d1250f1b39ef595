// FanSync HTTPS: login (POST /session) and token validation (GET /session). docs/protocols/fansync.md §2.
import { requestOnce, StatusError } from "../../core/http.ts";

/** The cloud refused the credentials (400) or the token (401/403). */
export class FanSyncAuthError extends StatusError {
  override name = "FanSyncAuthError";
  declare readonly status: number;
  constructor(status: number, message: string) {
    super(message, status);
  }
}

export class FanSyncHttpError extends StatusError {
  override name = "FanSyncHttpError";
}

interface HttpResult {
  status: number;
  body: string;
}

export interface HttpOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One request on its own connection, failures as FanSyncHttpError. */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  options: HttpOptions,
): Promise<HttpResult> {
  return requestOnce(
    { url, method, headers, body, timeoutMs: options.timeoutMs, signal: options.signal },
    (message, status) => new FanSyncHttpError(message, status),
  );
}

export interface LoginResult {
  token: string;
  userId: string;
}

/** POST /session with e-mail and password. 400 = bad credentials; 401/403 = refused. */
export async function login(api: string, email: string, password: string, options: HttpOptions): Promise<LoginResult> {
  const body = JSON.stringify({ email, password });
  const res = await send(
    `${api}/session`,
    "POST",
    { "content-type": "application/json", charset: "utf-8", "content-length": String(Buffer.byteLength(body)) },
    body,
    options,
  );
  if (res.status === 400) throw new FanSyncAuthError(400, "FanSync rejected the e-mail or password (HTTP 400)");
  if (res.status === 401 || res.status === 403)
    throw new FanSyncAuthError(res.status, `FanSync refused the login (HTTP ${res.status})`);
  if (res.status !== 200) throw new FanSyncHttpError(`FanSync login answered HTTP ${res.status}`, res.status);
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    throw new FanSyncHttpError("FanSync login answer is not JSON", res.status);
  }
  const p = parsed as { token?: unknown; id?: unknown } | null;
  if (!p || typeof p.token !== "string" || p.token.length < 8)
    throw new FanSyncHttpError("FanSync login answer has no token", res.status);
  return { token: p.token, userId: String(p.id ?? "") };
}

/** GET /session with the bearer token: "valid", "invalid" (401/403) or "unknown" (anything else). */
export async function validateToken(
  api: string,
  token: string,
  options: HttpOptions,
): Promise<"valid" | "invalid" | "unknown"> {
  try {
    const res = await send(
      `${api}/session`,
      "GET",
      { authorization: `Bearer ${token}`, charset: "utf-8" },
      undefined,
      options,
    );
    if (res.status === 401 || res.status === 403) return "invalid";
    if (res.status !== 200) return "unknown";
    const p = JSON.parse(res.body) as { status?: unknown } | null;
    return p?.status === "valid" ? "valid" : "unknown";
  } catch {
    return "unknown";
  }
}
