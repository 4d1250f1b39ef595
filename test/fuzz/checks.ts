// What a fuzzed driver must keep true, whatever the cloud sends: every state reaching the core is
// well formed (types and ranges the HomeKit and Matter hosts accept), and the log is not flooded. The
// sink and the log destination keep counts, not every call, so 100k inputs do not fill the memory.
import { Writable } from "node:stream";
import type { DriverSink, LinkState } from "../../src/core/driver.ts";
import { applyPatch, type DeviceInfo, type DeviceState, type StatePatch } from "../../src/core/model.ts";

const isBool = (v: unknown): boolean => typeof v === "boolean";
const inRange = (v: unknown, min: number, max: number): boolean =>
  typeof v === "number" && Number.isFinite(v) && v >= min && v <= max;

/** Problems with a device state, in words; empty when it is well formed. */
export function stateProblems(state: DeviceState): string[] {
  const out: string[] = [];
  const need = (ok: boolean, what: string, value: unknown): void =>
    void (ok || out.push(`${what}=${JSON.stringify(value)}`));
  if (state.fan) {
    need(isBool(state.fan.on), "fan.on", state.fan.on);
    need(inRange(state.fan.speed, 0, 100), "fan.speed", state.fan.speed);
    need(state.fan.direction === "forward" || state.fan.direction === "reverse", "fan.direction", state.fan.direction);
    need(isBool(state.fan.breeze), "fan.breeze", state.fan.breeze);
  }
  if (state.light) {
    need(isBool(state.light.on), "light.on", state.light.on);
    need(inRange(state.light.brightness, 0, 100), "light.brightness", state.light.brightness);
    if (state.light.colorTemperatureK !== undefined)
      need(
        inRange(state.light.colorTemperatureK, 1000, 10000),
        "light.colorTemperatureK",
        state.light.colorTemperatureK,
      );
  }
  for (const [k, v] of Object.entries(state.switches ?? {})) need(isBool(v), `switches.${k}`, v);
  for (const key of ["smokeAlarm", "coAlarm", "heatAlarm"] as const) {
    const a = state[key];
    if (!a) continue;
    need(isBool(a.detected), `${key}.detected`, a.detected);
    if (a.muted !== undefined) need(isBool(a.muted), `${key}.muted`, a.muted);
    if (a.testing !== undefined) need(isBool(a.testing), `${key}.testing`, a.testing);
  }
  if (state.coAlarm?.ppm !== undefined)
    need(inRange(state.coAlarm.ppm, 0, 1_000_000), "coAlarm.ppm", state.coAlarm.ppm);
  if (state.battery) {
    need(isBool(state.battery.low), "battery.low", state.battery.low);
    if (state.battery.level !== undefined)
      need(inRange(state.battery.level, 0, 100), "battery.level", state.battery.level);
  }
  if (state.temperature !== undefined) need(inRange(state.temperature, -100, 150), "temperature", state.temperature);
  if (state.humidity !== undefined) need(inRange(state.humidity, 0, 100), "humidity", state.humidity);
  for (const key of ["motion", "sound", "endOfLife"] as const)
    if (state[key] !== undefined) need(isBool(state[key]), key, state[key]);
  if (state.fault !== undefined) need(typeof state.fault === "string", "fault", state.fault);
  return out;
}

function infoProblems(info: DeviceInfo): string[] {
  const out: string[] = [];
  if (typeof info.id !== "string" || !info.id) out.push(`id=${JSON.stringify(info.id)}`);
  if (typeof info.name !== "string" || !info.name.trim()) out.push(`name=${JSON.stringify(info.name)}`);
  for (const key of ["manufacturer", "model", "serialNumber"] as const)
    if (typeof info[key] !== "string") out.push(`${key}=${JSON.stringify(info[key])}`);
  if (info.firmware !== undefined && typeof info.firmware !== "string")
    out.push(`firmware=${JSON.stringify(info.firmware)}`);
  const steps = info.capabilities.fan?.speedSteps;
  if (steps && !steps.every((s) => inRange(s, 1, 100))) out.push(`speedSteps=${JSON.stringify(steps)}`);
  return out;
}

/** A sink that keeps each device's current state and records every malformed state it is handed. */
export class CheckingSink implements DriverSink {
  readonly states = new Map<string, DeviceState>();
  readonly infos = new Map<string, DeviceInfo>();
  readonly available = new Map<string, boolean>();
  readonly violations: string[] = [];
  link: LinkState | undefined;
  /** Link states seen since the last reset (a fuzzed frame must not drop the link). */
  readonly linkHistory: LinkState[] = [];
  calls = 0;
  #listeners = new Set<() => void>();

  #check(id: string, state: DeviceState, what: string): void {
    const problems = stateProblems(state);
    if (problems.length && this.violations.length < 20) this.violations.push(`${what} ${id}: ${problems.join(", ")}`);
  }

  #changed(): void {
    this.calls++;
    for (const fn of this.#listeners) fn();
  }

  deviceFound(info: DeviceInfo, state: DeviceState): void {
    const problems = infoProblems(info);
    if (problems.length && this.violations.length < 20)
      this.violations.push(`deviceFound ${info.id}: ${problems.join(", ")}`);
    this.infos.set(info.id, info);
    this.states.set(info.id, state);
    this.available.set(info.id, true);
    this.#check(info.id, state, "deviceFound");
    this.#changed();
  }

  stateChanged(id: string, patch: StatePatch): void {
    const next = applyPatch(this.states.get(id) ?? {}, patch);
    this.states.set(id, next);
    this.#check(id, next, "stateChanged");
    this.#changed();
  }

  availabilityChanged(id: string | undefined, available: boolean): void {
    if (id !== undefined) this.available.set(id, available);
    else for (const key of this.infos.keys()) this.available.set(key, available);
    this.#changed();
  }

  linkStateChanged(state: LinkState): void {
    this.link = state;
    this.linkHistory.push(state);
    if (this.linkHistory.length > 1000) this.linkHistory.splice(0, 500);
    this.#changed();
  }

  /** Resolve once `predicate` holds (checked after every sink call). */
  until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
    });
  }
}

/** A pino destination that counts lines per level and wakes waiters on a marker, keeping nothing else. */
export class CountingLog extends Writable {
  readonly levels = new Map<number, number>();
  /** Warn lines per message, and the first full line of each (for failure reports). */
  readonly warnings = new Map<string, number>();
  readonly firstWarning = new Map<string, string>();
  #waiters = new Map<string, () => void>();

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const text = chunk.toString("utf8");
    for (const line of text.split("\n")) {
      if (!line) continue;
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0);
      this.levels.set(level, (this.levels.get(level) ?? 0) + 1);
      if (level === 40) {
        const msg = /"msg":"((?:[^"\\]|\\.){0,80})/.exec(line)?.[1] ?? "?";
        this.warnings.set(msg, (this.warnings.get(msg) ?? 0) + 1);
        if (!this.firstWarning.has(msg)) this.firstWarning.set(msg, line.slice(0, 1000));
      }
      for (const [marker, wake] of this.#waiters) {
        if (!line.includes(marker)) continue;
        this.#waiters.delete(marker);
        wake();
      }
    }
    cb();
  }

  get warnLines(): number {
    return this.levels.get(40) ?? 0;
  }

  get errorLines(): number {
    return (this.levels.get(50) ?? 0) + (this.levels.get(60) ?? 0);
  }

  /** Resolve when a line containing `marker` is written. */
  until(marker: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(marker);
        reject(new Error(`no log line with ${marker} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(marker, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
