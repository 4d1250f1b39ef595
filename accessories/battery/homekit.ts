// battery -> HomeKit Battery service: StatusLowBattery, BatteryLevel (percent, when the device reports
// one), ChargingState NOT_CHARGEABLE (detectors run on primary cells). The Home app shows the level in
// the accessory's settings and a low-battery badge on the accessory tile.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { DeviceState } from "../../src/core/model.ts";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

export function batteryLevel(state: DeviceState): number {
  return Math.max(0, Math.min(100, Math.round(state.battery?.level ?? 100)));
}

export const batteryHomeKit: HomeKitBinding<"battery"> = {
  capability: "battery",
  attach(accessory, ctx) {
    const cap = ctx.entry.info.capabilities.battery;
    const service = accessory.addService(Service.Battery, `${ctx.entry.info.name} Battery`, "battery");
    const low = bindCharacteristic(service.getCharacteristic(Characteristic.StatusLowBattery), ctx, {
      read: (state) =>
        state.battery?.low
          ? Characteristic.StatusLowBattery.BATTERY_LEVEL_LOW
          : Characteristic.StatusLowBattery.BATTERY_LEVEL_NORMAL,
    });
    const level = cap?.level
      ? bindCharacteristic(service.getCharacteristic(Characteristic.BatteryLevel), ctx, { read: batteryLevel })
      : undefined;
    bindCharacteristic(service.getCharacteristic(Characteristic.ChargingState), ctx, {
      read: () => Characteristic.ChargingState.NOT_CHARGEABLE,
    }).push(ctx.entry.state);
    // The host pushes only fan/light/switch parts after a (re)build: start the values here.
    low.push(ctx.entry.state);
    level?.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (patch.battery?.low !== undefined) low.push(state);
        if (patch.battery?.level !== undefined) level?.push(state);
      },
    };
  },
};
