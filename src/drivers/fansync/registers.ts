// Register <-> core state mapping and the write rules (docs/protocols/fansync.md §5.3, §6.4). Pure
// functions: no I/O, no clock. `current` is always the last device-REPORTED register map with any
// assumed (unreported) power values laid over it.
import type { Command, DeviceState, FanState, LightState, StatePatch } from "../../core/model.ts";
import type { FanSyncTraits } from "./capabilities.ts";

export type Registers = Record<string, number>;

/** H0E error codes (identical in every family of the info-model). */
export const H0E_CODES: Record<number, string> = {
  250: "Parameter error",
  251: "Parameter length error",
  252: "Memory allocate failed",
  253: "Send error",
  254: "Unknown commands",
  255: "Unknown fields",
  256: "Too many entries",
  257: "Under voltage",
  258: "Over voltage",
  259: "Over current",
  260: "Under speed",
  261: "Over speed",
  262: "Stalled fault",
  263: "Open phase fault",
  264: "Chase max speed",
  265: "Over temperature",
  266: "EEPROM error",
  267: "Remote control did not learn",
  268: "Driver IC not response",
  269: "ACZ abnormal",
};

/** The fault text for an H0E value; undefined when healthy (0 or absent). */
export function faultText(code: number | undefined): string | undefined {
  if (code === undefined || code === 0) return undefined;
  return `${H0E_CODES[code] ?? "Unknown error"} (code ${code})`;
}

/** True when every value is an integer: the only register maps the driver accepts from the wire. */
export function isRegisterMap(value: unknown): value is Registers {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  return Object.values(value).every((v) => Number.isInteger(v));
}

/** The full core state of a device from its registers. */
export function registersToState(regs: Registers, traits: FanSyncTraits): DeviceState {
  const caps = traits.capabilities;
  const state: DeviceState = {};
  if (traits.lightOnly && caps.light) {
    // A light-only module: H00 is the light's power, H02 its dimmer (§5.3).
    state.light = { on: regs.H00 === 1, brightness: caps.light.dimmable ? clamp(regs.H02 ?? 100, 1, 100) : 100 };
  }
  if (caps.fan) {
    const fan: FanState = {
      on: regs.H00 === 1,
      // A device reports 0-100; anything else (a broken report) must not reach the hosts as a percent.
      speed: clamp(regs.H02 ?? 0, 0, 100),
      direction: regs.H06 === 1 ? "reverse" : "forward",
      breeze: regs.H01 === 1,
    };
    state.fan = fan;
  }
  if (caps.light && !traits.lightOnly) {
    const light: LightState = {
      on: regs.H0B === 1,
      brightness: caps.light.dimmable ? clamp(regs.H0C ?? 100, 1, 100) : 100,
    };
    if (caps.light.colorTemperatureK && regs.H04 !== undefined && caps.light.colorTemperatureK.includes(regs.H04))
      light.colorTemperatureK = regs.H04;
    state.light = light;
  }
  if (caps.switches?.homeAway) state.switches = { homeAway: regs.H0D === 1 };
  const fault = faultText(regs.H0E);
  if (fault) state.fault = fault;
  return state;
}

/** A patch that sets every field of the state (used for pushes and polls; patches may repeat values). */
export function registersToPatch(regs: Registers, traits: FanSyncTraits): StatePatch {
  const state = registersToState(regs, traits);
  const patch: StatePatch = { fault: state.fault ?? null };
  if (state.fan) patch.fan = state.fan;
  if (state.light) patch.light = state.light;
  if (state.switches) patch.switches = state.switches;
  return patch;
}

function clamp(n: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.round(n)));
}

/** A requested fan speed (1-100) as the device should be asked for it: stepped models get the nearest level. */
export function speedForWrite(percent: number, steps: number[] | undefined): number {
  const n = clamp(percent, 1, 100);
  if (!steps?.length) return n;
  let best = steps[0]!;
  for (const s of steps) if (Math.abs(s - n) < Math.abs(best - n)) best = s;
  return best;
}

export function nearestPreset(kelvin: number, presets: number[]): number {
  let best = presets[0]!;
  for (const p of presets) if (Math.abs(p - kelvin) < Math.abs(best - kelvin)) best = p;
  return best;
}

/** The light's registers: on a fan's light kit, and on a light-only module (§5.3). */
const FAN_LIGHT_REGISTERS = { power: "H0B", dimmer: "H0C" } as const;
const LIGHT_ONLY_REGISTERS = { power: "H00", dimmer: "H02" } as const;

/**
 * The `set` payloads (in order) that carry out a command, following docs/protocols/fansync.md §6.4:
 * - power off is {H00:0} alone, whatever else the command asks of the fan;
 * - power on carries the speed: {H00:1,H02:<requested or current>};
 * - only registers that differ from `current` are written; nothing that could start or stop the fan
 *   as a side effect is added;
 * - a speed write adds H01:0 only when H01 is not already 0 (leaving breeze);
 * - direction is H06 0/1, or H06 2 (toggle) on AC/universal receivers;
 * - light: H0B, H0C 1..100, H04 preset (light-only modules: H00 and H02); Home Away: {H0D:x} alone.
 * Fan, light and switch changes go in separate writes.
 */
export function planWrites(current: Registers, traits: FanSyncTraits, command: Command): Registers[] {
  const caps = traits.capabilities;
  const writes: Registers[] = [];
  const lightRegs = traits.lightOnly ? LIGHT_ONLY_REGISTERS : FAN_LIGHT_REGISTERS;
  const fan = command.fan;
  if (fan && caps.fan) {
    const isOn = current.H00 === 1;
    const wantOn = fan.speed !== undefined && fan.speed <= 0 ? false : fan.on;
    const speed = fan.speed !== undefined && fan.speed > 0 ? speedForWrite(fan.speed, caps.fan.speedSteps) : undefined;
    if (wantOn === false) {
      if (isOn) writes.push({ H00: 0 });
    } else {
      const w: Registers = {};
      if (wantOn === true && !isOn) {
        w.H00 = 1;
        const cur = current.H02 !== undefined && current.H02 > 0 ? current.H02 : 50;
        w.H02 = speed ?? speedForWrite(cur, caps.fan.speedSteps);
      } else if (speed !== undefined && speed !== current.H02) {
        w.H02 = speed;
      }
      if (fan.breeze !== undefined && caps.fan.breeze) {
        const want = fan.breeze ? 1 : 0;
        if (want !== current.H01) w.H01 = want;
      } else if (speed !== undefined && w.H02 !== undefined && current.H01 !== undefined && current.H01 !== 0) {
        w.H01 = 0;
      }
      if (fan.direction !== undefined && caps.fan.reversible) {
        const want = fan.direction === "reverse" ? 1 : 0;
        const cur = current.H06 === 1 ? 1 : 0;
        if (want !== cur) w.H06 = traits.directionToggle ? 2 : want;
      }
      if (Object.keys(w).length) writes.push(w);
    }
  }
  const light = command.light;
  if (light && caps.light) {
    const { power, dimmer } = lightRegs;
    const isOn = current[power] === 1;
    const wantOn = light.brightness !== undefined && light.brightness <= 0 ? false : light.on;
    const w: Registers = {};
    if (wantOn === false) {
      if (isOn) w[power] = 0;
    } else {
      if (wantOn === true && !isOn) w[power] = 1;
      if (light.brightness !== undefined && light.brightness > 0 && caps.light.dimmable) {
        const b = clamp(light.brightness, 1, 100);
        if (b !== current[dimmer]) w[dimmer] = b;
      }
      const presets = traits.lightOnly ? undefined : caps.light.colorTemperatureK;
      if (light.colorTemperatureK !== undefined && presets?.length) {
        const p = nearestPreset(light.colorTemperatureK, presets);
        if (p !== current.H04) w.H04 = p;
      }
    }
    if (Object.keys(w).length) writes.push(w);
  }
  const away = command.switches?.homeAway;
  if (away !== undefined && caps.switches?.homeAway) {
    const want = away ? 1 : 0;
    if (want !== current.H0D) writes.push({ H0D: want });
  }
  return writes;
}

/** Registers whose unreported writes are assumed (power only; speed, brightness, colour never). */
export const ASSUMABLE = ["H00", "H0B"] as const;

/** The register a write may leave as assumed state: only a write of exactly one power register. */
export function assumableRegister(write: Registers): "H00" | "H0B" | undefined {
  const keys = Object.keys(write);
  if (keys.length !== 1) return undefined;
  const k = keys[0];
  return k === "H00" || k === "H0B" ? k : undefined;
}
