// The vendor-neutral device model. Drivers describe devices and report state in these terms;
// the HomeKit and Matter hosts render them through accessories/. Nothing here knows a vendor
// or an ecosystem.

import type { CameraCapability } from "./camera.ts";

/** A vendor module's id (src/core/vendor.ts): the config's `vendor` and the first part of device ids. */
export type Vendor = string;

/** What a fan can do. Speeds are percent 0-100; `speedSteps` lists the only speeds the model holds. */
export interface FanCapability {
  /** Ascending speed levels the device really holds (e.g. [20,35,50,65,80,100]); absent = continuous 1-100. */
  speedSteps?: number[];
  reversible: boolean;
  /** Breeze / "fresh air" / natural wind mode. */
  breeze: boolean;
}

export interface LightCapability {
  dimmable: boolean;
  /** Colour temperature presets in kelvin the light accepts; absent = not tunable. */
  colorTemperatureK?: number[];
  /** The light's own name when it is not the device's main purpose (a camera's "Night light"). */
  label?: string;
  /** The light takes a colour (hue and saturation). */
  color?: boolean;
}

/** A speaker's volume, 0-100 (a camera's speaker, which also plays its sound machine). */
export interface VolumeCapability {
  label: string;
}

/** One track a sound machine can play; `id` is stable (the vendor's file name). */
export interface SoundTrack {
  id: string;
  label: string;
}

/** A sound machine: on/off and one track at a time out of a list. */
export interface SoundMachineCapability {
  label: string;
  tracks: SoundTrack[];
}

/** A plain on/off control (night light, standby, home-away...). */
export interface SwitchCapability {
  /** Human label, e.g. "Home Away". */
  label: string;
  /** How ecosystems should show it: a plain switch (default) or a light (a night light is a lamp in
   * Apple Home and Matter, with the light icon, "turn off the lights" scenes and Siri). */
  presentAs?: "switch" | "light";
}

/** A safety alarm (smoke, CO, heat). */
export interface AlarmCapability {
  /** The device can run a self-test on request. */
  selfTest?: boolean;
  /** The alarm can be silenced (hushed) remotely. */
  mute?: boolean;
}

export interface CoAlarmCapability extends AlarmCapability {
  /** The device reports a CO concentration in ppm. */
  ppm: boolean;
  /** The device reports the highest CO concentration it measured (ppm). */
  peak?: boolean;
}

/** Momentary controls of a safety alarm that the owner turned on (they act on a real detector, so they are
 * opt-in): `hush` silences the sounding alarm, `selfTest` runs the detector's test. */
export interface AlarmControlsCapability {
  hush?: boolean;
  selfTest?: boolean;
}

export interface BatteryCapability {
  /** The device reports a percentage (otherwise only "low"). */
  level: boolean;
}

/** A sensor with nothing to configure (temperature, humidity, motion, sound, cry). */
export type SensorCapability = Record<string, never>;

/** The capabilities a device has. Keys are capability names; values describe their limits. */
export interface Capabilities {
  fan?: FanCapability;
  light?: LightCapability;
  /** Named switches: key = switch id (stable), value = its description. */
  switches?: Record<string, SwitchCapability>;
  smokeAlarm?: AlarmCapability;
  coAlarm?: CoAlarmCapability;
  heatAlarm?: AlarmCapability;
  /** A water leak sensor (state.leak). */
  leak?: SensorCapability;
  /** Opt-in momentary controls of the device's alarms (hush, self-test). */
  alarmControls?: AlarmControlsCapability;
  battery?: BatteryCapability;
  temperature?: SensorCapability;
  humidity?: SensorCapability;
  motion?: SensorCapability;
  sound?: SensorCapability;
  /** A baby camera's cry detection. */
  cry?: SensorCapability;
  /** Ambient light in lux. */
  lightLevel?: SensorCapability;
  /** The device's own day/night reading (true = night). */
  night?: SensorCapability;
  volume?: VolumeCapability;
  soundMachine?: SoundMachineCapability;
  /** A video source (see src/core/camera.ts); rendered by the hosts with src/media's help. */
  camera?: CameraCapability;
}

export type FanDirection = "forward" | "reverse";

export interface FanState {
  on: boolean;
  /** 0-100 percent. Kept when the fan is off (the speed it returns to). */
  speed: number;
  direction: FanDirection;
  breeze: boolean;
}

export interface LightState {
  on: boolean;
  /** 1-100 percent. */
  brightness: number;
  colorTemperatureK?: number;
  /** 0-360 degrees, for a light with `color`. */
  hue?: number;
  /** 0-100 percent, for a light with `color`. */
  saturation?: number;
}

export interface SoundMachineState {
  on: boolean;
  /** The track playing (or last played); a SoundTrack id. */
  track?: string;
}

export interface AlarmState {
  /** The alarm is sounding (smoke/heat detected, CO above the alarm threshold). */
  detected: boolean;
  /** Muted / hushed by the user while still detecting. */
  muted?: boolean;
  /** A self-test is running. */
  testing?: boolean;
}

export interface CoAlarmState extends AlarmState {
  ppm?: number;
  /** The highest concentration measured (ppm), when the device reports one. */
  peakPpm?: number;
}

export interface BatteryState {
  /** 0-100 percent, when the device reports it. */
  level?: number;
  low: boolean;
}

/** The state of every capability a device has. */
export interface DeviceState {
  fan?: FanState;
  light?: LightState;
  switches?: Record<string, boolean>;
  smokeAlarm?: AlarmState;
  coAlarm?: CoAlarmState;
  heatAlarm?: AlarmState;
  /** Water detected. */
  leak?: boolean;
  battery?: BatteryState;
  /** Degrees Celsius. */
  temperature?: number;
  /** Relative humidity percent. */
  humidity?: number;
  motion?: boolean;
  sound?: boolean;
  /** A baby is crying (a camera's cry detection). */
  cry?: boolean;
  /** Lux. */
  lightLevel?: number;
  /** True while the device reads night. */
  night?: boolean;
  /** 0-100 percent. */
  volume?: number;
  soundMachine?: SoundMachineState;
  /** The device reached its end of service life (replace it). */
  endOfLife?: boolean;
  /** Vendor error code or text when the device reports a fault, undefined when healthy. */
  fault?: string;
}

/** A partial update of DeviceState: what changed (pushes) or what to change (commands). */
export interface StatePatch {
  fan?: Partial<FanState>;
  light?: Partial<LightState>;
  switches?: Record<string, boolean>;
  smokeAlarm?: Partial<AlarmState>;
  coAlarm?: Partial<CoAlarmState>;
  heatAlarm?: Partial<AlarmState>;
  leak?: boolean;
  battery?: Partial<BatteryState>;
  temperature?: number;
  humidity?: number;
  motion?: boolean;
  sound?: boolean;
  cry?: boolean;
  lightLevel?: number;
  night?: boolean;
  volume?: number;
  soundMachine?: Partial<SoundMachineState>;
  endOfLife?: boolean;
  fault?: string | null;
}

/** Object-valued parts of the state, merged key by key. */
const OBJECT_PARTS = ["fan", "light", "smokeAlarm", "coAlarm", "heatAlarm", "battery", "soundMachine"] as const;
/** Scalar parts of the state, replaced whole. */
const SCALAR_PARTS = [
  "temperature",
  "humidity",
  "motion",
  "sound",
  "cry",
  "leak",
  "lightLevel",
  "night",
  "volume",
  "endOfLife",
] as const;

const EMPTY_PARTS: Record<(typeof OBJECT_PARTS)[number], object> = {
  fan: { on: false, speed: 0, direction: "forward", breeze: false },
  light: { on: false, brightness: 100 },
  smokeAlarm: { detected: false },
  coAlarm: { detected: false },
  heatAlarm: { detected: false },
  battery: { low: false },
  soundMachine: { on: false },
};

export interface DeviceInfo {
  /** Globally unique and stable: `<vendor>:<vendor device id>`. Never derived from the name. */
  id: string;
  vendor: Vendor;
  /** Which account (config `accounts[].name`) owns the device. */
  account: string;
  /** Product kind: selects the accessory definition in accessories/ (e.g. "ceiling-fan"). */
  kind: string;
  name: string;
  manufacturer: string;
  model: string;
  serialNumber: string;
  firmware?: string;
  /** The room the vendor's app puts the device in, when the vendor has rooms (the web page filters by it). */
  room?: string;
  capabilities: Capabilities;
}

/** One command to a device: the state it should reach. */
export type Command = StatePatch;

export function deviceId(vendor: Vendor, vendorDeviceId: string): string {
  return `${vendor}:${vendorDeviceId}`;
}

/** Merge a patch into a state, returning a new state object. */
export function applyPatch(state: DeviceState, patch: StatePatch): DeviceState {
  const next = { ...state } as Record<string, unknown>;
  const current = state as Record<string, unknown>;
  for (const key of OBJECT_PARTS) {
    if (patch[key]) next[key] = { ...((current[key] as object | undefined) ?? EMPTY_PARTS[key]), ...patch[key] };
  }
  for (const key of SCALAR_PARTS) if (patch[key] !== undefined) next[key] = patch[key];
  if (patch.switches) next.switches = { ...(state.switches ?? {}), ...patch.switches };
  if (patch.fault !== undefined) next.fault = patch.fault ?? undefined;
  return next as DeviceState;
}

/** Keep only the parts of a patch that differ from the state; undefined when nothing changes. */
export function diffPatch(state: DeviceState, patch: StatePatch): StatePatch | undefined {
  const out: Record<string, unknown> = {};
  const current = state as Record<string, unknown>;
  for (const key of OBJECT_PARTS) {
    const part = patch[key] as Record<string, unknown> | undefined;
    if (!part) continue;
    const before = (current[key] ?? {}) as Record<string, unknown>;
    const delta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(part)) if (v !== undefined && (before[k] !== v || !(k in before))) delta[k] = v;
    if (Object.keys(delta).length) out[key] = delta;
  }
  for (const key of SCALAR_PARTS) if (patch[key] !== undefined && patch[key] !== current[key]) out[key] = patch[key];
  if (patch.switches) {
    const delta: Record<string, boolean> = {};
    for (const [k, v] of Object.entries(patch.switches)) if (state.switches?.[k] !== v) delta[k] = v;
    if (Object.keys(delta).length) out.switches = delta;
  }
  if (patch.fault !== undefined && (patch.fault ?? undefined) !== state.fault) out.fault = patch.fault;
  return Object.keys(out).length ? (out as StatePatch) : undefined;
}

/** Snap a requested percent to the nearest level a stepped fan holds (0 stays 0). */
export function snapToStep(percent: number, steps: number[] | undefined): number {
  const clamped = Math.max(0, Math.min(100, Math.round(percent)));
  if (!steps?.length || clamped === 0) return clamped;
  let best = steps[0]!;
  for (const step of steps) if (Math.abs(step - clamped) < Math.abs(best - clamped)) best = step;
  return best;
}
