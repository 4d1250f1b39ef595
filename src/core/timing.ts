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

/** A signal for one request: aborts with a TimeoutError after `ms`, or when `parent` aborts; call
 * dispose() once the request (body included) is over. Not AbortSignal.any([AbortSignal.timeout(ms),
 * parent]): Node 22 keeps an entry per such call in a FinalizationRegistry keyed on the parent, so
 * with a parent that lives as long as a driver every request left ~100 bytes behind for good. */
export function requestSignal(ms: number, parent?: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (parent?.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const onAbort = (): void => controller.abort(parent!.reason);
  const timer = setTimeout(() => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
  timer.unref(); // like AbortSignal.timeout: a pending request timeout does not keep the process up
  parent?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}
