// One Sound & Light Machine's control socket through Nanit's relay (docs/protocols/nanit.md §4.7):
// `Authorization: token <access token>` (the `token` scheme, not Bearer), the relay's "backend" frame
// first (nothing is sent before the device is attached, or 10 s), one request in flight answered by
// request id, never re-sent on a slow answer (re-sending wedges the device), WebSocket pings as the only
// keep-alive, a GET_SETTINGS poll (the device pushes changes too), reconnect with back-off.
import { WebSocket, type RawData } from "ws";
import type { ClientRequest, IncomingMessage } from "node:http";
import type { Timer, TimerScope } from "../../core/driver-runtime.ts";
import type { Logger } from "../../core/logger.ts";
import type { NanitSession } from "./session.ts";
import { decodeSl, encodeSl, type SlMessage, type SlSettings } from "./sound-light.ts";

/** Frames are small (a settings snapshot with a track list); anything bigger is not the device. */
const MAX_FRAME_BYTES = 256 * 1024;

export interface SpeakerLinkOptions {
  url: string;
  label: string;
  session: NanitSession;
  log: Logger;
  timers: TimerScope;
  signal: AbortSignal;
  backoff: (failures: number) => number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Wait this long for the relay's "device attached" frame before sending anyway (default 10 s). */
  attachTimeoutMs: number;
  pingIntervalMs: number;
  pollMs: number;
  /** A settings snapshot or change from the device; `full` when it answers GET_SETTINGS all. */
  onSettings(settings: SlSettings, full: boolean): void;
  onUp(): void;
  onDown(reason: string): void;
}

type Pending = { resolve: (m: NonNullable<SlMessage["response"]>) => void; reject: (e: Error) => void };

export class SpeakerLink {
  readonly #o: SpeakerLinkOptions;
  readonly #session = Math.random().toString(36).slice(2, 14);
  #ws: WebSocket | undefined;
  #nextId = 0;
  #pending = new Map<number, Pending>();
  /** One request in flight per device (the app's rule). */
  #queue: Promise<unknown> = Promise.resolve();
  #attached: (() => void) | undefined;
  #isAttached = false;
  #timers: Timer[] = [];

  constructor(options: SpeakerLinkOptions) {
    this.#o = options;
  }

  get up(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    void this.#loop();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (!this.#o.signal.aborted) {
      try {
        const ws = await this.#connect();
        failures = 0;
        const closed = new Promise<string>((resolve) => {
          ws.on("close", (code) => resolve(`closed (${code})`));
          ws.on("error", (e) => resolve(`socket error: ${e.message}`));
        });
        this.#ws = ws;
        ws.on("message", (data: RawData) => this.#onFrame(data));
        ws.on("pong", () => undefined);
        this.#timers.push(this.#o.timers.every(this.#o.pingIntervalMs, () => ws.ping())!);
        this.#timers.push(this.#o.timers.every(this.#o.pollMs, () => void this.#readAll())!);
        await this.#readAll();
        this.#o.onUp();
        const reason = await Promise.race([closed, this.#aborted()]);
        this.#drop(reason);
      } catch (error) {
        if (this.#o.signal.aborted) break;
        this.#drop((error as Error).message);
        failures++;
      }
      if (this.#o.signal.aborted) break;
      await this.#o.timers.sleep(this.#o.backoff(Math.max(1, failures)), this.#o.signal);
    }
    this.#drop("stopped");
  }

  #aborted(): Promise<string> {
    return new Promise((resolve) => this.#o.signal.addEventListener("abort", () => resolve("stopped"), { once: true }));
  }

  #drop(reason: string): void {
    for (const t of this.#timers.splice(0)) this.#o.timers.cancel(t);
    const ws = this.#ws;
    this.#ws = undefined;
    this.#isAttached = false;
    for (const p of this.#pending.values()) p.reject(new Error(`the Sound & Light socket went away: ${reason}`));
    this.#pending.clear();
    if (ws) {
      ws.removeAllListeners();
      ws.on("error", () => undefined);
      ws.terminate();
      if (reason !== "stopped") this.#o.onDown(reason);
    }
  }

  async #connect(): Promise<WebSocket> {
    const open = (token: string) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(this.#o.url, {
          headers: { authorization: `token ${token}` },
          handshakeTimeout: this.#o.connectTimeoutMs,
          perMessageDeflate: false,
          maxPayload: MAX_FRAME_BYTES,
        });
        ws.once("unexpected-response", (_req: ClientRequest, res: IncomingMessage) => {
          res.resume();
          ws.terminate();
          reject(
            Object.assign(new Error(`the relay refused the handshake (HTTP ${res.statusCode})`), {
              status: res.statusCode,
            }),
          );
        });
        ws.once("error", reject);
        ws.once("open", () => {
          ws.removeAllListeners();
          resolve(ws);
        });
      });
    const token = await this.#o.session.accessToken();
    try {
      return await open(token);
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status !== 401 && status !== 403) throw error;
      return open(await this.#o.session.refresh(token));
    }
  }

  #onFrame(data: RawData): void {
    let message: SlMessage;
    try {
      message = decodeSl(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
    } catch (error) {
      this.#o.log.debug(`nanit: ${this.#o.label}: ${(error as Error).message}`);
      return;
    }
    if (message.backend) {
      // Attachment is sticky: the relay repeats bare or DISCONNECTED frames while the device works.
      if (message.backend.device?.status === "CONNECTED") this.#attach();
      return;
    }
    this.#attach();
    const response = message.response;
    if (response?.request_id !== undefined && this.#pending.has(response.request_id)) {
      this.#pending.get(response.request_id)!.resolve(response);
      this.#pending.delete(response.request_id);
      return;
    }
    const settings = message.request?.settings ?? response?.settings;
    if (settings) this.#o.onSettings(settings, false);
  }

  #attach(): void {
    this.#isAttached = true;
    this.#attached?.();
    this.#attached = undefined;
  }

  #whenAttached(): Promise<void> {
    if (this.#isAttached) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.#o.timers.later(this.#o.attachTimeoutMs, () => resolve());
      this.#attached = () => {
        this.#o.timers.cancel(timer);
        resolve();
      };
    });
  }

  async #readAll(): Promise<void> {
    const response = await this.request({ get_settings: { all: true } });
    if (response.settings) this.#o.onSettings(response.settings, true);
  }

  /** Send one request and wait for its answer (any status); one at a time. */
  request(
    payload: Omit<NonNullable<SlMessage["request"]>, "id" | "session_id">,
  ): Promise<NonNullable<SlMessage["response"]>> {
    const run = async (): Promise<NonNullable<SlMessage["response"]>> => {
      const ws = this.#ws;
      if (!ws) throw new Error("the Sound & Light Machine is not connected right now");
      await this.#whenAttached();
      const id = ++this.#nextId;
      let timer: Timer | undefined;
      const answer = new Promise<NonNullable<SlMessage["response"]>>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject });
        timer = this.#o.timers.later(this.#o.requestTimeoutMs, () => {
          if (this.#pending.delete(id)) reject(new Error(`no answer within ${this.#o.requestTimeoutMs} ms`));
        });
      });
      ws.send(encodeSl({ request: { id, session_id: this.#session, ...payload } }), { binary: true });
      try {
        return await answer;
      } finally {
        this.#o.timers.cancel(timer);
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}
