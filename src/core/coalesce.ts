// One user action = one vendor command (issue 17). Ecosystems deliver one action in pieces: a HAP
// PUT /characteristics carrying Active and RotationSpeed calls each characteristic's handler in
// turn, a Matter write of fanMode and percentSetting commits each attribute apart. Sent one by one
// the fan first spins up at its old speed. The coalescer merges the commands for one device issued
// before the end of the current macrotask into one command, sends it once, and settles every
// caller's promise with its result.
//
// A command that names only half of an action (Matter fanMode On: "on, at whatever speed") may ask
// to be held: the batch then waits up to `holdMs` for the rest (Google Home writes percentSetting
// right after), and the first command that is not held flushes it at the end of its tick. A single
// precise write therefore never waits.
//
// Within one batch a later value of the same field wins (two controllers writing the fan speed in the
// same tick: the later one holds, both callers succeed); different fields all apply.
import type { Command } from "./model.ts";

/** Merge `next` into `base` (a new object): object parts key by key, scalars replaced; later wins. */
export function mergeCommands(base: Command, next: Command): Command {
  const out: Record<string, unknown> = { ...base };
  for (const [part, value] of Object.entries(next)) {
    if (value === undefined) continue;
    const before = out[part];
    const bothObjects = value !== null && typeof value === "object" && before !== null && typeof before === "object";
    out[part] = bothObjects ? { ...(before as object), ...(value as object) } : value;
  }
  return out as Command;
}

export interface SubmitOptions {
  /** The command is half of an action: wait up to the coalescer's hold time for the other half. */
  hold?: boolean;
  /** The caller gathered the whole action itself (the writes of one Matter interaction, handed over as
   * its transaction closes): send at the next microtask, so that the other endpoints of the device
   * closing in the same turn still join, instead of after the I/O of the rest of the macrotask. */
  gathered?: boolean;
}

interface Batch {
  command: Command;
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
  immediate: NodeJS.Immediate | undefined;
  timer: NodeJS.Timeout | undefined;
  microtask: boolean;
}

export class CommandCoalescer {
  readonly #open = new Map<string, Batch>();
  readonly #send: (key: string, command: Command) => Promise<void>;
  readonly #holdMs: number;

  /** `send` carries out one merged command; `holdMs` bounds how long a held command waits. */
  constructor(send: (key: string, command: Command) => Promise<void>, holdMs: number) {
    this.#send = send;
    this.#holdMs = holdMs;
  }

  /** Queue `command` for `key`; resolves (or rejects) with the merged command it went out in. */
  submit(key: string, command: Command, options: SubmitOptions = {}): Promise<void> {
    let batch = this.#open.get(key);
    if (!batch) {
      batch = { command: {}, waiters: [], immediate: undefined, timer: undefined, microtask: false };
      this.#open.set(key, batch);
    }
    batch.command = mergeCommands(batch.command, command);
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    const b = batch;
    if (options.hold && this.#holdMs > 0) {
      // Held only while nothing precise is queued; an immediate flush already planned stays.
      if (!b.immediate && !b.timer && !b.microtask) b.timer = setTimeout(() => this.#flush(key, b), this.#holdMs);
    } else if (options.gathered) {
      if (b.timer) clearTimeout(b.timer);
      b.timer = undefined;
      if (!b.microtask) queueMicrotask(() => this.#flush(key, b));
      b.microtask = true;
    } else if (!b.immediate && !b.microtask) {
      if (b.timer) clearTimeout(b.timer);
      b.timer = undefined;
      b.immediate = setImmediate(() => this.#flush(key, b));
    }
    return done;
  }

  #flush(key: string, batch: Batch): void {
    if (this.#open.get(key) !== batch) return;
    this.#open.delete(key);
    if (batch.timer) clearTimeout(batch.timer);
    if (batch.immediate) clearImmediate(batch.immediate);
    this.#send(key, batch.command).then(
      () => batch.waiters.forEach((w) => w.resolve()),
      (error: unknown) => batch.waiters.forEach((w) => w.reject(error)),
    );
  }
}
