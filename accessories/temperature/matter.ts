// temperature -> Matter Temperature Sensor: TemperatureMeasurement.measuredValue in 0.01 °C (null
// until the first reading). Read-only: the binding only writes device readings to the endpoint.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { TemperatureSensorDevice } from "@matter/main/devices/temperature-sensor";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import type { MatterBinding, MatterPart } from "../matter-support.ts";
import type { BindingContext } from "../types.ts";

/** Degrees Celsius -> the cluster's int16 in 0.01 °C; null when unknown. */
export function toCentiCelsius(celsius: number | undefined): number | null {
  if (celsius === undefined || !Number.isFinite(celsius)) return null;
  return Math.max(-27315, Math.min(32767, Math.round(celsius * 100)));
}

function attributes(state: DeviceState): Record<string, unknown> {
  return { temperatureMeasurement: { measuredValue: toCentiCelsius(state.temperature) } };
}

class TemperaturePart implements MatterPart {
  readonly id = "temperature";
  readonly label = "Temperature";
  readonly type: MutableEndpoint = TemperatureSensorDevice;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext) {
    this.#ctx = ctx;
    // An indoor sensor's range (what the driver accepts), in 0.01 °C.
    this.initial = {
      temperatureMeasurement: {
        measuredValue: toCentiCelsius(ctx.entry.state.temperature),
        minMeasuredValue: -4000,
        maxMeasuredValue: 8000,
      },
    };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState, patch?: StatePatch): Promise<void> {
    if (patch && patch.temperature === undefined) return;
    await this.#endpoint?.set(attributes(state) as never);
  }
}

export const temperatureMatter: MatterBinding = {
  capability: "temperature",
  parts(ctx) {
    return ctx.entry.info.capabilities.temperature ? [new TemperaturePart(ctx)] : [];
  },
};
