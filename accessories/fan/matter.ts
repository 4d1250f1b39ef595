// fan -> Matter Fan device (FanControl cluster).
//
// Features: MultiSpeed when the model has fixed speed steps (speedMax = number of steps), Step (the
// step command), AirflowDirection when the fan is reversible, Wind (natural wind) for breeze mode.
// fanModeSequence is Off/Low/Med/High (no Auto: no vendor fan here has one).
//
// matter.js's FanControlServer has no spec logic, so the coupling of the speed attributes (Matter
// 1.3 §4.4.6 "Percent Rules" / "Speed Rules") lives here. matter.js commits each attribute of a
// write on its own; the writes of one interaction are collected and carried out when its
// transaction closes, as ONE command (issue 17: fanMode On + percentSetting 50 is one vendor frame):
// - percentSetting written: snapped to the model's steps; 0 -> {on:false}, else {on:true, speed}.
//   A write of null is undone (the spec says a null write leaves the value unchanged).
// - speedSetting written (MultiSpeed): step n -> percent of step n, then as above.
// - fanMode written alone: Off -> {on:false}; Low/Medium/High -> a representative speed (continuous
//   fans 33/66/100, stepped fans the lowest/middle/highest step); On -> the speed the fan was last
//   running at (the vendor keeps it while off), High when there is none. A lone On is "held": it
//   waits a few ms for a percentSetting in a next interaction (Google Home writes On, then the
//   speed), which then goes out with it as one command. Auto/Smart are not in the sequence:
//   matter.js answers CONSTRAINT_ERROR (the Auto feature is off); should one slip through, the
//   attributes are put back and nothing is sent.
// - written together, percentSetting beats speedSetting beats fanMode (the precise value wins).
// - Then fanMode (Off or Low/Medium/High by thirds of the range: <=33, <=66, >66), percentSetting
//   and speedSetting are written offline to match; percentCurrent/speedCurrent only follow the
//   device (update()), never a write.
// Derived attributes are written after the controller's write committed, never in $Changing (where
// writing them would make matter.js reject the controller's write). Commands are sent without
// holding the interaction's transaction; when the vendor refuses, the attributes are put back to the
// device's state. Device updates are written offline, and the observers ignore offline changes, so
// nothing is echoed back to the driver.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { FanControlServer } from "@matter/main/behaviors/fan-control";
import { FanControl } from "@matter/main/clusters/fan-control";
import { FanDevice } from "@matter/main/devices/fan";
import { snapToStep, type DeviceState, type FanCapability, type FanState } from "../../src/core/model.ts";
import { bindCommands, sendCommand, type MatterBinding, type MatterPart } from "../matter-support.ts";
import { typeWith, withFeatures } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";
import { FanOperationalStateServer, operationalStateInitial, operationalStateOf } from "./matter-fault.ts";

type FanFeature = "MultiSpeed" | "Step" | "AirflowDirection" | "Wind";

export interface FanLink {
  steps: number[] | undefined;
  /** The speed the device holds (also while off). */
  lastSpeed(): number;
  /** Put the attributes back to the device's state (after a refused command). */
  resync(): void;
}
const links = new WeakMap<object, FanLink>();

/** Give a fan endpoint of another binding (volume/matter.ts) the link the write rules above need. */
export function linkFanEndpoint(endpoint: object, link: FanLink): void {
  links.set(endpoint, link);
}

/** Fan mode for a percent (0 = Off). */
export function fanModeFor(percent: number): FanControl.FanMode {
  if (percent <= 0) return FanControl.FanMode.Off;
  if (percent <= 33) return FanControl.FanMode.Low;
  if (percent <= 66) return FanControl.FanMode.Medium;
  return FanControl.FanMode.High;
}

/** The speed a fan mode write asks for (0 = off), per the rules in the header. */
export function percentForMode(
  mode: FanControl.FanMode,
  steps: number[] | undefined,
  lastSpeed: number,
): number | undefined {
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
export function stepTarget(
  current: number,
  levels: number[],
  increase: boolean,
  wrap: boolean,
  lowestOff: boolean,
): number {
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
    // Fixed, but set with the live state too: a value stored by an earlier run (fewer learned steps) beats `initial`.
    attrs.speedMax = cap.speedSteps.length;
    attrs.speedSetting = speedIndex(percent, cap.speedSteps);
    attrs.speedCurrent = speedIndex(percent, cap.speedSteps);
  }
  if (cap.reversible)
    attrs.airflowDirection =
      fan?.direction === "reverse" ? FanControl.AirflowDirection.Reverse : FanControl.AirflowDirection.Forward;
  if (cap.breeze) attrs.windSetting = { naturalWind: !!fan?.breeze };
  return attrs;
}

/** What a controller wrote on one fan endpoint in one interaction. */
export interface FanWrites {
  mode?: FanControl.FanMode;
  /** null: the controller wrote null (the spec says: leave the value unchanged). */
  percent?: number | null;
  speed?: number | null;
  direction?: FanState["direction"];
  breeze?: boolean;
}

export interface ResolvedFanWrites {
  /** The command, when there is anything to send. */
  fan?: Partial<FanState>;
  /** The percent the speed attributes show now; undefined: no speed was asked for. */
  percent?: number;
  /** A speed write asked for nothing (null, Auto): put the speed attributes back to the device. */
  restore: boolean;
  /** Only fanMode On: the speed is a guess; the command may wait briefly for a percentSetting. */
  hold: boolean;
}

/**
 * The one command for the writes of one interaction (issue 17). percentSetting beats speedSetting,
 * which beats fanMode: controllers that write fanMode (On, or a Low/Medium/High) next to a speed mean
 * the speed; fanMode alone maps to a speed per percentForMode.
 */
export function resolveFanWrites(writes: FanWrites, steps: number[] | undefined, lastSpeed: number): ResolvedFanWrites {
  let percent: number | undefined;
  let restore = false;
  let hold = false;
  if (typeof writes.percent === "number") percent = snapToStep(writes.percent, steps);
  else if (typeof writes.speed === "number" && steps?.length) {
    percent = writes.speed <= 0 ? 0 : steps[Math.min(writes.speed, steps.length) - 1]!;
  } else if (writes.mode !== undefined) {
    percent = percentForMode(writes.mode, steps, lastSpeed);
    hold = writes.mode === FanControl.FanMode.On;
  }
  const speedAsked = writes.percent === null || writes.speed !== undefined || writes.mode !== undefined;
  if (percent === undefined && speedAsked) restore = true;
  const fan: Partial<FanState> = {};
  if (percent !== undefined) Object.assign(fan, percent > 0 ? { on: true, speed: percent } : { on: false });
  if (writes.direction !== undefined) fan.direction = writes.direction;
  if (writes.breeze !== undefined) fan.breeze = writes.breeze;
  return { fan: Object.keys(fan).length ? fan : undefined, percent, restore, hold: hold && percent !== undefined };
}

/** The writes of the interaction under way, per fan endpoint. */
const pendingWrites = new WeakMap<object, FanWrites>();

interface InteractionContext {
  offline?: boolean;
  transaction?: { onClose(actor: () => void): void };
}

export class HearthFanControlServer extends FanControlServer {
  override initialize(): void {
    super.initialize();
    // Every attribute a controller writes is collected per interaction and carried out once the
    // interaction's transaction closes (matter.js commits each attribute of a write apart): fanMode
    // and percentSetting written together are one command, and one vendor frame. Plain observers,
    // not offline reactors: a reactor runs only after matter.js has persisted the write, which
    // nearly doubled write -> vendor frame latency (the fan latency bench in bench/).
    const endpoint = this.endpoint;
    const record = (context: unknown, write: FanWrites): void => {
      const ctx = context as InteractionContext | undefined;
      if (ctx?.offline === true) return;
      const pending = pendingWrites.get(endpoint);
      if (pending) {
        Object.assign(pending, write);
        return;
      }
      pendingWrites.set(endpoint, { ...write });
      const flush = () => flushFanWrites(endpoint);
      if (ctx?.transaction) ctx.transaction.onClose(flush);
      else setImmediate(flush);
    };
    this.events.fanMode$Changed.on((mode: FanControl.FanMode, _old: unknown, context: unknown) =>
      record(context, { mode }),
    );
    this.events.percentSetting$Changed.on((percent: number | null, _old: unknown, context: unknown) =>
      record(context, { percent }),
    );
    // Feature-dependent attributes: present only on fans that have the feature.
    type Changed = { on(observer: (value: never, old: never, context: unknown) => void): void } | undefined;
    const events = this.events as unknown as Record<string, Changed>;
    events.speedSetting$Changed?.on((speed: number | null, _old: unknown, context: unknown) =>
      record(context, { speed }),
    );
    events.airflowDirection$Changed?.on((direction: FanControl.AirflowDirection, _old: unknown, context: unknown) =>
      record(context, { direction: direction === FanControl.AirflowDirection.Reverse ? "reverse" : "forward" }),
    );
    events.windSetting$Changed?.on((wind: { naturalWind?: boolean }, _old: unknown, context: unknown) =>
      record(context, { breeze: !!wind.naturalWind }),
    );
  }

  /** Step command (Step feature). The attributes follow when the device confirms. */
  async step(request: { direction: number; wrap?: boolean; lowestOff?: boolean }): Promise<void> {
    const link = links.get(this.endpoint);
    const current = this.state.percentSetting ?? 0;
    const target = stepTarget(
      current,
      stepLevels(link?.steps),
      request.direction === 0,
      request.wrap ?? false,
      request.lowestOff ?? true,
    );
    await sendCommand(this.endpoint, { fan: target > 0 ? { on: true, speed: target } : { on: false } });
  }
}

/** Carry out the writes of one interaction: one command, then the derived speed attributes. */
function flushFanWrites(endpoint: Endpoint): void {
  const writes = pendingWrites.get(endpoint);
  pendingWrites.delete(endpoint);
  const link = links.get(endpoint);
  if (!writes || !link) return;
  const resolved = resolveFanWrites(writes, link.steps, link.lastSpeed());
  if (resolved.fan) {
    // The interaction's writes are all here: the command goes out at the next microtask (a held On
    // waits for its speed), not after matter.js has sent its write response.
    const options = resolved.hold ? { hold: true } : { gathered: true };
    sendCommand(endpoint, { fan: resolved.fan }, options).catch(() => link.resync());
  }
  if (resolved.restore) link.resync();
  else if (resolved.percent !== undefined) {
    // Offline, so the observers above ignore it; derived values follow the rules in the header.
    const percent = resolved.percent;
    const attrs: Record<string, unknown> = { fanMode: fanModeFor(percent), percentSetting: percent };
    if (link.steps?.length) attrs.speedSetting = speedIndex(percent, link.steps);
    endpoint.set({ fanControl: attrs } as never).catch(() => link.resync());
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
  /** Features and speed count: learned speed steps change them, and the endpoint is then rebuilt. */
  readonly shape: string;
  readonly type: MutableEndpoint;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  readonly #cap: FanCapability;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext, cap: FanCapability) {
    this.#ctx = ctx;
    this.#cap = cap;
    const features = fanFeatures(cap);
    this.shape = `fan:${features.join("+")}:${cap.speedSteps?.length ?? 0}`;
    this.type = typeWith(FanDevice, withFeatures(HearthFanControlServer, ...features), FanOperationalStateServer);
    const fanControl: Record<string, unknown> = {
      fanModeSequence: FanControl.FanModeSequence.OffLowMedHigh,
      ...fanAttributes(ctx.entry.state.fan, cap),
    };
    if (cap.breeze) fanControl.windSupport = { naturalWind: true };
    this.initial = { fanControl, operationalState: operationalStateInitial(ctx.entry.state) };
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    links.set(endpoint, {
      steps: this.#cap.speedSteps,
      lastSpeed: () => this.#ctx.entry.state.fan?.speed ?? 0,
      resync: () => void this.update(this.#ctx.entry.state).catch(() => {}),
    });
    bindCommands(endpoint, (patch, options) => this.#ctx.command(patch, options));
    await this.update(this.#ctx.entry.state);
  }

  async update(state: DeviceState): Promise<void> {
    if (!this.#endpoint) return;
    await this.#endpoint.set({
      fanControl: fanAttributes(state.fan, this.#cap),
      operationalState: operationalStateOf(state),
    } as never);
  }
}

export const fanMatter: MatterBinding = {
  capability: "fan",
  parts(ctx) {
    const cap = ctx.entry.info.capabilities.fan;
    return cap ? [new FanPart(ctx, cap)] : [];
  },
};
