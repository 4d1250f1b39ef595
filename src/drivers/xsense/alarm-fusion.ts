// Two paths report the same X-Sense detectors: the cloud (AWS IoT MQTT and shadows) and the SBS50's
// local MQTT output (docs/protocols/xsense.md §4.5). They run at different speeds, so one path's report
// is often the late echo of a change the other delivered already: an alarm raised and cleared on the
// local path, then the cloud's copy of the raise arriving, must not sound the alarm again. This module
// decides, per detector and field, which reports are news; FusedSink puts it in front of a DriverSink.
import type { DriverSink, LinkState } from "../../core/driver.ts";
import type { DeviceInfo, DeviceState, StatePatch } from "../../core/model.ts";
import type { StreamInterruption } from "../../core/camera.ts";

export type PathName = "cloud" | "local";
type Value = boolean;

export interface FusionOptions {
  /** How long a change delivered by one path makes the other path's different value count as stale
   * (its late echo) rather than news. Default 15 s: far above the usual gap between the two paths,
   * short enough that a path left alone (the other one down) is believed again soon. */
  windowMs?: number;
  now?: () => number;
  /** Detectors tracked at once (default 4096); the oldest is forgotten beyond. */
  maxDetectors?: number;
}

interface Delivery {
  value: Value;
  path: PathName;
  at: number;
}

interface Field {
  /** The value delivered last (undefined: nothing yet). */
  fused: Value | undefined;
  last: Partial<Record<PathName, Value>>;
  /** Recent deliveries, newest last (bounded). */
  history: Delivery[];
}

const HISTORY = 8;

/**
 * Per detector and field, whether a report is delivered. A report is delivered when it differs from
 * what was delivered last, unless it is stale: the other path delivered a change within the window and
 * this report repeats the path's own previous value, or names a value the other path delivered and has
 * moved on from within the window. The same change seen on both paths is thus delivered once; seen on
 * one path alone it is delivered at once.
 */
export class AlarmFusion {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #max: number;
  readonly #detectors = new Map<string, Map<string, Field>>();

  constructor(options: FusionOptions = {}) {
    this.#windowMs = options.windowMs ?? 15_000;
    this.#now = options.now ?? Date.now;
    this.#max = options.maxDetectors ?? 4096;
  }

  /** One report; returns whether it is delivered. */
  report(id: string, field: string, path: PathName, value: Value): boolean {
    const f = this.#field(id, field);
    const now = this.#now();
    const previous = f.last[path];
    f.last[path] = value;
    if (value === f.fused) return false;
    if (f.fused !== undefined && this.#stale(f, path, value, previous, now)) return false;
    f.fused = value;
    f.history.push({ value, path, at: now });
    if (f.history.length > HISTORY) f.history.shift();
    return true;
  }

  /** A known starting value (a device listed with its state): delivered already, news to nobody. */
  seed(id: string, field: string, path: PathName, value: Value): void {
    const f = this.#field(id, field);
    f.fused = value;
    f.last[path] = value;
  }

  /** The value delivered last. */
  value(id: string, field: string): Value | undefined {
    return this.#detectors.get(id)?.get(field)?.fused;
  }

  forget(id: string): void {
    this.#detectors.delete(id);
  }

  #stale(f: Field, path: PathName, value: Value, previous: Value | undefined, now: number): boolean {
    const others = f.history.filter((d) => d.path !== path && now - d.at <= this.#windowMs);
    if (!others.length) return false;
    // The path says again what it said before the other path's change: it has not caught up yet.
    if (previous === value) return true;
    // The path is going through a state the other path went through (and left) a moment ago.
    return others.some((d) => d.value === value);
  }

  #field(id: string, field: string): Field {
    let fields = this.#detectors.get(id);
    if (!fields) {
      if (this.#detectors.size >= this.#max) this.#detectors.delete(this.#detectors.keys().next().value!);
      fields = new Map();
      this.#detectors.set(id, fields);
    }
    let f = fields.get(field);
    if (!f) {
      f = { fused: undefined, last: {}, history: [] };
      fields.set(field, f);
    }
    return f;
  }
}

/** The fields both paths report, as booleans: alarm detected, battery low, end of life, fault. */
const ALARM_PARTS = ["smokeAlarm", "coAlarm", "heatAlarm"] as const;

function fusedFields(patch: StatePatch): Array<[string, Value]> {
  const out: Array<[string, Value]> = [];
  for (const part of ALARM_PARTS) {
    const detected = patch[part]?.detected;
    if (typeof detected === "boolean") out.push([`${part}.detected`, detected]);
  }
  if (typeof patch.battery?.low === "boolean") out.push(["battery.low", patch.battery.low]);
  if (typeof patch.endOfLife === "boolean") out.push(["endOfLife", patch.endOfLife]);
  if (patch.fault !== undefined) out.push(["fault", patch.fault !== null]);
  return out;
}

/** The patch without the fields named in `drop`; undefined when nothing is left. */
function without(patch: StatePatch, drop: Set<string>): StatePatch | undefined {
  if (!drop.size) return patch;
  const out: Record<string, unknown> = { ...patch };
  for (const name of drop) {
    const [part, key] = name.split(".") as [keyof StatePatch, string | undefined];
    if (key === undefined) {
      delete out[part];
      continue;
    }
    const rest = { ...(out[part] as Record<string, unknown>) };
    delete rest[key];
    if (Object.keys(rest).length) out[part] = rest;
    else delete out[part];
  }
  return Object.keys(out).length ? (out as StatePatch) : undefined;
}

/** What the local path tells the sink (the cloud path is a full DriverSink). */
export interface LocalSink {
  stateChanged(id: string, patch: StatePatch): void;
  /** The local path can (not) vouch for the detector (its station is connected and it is online). */
  availabilityChanged(id: string, available: boolean): void;
}

/**
 * A DriverSink in front of the core's sink: the driver's own calls go to `cloud`, the local path's to
 * `local`. State fields both paths report go through AlarmFusion; a detector is available while either
 * path vouches for it, so with the internet down "No Response" follows the local path.
 */
export class FusedSink {
  readonly fusion: AlarmFusion;
  readonly cloud: DriverSink;
  readonly local: LocalSink;
  readonly #target: DriverSink;
  readonly #known = new Set<string>();
  readonly #cloudUp = new Map<string, boolean>();
  readonly #localUp = new Map<string, boolean>();
  readonly #shown = new Map<string, boolean>();

  constructor(target: DriverSink, options: FusionOptions = {}) {
    this.#target = target;
    this.fusion = new AlarmFusion(options);
    const self = this;
    this.cloud = {
      deviceFound(info: DeviceInfo, state: DeviceState) {
        self.#known.add(info.id);
        for (const [field, value] of fusedFields(state as StatePatch)) self.fusion.seed(info.id, field, "cloud", value);
        self.#cloudUp.set(info.id, true);
        // The core marks a listed device available; keep our view in step.
        self.#shown.set(info.id, true);
        target.deviceFound(info, state);
      },
      stateChanged: (id, patch) => this.#state(id, patch, "cloud"),
      availabilityChanged(id: string | undefined, available: boolean) {
        for (const one of id === undefined ? self.#known : [id]) {
          self.#cloudUp.set(one, available);
          self.#show(one);
        }
      },
      linkStateChanged(state: LinkState, detail?: string) {
        target.linkStateChanged(state, detail);
      },
      streamInterrupted(id: string, reason: StreamInterruption) {
        target.streamInterrupted?.(id, reason);
      },
    };
    this.local = {
      stateChanged: (id, patch) => this.#state(id, patch, "local"),
      availabilityChanged: (id, available) => {
        this.#localUp.set(id, available);
        this.#show(id);
      },
    };
  }

  /** Whether the local path currently vouches for a detector. */
  localAvailable(id: string): boolean {
    return this.#localUp.get(id) ?? false;
  }

  #state(id: string, patch: StatePatch, path: PathName): void {
    const drop = new Set<string>();
    // A path that cannot vouch for the detector while the other one can (a cloud poll of a station the
    // cloud lost) reports an old picture: the other path's word stands.
    const ownUp = (path === "cloud" ? this.#cloudUp : this.#localUp).get(id) ?? true;
    const otherUp = (path === "cloud" ? this.#localUp : this.#cloudUp).get(id) ?? false;
    for (const [field, value] of fusedFields(patch)) {
      if ((!ownUp && otherUp) || !this.fusion.report(id, field, path, value)) drop.add(field);
    }
    const rest = without(patch, drop);
    if (rest) this.#target.stateChanged(id, rest);
  }

  #show(id: string): void {
    if (!this.#known.has(id)) return;
    const available = (this.#cloudUp.get(id) ?? false) || (this.#localUp.get(id) ?? false);
    if (this.#shown.get(id) === available) return;
    this.#shown.set(id, available);
    this.#target.availabilityChanged(id, available);
  }
}
