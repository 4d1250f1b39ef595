// A fault-injecting TCP proxy on 127.0.0.1 between the bridge and one simulator port, for the faults
// the simulators cannot make themselves: every connection dropped, the network stalled (bytes held
// in both directions, new connections accepted and held too), answers slowed by 2-10 s each, the
// next answer truncated mid-frame, new connections refused. Protocol-blind (HTTP, WebSocket, TLS
// pass through byte for byte), so one proxy serves a simulator's REST, WebSocket and MQTT at once.
// Written by hand: no kept library injects faults into a live Node TCP stream (toxiproxy is a Go
// daemon; this needs to be driven from the test's own event loop).
import { EventEmitter } from "node:events";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";

export type Direction = "up" | "down";

/** One queued piece of a direction: data, or the end / teardown that must come after it. */
interface Item {
  at: number;
  kind: "data" | "end" | "destroy";
  chunk?: Buffer;
  /** destroy: reset (RST) rather than close. */
  reset?: boolean;
}

interface Pipe {
  from: Socket;
  to: Socket;
  queue: Item[];
  timer: NodeJS.Timeout | undefined;
}

interface Pair {
  id: number;
  client: Socket;
  upstream: Socket;
  up: Pipe;
  down: Pipe;
  closed: boolean;
}

export interface ChaosProxyEvents {
  connection: [id: number];
  /** Every byte that passes, before faults apply (tests read what a simulator answered). */
  data: [direction: Direction, chunk: Buffer, id: number];
  close: [id: number];
  /** An answer was cut (truncateNext). */
  truncated: [id: number];
}

export interface ChaosProxyOptions {
  /** Random source for the slow-answer delays (tests). */
  random?: () => number;
}

export class ChaosProxy extends EventEmitter<ChaosProxyEvents> {
  readonly targetPort: number;
  readonly targetHost: string;
  readonly #random: () => number;
  readonly #pairs = new Set<Pair>();
  #server: Server | undefined;
  #ids = 0;
  #refuse = false;
  #stall = false;
  #slow: [number, number] | undefined;
  #truncateNext = false;
  /** Connections accepted so far (refused ones included). */
  accepted = 0;

  constructor(targetPort: number, targetHost = "127.0.0.1", options: ChaosProxyOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.targetPort = targetPort;
    this.targetHost = targetHost;
    this.#random = options.random ?? Math.random;
  }

  async start(port = 0): Promise<number> {
    const server = createServer({ allowHalfOpen: true }, (client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.#server = server;
    return this.port;
  }

  get port(): number {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error("chaos proxy not started");
    return address.port;
  }

  /** Open client connections. */
  get connections(): number {
    return this.#pairs.size;
  }

  async stop(): Promise<void> {
    this.#refuse = true;
    this.dropAll();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Every open connection is reset at once, both sides (a dropped socket, a crashed peer). */
  dropAll(): number {
    const n = this.#pairs.size;
    for (const pair of [...this.#pairs]) this.#teardown(pair, true);
    return n;
  }

  /** New connections are reset as soon as they are accepted (the cloud is down). */
  refuse(on: boolean): void {
    this.#refuse = on;
  }

  /** Hold every byte in both directions (existing and new connections alike) until cleared; then the
   * held bytes go on in order ("flush", a network that came back) or the held connections are reset
   * ("drop", requests that never got through). */
  stall(on: boolean, onClear: "flush" | "drop" = "flush"): void {
    this.#stall = on;
    if (on) return;
    for (const pair of [...this.#pairs]) {
      const held = [pair.up, pair.down].some((p) => p.queue.some((i) => i.at === Infinity));
      if (held && onClear === "drop") {
        this.#teardown(pair, true);
        continue;
      }
      for (const pipe of [pair.up, pair.down]) this.#release(pair, pipe, (at) => at === Infinity);
    }
  }

  /** Delay every answer (simulator -> bridge chunk) by a uniform random time in [min, max] ms, in
   * order; `undefined` ends it and delivers what is still delayed at once. */
  slow(range: [number, number] | undefined): void {
    this.#slow = range;
    if (range) return;
    for (const pair of [...this.#pairs]) this.#release(pair, pair.down, (at) => Number.isFinite(at));
  }

  /** The next answer chunk on any connection is cut in half, then that connection is reset
   * (`false` disarms it). */
  truncateNext(on = true): void {
    this.#truncateNext = on;
  }

  get truncatePending(): boolean {
    return this.#truncateNext;
  }

  #accept(client: Socket): void {
    this.accepted++;
    client.on("error", () => undefined);
    if (this.#refuse) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ port: this.targetPort, host: this.targetHost, allowHalfOpen: true });
    upstream.on("error", () => undefined);
    const id = ++this.#ids;
    const pair: Pair = {
      id,
      client,
      upstream,
      up: { from: client, to: upstream, queue: [], timer: undefined },
      down: { from: upstream, to: client, queue: [], timer: undefined },
      closed: false,
    };
    this.#pairs.add(pair);
    client.on("data", (chunk: Buffer) => this.#forward(pair, pair.up, "up", chunk));
    upstream.on("data", (chunk: Buffer) => this.#forward(pair, pair.down, "down", chunk));
    client.on("end", () => this.#enqueue(pair, pair.up, { at: this.#heldAt(pair.up), kind: "end" }));
    upstream.on("end", () => this.#enqueue(pair, pair.down, { at: this.#heldAt(pair.down), kind: "end" }));
    // A side that closed still has its last bytes delivered, then the other side goes too.
    client.on("close", () => this.#enqueue(pair, pair.up, { at: this.#heldAt(pair.up), kind: "destroy" }));
    upstream.on("close", () => this.#enqueue(pair, pair.down, { at: this.#heldAt(pair.down), kind: "destroy" }));
    this.emit("connection", id);
  }

  /** When an item queued now may leave: held while stalled, never before the item ahead of it. */
  #heldAt(pipe: Pipe, delay = 0): number {
    if (this.#stall) return Infinity;
    const last = pipe.queue.at(-1)?.at ?? 0;
    return Math.max(last, Date.now() + delay);
  }

  #forward(pair: Pair, pipe: Pipe, direction: Direction, chunk: Buffer): void {
    this.emit("data", direction, chunk, pair.id);
    if (direction === "down" && this.#truncateNext && !this.#stall) {
      this.#truncateNext = false;
      const at = this.#heldAt(pipe);
      const keep = Math.floor(chunk.length / 2);
      if (keep > 0) this.#enqueue(pair, pipe, { at, kind: "data", chunk: chunk.subarray(0, keep) });
      this.#enqueue(pair, pipe, { at, kind: "destroy", reset: true });
      this.emit("truncated", pair.id);
      return;
    }
    let delay = 0;
    if (direction === "down" && this.#slow) {
      const [min, max] = this.#slow;
      delay = min + this.#random() * (max - min);
    }
    this.#enqueue(pair, pipe, { at: this.#heldAt(pipe, delay), kind: "data", chunk });
  }

  #enqueue(pair: Pair, pipe: Pipe, item: Item): void {
    if (pair.closed) return;
    pipe.queue.push(item);
    this.#pump(pair, pipe);
  }

  /** Make the matching queued items due now (keeping their order) and deliver. */
  #release(pair: Pair, pipe: Pipe, which: (at: number) => boolean): void {
    const now = Date.now();
    for (const item of pipe.queue) if (which(item.at)) item.at = now;
    // Order: nothing may be due later than an item behind it.
    for (let i = pipe.queue.length - 2; i >= 0; i--)
      pipe.queue[i]!.at = Math.min(pipe.queue[i]!.at, pipe.queue[i + 1]!.at);
    this.#pump(pair, pipe);
  }

  #pump(pair: Pair, pipe: Pipe): void {
    if (pipe.timer) clearTimeout(pipe.timer);
    pipe.timer = undefined;
    const now = Date.now();
    while (!pair.closed && pipe.queue.length && pipe.queue[0]!.at <= now) {
      const item = pipe.queue.shift()!;
      if (item.kind === "destroy") return this.#teardown(pair, item.reset === true);
      if (item.kind === "end") pipe.to.end();
      else if (!pipe.to.destroyed) pipe.to.write(item.chunk!);
    }
    const head = pipe.queue[0];
    if (!pair.closed && head && Number.isFinite(head.at))
      pipe.timer = setTimeout(() => this.#pump(pair, pipe), head.at - now);
  }

  #teardown(pair: Pair, reset: boolean): void {
    if (pair.closed) return;
    pair.closed = true;
    this.#pairs.delete(pair);
    for (const pipe of [pair.up, pair.down]) {
      if (pipe.timer) clearTimeout(pipe.timer);
      pipe.queue.length = 0;
    }
    for (const socket of [pair.client, pair.upstream]) {
      if (socket.destroyed) continue;
      if (reset && !socket.connecting) socket.resetAndDestroy();
      else socket.destroy();
    }
    this.emit("close", pair.id);
  }
}
