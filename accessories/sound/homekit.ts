// sound -> HomeKit OccupancySensor named "<device> Sound": OccupancyDetected 1 while sound is detected.
//
// HomeKit has no sound sensor. What the bridges users know do with one:
// - Home Assistant's HomeKit Bridge shows a binary_sensor of device_class "sound" as an
//   OccupancySensor (every binary sensor class without a HomeKit service of its own falls back to
//   occupancy), so Nanit's "sound" entity in HA appears in Apple Home exactly like this.
// - Scrypted shows no sensor for a camera's AudioSensor; audio only optionally triggers HomeKit
//   Secure Video recordings. A second MotionSensor would do that too, and would make Apple Home
//   ask which of two motion sensors is "the" camera's motion.
// So: an OccupancySensor, with its own icon, notifications and automations ("when Sound detects
// occupancy"), and no confusion with motion. Matter uses an occupancy sensor as well (sound/matter.ts).
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

// Characteristic.OccupancyDetected.OCCUPANCY_DETECTED / OCCUPANCY_NOT_DETECTED (runtime statics).
const DETECTED = Characteristic.OccupancyDetected.OCCUPANCY_DETECTED;
const NOT_DETECTED = Characteristic.OccupancyDetected.OCCUPANCY_NOT_DETECTED;

export const soundHomeKit: HomeKitBinding<"sound"> = {
  capability: "sound",
  attach(accessory, ctx) {
    const name = `${ctx.entry.info.name} Sound`;
    const service = accessory.addService(Service.OccupancySensor, name, "sound");
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, name);
    const detected = bindCharacteristic(service.getCharacteristic(Characteristic.OccupancyDetected), ctx, {
      read: (state) => (state.sound === true ? DETECTED : NOT_DETECTED),
    });
    detected.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (patch.sound !== undefined) detected.push(state);
      },
    };
  },
};
