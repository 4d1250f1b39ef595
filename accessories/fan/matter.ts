// fan -> Matter Fan device (FanControl cluster).
//
// Features: MultiSpeed when the model has fixed speed steps (speedMax = number of steps), Step (the
// step command), AirflowDirection when the fan is reversible, Wind (natural wind) for breeze mode.
// fanModeSequence is Off/Low/Med/High (no Auto: no vendor fan here has one).
//
// matter.js's FanControlServer has no spec logic, so the coupling of the speed attributes (Matter
// 1.3 §4.4.6 "Percent Rules" / "Speed Rules") lives here, in $Changed reactors that run offline
// (derived attributes are written after the controller's write committed, never in $Changing, where
// writing them would make matter.js reject the controller's write):
// - percentSetting written: snapped to the model's steps; 0 -> fanMode Off, else fanMode Low/Medium/
//   High by thirds of the range (<=33, <=66, >66); speedSetting follows. Command {fan:{on,speed}}.
//   A write of null is undone (the spec says a null write leaves the value unchanged).
// - speedSetting written (MultiSpeed): step n -> percent of step n, then as above.
// - fanMode written: Off -> percent 0 and {on:false}; Low/Medium/High -> a representative speed
//   (continuous fans 33/66/100, stepped fans the lowest/middle/highest step); On -> the speed the fan
//   was last running at (the vendor keeps it while off), High when there is none. Auto/Smart are not
//   in the sequence: matter.js already answers CONSTRAINT_ERROR (the Auto feature is off); should
//   one slip through, the reactor puts the old mode back and sends nothing.
// - percentCurrent/speedCurrent only follow the device (update()), never a write.
// Commands are sent without holding the reactor's transaction; when the vendor refuses, the
// attributes are put back to the device's state. Device updates are written offline, and the
// reactors ignore offline changes, so nothing is echoed back to the driver.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { FanControlServer } from "@matter/main/behaviors/fan-control";
import { FanControl } from "@matter/main/clusters/fan-control";
import { FanDevice } from "@matter/main/devices/fan";
import { snapToStep, type DeviceState, type FanCapability, type FanState } from "../../src/core/model.ts";
import { bindCommands, sendCommand, type MatterBinding, type MatterPart } from "../matter-support.ts";
import type { BindingContext } from "../types.ts";

type FanFeature = "MultiSpeed" | "Step" | "AirflowDirection" | "Wind";

interface FanLink {
  steps: number[] | undefined;
  /** The speed the device holds (also while off). */
  lastSpeed(): number;
  /** Put the attributes back to the device's state (after a refused command). */
  resync(): void;
}
const links = new WeakMap<object, FanLink>();

/** Fan mode for a percent (0 = Off). */
export function fanModeFor(percent: number): FanControl.FanMode {
  if (percent <= 0) return FanControl.FanMode.Off;
  if (percent <= 33) return FanControl.FanMode.Low;
  if (percent <= 66) return FanControl.FanMode.Medium;
  return FanControl.FanMode.High;
}

/** The speed a fan mode write asks for (0 = off), per the rules in the header. */
export function percentForMode(mode: FanControl.FanMode, steps: number[] | undefined, lastSpeed: number): number | undefined {
  const levels = steps?.length ? steps : undefined;
  switch (mode) {
    case FanControl.FanMode.Off:
      return 0;
    case FanControl.FanMode.Low:
      return levels ? levels[0]! : 33;
    case FanControl.FanMode.Medium:
      return levels ? levels[Math.floor((levels.length - 1) / 2)]! : 66;
    case FanControl.FanMode.High:
      return levels ? levels[levels.length - 1]! : 100;
    case FanControl.FanMode.On:
      return lastSpeed > 0 ? snapToStep(lastSpeed, steps) : levels ? levels[levels.length - 1]! : 100;
    default:
      return undefined;
  }
}

/** MultiSpeed step number (1..n, 0 = off) for a percent on a stepped fan. */
function speedIndex(percent: number, steps: number[]): number {
  if (percent <= 0) return 0;
  return steps.indexOf(snapToStep(percent, steps)) + 1;
}

/** Levels the Step command walks through: the model's steps, or 10 % increments. */
function stepLevels(steps: number[] | undefined): number[] {
  return steps?.length ? steps : [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
}

/** The target of a Step command from `current` percent. */
export function stepTarget(current: number, levels: number[], increase: boolean, wrap: boolean, lowestOff: boolean): number {
  if (increase) {
    const next = levels.find((l) => l > current);
    if (next !== undefined) return next;
    return wrap ? (lowestOff ? 0 : levels[0]!) : levels[levels.length - 1]!;
  }
  const lower = [...levels].reverse().find((l) => l < current);
  if (lower !== undefined) return lower;
  if (current > 0 && lowestOff) return 0;
  return wrap ? levels[levels.length - 1]! : lowestOff ? 0 : levels[0]!;
}

function isOffline(context: unknown): boolean {
  return (context as { offline?: boolean } | undefined)?.offline === true;
}

/** Attribute values for a device state. */
function fanAttributes(fan: FanState | undefined, cap: FanCapability): Record<string, unknown> {
  const on = !!fan?.on && (fan?.speed ?? 0) > 0;
  const percent = on ? snapToStep(fan!.speed, cap.speedSteps) : 0;
  const attrs: Record<string, unknown> = {
    fanMode: fanModeFor(percent),
    percentSetting: percent,
    percentCurrent: percent,
  };
  if (cap.speedSteps?.length) {
    attrs.speedSetting = speedIndex(percent, cap.speedSteps);
    attrs.speedCurrent = speedIndex(percent, cap.speedSteps);
  }
  if (cap.reversible) attrs.airflowDirection = fan?.direction === "reverse" ? FanControl.AirflowDirection.Reverse : FanControl.AirflowDirection.Forward;
  if (cap.breeze) attrs.windSetting = { naturalWind: !!fan?.breeze };
  return attrs;
}

/** Send a fan command for a controller's write; a refusal puts the attributes back to the device state. */
function sendFan(endpoint: object, fan: Partial<FanState>): void {
  sendCommand(endpoint, { fan }).catch(() => links.get(endpoint)?.resync());
}

export class HearthFanControlServer extends FanControlServer {
  override initialize(): void {
    super.initialize();
    this.reactTo(this.events.fanMode$Changed, this.#modeWritten, { offline: true });
    this.reactTo(this.events.percentSetting$Changed, this.#percentWritten, { offline: true });
    // The command itself goes out from a plain observer, on the commit: the offline reactor above
    // runs only after matter.js has persisted the write, which nearly doubled write -> vendor frame
    // latency (the fan latency bench in bench/). The reactor still derives fanMode and speedSetting.
    const endpoint = this.endpoint;
    this.events.percentSetting$Changed.on((value: number | null, _old: number | null, context: unknown) => {
      if (isOffline(context) || value === null) return;
      const percent = snapToStep(value, links.get(endpoint)?.steps);
      sendFan(endpoint, percent > 0 ? { on: true, speed: percent } : { on: false });
    });
    // Feature-dependent attributes: present only on fans that have the feature.
    const events = this.events as unknown as Record<string, Parameters<typeof this.reactTo>[0] | undefined>;
    if (events.speedSetting$Changed) this.reactTo(events.speedSetting$Changed, this.#speedWritten, { offline: true });
    if (events.airflowDirection$Changed) this.reactTo(events.airflowDirection$Changed, this.#directionWritten, { offline: true });
    if (events.windSetting$Changed) this.reactTo(events.windSetting$Changed, this.#windWritten, { offline: true });
  }

  /** Step command (Step feature). The attributes follow when the device confirms. */
  async step(request: { direction: number; wrap?: boolean; lowestOff?: boolean }): Promise<void> {
    const link = links.get(this.endpoint);
    const current = this.state.percentSetting ?? 0;
    const target = stepTarget(current, stepLevels(link?.steps), request.direction === 0, request.wrap ?? false, request.lowestOff ?? true);
    await sendCommand(this.endpoint, { fan: target > 0 ? { on: true, speed: target } : { on: false } });
  }

  /** Set the derived speed attributes for `percent` and (unless already sent) send the command. */
  #apply(percent: number, send = true): void {
    const link = links.get(this.endpoint);
    const state = this.state as unknown as Record<string, unknown>;
    this.state.fanMode = fanModeFor(percent);
    this.state.percentSetting = percent;
    if (link?.steps?.length && "speedSetting" in state) state.speedSetting = speedIndex(percent, link.steps);
    if (send) this.#send(percent > 0 ? { on: true, speed: percent } : { on: false });
  }

  #send(fan: Partial<FanState>): void {
    sendFan(this.endpoint, fan);
  }

  #percentWritten(value: number | null, old: number | null, context: unknown): void {
    if (isOffline(context)) return;
    if (value === null) {
      this.state.percentSetting = old;
      return;
    }
    // The observer in initialize() already sent the command.
    this.#apply(snapToStep(value, links.get(this.endpoint)?.steps), false);
  }

  #speedWritten(value: number | null, old: number | null, context: unknown): void {
    if (isOffline(context)) return;
    const state = this.state as unknown as Record<string, unknown>;
    const steps = links.get(this.endpoint)?.steps;
    if (value === null || !steps?.length) {
      state.speedSetting = old;
      return;
    }
    this.#apply(value <= 0 ? 0 : steps[Math.min(value, steps.length) - 1]!);
  }

  #modeWritten(mode: FanControl.FanMode, old: FanControl.FanMode, context: unknown): void {
    if (isOffline(context)) return;
    const link = links.get(this.endpoint);
    const percent = percentForMode(mode, link?.steps, link?.lastSpeed() ?? 0);
    if (percent === undefined) {
      this.state.fanMode = old;
      return;
    }
    this.#apply(percent);
  }

  #directionWritten(direction: FanControl.AirflowDirection, _old: unknown, context: unknown): void {
    if (isOffline(context)) return;
    this.#send({ direction: direction === FanControl.AirflowDirection.Reverse ? "reverse" : "forward" });
  }

  #windWritten(wind: { naturalWind?: boolean }, _old: unknown, context: unknown): void {
    if (isOffline(context)) return;
    this.#send({ breeze: !!wind.naturalWind });
  }
}

export function fanFeatures(cap: FanCapability): FanFeature[] {
  const features: FanFeature[] = ["Step"];
  if (cap.speedSteps?.length) features.push("MultiSpeed");
  if (cap.reversible) features.push("AirflowDirection");
  if (cap.breeze) features.push("Wind");
  return features;
}

class FanPart implements MatterPart {
  readonly id = "fan";
  readonly type: MutableEndpoint;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  readonly #cap: FanCapability;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext, cap: FanCapability) {
    this.#ctx = ctx;
    this.#cap = cap;
    const features = fanFeatures(cap);
    this.type = FanDevice.with(HearthFanControlServer.with(...(features as ["Step"])));
    const fanControl: Record<string, unknown> = {
      fanModeSequence: FanControl.FanModeSequence.OffLowMedHigh,
      ...fanAttributes(ctx.entry.state.fan, cap),
    };
    if (cap.speedSteps?.length) fanControl.speedMax = cap.speedSteps.length;
    if (cap.breeze) fanControl.windSupport = { naturalWind: true };
    this.initial = { fanControl };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    links.set(endpoint, {
      steps: this.#cap.speedSteps,
      lastSpeed: () => this.#ctx.entry.state.fan?.speed ?? 0,
      resync: () => void this.update(this.#ctx.entry.state).catch(() => {}),
    });
    bindCommands(endpoint, (patch) => this.#ctx.command(patch));
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState): Promise<void> {
    if (!this.#endpoint) return;
    await this.#endpoint.set({ fanControl: fanAttributes(state.fan, this.#cap) } as never);
  }
}

export const fanMatter: MatterBinding = {
  capability: "fan",
  parts(ctx) {
    const cap = ctx.entry.info.capabilities.fan;
    return cap ? [new FanPart(ctx, cap)] : [];
  },
};
