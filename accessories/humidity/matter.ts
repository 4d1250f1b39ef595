// humidity -> Matter Humidity Sensor: RelativeHumidityMeasurement.measuredValue in 0.01 % (0-10000,
// null until the first reading).
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { HumiditySensorDevice } from "@matter/main/devices/humidity-sensor";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import type { MatterBinding, MatterPart } from "../matter-support.ts";
import type { BindingContext } from "../types.ts";

/** Percent -> the cluster's uint16 in 0.01 %; null when unknown. */
export function toCentiPercent(percent: number | undefined): number | null {
  if (percent === undefined || !Number.isFinite(percent)) return null;
  return Math.max(0, Math.min(10000, Math.round(percent * 100)));
}

class HumidityPart implements MatterPart {
  readonly id = "humidity";
  readonly label = "Humidity";
  readonly type: MutableEndpoint = HumiditySensorDevice;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext) {
    this.#ctx = ctx;
    this.initial = {
      relativeHumidityMeasurement: {
        measuredValue: toCentiPercent(ctx.entry.state.humidity),
        minMeasuredValue: 0,
        maxMeasuredValue: 10000,
      },
    };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState, patch?: StatePatch): Promise<void> {
    if (patch && patch.humidity === undefined) return;
    await this.#endpoint?.set({
      relativeHumidityMeasurement: { measuredValue: toCentiPercent(state.humidity) },
    } as never);
  }
}

export const humidityMatter: MatterBinding = {
  capability: "humidity",
  parts(ctx) {
    return ctx.entry.info.capabilities.humidity ? [new HumidityPart(ctx)] : [];
  },
};
