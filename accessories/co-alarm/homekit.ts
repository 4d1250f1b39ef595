// coAlarm -> HomeKit CarbonMonoxideSensor: CarbonMonoxideDetected, CarbonMonoxideLevel (ppm, when the
// model reports it), StatusActive, StatusFault. On a combo detector it is the second service, named
// "<device> CO". The Home app raises a critical alert when CarbonMonoxideDetected becomes ABNORMAL.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";
import { alarmSensor } from "../smoke-alarm/homekit-sensor.ts";

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
      (service) =>
        cap?.ppm
          ? [
              {
                // HAP's default range stops at 100 ppm; X-Sense alarms sound from 50 ppm and report up to 999.
                bound: bindCharacteristic(
                  service
                    .getCharacteristic(Characteristic.CarbonMonoxideLevel)
                    .setProps({ minValue: 0, maxValue: CO_PPM_MAX }),
                  ctx,
                  {
                    read: (state) => Math.max(0, Math.min(CO_PPM_MAX, state.coAlarm?.ppm ?? 0)),
                  },
                ),
                changed: (patch) => patch.coAlarm?.ppm !== undefined,
              },
            ]
          : [],
    );
  },
};
