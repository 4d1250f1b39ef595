// cry -> HomeKit OccupancySensor named "<device> Cry": OccupancyDetected 1 while the camera hears a baby cry.
// HomeKit has no cry (or sound) sensor: an occupancy sensor of its own, like sound (sound/homekit.ts says
// why), so "when Cry detects occupancy" can be an automation or a notification apart from plain sound.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

const DETECTED = Characteristic.OccupancyDetected.OCCUPANCY_DETECTED;
const NOT_DETECTED = Characteristic.OccupancyDetected.OCCUPANCY_NOT_DETECTED;

export const cryHomeKit: HomeKitBinding<"cry"> = {
  capability: "cry",
  attach(accessory, ctx) {
    const name = `${ctx.entry.info.name} Cry`;
    const service = accessory.addService(Service.OccupancySensor, name, "cry");
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, name);
    const detected = bindCharacteristic(service.getCharacteristic(Characteristic.OccupancyDetected), ctx, {
      read: (state) => (state.cry === true ? DETECTED : NOT_DETECTED),
    });
    detected.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (patch.cry !== undefined) detected.push(state);
      },
    };
  },
};
