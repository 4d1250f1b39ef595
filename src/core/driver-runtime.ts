// What every driver needs around its protocol code, in one place: start once, stop (abort, every
// timer gone, every loop awaited), timers grouped in scopes that are emptied together, abortable
// sleeps, one back-off policy and the "first inventory is in" promise. Drivers keep no timers of
// their own: a timer outside a scope is how a reconnect leaked one per round.

/** The one retry policy: exponential from `minMs`, capped at `maxMs`, with ±25 % jitter. */
export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

/** Delay before retry number `attempt`: 0 for attempt 0 (at once), then min * 2^(attempt-1) capped at
 * max, spread ±25 % so that many bridges (or many links of one) do not retry in step. The cap bounds
 * the exponential; the spread may reach 1.25 * max. Callers that must not retry at once count from 1. */
export function backoff(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (attempt <= 0) return 0;
  const base = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** A timer of a scope (opaque: pass it back to cancel()). */
export type Timer = NodeJS.Timeout;

/** Timers that go together: clear() cancels all of them (and every child scope) at once. A scope per
 * connection, cleared when the connection ends, leaves nothing behind however often it reconnects. */
export class TimerScope {
  /** Live timers, each with what cancelling it must still do (a sleep resolves). */
  readonly #timers = new Map<Timer, (() => void) | undefined>();
  readonly #children = new Set<TimerScope>();
  readonly #parent: TimerScope | undefined;
  #closed = false;

  constructor(parent?: TimerScope) {
    this.#parent = parent;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Live timers here and in every child scope (tests, diagnostics). */
  get size(): number {
    let n = this.#timers.size;
    for (const child of this.#children) n += child.size;
    return n;
  }

  /** A child scope: cleared with this one, or on its own with close(). */
  scope(): TimerScope {
    const child = new TimerScope(this);
    if (this.#closed) child.#closed = true;
    else this.#children.add(child);
    return child;
  }

  /** Run `fn` once after `ms`. A closed scope starts nothing (undefined). `unref`: does not keep the
   * process up. */
  later(ms: number, fn: () => void, options: { unref?: boolean } = {}): Timer | undefined {
    if (this.#closed) return undefined;
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        fn();
      },
      Math.max(0, ms),
    );
    if (options.unref) timer.unref();
    this.#timers.set(timer, undefined);
    return timer;
  }

  /** Run `fn` every `ms` until cancelled or the scope is cleared. */
  every(ms: number, fn: () => void): Timer | undefined {
    if (this.#closed) return undefined;
    const timer = setInterval(fn, ms);
    this.#timers.set(timer, undefined);
    return timer;
  }

  /** Cancel a timer of this scope (or of a child); returns undefined to clear the caller's field. */
  cancel(timer: Timer | undefined): undefined {
    if (!timer) return undefined;
    if (this.#timers.has(timer)) {
      clearTimeout(timer);
      const onCancel = this.#timers.get(timer);
      this.#timers.delete(timer);
      onCancel?.();
      return undefined;
    }
    for (const child of this.#children) child.cancel(timer);
    return undefined;
  }

  /** Resolve after `ms`, or at once when the scope is cleared or `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed || signal?.aborted) return resolve();
      const done = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => void this.cancel(timer);
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          done();
        },
        Math.max(0, ms),
      );
      this.#timers.set(timer, done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Cancel every timer (sleeps resolve) and close every child scope; this scope stays usable. */
  clear(): void {
    for (const child of [...this.#children]) child.close();
    const timers = [...this.#timers];
    this.#timers.clear();
    for (const [timer, onCancel] of timers) {
      clearTimeout(timer);
      onCancel?.();
    }
  }

  /** clear(), and start nothing more: for a connection that is over. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.clear();
    if (this.#parent) this.#parent.#children.delete(this);
  }
}

/** Finish a clean-up later even when everything else has stopped (terminate a socket whose closing
 * handshake hangs). Never keeps the process up; belongs to no scope because a stop must not cancel it. */
export function cleanupAfter(ms: number, fn: () => void): void {
  setTimeout(fn, ms).unref();
}

/** The lifecycle of one driver instance. */
export class DriverRuntime {
  readonly #name: string;
  readonly #abort = new AbortController();
  readonly #random: () => number;
  readonly #loops = new Set<Promise<void>>();
  /** The driver's timers; connections take child scopes of it. Closed by stop(). */
  readonly timers = new TimerScope();
  readonly firstInventory: Promise<void>;
  #inventoryDone!: () => void;
  #started = false;

  /** `name` goes in the "already started" error; `random` feeds the back-off jitter (tests). */
  constructor(name: string, options: { random?: (() => number) | undefined } = {}) {
    this.#name = name;
    this.#random = options.random ?? Math.random;
    this.firstInventory = new Promise<void>((resolve) => (this.#inventoryDone = resolve));
  }

  /** Aborts when stop() begins: pass it to every request and socket. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get stopping(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Set up (errors throw from here), then run the main loop; resolves once the first inventory is in
   * (or the first attempt failed, or the loop ended, or stop()). A second start throws. */
  start<T>(setUp: () => T, main: (setup: T) => Promise<void>): Promise<void> {
    if (this.#started) throw new Error(`${this.#name} driver already started`);
    this.#started = true;
    const setup = setUp();
    this.run(() => main(setup).finally(() => this.#inventoryDone()));
    return this.firstInventory;
  }

  /** Run another loop that stop() awaits (its rejection is swallowed: a stopping loop may throw). */
  run(loop: () => Promise<void>): void {
    const running: Promise<void> = loop()
      .catch(() => undefined)
      .finally(() => this.#loops.delete(running));
    this.#loops.add(running);
  }

  /** The first inventory is in, or the first attempt failed: start() may return. Idempotent. */
  inventoryDone(): void {
    this.#inventoryDone();
  }

  later(ms: number, fn: () => void): Timer | undefined {
    return this.timers.later(ms, fn);
  }

  every(ms: number, fn: () => void): Timer | undefined {
    return this.timers.every(ms, fn);
  }

  cancel(timer: Timer | undefined): undefined {
    return this.timers.cancel(timer);
  }

  /** Resolve after `ms`, or at once on stop(). */
  sleep(ms: number): Promise<void> {
    return this.timers.sleep(ms, this.#abort.signal);
  }

  /** The delay before retry `attempt` under `policy` (see backoff()). */
  backoff(attempt: number, policy: BackoffPolicy): number {
    return backoff(attempt, policy, this.#random);
  }

  /** Abort the signal, cancel every timer (sleeps resolve), release start(), run the driver's own
   * clean-up (close sockets), then wait for every loop to end. */
  async stop(cleanup?: () => void | Promise<void>): Promise<void> {
    this.#abort.abort();
    this.timers.close();
    this.#inventoryDone();
    await cleanup?.();
    await Promise.all([...this.#loops]);
  }
}
