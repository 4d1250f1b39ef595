// battery -> Matter PowerSource (Battery feature). Where it lives:
// - a safety alarm's or a leak sensor's battery is on that device's own endpoint (accessories/smoke-co-alarm/
//   matter.ts, accessories/leak/matter.ts), beside batteryAlert / the leak state: this binding adds nothing;
// - any other device with a battery (a temperature/humidity sensor) gets a Power Source endpoint of its own
//   (device type 0x0011), one part of the composed device next to its sensors.
// The attribute mapping is shared: 0-100 % becomes batPercentRemaining in half percent, low is Warning, 0 %
// Critical, and either asks for a replacement.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { PowerSourceServer } from "@matter/main/behaviors/power-source";
import { PowerSource } from "@matter/main/clusters/power-source";
import { PowerSourceEndpoint } from "@matter/main/endpoints/power-source";
import type { Capabilities, DeviceState, StatePatch } from "../../src/core/model.ts";
import type { MatterBinding, MatterPart } from "../matter-support.ts";
import { typeWith } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";

export type BatteryLevel = "normal" | "warning" | "critical";

/** Empty (0 %) is critical, low is a warning. */
export function batteryLevelOf(state: DeviceState): BatteryLevel {
  const battery = state.battery;
  if (!battery) return "normal";
  if (battery.level !== undefined && battery.level <= 0) return "critical";
  return battery.low ? "warning" : "normal";
}

/** The live PowerSource attributes for a device state. */
export function powerSourceAttributes(state: DeviceState, caps: Capabilities): Record<string, unknown> {
  const alert = batteryLevelOf(state);
  const level = state.battery?.level;
  return {
    status: PowerSource.PowerSourceStatus.Active,
    batChargeLevel:
      alert === "critical"
        ? PowerSource.BatChargeLevel.Critical
        : alert === "warning"
          ? PowerSource.BatChargeLevel.Warning
          : PowerSource.BatChargeLevel.Ok,
    batReplacementNeeded: alert !== "normal",
    // Half-percent units; null = unknown.
    batPercentRemaining:
      caps.battery?.level && level !== undefined ? Math.max(0, Math.min(200, Math.round(level * 2))) : null,
  };
}

/** The PowerSource attributes at construction: the live ones plus the fixed ones. */
export function powerSourceInitial(state: DeviceState, caps: Capabilities): Record<string, unknown> {
  return {
    ...powerSourceAttributes(state, caps),
    order: 0,
    description: "Battery",
    batReplaceability: PowerSource.BatReplaceability.Unspecified,
    endpointList: [],
  };
}

export const BatteryPowerSourceServer = PowerSourceServer.with("Battery");

/** Whether another binding's endpoint carries the device's PowerSource. */
function carriedElsewhere(caps: Capabilities): boolean {
  return !!(caps.smokeAlarm || caps.coAlarm || caps.heatAlarm || caps.leak);
}

class BatteryPart implements MatterPart {
  readonly id = "battery";
  readonly type: MutableEndpoint = typeWith(PowerSourceEndpoint, BatteryPowerSourceServer);
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext) {
    this.#ctx = ctx;
    this.initial = { powerSource: powerSourceInitial(ctx.entry.state, ctx.entry.info.capabilities) };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState, patch?: StatePatch): Promise<void> {
    if (patch && patch.battery === undefined) return;
    const attrs = powerSourceAttributes(state, this.#ctx.entry.info.capabilities);
    await this.#endpoint?.set({ powerSource: attrs } as never);
  }
}

export const batteryMatter: MatterBinding = {
  capability: "battery",
  parts(ctx) {
    const caps = ctx.entry.info.capabilities;
    return caps.battery && !carriedElsewhere(caps) ? [new BatteryPart(ctx)] : [];
  },
};
