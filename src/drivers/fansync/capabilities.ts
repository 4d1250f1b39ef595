// Capability detection for FanSync devices (docs/protocols/fansync.md §5.5). The 2023 info-model does
// not cover current hardware, so detection works from the model name, the registers a device
// reports, and the owner-set `hideLightDimmer` / `hideFanDirection` hints.
import type { Capabilities } from "../../core/model.ts";
import type { Registers } from "./registers.ts";

export const KUTE60_STEPS = [20, 35, 50, 65, 80, 100];
export const THREE_SPEED_STEPS = [33, 66, 100];
export const CCT_PRESETS = [3000, 4000, 5000];
export const CORKE_CCT_PRESETS = [2700, 3000, 3500, 4000, 5000];

/** 3-speed AC families of the 2023 info-model (FDR0 shares the 3-speed model with FAR0). */
const THREE_SPEED_FAMILIES = [/-FDR0L\d$/i, /-FAR0L\d$/i, /-FAR1L\d$/i, /-UAR1L\d$/i];

/** What the driver needs to know about a device beyond the vendor-neutral capabilities. */
export interface FanSyncTraits {
  capabilities: Capabilities;
  /** AC / universal receivers: direction is changed by writing H06 = 2 (toggle). */
  directionToggle: boolean;
  /** The model's colour temperature presets (whether or not the light is tunable). */
  cctPresets: number[];
}

export function speedStepsFor(model: string): number[] | undefined {
  if (/^kute60/i.test(model)) return [...KUTE60_STEPS];
  if (THREE_SPEED_FAMILIES.some((r) => r.test(model))) return [...THREE_SPEED_STEPS];
  return undefined;
}

export function cctPresetsFor(model: string): number[] {
  return /^corke/i.test(model) ? [...CORKE_CCT_PRESETS] : [...CCT_PRESETS];
}

/**
 * Detect what a device can do. `previous` keeps colour temperature once detected: it is never
 * withdrawn on one odd H04 reading (T-CONST-NEW).
 */
export function detectTraits(
  model: string,
  status: Registers,
  properties: Record<string, unknown>,
  previous?: FanSyncTraits,
): FanSyncTraits {
  const has = (k: string): boolean => Object.hasOwn(status, k);
  const presets = cctPresetsFor(model);
  const steps = speedStepsFor(model);
  const capabilities: Capabilities = {
    fan: {
      ...(steps ? { speedSteps: steps } : {}),
      reversible: has("H06") && properties.hideFanDirection !== true,
      breeze: has("H01"),
    },
  };
  if ((has("H0B") || has("H0C")) && properties.hideLightDimmer !== true) {
    const tunable =
      (has("H04") && presets.includes(status.H04!)) || previous?.capabilities.light?.colorTemperatureK !== undefined;
    capabilities.light = { dimmable: has("H0C"), ...(tunable ? { colorTemperatureK: presets } : {}) };
  }
  if (has("H0D")) capabilities.switches = { homeAway: { label: "Home Away" } };
  return { capabilities, directionToggle: THREE_SPEED_FAMILIES.some((r) => r.test(model)), cctPresets: presets };
}
