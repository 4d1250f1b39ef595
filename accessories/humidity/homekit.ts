// humidity -> HomeKit HumiditySensor: CurrentRelativeHumidity in percent (0-100, 1 % steps in HAP).
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

export const humidityHomeKit: HomeKitBinding<"humidity"> = {
  capability: "humidity",
  attach(accessory, ctx) {
    const name = `${ctx.entry.info.name} Humidity`;
    const service = accessory.addService(Service.HumiditySensor, name, "humidity");
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, name);
    const characteristic = service.getCharacteristic(Characteristic.CurrentRelativeHumidity);
    const current = bindCharacteristic(characteristic, ctx, {
      read: (state) =>
        state.humidity === undefined ? (characteristic.value as number) : Math.max(0, Math.min(100, state.humidity)),
    });
    if (ctx.entry.state.humidity !== undefined) current.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (patch.humidity !== undefined) current.push(state);
      },
    };
  },
};
