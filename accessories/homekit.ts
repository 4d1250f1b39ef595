// The HomeKit bindings by capability name. The host renders `kindOf(info.kind).capabilities` in
// order through this table, for the capabilities the device has.
import type { CapabilityName } from "./kinds.ts";
import type { HomeKitBinding } from "./homekit-support.ts";
import { fanHomeKit } from "./fan/homekit.ts";
import { lightHomeKit } from "./light/homekit.ts";
import { switchesHomeKit } from "./switch/homekit.ts";
import { temperatureHomeKit } from "./temperature/homekit.ts";
import { humidityHomeKit } from "./humidity/homekit.ts";
import { motionHomeKit } from "./motion/homekit.ts";
import { soundHomeKit } from "./sound/homekit.ts";
import { cryHomeKit } from "./cry/homekit.ts";
import { smokeAlarmHomeKit } from "./smoke-alarm/homekit.ts";
import { coAlarmHomeKit } from "./co-alarm/homekit.ts";
import { heatAlarmHomeKit } from "./heat-alarm/homekit.ts";
import { leakHomeKit } from "./leak/homekit.ts";
import { batteryHomeKit } from "./battery/homekit.ts";
import { cameraHomeKit } from "./camera/homekit.ts";
import { volumeHomeKit } from "./volume/homekit.ts";
import { soundMachineHomeKit } from "./sound-machine/homekit.ts";
import { lightLevelHomeKit } from "./light-level/homekit.ts";
import { nightHomeKit } from "./night/homekit.ts";
import { alarmControlsHomeKit } from "./alarm-controls/homekit.ts";

export type { HomeKitBinding, HomeKitBoundCapability } from "./homekit-support.ts";

export const homekitBindings: { readonly [K in CapabilityName]?: HomeKitBinding<K> } = {
  fan: fanHomeKit,
  light: lightHomeKit,
  switches: switchesHomeKit,
  temperature: temperatureHomeKit,
  humidity: humidityHomeKit,
  motion: motionHomeKit,
  sound: soundHomeKit,
  cry: cryHomeKit,
  smokeAlarm: smokeAlarmHomeKit,
  coAlarm: coAlarmHomeKit,
  heatAlarm: heatAlarmHomeKit,
  leak: leakHomeKit,
  battery: batteryHomeKit,
  camera: cameraHomeKit,
  volume: volumeHomeKit,
  soundMachine: soundMachineHomeKit,
  lightLevel: lightLevelHomeKit,
  night: nightHomeKit,
  alarmControls: alarmControlsHomeKit,
};
