// volume -> a HomeKit Fanv2 named after the capability ("Volume"): RotationSpeed is the volume
// (0-100), Active is "not muted".
//
// Why a fan: HomeKit's Speaker service (Volume, Mute) is not shown by the Home app for accessories
// other than TVs and AirPlay speakers, and Siri cannot set it. A Fanv2 is shown with a slider, Siri sets
// it ("set the Nursery volume to 30 percent"), and unlike a Lightbulb (the other common choice) it is not
// part of "turn off the lights": a bedtime "lights off" must not mute the camera's sound machine.
// Matter uses a fan too (volume/matter.ts). Turning it on again restores the last volume above 0.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

/** Where "on" goes back to when nothing above 0 was seen yet. */
export const DEFAULT_VOLUME = 50;

export const volumeHomeKit: HomeKitBinding<"volume"> = {
  capability: "volume",
  attach(accessory, ctx) {
    const label = ctx.entry.info.capabilities.volume?.label ?? "Volume";
    const service = accessory.addService(Service.Fanv2, label, "volume");
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, label);
    let lastAudible = ctx.entry.state.volume || DEFAULT_VOLUME;
    const volumeOf = (value: number | undefined): number => {
      const v = Math.max(0, Math.min(100, Math.round(value ?? 0)));
      if (v > 0) lastAudible = v;
      return v;
    };
    const active = bindCharacteristic(service.getCharacteristic(Characteristic.Active), ctx, {
      read: (state) => (volumeOf(state.volume) > 0 ? 1 : 0),
      write: (value, state) => {
        const on = value === 1 || value === true;
        volumeOf(state.volume);
        if (!on) return { volume: 0 };
        return (state.volume ?? 0) > 0 ? undefined : { volume: lastAudible };
      },
    });
    const speed = bindCharacteristic(service.getCharacteristic(Characteristic.RotationSpeed), ctx, {
      read: (state) => volumeOf(state.volume),
      write: (value) => ({ volume: volumeOf(Number(value)) }),
    });
    return {
      services: [service],
      update(state, patch) {
        if (patch.volume === undefined) return;
        active.push(state);
        speed.push(state);
      },
    };
  },
};
