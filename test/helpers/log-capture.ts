// Captures every JSON log line a pino logger writes, so tests can assert what was (not) logged.
import { Writable } from "node:stream";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const text of chunk.toString("utf8").split("\n")) {
      if (!text.trim()) continue;
      this.raw.push(text);
      try {
        this.lines.push(JSON.parse(text) as LogLine);
      } catch {
        this.lines.push({ level: 0, msg: text });
      }
      this.emit("line", this.lines.at(-1));
    }
    cb();
  }

  get warnings(): LogLine[] {
    return this.lines.filter((l) => l.level === 40);
  }

  get text(): string {
    return this.raw.join("\n");
  }

  matching(re: RegExp): LogLine[] {
    return this.lines.filter((l) => re.test(l.msg));
  }

  has(pattern: RegExp, level?: number): boolean {
    return this.lines.some((l) => pattern.test(l.msg) && (level === undefined || l.level === level));
  }

  /** The next line (from now on) whose message matches. */
  next(pattern: RegExp): Promise<LogLine> {
    return new Promise((resolve) => {
      const onLine = (line: LogLine): void => {
        if (!pattern.test(line.msg)) return;
        this.off("line", onLine);
        resolve(line);
      };
      this.on("line", onLine);
    });
  }
}
