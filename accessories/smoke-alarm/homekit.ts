// smokeAlarm -> HomeKit SmokeSensor: SmokeDetected, StatusActive, StatusFault (accessories/smoke-alarm/
// homekit-sensor.ts). A smoke alarm is the primary service of smoke and combo detectors; the Home app
// raises a critical alert (through Do Not Disturb) when SmokeDetected becomes SMOKE_DETECTED.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { HomeKitBinding } from "../homekit-support.ts";
import { alarmSensor } from "./homekit-sensor.ts";

export const smokeAlarmHomeKit: HomeKitBinding<"smokeAlarm"> = {
  capability: "smokeAlarm",
  attach(accessory, ctx) {
    return alarmSensor(accessory, ctx, {
      service: Service.SmokeSensor,
      subtype: "smoke",
      label: ctx.entry.info.name,
      detected: Characteristic.SmokeDetected,
      read: (state) =>
        state.smokeAlarm?.detected
          ? Characteristic.SmokeDetected.SMOKE_DETECTED
          : Characteristic.SmokeDetected.SMOKE_NOT_DETECTED,
      changed: (patch) => patch.smokeAlarm?.detected !== undefined,
    });
  },
};
