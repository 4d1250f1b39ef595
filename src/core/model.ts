// The vendor-neutral device model. Drivers describe devices and report state in these terms;
// the HomeKit and Matter hosts render them through accessories/. Nothing here knows a vendor
// or an ecosystem.

export type Vendor = "fansync" | "xsense" | "nanit";

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
}

/** A plain on/off control (night light, standby, home-away...). */
export interface SwitchCapability {
  /** Human label, e.g. "Home Away". */
  label: string;
}

/** The capabilities a device has. Keys are capability names; values describe their limits. */
export interface Capabilities {
  fan?: FanCapability;
  light?: LightCapability;
  /** Named switches: key = switch id (stable), value = its description. */
  switches?: Record<string, SwitchCapability>;
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
}

/** The state of every capability a device has. */
export interface DeviceState {
  fan?: FanState;
  light?: LightState;
  switches?: Record<string, boolean>;
  /** Vendor error code or text when the device reports a fault, undefined when healthy. */
  fault?: string;
}

/** A partial update of DeviceState: what changed (pushes) or what to change (commands). */
export interface StatePatch {
  fan?: Partial<FanState>;
  light?: Partial<LightState>;
  switches?: Record<string, boolean>;
  fault?: string | null;
}

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
  capabilities: Capabilities;
}

/** One command to a device: the state it should reach. */
export type Command = StatePatch;

export function deviceId(vendor: Vendor, vendorDeviceId: string): string {
  return `${vendor}:${vendorDeviceId}`;
}

/** Merge a patch into a state, returning a new state object. */
export function applyPatch(state: DeviceState, patch: StatePatch): DeviceState {
  const next: DeviceState = { ...state };
  if (patch.fan) next.fan = { ...(state.fan ?? { on: false, speed: 0, direction: "forward", breeze: false }), ...patch.fan };
  if (patch.light) next.light = { ...(state.light ?? { on: false, brightness: 100 }), ...patch.light };
  if (patch.switches) next.switches = { ...(state.switches ?? {}), ...patch.switches };
  if (patch.fault !== undefined) next.fault = patch.fault ?? undefined;
  return next;
}

/** Keep only the parts of a patch that differ from the state; undefined when nothing changes. */
export function diffPatch(state: DeviceState, patch: StatePatch): StatePatch | undefined {
  const out: StatePatch = {};
  let changed = false;
  for (const key of ["fan", "light"] as const) {
    const part = patch[key] as Record<string, unknown> | undefined;
    if (!part) continue;
    const current = (state[key] ?? {}) as Record<string, unknown>;
    const delta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(part)) {
      if (v !== undefined && current[k] !== v) delta[k] = v;
    }
    if (Object.keys(delta).length) {
      (out as Record<string, unknown>)[key] = delta;
      changed = true;
    }
  }
  if (patch.switches) {
    const delta: Record<string, boolean> = {};
    for (const [k, v] of Object.entries(patch.switches)) if (state.switches?.[k] !== v) delta[k] = v;
    if (Object.keys(delta).length) {
      out.switches = delta;
      changed = true;
    }
  }
  if (patch.fault !== undefined && (patch.fault ?? undefined) !== state.fault) {
    out.fault = patch.fault;
    changed = true;
  }
  return changed ? out : undefined;
}

/** Snap a requested percent to the nearest level a stepped fan holds (0 stays 0). */
export function snapToStep(percent: number, steps: number[] | undefined): number {
  const clamped = Math.max(0, Math.min(100, Math.round(percent)));
  if (!steps?.length || clamped === 0) return clamped;
  let best = steps[0]!;
  for (const step of steps) if (Math.abs(step - clamped) < Math.abs(best - clamped)) best = step;
  return best;
}
