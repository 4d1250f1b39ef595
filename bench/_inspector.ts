// The bridge's memory as the household bench reads it: the bridge runs with --inspect=127.0.0.1:0 (Node's
// own debug hook, bound to loopback inside the bench's namespace), and this client asks V8 over the
// DevTools protocol for a full garbage collection and for the heap figures, so "idle RSS after GC" needs no
// HTTP endpoint and no code in the bridge. The `ws` package is the socket; the protocol is three methods.
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import WebSocket from "ws";
import { withTimeout } from "./lib.ts";

/** The DevTools URL Node prints on stderr ("Debugger listening on ws://127.0.0.1:PORT/UUID"). */
export function inspectorUrl(stderr: Readable, timeoutMs = 60_000): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      const lines = createInterface({ input: stderr });
      lines.on("line", (line) => {
        const url = /Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
        if (!url) return;
        lines.close();
        resolve(url);
      });
    }),
    timeoutMs,
    "the bridge's inspector URL on stderr",
  );
}

export interface MemoryFigures {
  /** MB, from the process itself after the collection. */
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** V8 heap space -> used MB (new_space, old_space, code_space, large_object_space, ...). */
  spaces: Record<string, number>;
}

const MEMORY_EXPRESSION = `JSON.stringify((() => {
  const mb = (n) => n / 1048576;
  const m = process.memoryUsage();
  const spaces = {};
  for (const s of process.getBuiltinModule("v8").getHeapSpaceStatistics())
    spaces[s.space_name] = mb(s.space_used_size);
  return { rss: mb(m.rss), heapUsed: mb(m.heapUsed), heapTotal: mb(m.heapTotal), external: mb(m.external),
    arrayBuffers: mb(m.arrayBuffers), spaces };
})())`;

/** One script as Debugger.scriptParsed names it; length in characters of its source. */
export interface ParsedScript {
  url: string;
  length: number;
}

export class Inspector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Map<string, (params: Record<string, unknown>) => void>();
  #next = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
        params?: Record<string, unknown>;
      };
      if (message.method) this.#listeners.get(message.method)?.(message.params ?? {});
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
    socket.on("close", () => {
      for (const w of this.#pending.values()) w.reject(new Error("the inspector socket closed"));
      this.#pending.clear();
    });
  }

  static async connect(url: string): Promise<Inspector> {
    if (!/^ws:\/\/(127\.0\.0\.1|\[::1\]):\d+\//.test(url)) throw new Error(`not a loopback inspector URL: ${url}`);
    const socket = new WebSocket(url);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once("open", () => resolve());
        socket.once("error", reject);
      }),
      15_000,
      "connecting to the bridge's inspector",
    );
    return new Inspector(socket);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.#next++;
    const result = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.#socket.send(JSON.stringify({ id, method, params }));
    return withTimeout(result, timeoutMs, `inspector ${method}`);
  }

  /** Two full collections (the second frees what the first's finalizers released), then the figures. */
  async memoryAfterGc(): Promise<MemoryFigures> {
    await this.send("HeapProfiler.collectGarbage");
    await this.send("HeapProfiler.collectGarbage");
    return this.evaluate<MemoryFigures>(MEMORY_EXPRESSION);
  }

  /** Every script V8 holds now (modules, Node's own, WebAssembly): Debugger.enable reports each one that was
   * parsed before it, ahead of its own answer. The debugger is turned off again at once. */
  async scripts(): Promise<ParsedScript[]> {
    const scripts: ParsedScript[] = [];
    this.#listeners.set("Debugger.scriptParsed", (p) =>
      scripts.push({ url: String(p.url ?? ""), length: Number(p.length ?? 0) }),
    );
    try {
      await this.send("Debugger.enable");
      await this.send("Debugger.disable");
    } finally {
      this.#listeners.delete("Debugger.scriptParsed");
    }
    return scripts;
  }

  async evaluate<T>(expression: string): Promise<T> {
    const answer = await this.send<{ result: { value?: string }; exceptionDetails?: { text: string } }>(
      "Runtime.evaluate",
      { expression, returnByValue: true },
    );
    if (answer.exceptionDetails || typeof answer.result.value !== "string")
      throw new Error(`inspector evaluate failed: ${answer.exceptionDetails?.text ?? "no value"}`);
    return JSON.parse(answer.result.value) as T;
  }

  close(): void {
    this.#socket.close();
  }
}
