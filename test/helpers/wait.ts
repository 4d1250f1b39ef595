// Await a condition instead of sleeping: re-check on every event of the given emitters, and on a
// short interval as a fallback. Rejects with a readable message when the time is up.
import type { EventEmitter } from "node:events";

export interface WaitOptions {
  /** Re-check whenever one of these emits any of `events` (default: re-check on the interval only). */
  on?: Array<[EventEmitter, string]>;
  intervalMs?: number;
  message?: string;
}

export function waitFor<T>(
  predicate: () => T | undefined | null | false,
  timeoutMs = 3000,
  options: WaitOptions = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const listeners: Array<[EventEmitter, string, () => void]> = [];
    const finish = (error: Error | undefined, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(interval);
      for (const [emitter, event, fn] of listeners) emitter.off(event, fn);
      if (error) reject(error);
      else resolve(value as T);
    };
    const check = (): void => {
      if (done) return;
      let value: T | undefined | null | false;
      try {
        value = predicate();
      } catch (error) {
        return finish(error as Error);
      }
      if (value !== undefined && value !== null && value !== false) finish(undefined, value);
    };
    const timer = setTimeout(
      () =>
        finish(new Error(`waitFor timed out after ${timeoutMs} ms${options.message ? `: ${options.message}` : ""}`)),
      timeoutMs,
    );
    const interval = setInterval(check, options.intervalMs ?? 10);
    for (const [emitter, event] of options.on ?? []) {
      const fn = (): void => queueMicrotask(check);
      emitter.on(event, fn);
      listeners.push([emitter, event, fn]);
    }
    check();
  });
}

/** Resolve with the arguments of the next `event` whose arguments satisfy `filter`. */
export function nextEvent<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  filter: (...args: A) => boolean = () => true,
  timeoutMs = 3000,
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, fn);
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const fn = (...args: unknown[]): void => {
      if (!filter(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, fn);
      resolve(args as A);
    };
    emitter.on(event, fn);
  });
}

/**
 * A fixed wait that IS the assertion: "nothing happens within `ms`" (no frame is sent, no byte gets
 * through). Never for something that will happen: await it with waitFor or nextEvent instead. Start
 * the window after an event that proves the thing under test had its chance to act.
 */
export function quietFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A fixed delay that is part of a scenario, not a wait for anything: the pace of a load generator, a
 * random jitter before a kill, how long an injected fault lasts.
 */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
