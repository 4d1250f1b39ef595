// light -> HomeKit Lightbulb: On, Brightness when dimmable, ColorTemperature (mireds) when the light
// has colour temperature presets (a written temperature snaps to the nearest preset), Hue and
// Saturation when it takes a colour.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { DeviceState, LightState } from "../../src/core/model.ts";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

const OFF: LightState = { on: false, brightness: 100 };

function lightOf(state: DeviceState): LightState {
  return state.light ?? OFF;
}

export function kelvinToMired(kelvin: number): number {
  return Math.round(1_000_000 / kelvin);
}

/** The preset (kelvin) closest to a mired value; compared in mireds, the scale HomeKit's slider uses. */
export function nearestPresetK(mired: number, presetsK: number[]): number {
  let best = presetsK[0]!;
  for (const k of presetsK) if (Math.abs(kelvinToMired(k) - mired) < Math.abs(kelvinToMired(best) - mired)) best = k;
  return best;
}

export const lightHomeKit: HomeKitBinding<"light"> = {
  capability: "light",
  attach(accessory, ctx) {
    const capability = ctx.entry.info.capabilities.light;
    if (!capability) throw new Error(`${ctx.entry.info.id} has no light capability`);
    // A fan's light is named after the device too; the subtype keeps it apart from other services. A light
    // with a label of its own (a camera's night light) is called that.
    const name = capability.label ?? `${ctx.entry.info.name} Light`;
    const service = accessory.addService(Service.Lightbulb, name, "light");
    if (capability.label) {
      // iOS 16+ names extra services of one accessory by ConfiguredName, not Name.
      service.addOptionalCharacteristic(Characteristic.ConfiguredName);
      service.setCharacteristic(Characteristic.ConfiguredName, capability.label);
    }

    const on = bindCharacteristic(service.getCharacteristic(Characteristic.On), ctx, {
      read: (state) => lightOf(state).on,
      write: (value) => ({ light: { on: value === true || value === 1 } }),
    });

    const brightness = capability.dimmable
      ? bindCharacteristic(service.getCharacteristic(Characteristic.Brightness), ctx, {
          read: (state) => Math.max(0, Math.min(100, Math.round(lightOf(state).brightness))),
          write: (value) => {
            const level = Math.round(Number(value));
            return level <= 0 ? { light: { on: false } } : { light: { brightness: Math.min(100, level) } };
          },
        })
      : undefined;

    const presets = [...new Set(capability.colorTemperatureK ?? [])].sort((a, b) => a - b);
    let temperature: ReturnType<typeof bindCharacteristic> | undefined;
    if (presets.length >= 2) {
      const minMired = kelvinToMired(presets[presets.length - 1]!);
      const maxMired = kelvinToMired(presets[0]!);
      const characteristic = service.getCharacteristic(Characteristic.ColorTemperature);
      // Move the default value (140) into the new range first, or setProps warns while clamping it.
      characteristic.updateValue(maxMired);
      characteristic.setProps({ minValue: minMired, maxValue: maxMired, minStep: 1 });
      temperature = bindCharacteristic(characteristic, ctx, {
        read: (state) => {
          const k = lightOf(state).colorTemperatureK ?? presets[0]!;
          return Math.max(minMired, Math.min(maxMired, kelvinToMired(k)));
        },
        write: (value) => ({ light: { colorTemperatureK: nearestPresetK(Number(value), presets) } }),
      });
    }

    // Colour (hue 0-360, saturation 0-100): HomeKit's own units.
    const hue = capability.color
      ? bindCharacteristic(service.getCharacteristic(Characteristic.Hue), ctx, {
          read: (state) => Math.max(0, Math.min(360, Math.round(lightOf(state).hue ?? 0))),
          write: (value) => ({ light: { hue: Math.max(0, Math.min(360, Number(value))) } }),
        })
      : undefined;
    const saturation = capability.color
      ? bindCharacteristic(service.getCharacteristic(Characteristic.Saturation), ctx, {
          read: (state) => Math.max(0, Math.min(100, Math.round(lightOf(state).saturation ?? 0))),
          write: (value) => ({ light: { saturation: Math.max(0, Math.min(100, Number(value))) } }),
        })
      : undefined;

    return {
      services: [service],
      update(state, patch) {
        const changed = patch.light;
        if (!changed) return;
        if (changed.hue !== undefined) hue?.push(state);
        if (changed.saturation !== undefined) saturation?.push(state);
        if (changed.on !== undefined) on.push(state);
        if (changed.brightness !== undefined) brightness?.push(state);
        if (changed.colorTemperatureK !== undefined) temperature?.push(state);
      },
    };
  },
};
