// Small timing helpers: a back-off with a floor (the media hub's retries) and per-request signals.
// Drivers take their back-off, sleeps and timers from the driver runtime (driver-runtime.ts).

/** Exponential back-off with jitter: uniform in [floor, min(max, min * 2^attempt)). A floor of 0 is
 * "full jitter"; min/2 keeps retries from bunching near zero. */
export function backoffDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
  floorMs = 0,
): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  const floor = Math.min(floorMs, ceiling);
  return Math.floor(floor + random() * (ceiling - floor));
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
  const timer = setTimeout(
    () => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
    ms,
  );
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
