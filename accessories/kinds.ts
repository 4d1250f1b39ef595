// Product kinds as data: which capabilities a kind shows, in which order, and how each ecosystem
// should present the whole accessory. A new model of a known kind needs nothing here; a new kind
// is one entry. The hosts look a device's `kind` up in this table and render each capability
// through the bindings in accessories/<capability>/.
import type { Capabilities } from "../src/core/model.ts";

export type CapabilityName = keyof Capabilities;

export interface AccessoryKind {
  /** Matches DeviceInfo.kind. */
  kind: string;
  /** HomeKit accessory category (the icon shown while pairing); a name from HAP's Categories enum. */
  homekitCategory: "FAN" | "LIGHTBULB" | "SENSOR" | "SWITCH" | "IP_CAMERA" | "BRIDGE" | "OTHER";
  /** Capabilities rendered, in order; the first present one is the primary service. */
  capabilities: CapabilityName[];
}

export const accessoryKinds: Record<string, AccessoryKind> = {
  "ceiling-fan": { kind: "ceiling-fan", homekitCategory: "FAN", capabilities: ["fan", "light", "switches"] },
  light: { kind: "light", homekitCategory: "LIGHTBULB", capabilities: ["light", "switches"] },
  "smoke-alarm": {
    kind: "smoke-alarm",
    homekitCategory: "SENSOR",
    capabilities: ["smokeAlarm", "heatAlarm", "battery", "alarmControls"],
  },
  "co-alarm": { kind: "co-alarm", homekitCategory: "SENSOR", capabilities: ["coAlarm", "battery", "alarmControls"] },
  "combo-alarm": {
    kind: "combo-alarm",
    homekitCategory: "SENSOR",
    capabilities: ["smokeAlarm", "coAlarm", "heatAlarm", "battery", "alarmControls"],
  },
  "heat-alarm": {
    kind: "heat-alarm",
    homekitCategory: "SENSOR",
    capabilities: ["heatAlarm", "battery", "alarmControls"],
  },
  // Hears other alarms sound (smoke or CO pattern) and reports which.
  "alarm-listener": {
    kind: "alarm-listener",
    homekitCategory: "SENSOR",
    capabilities: ["smokeAlarm", "coAlarm", "battery", "alarmControls"],
  },
  "leak-sensor": { kind: "leak-sensor", homekitCategory: "SENSOR", capabilities: ["leak", "battery"] },
  "climate-sensor": {
    kind: "climate-sensor",
    homekitCategory: "SENSOR",
    capabilities: ["temperature", "humidity", "battery"],
  },
  "sound-light-machine": {
    kind: "sound-light-machine",
    homekitCategory: "LIGHTBULB",
    capabilities: ["light", "volume", "soundMachine", "temperature", "humidity"],
  },
  "baby-camera": {
    kind: "baby-camera",
    homekitCategory: "IP_CAMERA",
    capabilities: [
      "camera",
      "temperature",
      "humidity",
      "motion",
      "sound",
      "cry",
      "lightLevel",
      "night",
      "light",
      "volume",
      "soundMachine",
      "switches",
    ],
  },
};

const ALL_CAPABILITIES: CapabilityName[] = [
  "camera",
  "fan",
  "light",
  "smokeAlarm",
  "coAlarm",
  "heatAlarm",
  "leak",
  "temperature",
  "humidity",
  "motion",
  "sound",
  "cry",
  "battery",
  "lightLevel",
  "night",
  "volume",
  "soundMachine",
  "switches",
  "alarmControls",
];

export function kindOf(kind: string): AccessoryKind {
  // An unknown kind still renders every capability the device has rather than nothing.
  return accessoryKinds[kind] ?? { kind, homekitCategory: "OTHER", capabilities: ALL_CAPABILITIES };
}
