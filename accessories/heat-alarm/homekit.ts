// heatAlarm -> HomeKit SmokeSensor (subtype "heat", named "<device> Heat" beside a smoke or CO sensor).
//
// Why a smoke sensor: HomeKit has no heat or fire sensor service. A heat alarm sounds for a fire, and
// the services whose alarms the Home app delivers as critical alerts (through Do Not Disturb and
// silent mode) are SmokeSensor, CarbonMonoxideSensor and LeakSensor; a heat alarm shown as a contact
// or occupancy sensor would stay silent on the phone. Prior art points the same way: Homebridge
// plugins without a heat type expose heat detectors as smoke sensors (homebridge-node-alarm-dot-com
// issue #109: "I picked smoke detected since there is no heat option in homekit"), and Home Assistant's
// HomeKit Bridge has no mapping for binary_sensor device_class "heat" (it falls back to its default,
// an occupancy sensor: no alert). Scrypted's HomeKit plugin was not checked. The README says the Home
// app words a heat alarm as "Smoke detected".
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { HomeKitBinding } from "../homekit-support.ts";
import { alarmSensor } from "../smoke-alarm/homekit-sensor.ts";

export const heatAlarmHomeKit: HomeKitBinding<"heatAlarm"> = {
  capability: "heatAlarm",
  attach(accessory, ctx) {
    const { info } = ctx.entry;
    const alone = !info.capabilities.smokeAlarm && !info.capabilities.coAlarm;
    return alarmSensor(accessory, ctx, {
      service: Service.SmokeSensor,
      subtype: "heat",
      label: alone ? info.name : `${info.name} Heat`,
      detected: Characteristic.SmokeDetected,
      read: (state) =>
        state.heatAlarm?.detected
          ? Characteristic.SmokeDetected.SMOKE_DETECTED
          : Characteristic.SmokeDetected.SMOKE_NOT_DETECTED,
      changed: (patch) => patch.heatAlarm?.detected !== undefined,
    });
  },
};
