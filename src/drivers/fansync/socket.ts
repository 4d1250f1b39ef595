// One FanSync WebSocket connection (docs/protocols/fansync.md §4): connect, consume an optional greeting, log
// in with the JWT, route answers by id (pipelining allowed), handle the double `set` acknowledgement, emit
// device_change pushes, keep the link alive with control-frame pings and a pong timeout.
import { EventEmitter } from "node:events";
import { WebSocket, type RawData } from "ws";
import type { Timer, TimerScope } from "../../core/driver-runtime.ts";
import { MAX_WEBSOCKET_MESSAGE_BYTES, WS_MESSAGE_TOO_LARGE } from "../../core/http.ts";
import type { Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import { copySafe } from "../../core/safe-keys.ts";
import { isRegisterMap, type Registers } from "./registers.ts";

export class FanSyncLoginRejectedError extends Error {
  override name = "FanSyncLoginRejectedError";
}
export class FanSyncTimeoutError extends Error {
  override name = "FanSyncTimeoutError";
}
export class FanSyncCloudError extends Error {
  override name = "FanSyncCloudError";
}
export class FanSyncClosedError extends Error {
  override name = "FanSyncClosedError";
}

export interface SocketOptions {
  url: string;
  log: Logger;
  /** Wait for the login answer (default 15 s). */
  loginTimeoutMs: number;
  /** Wait for the (first) answer to any request (default 15 s). */
  requestTimeoutMs: number;
  /** Wait for the device's second `set` answer after the cloud's ok (default 3 s). */
  deviceAckGraceMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  signal?: AbortSignal;
  /** The driver's timers: the socket keeps its own in a child scope, closed with the socket. */
  timers: TimerScope;
}

export interface SetResult {
  /** The device's acknowledgement, or "none" when the grace elapsed without one. */
  deviceAck: "ok" | "error" | "none";
}

export interface PushEvent {
  device: string;
  status: Registers;
}

type Frame = Record<string, unknown>;

interface Pending {
  name: string;
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
  timer: Timer | undefined;
  /** `set` only: the cloud answered ok, now waiting for the device. */
  setPhase?: "cloud" | "device";
  resolveSet?: (result: SetResult) => void;
}

interface SocketEvents {
  push: [PushEvent];
  close: [reason: string];
}

export class FanSyncSocket extends EventEmitter<SocketEvents> {
  readonly #ws: WebSocket;
  readonly #opts: SocketOptions;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  /** Ids of sets already settled: a late device ack for one is expected, not malformed. */
  readonly #settledSets = new Set<number>();
  #nextId = 1;
  #loggedIn = false;
  #closed = false;
  /** Ping, pong deadline and request timeouts: all gone when the socket is. */
  readonly #timers: TimerScope;
  #pongTimer: Timer | undefined;

  private constructor(ws: WebSocket, opts: SocketOptions) {
    super();
    this.#ws = ws;
    this.#opts = opts;
    this.#log = opts.log;
    this.#timers = opts.timers.scope();
    ws.on("message", (data: RawData, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on("pong", () => {
      this.#pongTimer = this.#timers.cancel(this.#pongTimer);
    });
    ws.on("close", (code: number) => this.#shutdown(`socket closed (code ${code})`));
    ws.on("error", (e: Error & { code?: string }) => {
      if (e.code !== WS_MESSAGE_TOO_LARGE) return this.#log.debug({ err: e.message }, "fansync socket error");
      const limit = MAX_WEBSOCKET_MESSAGE_BYTES;
      this.#log.warn(`fansync: the cloud sent a message larger than ${limit} bytes; dropping the socket`);
    });
    this.#timers.every(opts.pingIntervalMs, () => this.#ping());
  }

  /** Open the socket and log in. Rejects with FanSyncLoginRejectedError (answer not ok),
   * FanSyncTimeoutError (no answer) or another error (connect failed); the socket is closed then. */
  static async connect(token: string, opts: SocketOptions): Promise<FanSyncSocket> {
    const ws = new WebSocket(opts.url, {
      perMessageDeflate: false,
      handshakeTimeout: opts.loginTimeoutMs,
      maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
    });
    // Listeners go on before the upgrade completes: a greeting sent right after it may arrive in
    // the same read as the 101 answer and be emitted before any later listener is attached.
    const socket = new FanSyncSocket(ws, opts);
    const onAbort = (): void => ws.terminate();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", (e: Error) => reject(new Error(`websocket connect failed: ${e.message}`)));
        ws.once("close", () => reject(new FanSyncClosedError("websocket closed before it opened")));
        ws.once("unexpected-response", (_req, res) =>
          reject(new Error(`websocket upgrade refused (HTTP ${res.statusCode})`)),
        );
      });
    } catch (error) {
      opts.signal?.removeEventListener("abort", onAbort);
      socket.close();
      throw error;
    }
    try {
      const answer = await socket.#request("login", undefined, { token }, opts.loginTimeoutMs);
      if (answer.status !== "ok")
        throw new FanSyncLoginRejectedError(
          `FanSync refused the websocket login (status ${JSON.stringify(answer.status)})`,
        );
      socket.#loggedIn = true;
      return socket;
    } catch (error) {
      socket.close();
      throw error;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      if (opts.signal?.aborted) socket.close();
    }
  }

  get open(): boolean {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN;
  }

  /** Send a request and resolve with its answer; rejects on an "error" status or timeout. */
  async request(name: string, device?: string, data?: unknown): Promise<Frame> {
    const answer = await this.#request(name, device, data, this.#opts.requestTimeoutMs);
    if (answer.status !== "ok")
      throw new FanSyncCloudError(
        `FanSync answered "${String(answer.status)}" to ${name}${device ? ` for ${device}` : ""}`,
      );
    return answer;
  }

  /** Write registers. Resolves when the cloud said ok AND the device acknowledged (or the grace
   * elapsed). Rejects when the cloud answers an error or nothing comes in time. */
  set(device: string, data: Registers): Promise<SetResult> {
    return new Promise<SetResult>((resolve, reject) => {
      const id = this.#send("set", device, data);
      if (id === undefined) return reject(new FanSyncClosedError("FanSync socket is not open"));
      const pending: Pending = {
        name: "set",
        setPhase: "cloud",
        resolve: () => undefined,
        resolveSet: resolve,
        reject,
        timer: this.#timers.later(this.#opts.requestTimeoutMs, () => {
          const what = `FanSync did not answer set ${JSON.stringify(data)} within ${this.#opts.requestTimeoutMs} ms`;
          this.#fail(id, new FanSyncTimeoutError(what));
        }),
      };
      this.#pending.set(id, pending);
    });
  }

  /** Close the socket; pending requests reject. Emits no 'close' event. */
  close(): void {
    if (this.#closed) return;
    this.#shutdown("closed by the driver", false);
    this.#ws.removeAllListeners("message");
    this.#ws.on("error", () => undefined);
    this.#ws.terminate();
  }

  #request(name: string, device: string | undefined, data: unknown, timeoutMs: number): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      const id = this.#send(name, device, data);
      if (id === undefined) return reject(new FanSyncClosedError("FanSync socket is not open"));
      this.#pending.set(id, {
        name,
        resolve,
        reject,
        timer: this.#timers.later(timeoutMs, () => {
          this.#fail(id, new FanSyncTimeoutError(`FanSync did not answer ${name} within ${timeoutMs} ms`));
        }),
      });
    });
  }

  #send(name: string, device: string | undefined, data: unknown): number | undefined {
    if (!this.open) return undefined;
    const id = this.#nextId++;
    const frame: Frame = { id, request: name };
    if (device !== undefined) frame.device = device;
    if (data !== undefined) frame.data = data;
    // The login frame carries the token: never log it.
    if (name !== "login") this.#log.debug({ frame }, "fansync >>");
    this.#ws.send(JSON.stringify(frame));
    return id;
  }

  #fail(id: number, error: Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    this.#timers.cancel(p.timer);
    p.reject(error);
  }

  #ping(): void {
    if (!this.open || this.#pongTimer) return;
    this.#pongTimer = this.#timers.later(this.#opts.pongTimeoutMs, () => {
      this.#log.warn(`fansync: no pong within ${this.#opts.pongTimeoutMs} ms, dropping the socket`);
      this.#ws.terminate();
    });
    try {
      this.#ws.ping();
    } catch {
      // closing: the close handler runs
    }
  }

  #shutdown(reason: string, emit = true): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.close();
    this.#pongTimer = undefined;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(new FanSyncClosedError(`FanSync socket closed before ${p.name} was answered`));
    }
    if (emit) this.emit("close", reason);
  }

  /** `why` is a fixed reason: lines are rate limited per reason (a bad cloud must not flood the log). */
  #malformed(why: string, raw: string, fields: Record<string, unknown> = {}): void {
    rateLimitedLog(this.#log).warn(why, "fansync: ignoring a malformed frame", {
      ...fields,
      sample: raw.slice(0, 120),
    });
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    const raw = Buffer.isBuffer(data)
      ? data.toString("utf8")
      : Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.from(data).toString("utf8");
    const inLogin = !this.#loggedIn;
    let parsed: unknown;
    try {
      if (isBinary) throw new Error("binary");
      parsed = JSON.parse(raw);
    } catch {
      // Before the login answer anything unexpected is taken as a server greeting (docs/protocols/fansync.md §4.2).
      if (inLogin) return this.#log.debug("fansync: non-JSON frame before the login answer ignored (greeting)");
      return this.#malformed(isBinary ? "binary frame" : "not JSON", raw);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      if (inLogin) return this.#log.debug("fansync: frame before the login answer ignored (greeting)");
      return this.#malformed("not an object", raw);
    }
    const frame = parsed as Frame;
    const id = frame.id;
    const pending = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (pending && typeof id === "number") return this.#answer(id, pending, frame, raw);
    if (
      frame.event === "device_change" ||
      (id === undefined &&
        frame.data !== undefined &&
        typeof frame.data === "object" &&
        frame.data !== null &&
        "device" in frame.data)
    ) {
      return this.#push(frame, raw);
    }
    if (inLogin)
      return this.#log.debug(
        { id: typeof id === "number" ? id : undefined },
        "fansync: frame before the login answer ignored (greeting)",
      );
    if (typeof id === "number") {
      if (this.#settledSets.has(id)) return this.#log.debug({ id }, "fansync: late device acknowledgement ignored");
      return this.#log.debug({ id }, "fansync: answer for an unknown request id ignored");
    }
    this.#malformed("neither an answer nor an event", raw);
  }

  #answer(id: number, p: Pending, frame: Frame, raw: string): void {
    const status = frame.status;
    if (status !== "ok" && status !== "error") {
      if (p.name === "login" && !this.#loggedIn) {
        // An answer to login with an odd status is still a refusal.
        this.#pending.delete(id);
        this.#timers.cancel(p.timer);
        return p.resolve(frame);
      }
      return this.#malformed("answer without a valid status", raw, { id });
    }
    this.#log.debug({ frame }, "fansync <<");
    if (p.setPhase === "cloud") {
      if (status === "error")
        return this.#fail(id, new FanSyncCloudError(`FanSync refused the write (cloud answered "error")`));
      // Answer 1 (cloud ok). Now the device's answer with the same id, or the grace.
      p.setPhase = "device";
      this.#timers.cancel(p.timer);
      p.timer = this.#timers.later(this.#opts.deviceAckGraceMs, () => this.#settleSet(id, "none"));
      return;
    }
    if (p.setPhase === "device") return this.#settleSet(id, status);
    this.#pending.delete(id);
    this.#timers.cancel(p.timer);
    p.resolve(frame);
  }

  #settleSet(id: number, ack: SetResult["deviceAck"]): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    this.#timers.cancel(p.timer);
    this.#settledSets.add(id);
    if (this.#settledSets.size > 256) this.#settledSets.delete(this.#settledSets.values().next().value!);
    p.resolveSet?.({ deviceAck: ack });
  }

  #push(frame: Frame, raw: string): void {
    const data = frame.data as
      | { device?: unknown; changes?: { status?: unknown }; status?: unknown }
      | null
      | undefined;
    if (!data || typeof data !== "object") return this.#malformed("device_change without data", raw);
    const status = data.changes && typeof data.changes === "object" ? data.changes.status : data.status;
    if (typeof data.device !== "string" || !data.device)
      return this.#malformed("device_change without a device id", raw);
    if (!isRegisterMap(status)) return this.#malformed("device_change status is not a map of integers", raw);
    this.#log.debug({ frame }, "fansync << push");
    this.emit("push", { device: data.device, status: copySafe(status) });
  }
}

/** The socket's close reason, or "stopped" once `signal` aborts. Not Promise.race against one promise
 * that lives as long as the driver: every race would leave a reaction on it (and its settled result)
 * until stop(), a few hundred bytes per reconnect for good. */
export function closedOrStopped(closed: Promise<string>, signal: AbortSignal): Promise<string> {
  if (signal.aborted) return Promise.resolve("stopped");
  return new Promise<string>((resolve) => {
    const onAbort = (): void => resolve("stopped");
    signal.addEventListener("abort", onAbort, { once: true });
    void closed.then((reason) => {
      signal.removeEventListener("abort", onAbort);
      resolve(reason);
    });
  });
}
