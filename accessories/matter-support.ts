// A link from a matter.js behavior instance back to the binding that owns its endpoint. Behavior
// classes are shared by every endpoint of a type, so the per-device "send this command" callback is
// looked up by endpoint here instead of living in (serialisable) behavior state.
import { StatusResponseError, Status } from "@matter/main/types";
import type { StatePatch } from "../src/core/model.ts";

type Send = (patch: StatePatch) => Promise<void>;
const senders = new WeakMap<object, Send>();

/** Route commands from the behaviors of `endpoint` to `send` (the binding's ctx.command). */
export function bindCommands(endpoint: object, send: Send): void {
  senders.set(endpoint, send);
}

/** Send a command on behalf of a controller; a refusal becomes a Matter FAILURE status for the controller. */
export async function sendCommand(endpoint: object, patch: StatePatch): Promise<void> {
  const send = senders.get(endpoint);
  if (!send) throw new StatusResponseError("endpoint is not bound to a device", Status.Failure);
  try {
    await send(patch);
  } catch (error) {
    if (error instanceof StatusResponseError) throw error;
    throw new StatusResponseError((error as Error).message, Status.Failure);
  }
}

// While a controller's command runs on an endpoint, device updates for that endpoint wait. The
// vendor often pushes the new state before it acknowledges the command; writing that push to the
// endpoint mid-command holds locks the command's own transaction must take synchronously, and
// matter.js then fails the command with synchronous-transaction-conflict.
const activity = new WeakMap<object, { running: number; idle: (() => void)[] }>();

/** Run a command handler's body as "in flight" for `endpoint`. */
export async function inCommand<T>(endpoint: object, body: () => Promise<T>): Promise<T> {
  let state = activity.get(endpoint);
  if (!state) activity.set(endpoint, (state = { running: 0, idle: [] }));
  state.running++;
  try {
    return await body();
  } finally {
    // Release after the handler's transaction had its turn to commit.
    const s = state;
    setImmediate(() => {
      if (--s.running === 0) for (const resolve of s.idle.splice(0)) resolve();
    });
  }
}

/** Resolves once no command is in flight on `endpoint`. */
export function commandsIdle(endpoint: object): Promise<void> {
  const state = activity.get(endpoint);
  if (!state || state.running === 0) return Promise.resolve();
  return new Promise((resolve) => state.idle.push(resolve));
}
