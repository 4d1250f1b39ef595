// The Matter side of the binding contract (accessories/types.ts holds the shared part) and the
// helpers the Matter bindings share: command routing from behaviors back to the binding, and the
// OnOff server of lights and switches. Kept apart from accessories/matter.ts (the index of bindings)
// so a binding can import these without an import cycle through the index.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { FixedLabelServer } from "@matter/main/behaviors/fixed-label";
import { OnOffServer } from "@matter/main/behaviors/on-off";
import { UserLabelServer } from "@matter/main/behaviors/user-label";
import { StatusResponseError, Status } from "@matter/main/types";
import type { StatePatch } from "../src/core/model.ts";
import type { SubmitOptions } from "../src/core/coalesce.ts";
import type { CapabilityName } from "./kinds.ts";
import { typeWith } from "./matter-types.ts";
import type { BindingContext, BoundCapability } from "./types.ts";

/** One endpoint of a rendered capability. */
export interface MatterPart extends BoundCapability {
  /** Stable suffix for the endpoint id ("fan", "light", "switch-nightLight"). Must never change for a
   * device: matter.js keys stored endpoint numbers and attribute values by id. */
  readonly id: string;
  /** What the endpoint's structure depends on besides `id` (features); a change rebuilds the endpoint. */
  readonly shape?: string;
  /** Device type plus our behaviors (without BridgedDeviceBasicInformation: the host adds it when flat). */
  readonly type: MutableEndpoint;
  /** Cluster state at construction. Values stored from an earlier run win over these, so the live
   * state is pushed again in attach(). */
  readonly initial: Record<string, unknown>;
  /** What the part is ("Night light", "Volume"): a child endpoint carries it as a label (labelled()). */
  readonly label?: string;
  /** The endpoint is installed in the node: route its commands and push the live device state. */
  attach(endpoint: Endpoint): Promise<void>;
}

/** LabelStruct values are at most 16 characters (Matter core spec 9.7.3). */
export const MAX_LABEL = 16;

/**
 * A child endpoint with its name as a label, so controllers show "Night light" rather than "Light 2":
 * FixedLabel {Label: <name>} (the entry Home Assistant names a Matter entity after) and an empty,
 * writable UserLabel for the user's own names. Without a label the part is returned as it is.
 */
export function labelled(part: MatterPart): { type: MutableEndpoint; initial: Record<string, unknown> } {
  if (!part.label) return { type: part.type, initial: part.initial };
  return {
    type: typeWith(part.type, FixedLabelServer, UserLabelServer),
    initial: {
      ...part.initial,
      fixedLabel: { labelList: [{ label: "Label", value: part.label.slice(0, MAX_LABEL) }] },
      userLabel: { labelList: [] },
    },
  };
}

/** Renders one capability of a device as Matter endpoints ("parts"). */
export interface MatterBinding {
  readonly capability: CapabilityName;
  /** The parts for this device, empty when the device lacks the capability. */
  parts(ctx: BindingContext): MatterPart[];
}

// A link from a matter.js behavior instance back to the binding that owns its endpoint. Behavior
// classes are shared by every endpoint of a type, so the per-device "send this command" callback is
// looked up by endpoint here instead of living in (serialisable) behavior state.
type Send = (patch: StatePatch, options?: SubmitOptions) => Promise<void>;
const senders = new WeakMap<object, Send>();

/** Route commands from the behaviors of `endpoint` to `send` (the binding's ctx.command). */
export function bindCommands(endpoint: object, send: Send): void {
  senders.set(endpoint, send);
}

/** Send a command on behalf of a controller; a refusal becomes a Matter FAILURE status for the controller. */
export async function sendCommand(endpoint: object, patch: StatePatch, options?: SubmitOptions): Promise<void> {
  const send = senders.get(endpoint);
  if (!send) throw new StatusResponseError("endpoint is not bound to a device", Status.Failure);
  try {
    await send(patch, options);
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

// OnOff server shared by lights and switches: the on/off/toggle commands (and offWithEffect, which
// calls off()) first ask the device through the binding, and only change the attribute once the
// vendor accepted; a refusal reaches the controller as FAILURE. Device updates are written offline
// with endpoint.set() and never pass through these handlers, so nothing is echoed to the driver.
const patches = new WeakMap<object, (on: boolean) => StatePatch>();

/** Which command an on/off request on `endpoint` becomes, e.g. on => ({ light: { on } }). */
export function bindOnOff(endpoint: object, patch: (on: boolean) => StatePatch): void {
  patches.set(endpoint, patch);
}

export class HearthOnOffServer extends OnOffServer.with("Lighting") {
  async #request(on: boolean): Promise<void> {
    const patch = patches.get(this.endpoint);
    if (patch) await sendCommand(this.endpoint, patch(on));
  }

  override on(): Promise<void> {
    return inCommand(this.endpoint, async () => {
      await this.#request(true);
      await super.on();
    });
  }

  override off(): Promise<void> {
    return inCommand(this.endpoint, async () => {
      await this.#request(false);
      await super.off();
    });
  }

  override toggle(): Promise<void> {
    // Decide from the state before the command: the device's own update may land meanwhile.
    const next = !this.state.onOff;
    return inCommand(this.endpoint, async () => {
      await this.#request(next);
      if (next) await super.on();
      else await super.off();
    });
  }
}
