// A clock that moves only when a test says so (src/core/clock.ts): timers run in order of their due
// time (then of scheduling) as time is advanced, never by themselves. Tests of timeouts, intervals,
// back-off and caches state "nothing at 399 ms, then at 400 ms" exactly instead of sleeping.
import type { Clock, TimerHandle } from "../../src/core/clock.ts";

interface ManualTimer extends TimerHandle {
  due: number;
  /** Scheduling order: timers due at the same time run in the order they were set. */
  order: number;
  interval: number | undefined;
  callback: () => void;
}

/** One turn of the event loop: promise callbacks queued so far run. No time passes on any clock. */
export function settle(): Promise<void> {
  return new Promise((done) => setImmediate(done));
}

export class ManualClock implements Clock {
  #now: number;
  readonly #wallOrigin: number;
  readonly #timers = new Set<ManualTimer>();
  #order = 0;

  /** `wallOrigin`: the epoch ms wallNow() reports at now() = 0 (default: a fixed date, 2025-01-01). */
  constructor(options: { wallOrigin?: number } = {}) {
    this.#now = 0;
    this.#wallOrigin = options.wallOrigin ?? Date.UTC(2025, 0, 1);
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#wallOrigin + this.#now;
  }

  /** Timers and intervals waiting to run. */
  get pending(): number {
    return this.#timers.size;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, undefined);
  }

  setInterval(callback: () => void, ms: number): TimerHandle {
    return this.#add(callback, ms, Math.max(1, ms));
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.#timers.delete(handle as ManualTimer);
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.#timers.delete(handle as ManualTimer);
  }

  /** Move time forward by `ms`, running every timer that falls due on the way, synchronously. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (let timer = this.#next(target); timer; timer = this.#next(target)) this.#run(timer);
    this.#now = target;
  }

  /** As advance(), but after each timer the promise callbacks it queued run before the next timer is
   * due (as they would in real time, where they are quicker than the next timer). */
  async tick(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (let timer = this.#next(target); timer; timer = this.#next(target)) {
      this.#run(timer);
      await settle();
    }
    this.#now = target;
  }

  #add(callback: () => void, ms: number, interval: number | undefined): ManualTimer {
    // Node runs a timer of 0 (or a bad delay) after 1 ms.
    const delay = Number.isFinite(ms) && ms >= 1 ? ms : 1;
    const timer: ManualTimer = { due: this.#now + delay, order: this.#order++, interval, callback, unref: () => timer };
    this.#timers.add(timer);
    return timer;
  }

  #next(target: number): ManualTimer | undefined {
    let next: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.due > target) continue;
      if (!next || timer.due < next.due || (timer.due === next.due && timer.order < next.order)) next = timer;
    }
    return next;
  }

  #run(timer: ManualTimer): void {
    this.#now = timer.due;
    if (timer.interval === undefined) this.#timers.delete(timer);
    else {
      timer.due += timer.interval;
      timer.order = this.#order++;
    }
    timer.callback();
  }
}
