// Matter bindings by capability name. A binding renders one capability of one device as one or more
// Matter endpoints ("parts"); the host (src/matter) decides how a device's parts are composed under
// the bridge's aggregator, wires each part to its endpoint and forwards state changes.
import type { CapabilityName } from "./kinds.ts";
import type { MatterBinding } from "./matter-support.ts";
import { fanMatter } from "./fan/matter.ts";
import { lightMatter } from "./light/matter.ts";
import { switchMatter } from "./switch/matter.ts";
import { temperatureMatter } from "./temperature/matter.ts";
import { humidityMatter } from "./humidity/matter.ts";
import { motionMatter } from "./motion/matter.ts";
import { soundMatter } from "./sound/matter.ts";
import { cryMatter } from "./cry/matter.ts";
import { smokeCoAlarmMatter } from "./smoke-co-alarm/matter.ts";
import { batteryMatter } from "./battery/matter.ts";
import { volumeMatter } from "./volume/matter.ts";
import { soundMachineMatter } from "./sound-machine/matter.ts";
import { lightLevelMatter } from "./light-level/matter.ts";
import { nightMatter } from "./night/matter.ts";
import { leakMatter } from "./leak/matter.ts";
import { alarmControlsMatter } from "./alarm-controls/matter.ts";

export type { MatterBinding, MatterPart } from "./matter-support.ts";

// No `camera` entry: matter.js 0.17.9's camera device types are empty stubs (no WebRTC), so a
// camera's sensors and controls are its whole Matter side.
export const matterBindings: Partial<Record<CapabilityName, MatterBinding>> = {
  fan: fanMatter,
  light: lightMatter,
  switches: switchMatter,
  temperature: temperatureMatter,
  humidity: humidityMatter,
  motion: motionMatter,
  sound: soundMatter,
  cry: cryMatter,
  // One Smoke CO Alarm endpoint per detector, whichever alarms it has (accessories/smoke-co-alarm/matter.ts).
  smokeAlarm: smokeCoAlarmMatter.smokeAlarm,
  coAlarm: smokeCoAlarmMatter.coAlarm,
  heatAlarm: smokeCoAlarmMatter.heatAlarm,
  leak: leakMatter,
  battery: batteryMatter,
  volume: volumeMatter,
  soundMachine: soundMachineMatter,
  lightLevel: lightLevelMatter,
  night: nightMatter,
  alarmControls: alarmControlsMatter,
};
