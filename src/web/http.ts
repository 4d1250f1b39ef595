// The web server's plumbing shared by its route modules (routes-*.ts): the request each route is given,
// the error that becomes its HTTP answer, the response writers, the capped body readers, and the
// same-origin and https checks. Kept apart so each route module reads as the routes alone.
import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_PASSWORD_LENGTH } from "../core/password.ts";
import type { ProxyTrust } from "./client-address.ts";

/** One request as every route sees it: parsed once in server.ts. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly path: string;
  readonly method: string;
  /** GET or HEAD. */
  readonly get: boolean;
  readonly post: boolean;
}

/** A route module's entry: the answer's promise when the path is its own, undefined when it is not. */
export type Route = (ctx: RequestContext) => Promise<void> | undefined;

const MAX_BODY = 8 * 1024;

export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function securityHeaders(res: ServerResponse): void {
  res.setHeader(
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  res.setHeader("X-Content-Type-Options", "nosniff");
  // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own form posts.
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Cache-Control", "no-store");
}

export function send(
  res: ServerResponse,
  status: number,
  body: string,
  type: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

export const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
  send(res, status, JSON.stringify(value), "application/json; charset=utf-8", headers);
export const html = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
  send(res, status, body, "text/html; charset=utf-8", headers);
export const redirect = (res: ServerResponse, to: string, headers: Record<string, string> = {}) => {
  res.writeHead(303, { Location: to, "Content-Length": 0, ...headers });
  res.end();
};

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(req, "application/x-www-form-urlencoded", "the form"));
}

/** A JSON body. Only our page's script sends one: a cross-site page cannot send application/json
 * without a CORS preflight, which this server never grants (the CSRF guard besides the Origin check). */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req, "application/json", "the request");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "the body is not JSON");
  }
}

async function readBody(req: IncomingMessage, expected: string, what: string): Promise<string> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== expected) throw new HttpError(415, `send ${what} as ${expected}`);
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, "request body too large");
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw new HttpError(413, "request body too large");
      chunks.push(chunk);
    }
  } catch (error) {
    // The client went away mid-body ("aborted"): its fault, not ours, and nobody is left to answer.
    throw error instanceof HttpError ? error : new HttpError(400, "the request body did not arrive");
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function decodeSegment(segment: string, what = "account name"): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `bad ${what}`);
  }
}
export const decodeAccount = (segment: string) => decodeSegment(segment);

export function field(form: URLSearchParams, name: string, max = MAX_PASSWORD_LENGTH): string {
  const value = form.get(name);
  if (value === null || value === "") throw new HttpError(400, `missing field "${name}"`);
  if (value.length > max) throw new HttpError(400, `field "${name}" is too long`);
  return value;
}

/** The scheme the browser used: https behind a TLS proxy (a trusted one's X-Forwarded-Proto, or a post
 * from the https public origin). The session cookie is then Secure. */
export function isHttps(req: IncomingMessage, proxy: ProxyTrust, publicOrigin: string | undefined): boolean {
  if (proxy.scheme(req) === "https") return true;
  if (publicOrigin === undefined) return false;
  return publicOrigin.startsWith("https:") && req.headers.origin === publicOrigin;
}

/** Forms come from our own page: a cross-site POST (Origin of another site) is refused. Our own page
 * is this Host (with the scheme the browser used) or web.publicOrigin. */
export function checkSameOrigin(req: IncomingMessage, proxy: ProxyTrust, publicOrigin: string | undefined): void {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none")
    throw new HttpError(403, "cross-site request refused");
  const origin = req.headers.origin;
  if (origin === undefined || origin === publicOrigin) return;
  const own = `${proxy.scheme(req)}://${(req.headers.host ?? "").toLowerCase()}`;
  if (origin.toLowerCase() !== own) throw new HttpError(403, "cross-site request refused");
}
