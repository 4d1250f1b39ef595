// coAlarm -> HomeKit CarbonMonoxideSensor: CarbonMonoxideDetected, CarbonMonoxideLevel (ppm, when the
// model reports it), CarbonMonoxidePeakLevel (the detector's peak, when it reports one), StatusActive,
// StatusFault. On a combo detector it is the second service, named
// "<device> CO". The Home app raises a critical alert when CarbonMonoxideDetected becomes ABNORMAL.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";
import type { DeviceState } from "../../src/core/model.ts";
import { alarmSensor, type ExtraCharacteristic } from "../smoke-alarm/homekit-sensor.ts";

export const CO_PPM_MAX = 1000;

export const coAlarmHomeKit: HomeKitBinding<"coAlarm"> = {
  capability: "coAlarm",
  attach(accessory, ctx) {
    const { info } = ctx.entry;
    const cap = info.capabilities.coAlarm;
    return alarmSensor(
      accessory,
      ctx,
      {
        service: Service.CarbonMonoxideSensor,
        subtype: "co",
        label: info.capabilities.smokeAlarm ? `${info.name} CO` : info.name,
        detected: Characteristic.CarbonMonoxideDetected,
        read: (state) =>
          state.coAlarm?.detected
            ? Characteristic.CarbonMonoxideDetected.CO_LEVELS_ABNORMAL
            : Characteristic.CarbonMonoxideDetected.CO_LEVELS_NORMAL,
        changed: (patch) => patch.coAlarm?.detected !== undefined,
      },
      (service) => {
        // HAP's default ranges stop at 100 ppm; X-Sense alarms sound from 50 ppm and report up to 999.
        const ppm = (characteristic: typeof Characteristic.CarbonMonoxideLevel, read: (s: DeviceState) => number) =>
          bindCharacteristic(
            service.getCharacteristic(characteristic).setProps({ minValue: 0, maxValue: CO_PPM_MAX }),
            ctx,
            { read: (state) => Math.max(0, Math.min(CO_PPM_MAX, read(state))) },
          );
        const extras: ExtraCharacteristic[] = [];
        if (cap?.ppm) {
          const bound = ppm(Characteristic.CarbonMonoxideLevel, (state) => state.coAlarm?.ppm ?? 0);
          extras.push({ bound, changed: (patch) => patch.coAlarm?.ppm !== undefined });
        }
        if (cap?.ppm && cap.peak) {
          const bound = ppm(Characteristic.CarbonMonoxidePeakLevel, (state) => state.coAlarm?.peakPpm ?? 0);
          extras.push({ bound, changed: (patch) => patch.coAlarm?.peakPpm !== undefined });
        }
        return extras;
      },
    );
  },
};
