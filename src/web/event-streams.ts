// The open /events streams (Server-Sent Events), each tied to the session that opened it: logging out,
// or the session running out, ends its streams, so a page left open does not keep receiving the
// pairing codes and the log. A client that stops reading is dropped once its unsent data passes a
// bound, instead of the bridge buffering for it without end.
import type { ServerResponse } from "node:http";
import type { Logger } from "../core/logger.ts";
import { rateLimitedLog } from "../core/rate-limited-log.ts";

export interface EventStreamOptions {
  log: Logger;
  /** Streams open at once; more are refused. */
  maxClients?: number;
  /** Unsent bytes a client may hold before it is dropped. */
  maxBufferedBytes?: number;
}

export interface StreamOwner {
  /** The session that opened it; undefined when the page needs no password. */
  session: string | undefined;
  /** When that session ends by itself (epoch ms). */
  expiresAt: number | undefined;
  /** The client's address, for the log. */
  client: string;
}

interface Stream {
  session: string | undefined;
  client: string;
  timer: NodeJS.Timeout | undefined;
}

export class EventStreams {
  readonly #streams = new Map<ServerResponse, Stream>();
  readonly #log: Logger;
  readonly #maxClients: number;
  readonly #maxBuffered: number;

  constructor(options: EventStreamOptions) {
    this.#log = options.log;
    this.#maxClients = options.maxClients ?? 50;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  }

  get size(): number {
    return this.#streams.size;
  }

  get full(): boolean {
    return this.#streams.size >= this.#maxClients;
  }

  /** Track a stream whose headers were sent. `session` absent: the page needs no password. */
  add(res: ServerResponse, options: StreamOwner): void {
    const stream: Stream = { session: options.session, client: options.client, timer: undefined };
    if (options.expiresAt !== undefined) {
      // The longest timeout node keeps is about 24.8 days; sessions last a week.
      const delay = Math.min(Math.max(0, options.expiresAt - Date.now()), 2 ** 31 - 1);
      stream.timer = setTimeout(() => this.#end(res), delay).unref();
    }
    this.#streams.set(res, stream);
    res.on("close", () => this.#forget(res));
  }

  /** Logged out: its streams end now. */
  endSession(session: string | undefined): void {
    if (session === undefined) return;
    for (const [res, stream] of this.#streams) if (stream.session === session) this.#end(res);
  }

  send(res: ServerResponse, event: string, data: unknown): void {
    this.#write(res, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  broadcast(event: string, data: unknown): void {
    if (this.#streams.size === 0) return;
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.#streams.keys()) this.#write(res, text);
  }

  comment(text: string): void {
    for (const res of this.#streams.keys()) this.#write(res, `: ${text}\n\n`);
  }

  closeAll(): void {
    for (const res of [...this.#streams.keys()]) this.#end(res);
  }

  #write(res: ServerResponse, text: string): void {
    if (res.writableEnded || res.destroyed) return;
    res.write(text);
    if (res.writableLength <= this.#maxBuffered) return;
    const client = this.#streams.get(res)?.client ?? "unknown";
    const fields = { client, bufferedBytes: res.writableLength };
    const msg = "web page: dropped an event stream that stopped reading";
    rateLimitedLog(this.#log).warn("slow-event-stream", msg, fields);
    this.#forget(res);
    res.destroy();
  }

  #end(res: ServerResponse): void {
    this.#forget(res);
    if (!res.writableEnded) res.end();
  }

  #forget(res: ServerResponse): void {
    const stream = this.#streams.get(res);
    if (!stream) return;
    clearTimeout(stream.timer);
    this.#streams.delete(res);
  }
}
