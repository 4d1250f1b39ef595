// The last few hundred log lines for the web page. The logger writes every JSON line here too
// (createLogger's `tap`); lines arrive already scrubbed of secrets by the logger's hooks.
import { EventEmitter } from "node:events";

export interface LogEntry {
  /** Epoch milliseconds. */
  time: number;
  level: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  /** The message's first line (pairing lines carry a terminal QR code after it), with the error's message. */
  text: string;
  /** The line's account and device, when it names them (the page filters by these). */
  account?: string;
  device?: string;
}

const LEVELS: Record<number, LogEntry["level"]> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};
const MAX_TEXT = 500;
const MAX_NAME = 200;

export class LogRing extends EventEmitter<{ line: [LogEntry] }> {
  readonly #lines: LogEntry[] = [];
  readonly #size: number;

  constructor(size = 200) {
    super();
    this.#size = size;
    this.setMaxListeners(0);
  }

  get lines(): LogEntry[] {
    return [...this.#lines];
  }

  /** The last `count` lines. */
  recent(count: number): LogEntry[] {
    return this.#lines.slice(-count);
  }

  /** pino's stream interface: one JSON document per call. Never throws (a log line must not break the caller). */
  write(chunk: string): boolean {
    try {
      const doc = JSON.parse(chunk) as {
        time?: number;
        level?: number;
        msg?: unknown;
        account?: unknown;
        device?: unknown;
        deviceId?: unknown;
        module?: unknown;
        err?: { message?: unknown };
      };
      let text = typeof doc.msg === "string" ? doc.msg.split("\n")[0]!.replace(/[;:]\s*$/, "") : "";
      const context =
        typeof doc.account === "string" ? doc.account : typeof doc.module === "string" ? doc.module : undefined;
      if (context && !text.startsWith(context)) text = `[${context}] ${text}`;
      if (typeof doc.err?.message === "string" && !text.includes(doc.err.message))
        text += `: ${doc.err.message.split("\n")[0]}`;
      if (text.length > MAX_TEXT) text = `${text.slice(0, MAX_TEXT - 1)}…`;
      const entry: LogEntry = {
        time: typeof doc.time === "number" ? doc.time : Date.now(),
        level: LEVELS[doc.level ?? 30] ?? "info",
        text,
      };
      const device = typeof doc.device === "string" ? doc.device : doc.deviceId;
      if (typeof doc.account === "string") entry.account = doc.account.slice(0, MAX_NAME);
      if (typeof device === "string") entry.device = device.slice(0, MAX_NAME);
      this.#lines.push(entry);
      if (this.#lines.length > this.#size) this.#lines.shift();
      this.emit("line", entry);
    } catch {
      // Not JSON: nothing worth showing.
    }
    return true;
  }
}
