// Motion, sound and cry alerts of one camera, from every channel that carries them, as one stream
// (docs/protocols/nanit.md §6.4). The camera's own socket (PUT_SENSOR_DATA with `is_alert`) arrives
// within a fraction of a second; the /messages poll is the backstop for cameras that do not send
// alerts that way. The same event seen on both channels is delivered once: a report matching an
// already delivered report of ANOTHER channel (event times within `matchMs`) is dropped, and does not
// prolong the hold either (the poll's copy comes up to one poll interval late). Repeated reports on
// one channel are new events: they keep the sensor on.
import type { Timer } from "../../core/driver-runtime.ts";
import type { SensorDataMsg } from "./proto.ts";
import type { BabyMessage } from "./rest.ts";

export type AlertKind = "motion" | "sound" | "cry";
export type AlertChannel = "socket" | "messages";

/** The /messages types that are alerts (docs/protocols/nanit.md §5.2). */
const MESSAGE_KINDS: Record<string, AlertKind> = {
  MOTION: "motion",
  SOUND: "sound",
  CAMERA_CRY_DETECTION: "cry",
};

/** The socket's sensor types that are alerts when `is_alert` is set (docs/protocols/nanit.md §6.4). */
const SENSOR_KINDS: Record<string, AlertKind> = { MOTION: "motion", SOUND: "sound", CRY: "cry" };

/** Reports remembered per kind, at most: bounds memory if a camera floods alerts. */
const MAX_REMEMBERED = 64;

export interface AlertTimers {
  later(ms: number, fn: () => void): Timer | undefined;
  cancel(timer: Timer | undefined): undefined;
}

export interface AlertFusionOptions {
  /** How long a sensor stays "detected" after the last delivered event. */
  holdMs: number;
  /** Reports of one kind from different channels whose event times are this close are one event. */
  matchMs: number;
  /** How long a delivered report is remembered for matching (at least the oldest a poll accepts). */
  memoryMs: number;
  timers: AlertTimers;
  onChange(kind: AlertKind, detected: boolean): void;
  now?: () => number;
}

interface Delivered {
  at: number;
  channel: AlertChannel;
}

export class AlertFusion {
  readonly #o: AlertFusionOptions;
  readonly #holds = new Map<AlertKind, Timer | undefined>();
  readonly #delivered = new Map<AlertKind, Delivered[]>();

  constructor(options: AlertFusionOptions) {
    this.#o = options;
  }

  /** One report of an event seen at `at` (Unix ms). True when delivered, false when a duplicate. */
  report(kind: AlertKind, channel: AlertChannel, at: number): boolean {
    const now = this.#o.now?.() ?? Date.now();
    const kept = (this.#delivered.get(kind) ?? []).filter((d) => now - d.at <= this.#o.memoryMs);
    const duplicate = kept.some((d) => d.channel !== channel && Math.abs(d.at - at) <= this.#o.matchMs);
    if (!duplicate) kept.push({ at, channel });
    this.#delivered.set(kind, kept.slice(-MAX_REMEMBERED));
    if (duplicate) return false;
    const wasOn = this.#holds.has(kind);
    this.#o.timers.cancel(this.#holds.get(kind));
    this.#holds.set(
      kind,
      this.#o.timers.later(this.#o.holdMs, () => {
        this.#holds.delete(kind);
        this.#o.onChange(kind, false);
      }),
    );
    if (!wasOn) this.#o.onChange(kind, true);
    return true;
  }

  /** Whether the sensor of this kind reads "detected" now. */
  active(kind: AlertKind): boolean {
    return this.#holds.has(kind);
  }
}

/** Alerts in a camera push: SOUND / MOTION / CRY entries with `is_alert` set. Other entries (readings,
 * `is_alert` false or absent) are not alerts. */
export function socketAlerts(data: readonly SensorDataMsg[]): AlertKind[] {
  const out: AlertKind[] = [];
  for (const d of data) {
    const type = d.sensor_type;
    const kind = typeof type === "string" && Object.hasOwn(SENSOR_KINDS, type) ? SENSOR_KINDS[type] : undefined;
    if (kind && d.is_alert === true && !out.includes(kind)) out.push(kind);
  }
  return out;
}

/** New alert messages since `lastId` (ids ascending), at most `windowMs` old; and the new last id. */
export function messageAlerts(
  messages: readonly BabyMessage[],
  lastId: number,
  windowMs: number,
  now = Date.now(),
): { lastId: number; alerts: { kind: AlertKind; at: number }[] } {
  const alerts: { kind: AlertKind; at: number }[] = [];
  for (const m of messages) {
    if (m.id <= lastId) continue;
    lastId = m.id;
    const kind = Object.hasOwn(MESSAGE_KINDS, m.type) ? MESSAGE_KINDS[m.type] : undefined;
    const at = m.time * 1000;
    if (kind && now - at <= windowMs) alerts.push({ kind, at });
  }
  return { lastId, alerts };
}
