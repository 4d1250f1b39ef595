// One Nanit control WebSocket (docs/protocols/nanit.md §4): the cloud relay (`user_connect`, Bearer) or the
// camera itself (wss://<ip>:442, `token <uc_token>`, pinned certificate). Binary proto2 frames; requests
// matched on request_id; KEEPALIVE (08 00) every 20 s, which nobody answers, so WebSocket pings with a pong
// deadline catch a dead TCP link. A silent-but-open session is caught by the caller (request timeouts and the
// periodic GET_STATUS health check close the socket).
import { EventEmitter } from "node:events";
import type { ClientRequest, IncomingMessage } from "node:http";
import type { PeerCertificate } from "node:tls";
import { WebSocket, type ClientOptions, type RawData } from "ws";
import { cleanupAfter, type Timer, type TimerScope } from "../../core/driver-runtime.ts";
import { MAX_WEBSOCKET_MESSAGE_BYTES, StatusError, WS_MESSAGE_TOO_LARGE } from "../../core/http.ts";
import type { Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import {
  decodeMessage,
  encodeMessage,
  KEEPALIVE_FRAME,
  NanitFrameError,
  type RequestMsg,
  type RequestPayload,
  type RequestTypeName,
  type ResponseMsg,
} from "./proto.ts";

export class NanitHandshakeError extends StatusError {
  override name = "NanitHandshakeError";
  declare readonly status: number;
  constructor(status: number, message: string) {
    super(message, status);
  }
}
export class NanitTimeoutError extends Error {
  override name = "NanitTimeoutError";
}
export class NanitClosedError extends Error {
  override name = "NanitClosedError";
}
/** The camera answered with a status_code other than 200. */
export class NanitRequestError extends Error {
  override name = "NanitRequestError";
  readonly statusCode: number | undefined;
  readonly statusMessage: string | undefined;
  constructor(type: string, statusCode: number | undefined, statusMessage: string | undefined) {
    super(`the camera answered ${type} with ${statusCode ?? "no status"}${statusMessage ? ` "${statusMessage}"` : ""}`);
    this.statusCode = statusCode;
    this.statusMessage = statusMessage;
  }
}

/** Passed through ws to tls.connect, which expects Node's checkServerIdentity (Error | undefined). */
export interface PinnedTls {
  ca: string;
  rejectUnauthorized: true;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

export type SocketKind = "cloud" | "local";

export interface NanitSocketOptions {
  url: string;
  kind: SocketKind;
  /** `Bearer <access token>` (cloud) or `token <uc_token>` (local). */
  authorization: string;
  log: Logger;
  /** Extra TLS options (the pinned certificate for the local socket). */
  tls?: PinnedTls;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  keepaliveIntervalMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** The link's timers: the socket keeps its own in a child scope, closed with the socket. */
  timers: TimerScope;
}

interface Pending {
  type: string;
  resolve: (response: ResponseMsg) => void;
  reject: (error: Error) => void;
  timer: Timer | undefined;
}

interface SocketEvents {
  /** A camera-initiated REQUEST (PUT_SENSOR_DATA, PUT_CONTROL, PUT_SETTINGS, PUT_STATUS, ...). */
  push: [RequestMsg];
  close: [reason: string];
}

export class NanitSocket extends EventEmitter<SocketEvents> {
  readonly kind: SocketKind;
  readonly url: string;
  readonly #ws: WebSocket;
  readonly #o: NanitSocketOptions;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  /** Keepalive, ping, pong deadline and request timeouts: all gone when the socket is. */
  readonly #timers: TimerScope;
  #pongDeadline: Timer | undefined;
  /** Unix ms of the last frame or pong from the other side. */
  lastHeard = Date.now();
  /** Set when the socket was dropped because it went silent (no pong): when it last showed life. */
  silentSince: number | undefined;

  private constructor(ws: WebSocket, options: NanitSocketOptions) {
    super();
    this.#ws = ws;
    this.#o = options;
    this.kind = options.kind;
    this.url = options.url;
    this.#log = options.log;
    this.#timers = options.timers.scope();
    ws.on("message", (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on("pong", () => {
      this.lastHeard = Date.now();
      this.#pongDeadline = this.#timers.cancel(this.#pongDeadline);
    });
    ws.on("close", (code, reason) =>
      this.#shutdown(
        `closed by the other side (${code}${reason.length ? ` ${reason.toString("utf8").slice(0, 100)}` : ""})`,
      ),
    );
    ws.on("error", (error: Error & { code?: string }) => {
      const limit = MAX_WEBSOCKET_MESSAGE_BYTES;
      if (error.code === WS_MESSAGE_TOO_LARGE) this.#shutdown(`it sent a message larger than ${limit} bytes`);
      else this.#shutdown(`socket error: ${error.message}`);
    });
    this.#timers.every(options.keepaliveIntervalMs, () => this.#send(KEEPALIVE_FRAME));
    this.#timers.every(options.pingIntervalMs, () => this.#sendPing());
  }

  /** Open the socket; rejects with NanitHandshakeError for an HTTP answer (401, 403 = connection limit, ...). */
  static connect(options: NanitSocketOptions): Promise<NanitSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(options.url, {
        headers: { authorization: options.authorization },
        handshakeTimeout: options.connectTimeoutMs,
        perMessageDeflate: false,
        maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
        ...(options.tls as Partial<ClientOptions> | undefined),
      });
      let settled = false;
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        ws.removeAllListeners();
        ws.on("error", () => undefined);
        ws.terminate();
        reject(error);
      };
      ws.once("unexpected-response", (_req: ClientRequest, res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        res.resume();
        fail(
          new NanitHandshakeError(
            status,
            `the ${options.kind} socket refused the handshake (HTTP ${status}` +
              (status === 403 && options.kind === "local" ? ": the camera allows only two local connections" : "") +
              ")",
          ),
        );
      });
      ws.once("error", (error) => fail(error));
      ws.once("close", () => fail(new NanitClosedError(`the ${options.kind} socket closed during the handshake`)));
      ws.once("open", () => {
        if (settled) return;
        settled = true;
        ws.removeAllListeners();
        resolve(new NanitSocket(ws, options));
      });
    });
  }

  get open(): boolean {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN;
  }

  /** Send a request and resolve with the camera's response (any status code). */
  request(
    type: RequestTypeName,
    payload: RequestPayload = {},
    timeoutMs = this.#o.requestTimeoutMs,
  ): Promise<ResponseMsg> {
    if (!this.open) return Promise.reject(new NanitClosedError(`the ${this.kind} socket is closed`));
    const id = this.#nextId++;
    let frame: Uint8Array;
    try {
      frame = encodeMessage({ type: "REQUEST", request: { id, type, ...payload } });
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise((resolve, reject) => {
      const timer = this.#timers.later(timeoutMs, () => {
        this.#pending.delete(id);
        reject(new NanitTimeoutError(`no answer to ${type} within ${timeoutMs} ms on the ${this.kind} socket`));
      });
      this.#pending.set(id, { type, resolve, reject, timer });
      this.#log.debug({ kind: this.kind, id, type }, "nanit >>");
      this.#send(frame);
    });
  }

  /** Like request(), but rejects with NanitRequestError unless status_code is 200. */
  async requestOk(type: RequestTypeName, payload: RequestPayload = {}, timeoutMs?: number): Promise<ResponseMsg> {
    const response = await this.request(type, payload, timeoutMs);
    if (response.status_code !== 200) throw new NanitRequestError(type, response.status_code, response.status_message);
    return response;
  }

  close(reason = "closed by the bridge"): void {
    if (this.#closed) return;
    this.#ws.close(1000);
    const ws = this.#ws;
    cleanupAfter(1000, () => ws.terminate());
    this.#shutdown(reason);
  }

  #send(frame: Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(frame, { binary: true }, (error) => {
      if (error) this.#log.debug(`nanit: send failed: ${error.message}`);
    });
  }

  #sendPing(): void {
    if (this.#ws.readyState !== WebSocket.OPEN || this.#pongDeadline) return;
    this.#pongDeadline = this.#timers.later(this.#o.pongTimeoutMs, () => {
      this.#log.warn(`nanit: no pong on the ${this.kind} socket within ${this.#o.pongTimeoutMs} ms; dropping it`);
      this.silentSince = this.lastHeard;
      this.#ws.terminate();
      this.#shutdown("no pong");
    });
    this.#ws.ping();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    this.lastHeard = Date.now();
    if (!isBinary) {
      rateLimitedLog(this.#log).warn("text frame", "nanit: ignoring a text frame (the protocol is binary protobuf)", {
        kind: this.kind,
      });
      return;
    }
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    let message;
    try {
      message = decodeMessage(bytes);
    } catch (error) {
      const why = error instanceof NanitFrameError ? error.reason : "undecodable";
      const detail = error instanceof Error ? error.message : String(error);
      rateLimitedLog(this.#log).warn(why, "nanit: ignoring a malformed frame", {
        kind: this.kind,
        bytes: bytes.length,
        detail: detail.slice(0, 200),
      });
      return;
    }
    if (message.type === "KEEPALIVE") return;
    if (message.type === "REQUEST" && message.request) {
      this.#log.debug(
        { kind: this.kind, id: message.request.id, type: message.request.type },
        "nanit << camera request",
      );
      this.emit("push", message.request);
      return;
    }
    const response = message.response!;
    const pending = this.#pending.get(response.request_id);
    if (!pending) {
      this.#log.debug(
        { kind: this.kind, id: response.request_id, type: response.request_type },
        "nanit: a response nobody waits for (late or unknown id)",
      );
      return;
    }
    if (response.request_type !== pending.type) {
      rateLimitedLog(this.#log).warn(
        "response of another type",
        "nanit: ignoring a response of another type than its request",
        { kind: this.kind, id: response.request_id, type: String(response.request_type), expected: pending.type },
      );
      return;
    }
    this.#pending.delete(response.request_id);
    this.#timers.cancel(pending.timer);
    this.#log.debug(
      { kind: this.kind, id: response.request_id, type: response.request_type, status: response.status_code },
      "nanit <<",
    );
    pending.resolve(response);
  }

  #shutdown(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.close();
    this.#pongDeadline = undefined;
    for (const [id, p] of this.#pending) {
      p.reject(new NanitClosedError(`the ${this.kind} socket closed before ${p.type} was answered (${reason})`));
      this.#pending.delete(id);
    }
    this.emit("close", reason);
  }
}
