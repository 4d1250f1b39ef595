// volume -> a Matter Fan (FanControl percentSetting = volume, fanMode Off = muted), for the reasons
// in volume/homekit.ts: Apple Home and Google Home show a fan with a slider and let voice set it, and a
// fan is not switched by "all lights off". (Matter's Speaker device type fits better on paper, but
// neither Apple Home nor Google Home shows it.) The fan binding's write rules apply (fan/matter.ts):
// one interaction's writes are one command; fanMode On restores the last volume above 0.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { FanControl } from "@matter/main/clusters/fan-control";
import { FanDevice } from "@matter/main/devices/fan";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import { fanModeFor, HearthFanControlServer, linkFanEndpoint } from "../fan/matter.ts";
import { bindCommands, type MatterBinding, type MatterPart } from "../matter-support.ts";
import { typeWith, withFeatures } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";
import { DEFAULT_VOLUME } from "./homekit.ts";

function attributes(volume: number | undefined): Record<string, unknown> {
  const percent = Math.max(0, Math.min(100, Math.round(volume ?? 0)));
  return { fanMode: fanModeFor(percent), percentSetting: percent, percentCurrent: percent };
}

/** The fan binding's command for this endpoint, as a volume. */
export function volumeCommand(patch: StatePatch): StatePatch {
  const fan = patch.fan ?? {};
  if (fan.on === false) return { volume: 0 };
  return fan.speed === undefined ? {} : { volume: fan.speed };
}

class VolumePart implements MatterPart {
  readonly id = "volume";
  readonly label: string;
  readonly type: MutableEndpoint = typeWith(FanDevice, withFeatures(HearthFanControlServer, "Step"));
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  #endpoint: Endpoint | undefined;
  #lastAudible: number;

  constructor(ctx: BindingContext, label: string) {
    this.#ctx = ctx;
    this.label = label;
    this.#lastAudible = ctx.entry.state.volume || DEFAULT_VOLUME;
    this.initial = {
      fanControl: { fanModeSequence: FanControl.FanModeSequence.OffLowMedHigh, ...attributes(ctx.entry.state.volume) },
    };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    linkFanEndpoint(endpoint, {
      steps: undefined,
      lastSpeed: () => this.#ctx.entry.state.volume || this.#lastAudible,
      resync: () => void this.update(this.#ctx.entry.state).catch(() => {}),
    });
    bindCommands(endpoint, (patch, options) => this.#ctx.command(volumeCommand(patch), options));
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState, patch?: StatePatch): Promise<void> {
    if (patch && patch.volume === undefined) return;
    if (state.volume) this.#lastAudible = state.volume;
    await this.#endpoint?.set({ fanControl: attributes(state.volume) } as never);
  }
}

export const volumeMatter: MatterBinding = {
  capability: "volume",
  parts(ctx) {
    const cap = ctx.entry.info.capabilities.volume;
    return cap ? [new VolumePart(ctx, cap.label)] : [];
  },
};
