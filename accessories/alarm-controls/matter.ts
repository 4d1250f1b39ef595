// alarmControls -> a momentary "Hush" control in Matter (opt-in). The Smoke CO Alarm cluster (Matter 1.4) has no
// mute command, only the read-only deviceMuted (kept by accessories/smoke-co-alarm/matter.ts), so the hush is an
// On/Off Plug-in Unit endpoint beside the alarm endpoint, the one controllable on/off device type every
// controller shows: "on" asks the vendor to hush the detector and the control stays off (momentary: there is
// nothing to turn off); a refusal reaches the controller as FAILURE. The self-test needs no control of its own
// here: the alarm endpoint's SelfTestRequest command runs it.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { OnOffServer } from "@matter/main/behaviors/on-off";
import { OnOffPlugInUnitDevice } from "@matter/main/devices/on-off-plug-in-unit";
import type { StatePatch } from "../../src/core/model.ts";
import { bindCommands, inCommand, sendCommand, type MatterBinding, type MatterPart } from "../matter-support.ts";
import { typeWith } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";
import { hushCommand } from "./commands.ts";

const commands = new WeakMap<object, StatePatch>();

export class MomentaryOnOffServer extends OnOffServer {
  override on(): Promise<void> {
    return inCommand(this.endpoint, async () => {
      const command = commands.get(this.endpoint);
      if (command) await sendCommand(this.endpoint, command);
    });
  }

  override off(): void {
    // Momentary: nothing to undo.
  }

  override toggle(): Promise<void> {
    return this.on();
  }
}

class HushPart implements MatterPart {
  readonly id = "hush";
  readonly type: MutableEndpoint = typeWith(OnOffPlugInUnitDevice, MomentaryOnOffServer);
  readonly initial = { onOff: { onOff: false } };
  readonly #ctx: BindingContext;
  readonly #command: StatePatch;

  constructor(ctx: BindingContext, command: StatePatch) {
    this.#ctx = ctx;
    this.#command = command;
  }

  async attach(endpoint: Endpoint): Promise<void> {
    bindCommands(endpoint, (patch) => this.#ctx.command(patch));
    commands.set(endpoint, this.#command);
    await endpoint.set({ onOff: { onOff: false } } as never);
  }

  update(): void {}
}

export const alarmControlsMatter: MatterBinding = {
  capability: "alarmControls",
  parts(ctx) {
    const caps = ctx.entry.info.capabilities;
    const command = caps.alarmControls?.hush ? hushCommand(caps) : undefined;
    return command ? [new HushPart(ctx, command)] : [];
  },
};
