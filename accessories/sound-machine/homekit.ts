// soundMachine -> HomeKit Switches: one named after the capability ("Sound machine", on = playing) and
// one per track (on = this track plays). Turning a track on plays it (and turns the others off);
// turning the playing track off stops the machine; turning the machine on plays the last track.
//
// Why switches: HomeKit has no "pick one of a list" control the Home app shows outside TVs (a
// Television service's inputs), and a TV tile for a sound machine would read as a TV. Switches are shown
// in every Home view, Siri turns them on by name ("turn on Birds"), and scenes can pick a track.
// Matter renders the same switches (sound-machine/matter.ts). The volume is the camera's own
// (volume/homekit.ts): the sound machine plays through its speaker.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import { bindCharacteristic, type BoundCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

/** The command for a track switch turned on or off. */
export function trackCommand(track: string, on: boolean, state: DeviceState): StatePatch | undefined {
  if (on) return { soundMachine: { on: true, track } };
  const sm = state.soundMachine;
  return sm?.on && sm.track === track ? { soundMachine: { on: false } } : undefined;
}

export const soundMachineHomeKit: HomeKitBinding<"soundMachine"> = {
  capability: "soundMachine",
  attach(accessory, ctx) {
    const cap = ctx.entry.info.capabilities.soundMachine;
    if (!cap) throw new Error(`${ctx.entry.info.id} has no sound machine`);
    const add = (name: string, subtype: string) => {
      const service = accessory.addService(Service.Switch, name, subtype);
      service.addOptionalCharacteristic(Characteristic.ConfiguredName);
      service.setCharacteristic(Characteristic.ConfiguredName, name);
      return service;
    };
    const main = add(cap.label, "soundMachine");
    const bound: BoundCharacteristic[] = [
      bindCharacteristic(main.getCharacteristic(Characteristic.On), ctx, {
        read: (state) => state.soundMachine?.on === true,
        write: (value) => ({ soundMachine: { on: value === true || value === 1 } }),
      }),
    ];
    const services = [main];
    for (const track of cap.tracks) {
      const service = add(track.label, `soundMachine:${track.id}`);
      bound.push(
        bindCharacteristic(service.getCharacteristic(Characteristic.On), ctx, {
          read: (state) => state.soundMachine?.on === true && state.soundMachine.track === track.id,
          write: (value, state) => trackCommand(track.id, value === true || value === 1, state),
        }),
      );
      services.push(service);
    }
    return {
      services,
      update(state, patch) {
        if (patch.soundMachine) for (const b of bound) b.push(state);
      },
    };
  },
};
