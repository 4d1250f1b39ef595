// lightLevel -> HomeKit LightSensor: CurrentAmbientLightLevel in lux. HomeKit's range starts at
// 0.0001 lux, so a dark room (0) reads as that.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

export function homekitLux(lux: number | undefined): number {
  return Math.max(0.0001, Math.min(100_000, lux ?? 0));
}

export const lightLevelHomeKit: HomeKitBinding<"lightLevel"> = {
  capability: "lightLevel",
  attach(accessory, ctx) {
    const service = accessory.addService(Service.LightSensor, "Light level", "lightLevel");
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, "Light level");
    const level = bindCharacteristic(service.getCharacteristic(Characteristic.CurrentAmbientLightLevel), ctx, {
      read: (state) => homekitLux(state.lightLevel),
    });
    level.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (patch.lightLevel !== undefined) level.push(state);
      },
    };
  },
};
