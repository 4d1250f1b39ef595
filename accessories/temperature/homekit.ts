// temperature -> HomeKit TemperatureSensor: CurrentTemperature in °C (HomeKit converts for display).
// The value is pushed only when it changes; HAP-NodeJS rounds it to the characteristic's 0.1 step.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

export const temperatureHomeKit: HomeKitBinding<"temperature"> = {
  capability: "temperature",
  attach(accessory, ctx) {
    const name = `${ctx.entry.info.name} Temperature`;
    const service = accessory.addService(Service.TemperatureSensor, name, "temperature");
    // iOS 16+ names extra services of one accessory by ConfiguredName, not Name.
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, name);
    const characteristic = service.getCharacteristic(Characteristic.CurrentTemperature);
    // Indoor sensors: HAP's default floor (-270 °C) says nothing useful; keep HAP's 100 °C ceiling.
    characteristic.setProps({ minValue: -50, maxValue: 100 });
    const current = bindCharacteristic(characteristic, ctx, {
      // Before the first reading there is nothing better than the last value shown.
      read: (state) => state.temperature ?? (characteristic.value as number),
    });
    if (ctx.entry.state.temperature !== undefined) current.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (patch.temperature !== undefined) current.push(state);
      },
    };
  },
};
