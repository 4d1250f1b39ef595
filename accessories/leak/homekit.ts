// leak -> HomeKit LeakSensor: LeakDetected, StatusActive, StatusFault (the shared alarm-sensor plumbing of
// accessories/smoke-alarm/homekit-sensor.ts). The Home app raises a critical alert when LeakDetected
// becomes LEAK_DETECTED; like the smoke and CO alarms it is pushed the moment the device reports it.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { HomeKitBinding } from "../homekit-support.ts";
import { alarmSensor } from "../smoke-alarm/homekit-sensor.ts";

export const leakHomeKit: HomeKitBinding<"leak"> = {
  capability: "leak",
  attach(accessory, ctx) {
    return alarmSensor(accessory, ctx, {
      service: Service.LeakSensor,
      subtype: "leak",
      label: ctx.entry.info.name,
      detected: Characteristic.LeakDetected,
      read: (state) =>
        state.leak ? Characteristic.LeakDetected.LEAK_DETECTED : Characteristic.LeakDetected.LEAK_NOT_DETECTED,
      changed: (patch) => patch.leak !== undefined,
    });
  },
};
