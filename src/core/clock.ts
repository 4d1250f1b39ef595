// Time as the media layer sees it: a monotonic "now", the wall clock, and timers, behind one small
// interface so tests can drive time by hand (test/helpers/manual-clock.ts) instead of sleeping.
// Production code takes an optional `clock` and defaults to REAL_CLOCK.

/** What a timer call returns; unref() lets the process exit while it is pending. */
export interface TimerHandle {
  unref(): unknown;
}

export interface Clock {
  /** Monotonic milliseconds with sub-millisecond precision (performance.now()). */
  now(): number;
  /** Epoch milliseconds with sub-millisecond precision, moving with now(). */
  wallNow(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(callback: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/** The process's clocks and Node's timers. */
export const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  wallNow: () => performance.timeOrigin + performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
};
