// The page's log tools: the bridge's log level changed at runtime (every logger of the bridge, until
// the next start, which takes log.level from the config again), and the recent lines as a text file,
// optionally only one account's or one device's. Lines come from the ring already scrubbed of secrets.
import { z } from "zod";
import { LOG_LEVELS, type Logger, type LogLevel, logLevel, setLogLevel } from "../core/logger.ts";
import type { LogEntry } from "./log-ring.ts";
import { RequestError } from "./request-error.ts";

const LEVEL_BODY = z.strictObject({ level: z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]]) });

export class LogLevelControl {
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  view(): { level: LogLevel; levels: readonly LogLevel[] } {
    return { level: logLevel(this.#log), levels: LOG_LEVELS };
  }

  /** POST /api/logs/level {"level":"debug"}. Said in the log at warn, so it shows at any level but the quietest. */
  set(body: unknown, client: string): { level: LogLevel; levels: readonly LogLevel[] } {
    const parsed = LEVEL_BODY.safeParse(body);
    if (!parsed.success) throw new RequestError(400, `bad request: level must be one of ${LOG_LEVELS.join(", ")}`);
    const was = logLevel(this.#log);
    setLogLevel(this.#log, parsed.data.level);
    this.#log.warn({ client }, `web page: log level ${was} -> ${parsed.data.level} (until the next start)`);
    return this.view();
  }
}

const RANK: Record<LogEntry["level"], number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const MAX_FILTER = 200;

function filterParam(query: URLSearchParams, name: string): string | undefined {
  const value = query.get(name) ?? "";
  if (value.length > MAX_FILTER) throw new RequestError(400, `${name} is too long`);
  return value === "" ? undefined : value;
}

/** GET /api/logs/download?account=&device=&level=: one line per entry, oldest first. */
export function logDownload(lines: LogEntry[], query: URLSearchParams): { name: string; text: string } {
  const account = filterParam(query, "account");
  const device = filterParam(query, "device");
  const level = filterParam(query, "level");
  if (level !== undefined && !(level in RANK)) throw new RequestError(400, `level must be one of ${LOG_LEVELS}`);
  const min = level === undefined ? 0 : RANK[level as LogEntry["level"]];
  const kept = lines.filter(
    (l) =>
      (account === undefined || l.account === account) &&
      (device === undefined || l.device === device) &&
      RANK[l.level] >= min,
  );
  const text = kept
    .map((l) => `${new Date(l.time).toISOString()} ${l.level.toUpperCase().padEnd(5)} ${l.text}`)
    .join("\n");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  return { name: `hearthbridge-log-${stamp}.txt`, text: kept.length ? `${text}\n` : "" };
}
