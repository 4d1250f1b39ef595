// night -> HomeKit OccupancySensor named "Night": detected while the device reads night.
//
// HomeKit and Matter have no day/night sensor, and a light sensor alone cannot say what the camera
// means by night (it switches its night vision by it). An occupancy sensor, as for sound
// (sound/homekit.ts), gives it a tile, a state ("Night: detected") and automations ("when night
// starts"). Matter uses an occupancy sensor too (night/matter.ts).
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

const DETECTED = Characteristic.OccupancyDetected.OCCUPANCY_DETECTED;
const NOT_DETECTED = Characteristic.OccupancyDetected.OCCUPANCY_NOT_DETECTED;

export const nightHomeKit: HomeKitBinding<"night"> = {
  capability: "night",
  attach(accessory, ctx) {
    const service = accessory.addService(Service.OccupancySensor, "Night", "night");
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, "Night");
    const detected = bindCharacteristic(service.getCharacteristic(Characteristic.OccupancyDetected), ctx, {
      read: (state) => (state.night === true ? DETECTED : NOT_DETECTED),
    });
    detected.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (patch.night !== undefined) detected.push(state);
      },
    };
  },
};
