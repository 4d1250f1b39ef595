// light -> OnOffLight (not dimmable), DimmableLight (OnOff + LevelControl) or ColorTemperatureLight
// (+ ColorControl with the ColorTemperature feature) when the model has colour temperature presets, or
// ExtendedColorLight when it takes a colour (accessories/light/matter-color.ts). The part id says the
// device type ("light", "light-color"): a stored endpoint is never reused for another device type.
//
// Level 1..254 <-> brightness 1..100 (linear, both ends map onto each other). Commands from the
// controller are sent to the device first and change the attributes only once the vendor accepted:
// moveToLevel / moveToLevelWithOnOff (-> {brightness} / {on, brightness}; WithOnOff to the minimum
// level -> {on:false}), step (computed target), move (straight to the end of the range: vendor lights
// have no continuous dimming), moveToColorTemperature (snapped to the nearest preset, in mireds).
// Transitions are not emulated: the vendor applies a level at once.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { ColorControlServer } from "@matter/main/behaviors/color-control";
import { LevelControlServer } from "@matter/main/behaviors/level-control";
import { ColorControl } from "@matter/main/clusters/color-control";
import { LevelControl } from "@matter/main/clusters/level-control";
import { ColorTemperatureLightDevice } from "@matter/main/devices/color-temperature-light";
import { DimmableLightDevice } from "@matter/main/devices/dimmable-light";
import { ExtendedColorLightDevice } from "@matter/main/devices/extended-color-light";
import { OnOffLightDevice } from "@matter/main/devices/on-off-light";
import type { DeviceState, LightCapability, LightState } from "../../src/core/model.ts";
import {
  bindCommands,
  bindOnOff,
  commandsIdle,
  HearthOnOffServer,
  inCommand,
  sendCommand,
  type MatterBinding,
  type MatterPart,
} from "../matter-support.ts";
import { typeWith } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";
import { colourInitial, colourState, HearthColorLightControlServer } from "./matter-color.ts";

export function brightnessToLevel(brightness: number): number {
  const b = Math.max(1, Math.min(100, Math.round(brightness)));
  return Math.round(1 + ((b - 1) * 253) / 99);
}

export function levelToBrightness(level: number): number {
  const l = Math.max(1, Math.min(254, Math.round(level)));
  return Math.round(1 + ((l - 1) * 99) / 253);
}

export function kelvinToMireds(kelvin: number): number {
  return Math.round(1_000_000 / kelvin);
}

/** The preset (kelvin) nearest to a requested colour temperature in mireds. */
export function nearestPresetK(mireds: number, presetsK: number[]): number {
  let best = presetsK[0]!;
  for (const k of presetsK)
    if (Math.abs(kelvinToMireds(k) - mireds) < Math.abs(kelvinToMireds(best) - mireds)) best = k;
  return best;
}

const presetsByEndpoint = new WeakMap<object, number[]>();
/** The last level a controller asked for, per endpoint (kept when the device confirms its brightness). */
const requestedLevels = new WeakMap<object, number>();

export class HearthLevelControlServer extends LevelControlServer.with("Lighting", "OnOff") {
  override async moveToLevelLogic(
    level: number,
    _transitionTime: number | null,
    withOnOff: boolean,
    options?: LevelControl.Options,
  ): Promise<void> {
    const light: Partial<LightState> =
      withOnOff && level <= this.minLevel
        ? { on: false }
        : { ...(withOnOff ? { on: true } : {}), brightness: levelToBrightness(level) };
    if (light.brightness !== undefined) requestedLevels.set(this.endpoint, level);
    await inCommand(this.endpoint, async () => {
      await sendCommand(this.endpoint, { light });
      await super.moveToLevelLogic(level, 0, withOnOff, options);
    });
  }

  override moveLogic(
    moveMode: LevelControl.MoveMode,
    _rate: number | null,
    withOnOff: boolean,
    options?: LevelControl.Options,
  ): Promise<void> {
    return this.moveToLevelLogic(
      moveMode === LevelControl.MoveMode.Up ? this.maxLevel : this.minLevel,
      0,
      withOnOff,
      options,
    );
  }

  override stepLogic(
    stepMode: LevelControl.StepMode,
    stepSize: number,
    _transitionTime: number | null,
    withOnOff: boolean,
    options?: LevelControl.Options,
  ): Promise<void> {
    const delta = stepMode === LevelControl.StepMode.Up ? stepSize : -stepSize;
    const target = Math.max(this.minLevel, Math.min(this.maxLevel, this.currentLevel + delta));
    return this.moveToLevelLogic(target, 0, withOnOff, options);
  }
}

export class HearthColorControlServer extends ColorControlServer.with("ColorTemperature") {
  override async moveToColorTemperatureLogic(targetMireds: number, _transitionTime: number): Promise<void> {
    const presets = presetsByEndpoint.get(this.endpoint);
    if (!presets?.length) return;
    const kelvin = nearestPresetK(targetMireds, presets);
    await inCommand(this.endpoint, async () => {
      await sendCommand(this.endpoint, { light: { colorTemperatureK: kelvin } });
      await super.moveToColorTemperatureLogic(kelvinToMireds(kelvin), 0);
    });
  }

  override moveColorTemperatureLogic(
    moveMode: ColorControl.MoveMode,
    _rate: number,
    min: number,
    max: number,
  ): Promise<void> {
    if (moveMode === ColorControl.MoveMode.Stop) return Promise.resolve();
    const lo = min || this.minimumColorTemperatureMireds;
    const hi = max || this.maximumColorTemperatureMireds;
    return this.moveToColorTemperatureLogic(moveMode === ColorControl.MoveMode.Up ? hi : lo, 0);
  }

  override stepColorTemperatureLogic(
    stepMode: ColorControl.StepMode,
    stepSize: number,
    _transitionTime: number,
    min: number,
    max: number,
  ): Promise<void> {
    const lo = min || this.minimumColorTemperatureMireds;
    const hi = max || this.maximumColorTemperatureMireds;
    const current = this.state.colorTemperatureMireds;
    const target = Math.max(
      lo,
      Math.min(hi, stepMode === ColorControl.StepMode.Up ? current + stepSize : current - stepSize),
    );
    return this.moveToColorTemperatureLogic(target, 0);
  }
}

function lightAttributes(
  light: LightState | undefined,
  cap: LightCapability,
  endpoint?: Endpoint,
): Record<string, unknown> {
  const attrs: Record<string, unknown> = { onOff: { onOff: !!light?.on } };
  if (cap.dimmable || cap.colorTemperatureK?.length || cap.color)
    attrs.levelControl = { currentLevel: brightnessToLevel(light?.brightness ?? 100) };
  const presets = cap.colorTemperatureK;
  if (cap.color) {
    attrs.colorControl = colourState(endpoint, light);
  } else if (presets?.length) {
    const kelvin = light?.colorTemperatureK ?? presets[Math.floor(presets.length / 2)]!;
    attrs.colorControl = { colorTemperatureMireds: kelvinToMireds(nearestPresetK(kelvinToMireds(kelvin), presets)) };
  }
  return attrs;
}

class LightPart implements MatterPart {
  readonly id: string;
  readonly label: string | undefined;
  readonly type: MutableEndpoint;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  readonly #cap: LightCapability;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext, cap: LightCapability) {
    this.#ctx = ctx;
    this.#cap = cap;
    this.label = cap.label;
    const presets = cap.colorTemperatureK;
    const initial = lightAttributes(ctx.entry.state.light, cap);
    this.id = cap.color ? "light-color" : "light";
    if (cap.color) {
      // Colour wins over presets: no vendor light has both (a colour temperature becomes a hue/saturation).
      this.type = typeWith(
        ExtendedColorLightDevice,
        HearthOnOffServer,
        HearthLevelControlServer,
        HearthColorLightControlServer,
      );
      initial.colorControl = colourInitial(ctx.entry.state.light);
    } else if (presets?.length) {
      this.type = typeWith(
        ColorTemperatureLightDevice,
        HearthOnOffServer,
        HearthLevelControlServer,
        HearthColorControlServer,
      );
      const mireds = presets.map(kelvinToMireds);
      const min = Math.min(...mireds);
      const max = Math.max(...mireds);
      initial.colorControl = {
        ...(initial.colorControl as object),
        colorMode: ColorControl.ColorMode.ColorTemperatureMireds,
        enhancedColorMode: ColorControl.EnhancedColorMode.ColorTemperatureMireds,
        colorTempPhysicalMinMireds: min,
        colorTempPhysicalMaxMireds: max,
        coupleColorTempToLevelMinMireds: min,
        startUpColorTemperatureMireds: null,
      };
    } else if (cap.dimmable) {
      this.type = typeWith(DimmableLightDevice, HearthOnOffServer, HearthLevelControlServer);
    } else {
      this.type = typeWith(OnOffLightDevice, HearthOnOffServer);
    }
    if (initial.levelControl)
      initial.levelControl = { ...(initial.levelControl as object), minLevel: 1, maxLevel: 254, onLevel: null };
    this.initial = initial;
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    bindCommands(endpoint, (patch, options) => this.#ctx.command(patch, options));
    bindOnOff(endpoint, (on) => ({ light: { on } }));
    if (this.#cap.colorTemperatureK?.length && !this.#cap.color)
      presetsByEndpoint.set(endpoint, this.#cap.colorTemperatureK);
    await this.update(this.#ctx.entry.state);
  }

  async update(reported: DeviceState): Promise<void> {
    const endpoint = this.#endpoint;
    if (!endpoint) return;
    await commandsIdle(endpoint);
    // A command may have finished meanwhile: render the newest state.
    const state = this.#ctx.entry.state ?? reported;
    const attrs = lightAttributes(state.light, this.#cap, endpoint);
    // Brightness has 100 steps and level 254: keep the level a controller chose when it means the
    // device's brightness (no 127 -> 50 % -> 126 jitter).
    const requested = requestedLevels.get(endpoint);
    if (
      attrs.levelControl &&
      requested !== undefined &&
      state.light &&
      levelToBrightness(requested) === Math.round(state.light.brightness)
    ) {
      attrs.levelControl = { currentLevel: requested };
    }
    await endpoint.set(attrs as never);
  }
}

export const lightMatter: MatterBinding = {
  capability: "light",
  parts(ctx) {
    const cap = ctx.entry.info.capabilities.light;
    return cap ? [new LightPart(ctx, cap)] : [];
  },
};
