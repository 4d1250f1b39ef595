// leak -> Matter Water Leak Detector (device type 0x0043): BooleanState.stateValue true while water is
// detected; matter.js's BooleanStateServer emits the cluster's StateChange event on every change. A battery
// (PowerSource, Battery feature) sits on the same endpoint, so a leak sensor stays one plain bridged device.
// Safety path as for the smoke and CO alarms: the state is written the moment the host hands it over;
// matter.js reports it after its fixed 50 ms coalescing delay.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { WaterLeakDetectorDevice } from "@matter/main/devices/water-leak-detector";
import type { Capabilities, DeviceState, StatePatch } from "../../src/core/model.ts";
import { BatteryPowerSourceServer, powerSourceAttributes, powerSourceInitial } from "../battery/matter.ts";
import type { MatterBinding, MatterPart } from "../matter-support.ts";
import { typeWith } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";

/** The attribute values of the endpoint's clusters for a device state. */
export function leakAttributes(state: DeviceState, caps: Capabilities): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = { booleanState: { stateValue: state.leak === true } };
  if (caps.battery) out.powerSource = powerSourceAttributes(state, caps);
  return out;
}

class LeakPart implements MatterPart {
  readonly id = "leak";
  readonly type: MutableEndpoint;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  readonly #caps: Capabilities;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext) {
    this.#ctx = ctx;
    this.#caps = ctx.entry.info.capabilities;
    this.type = this.#caps.battery
      ? typeWith(WaterLeakDetectorDevice, BatteryPowerSourceServer)
      : WaterLeakDetectorDevice;
    this.initial = { booleanState: { stateValue: ctx.entry.state.leak === true } };
    if (this.#caps.battery) this.initial.powerSource = powerSourceInitial(ctx.entry.state, this.#caps);
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState, patch?: StatePatch): Promise<void> {
    if (patch && patch.leak === undefined && patch.battery === undefined) return;
    await this.#endpoint?.set(leakAttributes(state, this.#caps) as never);
  }
}

export const leakMatter: MatterBinding = {
  capability: "leak",
  parts(ctx) {
    return ctx.entry.info.capabilities.leak ? [new LeakPart(ctx)] : [];
  },
};
