// soundMachine -> Matter On/Off Plug-in Units: "Sound machine" (on = playing) and one per track, with
// the meaning and the reasons of sound-machine/homekit.ts (Matter's Mode Select would be the list, but
// neither Apple Home nor Google Home shows it). Endpoint ids: "sound-machine" and "sound-<track id>".
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { OnOffPlugInUnitDevice } from "@matter/main/devices/on-off-plug-in-unit";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import {
  bindCommands,
  bindOnOff,
  commandsIdle,
  HearthOnOffServer,
  type MatterBinding,
  type MatterPart,
} from "../matter-support.ts";
import { typeWith } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";
import { trackCommand } from "./homekit.ts";

class SoundSwitchPart implements MatterPart {
  readonly id: string;
  readonly label: string;
  readonly type: MutableEndpoint = typeWith(OnOffPlugInUnitDevice, HearthOnOffServer);
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  /** undefined: the machine's own on/off. */
  readonly #track: string | undefined;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext, label: string, track?: string) {
    this.#ctx = ctx;
    this.#track = track;
    this.label = label;
    this.id = track === undefined ? "sound-machine" : `sound-${track.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    this.initial = { onOff: { onOff: this.#read(ctx.entry.state) } };
  }

  #read(state: DeviceState): boolean {
    const sm = state.soundMachine;
    return sm?.on === true && (this.#track === undefined || sm.track === this.#track);
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    bindCommands(endpoint, (patch, options) => this.#ctx.command(patch, options));
    const track = this.#track;
    bindOnOff(endpoint, (on): StatePatch => {
      if (track === undefined) return { soundMachine: { on } };
      // Off on a track that is not playing asks for nothing; an empty patch is a no-op command.
      return trackCommand(track, on, this.#ctx.entry.state) ?? {};
    });
    await this.update(this.#ctx.entry.state);
  }

  async update(reported: DeviceState, patch?: StatePatch): Promise<void> {
    if (!this.#endpoint || (patch && !patch.soundMachine)) return;
    await commandsIdle(this.#endpoint);
    const state = this.#ctx.entry.state ?? reported;
    await this.#endpoint.set({ onOff: { onOff: this.#read(state) } } as never);
  }
}

export const soundMachineMatter: MatterBinding = {
  capability: "soundMachine",
  parts(ctx) {
    const cap = ctx.entry.info.capabilities.soundMachine;
    if (!cap) return [];
    return [
      new SoundSwitchPart(ctx, cap.label),
      ...cap.tracks.map((track) => new SoundSwitchPart(ctx, track.label, track.id)),
    ];
  },
};
