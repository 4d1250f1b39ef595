// Matter bindings by capability name. A binding renders one capability of one device as one or more
// Matter endpoints ("parts"); the host (src/matter) decides how a device's parts are composed under
// the bridge's aggregator, wires each part to its endpoint and forwards state changes.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import type { CapabilityName } from "./kinds.ts";
import type { BindingContext, BoundCapability } from "./types.ts";
import { fanMatter } from "./fan/matter.ts";
import { lightMatter } from "./light/matter.ts";
import { switchMatter } from "./switch/matter.ts";
import { temperatureMatter } from "./temperature/matter.ts";
import { humidityMatter } from "./humidity/matter.ts";
import { motionMatter } from "./motion/matter.ts";
import { soundMatter } from "./sound/matter.ts";
import { smokeAlarmMatter } from "./smoke-alarm/matter.ts";
import { coAlarmMatter } from "./co-alarm/matter.ts";
import { heatAlarmMatter } from "./heat-alarm/matter.ts";
import { batteryMatter } from "./battery/matter.ts";

/** One endpoint of a rendered capability. */
export interface MatterPart extends BoundCapability {
  /** Stable suffix for the endpoint id ("fan", "light", "switch-nightLight"). Must never change for a
   * device: matter.js keys stored endpoint numbers and attribute values by id. */
  readonly id: string;
  /** Device type plus our behaviors (without BridgedDeviceBasicInformation: the host adds it when flat). */
  readonly type: MutableEndpoint;
  /** Cluster state at construction. Values stored from an earlier run win over these, so the live
   * state is pushed again in attach(). */
  readonly initial: Record<string, unknown>;
  /** The endpoint is installed in the node: route its commands and push the live device state. */
  attach(endpoint: Endpoint): Promise<void>;
}

export interface MatterBinding {
  readonly capability: CapabilityName;
  /** The parts for this device, empty when the device lacks the capability. */
  parts(ctx: BindingContext): MatterPart[];
}

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
  smokeAlarm: smokeAlarmMatter,
  coAlarm: coAlarmMatter,
  heatAlarm: heatAlarmMatter,
  battery: batteryMatter,
};
