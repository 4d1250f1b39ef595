// FanSync HTTPS: login (POST /session) and token validation (GET /session). docs/protocols/fansync.md §2.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { readIncomingCapped } from "../../core/http.ts";

/** The cloud refused the credentials (400) or the token (401/403). */
export class FanSyncAuthError extends Error {
  override name = "FanSyncAuthError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class FanSyncHttpError extends Error {
  override name = "FanSyncHttpError";
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

interface HttpResult {
  status: number;
  body: string;
}

export interface HttpOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One request with no connection pooling (no keep-alive handle outlives it). */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  options: HttpOptions,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const make = target.protocol === "https:" ? httpsRequest : httpRequest;
    const req = make(
      target,
      {
        method,
        headers: { ...headers, connection: "close" },
        agent: false,
        timeout: options.timeoutMs,
        signal: options.signal,
      },
      (res) => {
        readIncomingCapped(res).then(
          (text) => resolve({ status: res.statusCode ?? 0, body: text }),
          (e: Error) =>
            reject(new FanSyncHttpError(`${method} ${target.pathname} failed: ${e.message}`, res.statusCode)),
        );
      },
    );
    req.on("timeout", () =>
      req.destroy(new FanSyncHttpError(`${method} ${target.pathname} timed out after ${options.timeoutMs} ms`)),
    );
    req.on("error", (e) =>
      reject(
        e instanceof FanSyncHttpError ? e : new FanSyncHttpError(`${method} ${target.pathname} failed: ${e.message}`),
      ),
    );
    if (body !== undefined) req.write(body);
    req.end();
  });
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
