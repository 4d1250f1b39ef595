// A light that takes a colour (hue and saturation) -> Extended Color Light (0x010D).
//
// Why this device type: Matter 1.x has no "Color Dimmable Light" (Zigbee HA's 0x0102 was not carried
// over); Extended Color Light is the only colour device type. Its ColorControl must have the XY and
// ColorTemperature features (device library §4.4); HueSaturation and EnhancedHue are optional and we
// add both, because Apple Home and Google Home send hue/saturation and the vendor speaks hue/saturation.
// The vendor light has no white channel, so a colour temperature is shown as the nearest hue/saturation
// (the Planckian point converted by matter.js's own helpers), and so is an XY colour.
//
// Every colour command becomes one {light: {hue, saturation}} command (degrees 0-360, percent 0-100,
// the model's units); the attributes change only once the vendor accepted. The values a controller
// asked for are kept while the device reports the same colour back (its report is rounded to whole
// degrees and percent), so a controller never sees its own command jitter. A colour changed elsewhere
// becomes the hue/saturation colour mode with XY derived from it. Transitions and continuous moves are
// not emulated (the vendor applies a colour at once): a hue or XY move jumps by one second's worth of
// its rate, a saturation or colour temperature move straight to the end of its range.
import { ColorControlServer, hsvToXy, miredsToHsv, xyToHsv } from "@matter/main/behaviors/color-control";
import { ColorControl } from "@matter/main/clusters/color-control";
import type { LightState } from "../../src/core/model.ts";
import { inCommand, sendCommand } from "../matter-support.ts";

const MAX_HUE = 254;
const MAX_ENHANCED_HUE = 0xffff;
const MAX_SATURATION = 254;
const MAX_XY = 0xfeff;
/** 6500 K to 2000 K: the colour temperatures offered, all inside matter.js's Planckian table. */
export const COLOR_LIGHT_MIN_MIREDS = 153;
export const COLOR_LIGHT_MAX_MIREDS = 500;

const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));
const wrapDegrees = (d: number): number => ((d % 360) + 360) % 360;

export const hueToDegrees = (hue: number): number => (clamp(hue, 0, MAX_HUE) * 360) / MAX_HUE;
export const degreesToHue = (deg: number): number => Math.round((wrapDegrees(deg) * MAX_HUE) / 360) % (MAX_HUE + 1);
export const enhancedHueToDegrees = (hue: number): number => (clamp(hue, 0, MAX_ENHANCED_HUE) * 360) / 65536;
export const degreesToEnhancedHue = (deg: number): number => Math.round((wrapDegrees(deg) * 65536) / 360) & 0xffff;
export const saturationToPercent = (s: number): number => (clamp(s, 0, MAX_SATURATION) * 100) / MAX_SATURATION;
export const percentToSaturation = (p: number): number => Math.round((clamp(p, 0, 100) * MAX_SATURATION) / 100);
const toXy = (v: number): number => clamp(Math.round(v * 65536), 0, MAX_XY);

interface Colour {
  hue: number; // degrees
  saturation: number; // percent
}

/** The ColorControl attributes that describe a hue/saturation colour (XY derived). */
export function colourAttributes(colour: Colour): Record<string, number> {
  const [x, y] = hsvToXy(wrapDegrees(colour.hue), clamp(colour.saturation, 0, 100) / 100);
  return {
    currentHue: degreesToHue(colour.hue),
    enhancedCurrentHue: degreesToEnhancedHue(colour.hue),
    currentSaturation: percentToSaturation(colour.saturation),
    currentX: toXy(x),
    currentY: toXy(y),
  };
}

/** The last colour a controller set on an endpoint, with the exact attributes it set. */
const requested = new WeakMap<object, { colour: Colour; attributes: Record<string, number> }>();

/** The ColorControl attributes to show for the device's reported light. */
export function colourState(endpoint: object | undefined, light: LightState | undefined): Record<string, number> {
  const colour = { hue: light?.hue ?? 0, saturation: light?.saturation ?? 0 };
  const asked = endpoint ? requested.get(endpoint) : undefined;
  // The device reports whole degrees and percent: within rounding it is the colour the controller set.
  if (
    asked &&
    Math.abs(asked.colour.hue - colour.hue) <= 0.5 &&
    Math.abs(asked.colour.saturation - colour.saturation) <= 0.5
  )
    return asked.attributes;
  if (endpoint) requested.delete(endpoint);
  return {
    colorMode: ColorControl.ColorMode.CurrentHueAndCurrentSaturation,
    enhancedColorMode: ColorControl.EnhancedColorMode.CurrentHueAndCurrentSaturation,
    ...colourAttributes(colour),
  };
}

/** Cluster state at construction for a colour light. */
export function colourInitial(light: LightState | undefined): Record<string, unknown> {
  return {
    ...colourState(undefined, light),
    colorTempPhysicalMinMireds: COLOR_LIGHT_MIN_MIREDS,
    colorTempPhysicalMaxMireds: COLOR_LIGHT_MAX_MIREDS,
    coupleColorTempToLevelMinMireds: COLOR_LIGHT_MIN_MIREDS,
    colorTemperatureMireds: 250,
    startUpColorTemperatureMireds: null,
  };
}

export class HearthColorLightControlServer extends ColorControlServer.with(
  "HueSaturation",
  "EnhancedHue",
  "Xy",
  "ColorTemperature",
) {
  /** The colour now shown, in the model's units. */
  #colour(): Colour {
    return { hue: hueToDegrees(this.state.currentHue), saturation: saturationToPercent(this.state.currentSaturation) };
  }

  /**
   * Ask the device for a colour; once accepted, show it: hue/saturation/XY derived from it, then the exact
   * values the controller gave (`exact`). The base command already set the colour mode.
   */
  async #apply(change: Partial<Colour>, exact: Record<string, number> = {}): Promise<void> {
    await inCommand(this.endpoint, async () => {
      await sendCommand(this.endpoint, { light: change });
      const colour = { ...this.#colour(), ...change };
      const attributes: Record<string, number> = {
        ...colourAttributes(colour),
        ...exact,
        colorMode: this.state.colorMode,
        enhancedColorMode: this.state.enhancedColorMode,
      };
      Object.assign(this.state, attributes);
      requested.set(this.endpoint, { colour, attributes });
    });
  }

  override moveToHueLogic(
    targetHue: number,
    _direction: ColorControl.Direction,
    _transitionTime: number,
    isEnhancedHue = false,
  ): Promise<void> {
    const hue = isEnhancedHue ? enhancedHueToDegrees(targetHue) : hueToDegrees(targetHue);
    const key = isEnhancedHue ? "enhancedCurrentHue" : "currentHue";
    return this.#apply({ hue }, { [key]: targetHue });
  }

  override moveToSaturationLogic(targetSaturation: number): Promise<void> {
    return this.#apply(
      { saturation: saturationToPercent(targetSaturation) },
      { currentSaturation: clamp(targetSaturation, 0, MAX_SATURATION) },
    );
  }

  override moveToHueAndSaturationLogic(targetHue: number, targetSaturation: number): Promise<void> {
    return this.#apply(
      { hue: hueToDegrees(targetHue), saturation: saturationToPercent(targetSaturation) },
      { currentHue: targetHue, currentSaturation: targetSaturation },
    );
  }

  override moveToEnhancedHueAndSaturationLogic(targetEnhancedHue: number, targetSaturation: number): Promise<void> {
    return this.#apply(
      { hue: enhancedHueToDegrees(targetEnhancedHue), saturation: saturationToPercent(targetSaturation) },
      { enhancedCurrentHue: targetEnhancedHue, currentSaturation: targetSaturation },
    );
  }

  override moveToColorLogic(targetX: number, targetY: number): Promise<void> {
    const [hue, saturation] = xyToHsv(targetX / 65536, targetY / 65536);
    return this.#apply({ hue, saturation: saturation * 100 }, { currentX: targetX, currentY: targetY });
  }

  override moveToColorTemperatureLogic(targetMireds: number): Promise<void> {
    const mireds = clamp(targetMireds, COLOR_LIGHT_MIN_MIREDS, COLOR_LIGHT_MAX_MIREDS);
    const [hue, saturation] = miredsToHsv(mireds) ?? [0, 0];
    return this.#apply({ hue, saturation: saturation * 100 }, { colorTemperatureMireds: mireds });
  }

  override moveHueLogic(moveMode: ColorControl.MoveMode, rate: number, isEnhancedHue = false): Promise<void> {
    const step = moveMode === ColorControl.MoveMode.Up ? ColorControl.StepMode.Up : ColorControl.StepMode.Down;
    return this.stepHueLogic(step, rate, 0, isEnhancedHue);
  }

  override stepHueLogic(
    stepMode: ColorControl.StepMode,
    stepSize: number,
    _transitionTime: number,
    isEnhancedHue = false,
  ): Promise<void> {
    const max = isEnhancedHue ? MAX_ENHANCED_HUE : MAX_HUE;
    const current = isEnhancedHue ? this.state.enhancedCurrentHue : this.state.currentHue;
    const delta = stepMode === ColorControl.StepMode.Up ? stepSize : -stepSize;
    const target = (((current + delta) % (max + 1)) + max + 1) % (max + 1);
    return this.moveToHueLogic(target, ColorControl.Direction.Shortest, 0, isEnhancedHue);
  }

  override moveSaturationLogic(moveMode: ColorControl.MoveMode): Promise<void> {
    return this.moveToSaturationLogic(moveMode === ColorControl.MoveMode.Up ? MAX_SATURATION : 0);
  }

  override stepSaturationLogic(stepMode: ColorControl.StepMode, stepSize: number): Promise<void> {
    const delta = stepMode === ColorControl.StepMode.Up ? stepSize : -stepSize;
    return this.moveToSaturationLogic(clamp(this.state.currentSaturation + delta, 0, MAX_SATURATION));
  }

  override moveColorLogic(rateX: number, rateY: number): Promise<void> {
    return this.stepColorLogic(rateX, rateY);
  }

  override stepColorLogic(stepX: number, stepY: number): Promise<void> {
    return this.moveToColorLogic(
      clamp(this.state.currentX + stepX, 0, MAX_XY),
      clamp(this.state.currentY + stepY, 0, MAX_XY),
    );
  }

  override moveColorTemperatureLogic(moveMode: ColorControl.MoveMode, _rate: number, min: number, max: number) {
    if (moveMode === ColorControl.MoveMode.Stop) return Promise.resolve();
    const up = moveMode === ColorControl.MoveMode.Up;
    return this.moveToColorTemperatureLogic(up ? max || COLOR_LIGHT_MAX_MIREDS : min || COLOR_LIGHT_MIN_MIREDS);
  }

  override stepColorTemperatureLogic(
    stepMode: ColorControl.StepMode,
    stepSize: number,
    _transitionTime: number,
    min: number,
    max: number,
  ): Promise<void> {
    const delta = stepMode === ColorControl.StepMode.Up ? stepSize : -stepSize;
    const lo = min || COLOR_LIGHT_MIN_MIREDS;
    const hi = max || COLOR_LIGHT_MAX_MIREDS;
    return this.moveToColorTemperatureLogic(clamp(this.state.colorTemperatureMireds + delta, lo, hi));
  }
}
