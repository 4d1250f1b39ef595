// lightLevel -> Matter Light Sensor: IlluminanceMeasurement.measuredValue = 10000 × log10(lux) + 1
// (Matter 1.3 application cluster spec 2.2.5.1), 0 for "too dark to measure", null until the first
// reading.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { LightSensorDevice } from "@matter/main/devices/light-sensor";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import type { MatterBinding, MatterPart } from "../matter-support.ts";
import type { BindingContext } from "../types.ts";

export function toIlluminance(lux: number | undefined): number | null {
  if (lux === undefined || !Number.isFinite(lux)) return null;
  if (lux <= 0) return 0;
  return Math.max(1, Math.min(0xfffe, Math.round(10_000 * Math.log10(lux) + 1)));
}

class LightLevelPart implements MatterPart {
  readonly id = "lightLevel";
  readonly label = "Light level";
  readonly type: MutableEndpoint = LightSensorDevice;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext) {
    this.#ctx = ctx;
    this.initial = {
      illuminanceMeasurement: {
        measuredValue: toIlluminance(ctx.entry.state.lightLevel),
        minMeasuredValue: 1,
        maxMeasuredValue: 0xfffe,
      },
    };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState, patch?: StatePatch): Promise<void> {
    if (patch && patch.lightLevel === undefined) return;
    await this.#endpoint?.set({ illuminanceMeasurement: { measuredValue: toIlluminance(state.lightLevel) } } as never);
  }
}

export const lightLevelMatter: MatterBinding = {
  capability: "lightLevel",
  parts(ctx) {
    return ctx.entry.info.capabilities.lightLevel ? [new LightLevelPart(ctx)] : [];
  },
};
