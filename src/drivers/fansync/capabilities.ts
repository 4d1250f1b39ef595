// Capability detection for FanSync devices (docs/protocols/fansync.md §5.5). The 2023 info-model does
// not cover current hardware, so detection works from the model name, the registers a device
// reports, the owner-set `hideLightDimmer` / `hideFanDirection` hints, the config's per-device
// overrides and the speed steps learned from what an unknown model reports back (learned-steps.ts).
import type { Capabilities } from "../../core/model.ts";
import type { Registers } from "./registers.ts";

export const KUTE60_STEPS = [20, 35, 50, 65, 80, 100];
export const THREE_SPEED_STEPS = [33, 66, 100];
export const CCT_PRESETS = [3000, 4000, 5000];
export const CORKE_CCT_PRESETS = [2700, 3000, 3500, 4000, 5000];

/** 3-speed AC families of the 2023 info-model (FDR0 shares the 3-speed model with FAR0). */
const THREE_SPEED_FAMILIES = [/-FDR0L\d$/i, /-FAR0L\d$/i, /-FAR1L\d$/i, /-UAR1L\d$/i];
/** Light-only modules of the 2023 info-model: LIGHT-L1 (on/off) and LIGHT-L2 (dimmer). */
const LIGHT_ONLY_ON_OFF = /-L1$/i;
const LIGHT_ONLY_DIMMER = /-L2$/i;

/** The config's per-device corrections for devices that report wrongly (README "FanSync notes"). */
export interface DeviceOverride {
  /** false: no light even though light registers are reported; true: a light despite `hideLightDimmer`. */
  light?: boolean | undefined;
  /** false: not reversible although H06 is reported; true: reversible despite `hideFanDirection`. */
  direction?: boolean | undefined;
  /** The speeds the fan holds, replacing what the model name or learning says. */
  speedSteps?: number[] | undefined;
}

/** What the driver needs to know about a device beyond the vendor-neutral capabilities. */
export interface FanSyncTraits {
  capabilities: Capabilities;
  /** AC / universal receivers: direction is changed by writing H06 = 2 (toggle). */
  directionToggle: boolean;
  /** The model's colour temperature presets (whether or not the light is tunable). */
  cctPresets: number[];
  /** A light-only module: H00 is the light's power and H02 its dimmer (no fan). */
  lightOnly: boolean;
}

/** What detection takes besides the device's own report. */
export interface DetectionExtras {
  /** `profile.esh.device_id` of the `get` answer ("F" fan, "L" light). */
  deviceClass?: string | undefined;
  override?: DeviceOverride | undefined;
  /** Speed steps learned for this model (unknown models only). */
  learnedSteps?: number[] | undefined;
}

export function speedStepsFor(model: string): number[] | undefined {
  if (/^kute60/i.test(model)) return [...KUTE60_STEPS];
  if (THREE_SPEED_FAMILIES.some((r) => r.test(model))) return [...THREE_SPEED_STEPS];
  return undefined;
}

export function cctPresetsFor(model: string): number[] {
  return /^corke/i.test(model) ? [...CORKE_CCT_PRESETS] : [...CCT_PRESETS];
}

/** A light-only module by model suffix (LIGHT-L1/L2) or by `esh.device_id` "L". */
export function isLightOnly(model: string, deviceClass: string | undefined): boolean {
  return deviceClass === "L" || LIGHT_ONLY_ON_OFF.test(model) || LIGHT_ONLY_DIMMER.test(model);
}

/** Sorted, unique, 1-100: a step list from the config or the learned store. */
export function normaliseSteps(steps: readonly number[] | undefined): number[] | undefined {
  const clean = [...new Set((steps ?? []).filter((s) => Number.isInteger(s) && s >= 1 && s <= 100))];
  return clean.length ? clean.sort((a, b) => a - b) : undefined;
}

/**
 * Detect what a device can do. `previous` keeps colour temperature once detected: it is never
 * withdrawn on one odd H04 reading (T-CONST-NEW). An override beats a hint, which beats a register.
 */
export function detectTraits(
  model: string,
  status: Registers,
  properties: Record<string, unknown>,
  previous?: FanSyncTraits,
  extras: DetectionExtras = {},
): FanSyncTraits {
  const has = (k: string): boolean => Object.hasOwn(status, k);
  const override = extras.override ?? {};
  const presets = cctPresetsFor(model);
  if (isLightOnly(model, extras.deviceClass)) {
    // H00 is the light; H02 its dimmer on LIGHT-L2 (an L1 has none, whatever it reports).
    const dimmable = !LIGHT_ONLY_ON_OFF.test(model) && has("H02");
    const capabilities: Capabilities = { light: { dimmable } };
    if (has("H0D")) capabilities.switches = { homeAway: { label: "Home Away" } };
    return { capabilities, directionToggle: false, cctPresets: presets, lightOnly: true };
  }
  const steps = normaliseSteps(override.speedSteps) ?? speedStepsFor(model) ?? normaliseSteps(extras.learnedSteps);
  const reversible = override.direction ?? properties.hideFanDirection !== true;
  const capabilities: Capabilities = {
    fan: {
      ...(steps ? { speedSteps: steps } : {}),
      reversible: has("H06") && reversible,
      breeze: has("H01"),
    },
  };
  const showLight = override.light ?? properties.hideLightDimmer !== true;
  if ((has("H0B") || has("H0C")) && showLight) {
    const tunable =
      (has("H04") && presets.includes(status.H04!)) || previous?.capabilities.light?.colorTemperatureK !== undefined;
    capabilities.light = { dimmable: has("H0C"), ...(tunable ? { colorTemperatureK: presets } : {}) };
  }
  if (has("H0D")) capabilities.switches = { homeAway: { label: "Home Away" } };
  return {
    capabilities,
    directionToggle: THREE_SPEED_FAMILIES.some((r) => r.test(model)),
    cctPresets: presets,
    lightOnly: false,
  };
}

/** The override for a device: by vendor device id, else by its display name. */
export function overrideFor(
  overrides: Record<string, DeviceOverride> | undefined,
  vid: string,
  displayName: unknown,
): DeviceOverride | undefined {
  if (!overrides) return undefined;
  if (Object.hasOwn(overrides, vid)) return overrides[vid];
  const name = typeof displayName === "string" ? displayName.trim() : "";
  return name && Object.hasOwn(overrides, name) ? overrides[name] : undefined;
}

/** Whether the model's steps are unknown, so they may be learned from its reports. */
export function stepsUnknown(model: string, override: DeviceOverride | undefined): boolean {
  return !override?.speedSteps?.length && !speedStepsFor(model);
}
