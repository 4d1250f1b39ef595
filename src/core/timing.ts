// Small timing helpers every driver needs: back-off with jitter, and sleeps that a stop() cuts short.

/** Exponential back-off with jitter: uniform in [floor, min(max, min * 2^attempt)). A floor of 0 is
 * "full jitter"; min/2 keeps retries from bunching near zero. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random, floorMs = 0): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  const floor = Math.min(floorMs, ceiling);
  return Math.floor(floor + random() * (ceiling - floor));
}

/** Resolve after `ms`, or at once when `signal` aborts (a driver stopping never waits out a back-off). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
