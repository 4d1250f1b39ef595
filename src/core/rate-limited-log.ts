// Warn lines for rejected vendor input (malformed frames, bad fields), rate limited per reason: the
// first one is written at once, later ones at most once per interval, carrying how many were left
// out since the previous line. A broken or hostile cloud that sends thousands of bad frames a second
// costs a few log lines a minute, not a flooded disk. pino has no per-message rate limit, hence this.
import type { Logger } from "./logger.ts";

export interface RateLimitOptions {
  /** At most one line per reason per interval (default 60 s). */
  intervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** Reasons tracked at once; the oldest is forgotten beyond this (reasons are meant to be a fixed set). */
  maxReasons?: number;
}

export interface ReasonStats {
  /** Inputs rejected for this reason. */
  rejected: number;
  /** Warn lines written for it. */
  lines: number;
}

interface Entry extends ReasonStats {
  msg: string;
  loggedAt: number;
  suppressed: number;
}

export class RateLimitedLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #maxReasons: number;
  readonly #entries = new Map<string, Entry>();

  constructor(log: Logger, options: RateLimitOptions = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#maxReasons = options.maxReasons ?? 200;
  }

  /**
   * One rejected input. `reason` must be a fixed string (it is the rate-limit key and is written as
   * the `why` field); put variable details (ids, samples) in `fields`. Returns whether a line was written.
   */
  warn(reason: string, msg: string, fields: Record<string, unknown> = {}): boolean {
    const now = this.#now();
    let entry = this.#entries.get(reason);
    if (!entry) {
      if (this.#entries.size >= this.#maxReasons) this.#entries.delete(this.#entries.keys().next().value!);
      entry = { msg, loggedAt: -Infinity, suppressed: 0, rejected: 0, lines: 0 };
      this.#entries.set(reason, entry);
    }
    entry.rejected++;
    count(`${msg}: ${reason}`);
    if (now - entry.loggedAt < this.#intervalMs) {
      entry.suppressed++;
      return false;
    }
    this.#write(reason, entry, msg, fields, now);
    return true;
  }

  /** Write the count of lines still held back (e.g. when the driver stops). */
  flush(): void {
    for (const [reason, entry] of this.#entries)
      if (entry.suppressed) this.#write(reason, entry, entry.msg, {}, this.#now());
  }

  /** Per reason: inputs rejected and lines written so far. */
  stats(): Record<string, ReasonStats> {
    const out: Record<string, ReasonStats> = {};
    for (const [reason, { rejected, lines }] of this.#entries) out[reason] = { rejected, lines };
    return out;
  }

  #write(reason: string, entry: Entry, msg: string, fields: Record<string, unknown>, now: number): void {
    const suppressed = entry.suppressed;
    entry.suppressed = 0;
    entry.loggedAt = now;
    entry.lines++;
    entry.msg = msg;
    this.#log.warn({ ...fields, why: reason, ...(suppressed ? { suppressed } : {}) }, msg);
  }
}

const shared = new WeakMap<Logger, RateLimitedLog>();
/** Every input rejected through any limiter of this process, keyed by "<message>: <reason>". */
const totals = new Map<string, number>();
const MAX_TOTALS = 1000;

function count(key: string): void {
  if (!totals.has(key) && totals.size >= MAX_TOTALS) return;
  totals.set(key, (totals.get(key) ?? 0) + 1);
}

/** Rejected inputs of the whole process by "<message>: <reason>" (metrics, benches). */
export function rejectedInputs(): ReadonlyMap<string, number> {
  return totals;
}

/** The rate limiter of a logger: every part of a driver that logs through the same logger object
 * (its sockets, which come and go with reconnects) shares one limit per reason. */
export function rateLimitedLog(log: Logger): RateLimitedLog {
  let limiter = shared.get(log);
  if (!limiter) {
    limiter = new RateLimitedLog(log);
    shared.set(log, limiter);
  }
  return limiter;
}
