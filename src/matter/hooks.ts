// A link from a matter.js behavior instance back to the binding that owns its endpoint. Behavior
// classes are shared by every endpoint of a type, so the per-device "send this command" callback is
// looked up by endpoint here instead of living in (serialisable) behavior state.
import { StatusResponseError, Status } from "@matter/main/types";
import type { StatePatch } from "../core/model.ts";

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
