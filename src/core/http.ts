// Size limits on what vendor clouds send: HTTP response bodies are read with a byte cap and websocket
// messages have a maximum size, so a broken or hostile cloud answering with an endless body costs a
// clear error, not the bridge's memory. fetch's `response.text()` and a plain `res.on("data")`
// collector both read without limit.
import { type IncomingMessage, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** Vendor answers are a few kilobytes (the largest, a Nanit /babies list or a FanSync device list,
 * stays far below this); 4 MiB leaves room for big accounts. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Largest websocket message taken from a vendor cloud or camera (ws's `maxPayload`; ws's default is
 * 100 MiB). FanSync frames are JSON of a few kilobytes (a device list with its properties is the
 * largest), Nanit's are protobuf control messages under a kilobyte (video goes over RTMP, not this
 * socket). A larger message closes the socket (code 1009) and the driver reconnects. */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 1024 * 1024;

/** ws's error code for a message past `maxPayload`. */
export const WS_MESSAGE_TOO_LARGE = "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH";

export class ResponseTooLargeError extends Error {
  override name = "ResponseTooLargeError";
  readonly limit: number;
  constructor(limit: number) {
    super(`response larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/** The body of a fetch Response as text, reading at most `max` bytes. Past that, or when the declared
 * content-length is larger, the stream is cancelled (the connection goes) and ResponseTooLargeError
 * is thrown. */
export async function readBodyCapped(response: Response, max = MAX_RESPONSE_BYTES): Promise<string> {
  const declared = Number(response.headers.get("content-length"));
  if (declared > max) {
    await response.body?.cancel().catch(() => undefined);
    throw new ResponseTooLargeError(max);
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLargeError(max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString("utf8");
}

/** The body of a node:http response as text, reading at most `max` bytes; past that the response
 * (and its socket) is destroyed and the promise rejects with ResponseTooLargeError. */
export function readIncomingCapped(res: IncomingMessage, max = MAX_RESPONSE_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(res.headers["content-length"]);
    const tooLarge = (): void => {
      const error = new ResponseTooLargeError(max);
      res.destroy(error);
      reject(error);
    };
    if (declared > max) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > max) return tooLarge();
      chunks.push(chunk);
    });
    res.on("end", () => resolve(Buffer.concat(chunks, size).toString("utf8")));
    res.on("error", reject);
  });
}

/** An error that carries the HTTP (or protocol) status a vendor answered with, when there was one. */
export class StatusError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.status = status;
  }
}

export interface OneShotRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * One HTTP(S) request on its own connection (no pooling: no keep-alive handle outlives it), the answer read
 * with the byte cap. Failures (network, timeout, a body past the cap) reject with `fail(message, status)`, so
 * each driver keeps its own error type; an HTTP status of any value resolves.
 */
export function requestOnce(
  request: OneShotRequest,
  fail: (message: string, status?: number) => Error,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(request.url);
    const what = `${request.method} ${target.pathname}`;
    const make = target.protocol === "https:" ? httpsRequest : httpRequest;
    const ours = new WeakSet<Error>();
    const failure = (message: string, status?: number): Error => {
      const error = fail(message, status);
      ours.add(error);
      return error;
    };
    const req = make(
      target,
      {
        method: request.method,
        headers: { ...request.headers, connection: "close" },
        agent: false,
        timeout: request.timeoutMs,
        signal: request.signal,
      },
      (res) => {
        readIncomingCapped(res).then(
          (text) => resolve({ status: res.statusCode ?? 0, body: text }),
          (e: Error) => reject(failure(`${what} failed: ${e.message}`, res.statusCode)),
        );
      },
    );
    req.on("timeout", () => req.destroy(failure(`${what} timed out after ${request.timeoutMs} ms`)));
    req.on("error", (e) => reject(ours.has(e) ? e : failure(`${what} failed: ${e.message}`)));
    if (request.body !== undefined) req.write(request.body);
    req.end();
  });
}
