// motion -> Matter Occupancy Sensor: OccupancySensing.occupancy.occupied follows the device.
//
// Detector type: the PassiveInfrared feature (occupancySensorType PIR). Vendor cameras detect motion
// in video (Matter 1.4 added a "Vision" feature for that), but controllers built before 1.4 only know
// PIR / ultrasonic / physical contact, and PIR is the one every controller shows as a motion sensor.
// Sound, cry and night use the same part (sound/matter.ts, cry/matter.ts, night/matter.ts).
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { OccupancySensingServer } from "@matter/main/behaviors/occupancy-sensing";
import { OccupancySensorDevice } from "@matter/main/devices/occupancy-sensor";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import type { MatterBinding, MatterPart } from "../matter-support.ts";
import type { BindingContext } from "../types.ts";

export const OCCUPANCY_DEVICE = OccupancySensorDevice.with(OccupancySensingServer.with("PassiveInfrared"));

/** An occupancy sensor endpoint fed by one boolean of the device state. */
export class OccupancyPart implements MatterPart {
  readonly id: string;
  readonly label: string;
  readonly type: MutableEndpoint = OCCUPANCY_DEVICE;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  readonly #read: (state: DeviceState) => boolean;
  #endpoint: Endpoint | undefined;

  readonly #field: keyof StatePatch;

  constructor(
    ctx: BindingContext,
    id: "motion" | "sound" | "cry" | "night",
    read: (state: DeviceState) => boolean,
    label: string = id[0]!.toUpperCase() + id.slice(1),
  ) {
    this.#ctx = ctx;
    this.id = id;
    this.label = label;
    this.#read = read;
    this.#field = id;
    this.initial = { occupancySensing: { occupancy: { occupied: read(ctx.entry.state) } } };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState, patch?: StatePatch): Promise<void> {
    if (patch && patch[this.#field] === undefined) return;
    await this.#endpoint?.set({ occupancySensing: { occupancy: { occupied: this.#read(state) } } } as never);
  }
}

export const motionMatter: MatterBinding = {
  capability: "motion",
  parts(ctx) {
    return ctx.entry.info.capabilities.motion
      ? [new OccupancyPart(ctx, "motion", (state) => state.motion === true)]
      : [];
  },
};
