// Turning X-Sense shadow fields into core state (docs/protocols/xsense.md §4.4, §5.3, §5.4). Values are almost
// always strings; child records may nest fields under `status` and `peak`. Anything of the wrong
// type is reported back as a problem so the driver can log it and carry on.
import type { StatePatch } from "../../core/model.ts";
import { isUnsafeKey } from "../../core/safe-keys.ts";
import type { ModelSpec } from "./models.ts";

export type Fields = Record<string, unknown>;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Flatten `status` into the record and `peak.{coPpmPeak,time}` into coPpmPeak/coPpmPeakTime. */
export function flatten(record: Fields): Fields {
  const out: Fields = { ...record };
  if (isObject(record.status)) {
    delete out.status;
    Object.assign(out, record.status);
  }
  if (isObject(record.peak)) {
    delete out.peak;
    if (record.peak.coPpmPeak !== undefined) out.coPpmPeak = record.peak.coPpmPeak;
    if (record.peak.time !== undefined) out.coPpmPeakTime = record.peak.time;
  }
  return out;
}

/** The serial a child record names (HA accepts all these aliases). */
export function childSn(record: Fields): string | undefined {
  for (const key of ["deviceSN", "deviceSn", "_deviceSN", "devSerialNumber", "serialNumber", "sn"]) {
    const v = record[key];
    if (typeof v === "string" && v) return v;
  }
  return undefined;
}

/** A "0"/"1" flag: true, false, undefined when absent, or "bad" when the value is not a flag. */
export function flag(value: unknown): boolean | undefined | "bad" {
  if (value === undefined) return undefined;
  if (value === "1" || value === 1 || value === true) return true;
  if (value === "0" || value === 0 || value === false || value === "") return false;
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value) !== 0;
  return "bad";
}

/** An integer given as a number or a decimal string; undefined when absent, "bad" otherwise. */
export function int(value: unknown): number | undefined | "bad" {
  if (value === undefined) return undefined;
  if (typeof value === "number" && Number.isFinite(value)) return Math.round(value);
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value));
  return "bad";
}

/** CO detectors read up to ~1000 ppm; anything far above is a broken report, not a reading. */
export const MAX_CO_PPM = 10_000;

export interface FieldResult {
  patch: StatePatch;
  /** `online`/`onLine` when reported. */
  online?: boolean;
  /** A self-test finished (only from *testup* shadows). */
  problems: string[];
}

export interface ComboContext {
  /** The alarm the combo detector is already sounding, if any. */
  active?: "smoke" | "co";
  /** Fields the device reported earlier (coPpm, coLevel from 2nd_info). */
  known?: Fields;
}

function coHint(fields: Fields): boolean | undefined {
  const level = int(fields.coLevel);
  const ppm = int(fields.coPpm);
  if (typeof level !== "number" && typeof ppm !== "number") return undefined;
  return (typeof level === "number" && level > 0) || (typeof ppm === "number" && ppm >= 50);
}

/** Which alarm of a combo detector an alarm flag refers to. No source tells (docs/protocols/xsense.md §5.4); our
 * reading: alarmType "1"/"2" (as the fire-drill command encodes it), explicit smokeAlarm/coAlarm flags, a CO
 * level or ppm ≥ 50 in the same report, the alarm already sounding, CO figures reported earlier, else smoke. */
export function comboTarget(fields: Fields, context: ComboContext = {}): "smoke" | "co" {
  const type = fields.alarmType;
  if (type === "2" || type === 2) return "co";
  if (type === "1" || type === 1) return "smoke";
  if (flag(fields.coAlarm) === true) return "co";
  if (flag(fields.smokeAlarm) === true) return "smoke";
  const here = coHint(fields);
  if (here === true) return "co";
  if (context.active) return context.active;
  if (here === undefined && context.known && coHint(context.known)) return "co";
  return "smoke";
}

/** A decimal given as a number or a string; undefined when absent, "bad" otherwise. */
export function decimal(value: unknown): number | undefined | "bad" {
  if (value === undefined) return undefined;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  return "bad";
}

/** What a thermo-hygrometer can read (its own range is -20..60 °C): anything outside is a broken report. */
export const TEMPERATURE_RANGE = { min: -40, max: 80 } as const;

/** Temperature (°C) and relative humidity (%): `temperature`/`humidity`, or the compact `b`/`c` the STH models
 * send (docs/protocols/xsense.md §5.4). */
function climateFields(fields: Fields, patch: StatePatch, bad: (key: string) => void): void {
  const tKey = fields.temperature !== undefined ? "temperature" : "b";
  const t = decimal(fields[tKey]);
  if (t === "bad" || (typeof t === "number" && (t < TEMPERATURE_RANGE.min || t > TEMPERATURE_RANGE.max))) bad(tKey);
  else if (t !== undefined) patch.temperature = Math.round(t * 10) / 10;
  const hKey = fields.humidity !== undefined ? "humidity" : "c";
  const h = decimal(fields[hKey]);
  if (h === "bad" || (typeof h === "number" && (h < 0 || h > 100))) bad(hKey);
  else if (h !== undefined) patch.humidity = Math.round(h * 10) / 10;
}

/** Map one device's (flattened) reported fields to a state patch. */
export function fieldsToPatch(spec: ModelSpec, input: Fields, combo: ComboContext = {}): FieldResult {
  const fields = flatten(input);
  const patch: StatePatch = {};
  const problems: string[] = [];
  const bad = (key: string): void => void problems.push(`${key}=${JSON.stringify(fields[key])}`);

  const alarmKey = fields.isAlarm !== undefined ? "isAlarm" : "alarmStatus";
  const alarm = flag(fields[alarmKey]);
  if (alarm === "bad") bad(alarmKey);
  else if (alarm !== undefined) {
    if (spec.smoke && spec.co) {
      if (alarm) {
        if (comboTarget(fields, combo) === "co") patch.coAlarm = { detected: true };
        else patch.smokeAlarm = { detected: true };
      } else {
        patch.smokeAlarm = { detected: false };
        patch.coAlarm = { detected: false };
      }
    } else if (spec.co) patch.coAlarm = { detected: alarm };
    else if (spec.heat) patch.heatAlarm = { detected: alarm };
    else if (spec.smoke) patch.smokeAlarm = { detected: alarm };
    else if (spec.leak) patch.leak = alarm;
    // A thermo-hygrometer's flag is its threshold alarm: not an alarm we show (decided by model, §7).
  }
  if (spec.leak) {
    // The Wi-Fi water sensor names its flag (docs/protocols/xsense.md §5.4).
    const water = flag(fields.waterAlarmStatus);
    if (water === "bad") bad("waterAlarmStatus");
    else if (water !== undefined) patch.leak = water;
  }
  if (spec.climate) climateFields(fields, patch, bad);
  // Explicit per-kind flags when a report carries them.
  for (const [key, part] of [
    ["smokeAlarm", "smokeAlarm"],
    ["coAlarm", "coAlarm"],
    ["heatAlarm", "heatAlarm"],
  ] as const) {
    if (fields[key] === undefined || isObject(fields[key])) continue;
    const f = flag(fields[key]);
    if (f === "bad") bad(key);
    else if (
      f !== undefined &&
      ((part === "smokeAlarm" && spec.smoke) || (part === "coAlarm" && spec.co) || (part === "heatAlarm" && spec.heat))
    )
      patch[part] = { ...patch[part], detected: f };
  }

  const mute = flag(fields.muteStatus);
  if (mute === "bad") bad("muteStatus");
  else if (mute !== undefined) {
    if (spec.smoke) patch.smokeAlarm = { ...patch.smokeAlarm, muted: mute };
    if (spec.co) patch.coAlarm = { ...patch.coAlarm, muted: mute };
    if (spec.heat) patch.heatAlarm = { ...patch.heatAlarm, muted: mute };
  }

  if (spec.co) {
    const ppm = int(fields.coPpm);
    if (ppm === "bad" || (typeof ppm === "number" && (ppm < 0 || ppm > MAX_CO_PPM))) bad("coPpm");
    else if (ppm !== undefined && spec.coPpm) patch.coAlarm = { ...patch.coAlarm, ppm };
    const peak = int(fields.coPpmPeak);
    if (peak === "bad" || (typeof peak === "number" && (peak < 0 || peak > MAX_CO_PPM))) bad("coPpmPeak");
    else if (peak !== undefined && spec.coPeak) patch.coAlarm = { ...patch.coAlarm, peakPpm: peak };
  }

  const bat = int(fields.batInfo);
  if (bat === "bad" || (typeof bat === "number" && (bat < 0 || bat > 3))) bad("batInfo");
  else if (bat !== undefined && spec.battery) patch.battery = { level: Math.round((bat * 100) / 3), low: bat <= 1 };

  const life = flag(fields.isLifeEnd);
  if (life === "bad") bad("isLifeEnd");
  else if (life !== undefined) patch.endOfLife = life;

  const sensor = flag(fields.sensorStatus);
  if (sensor === "bad") bad("sensorStatus");
  else if (sensor !== undefined) patch.fault = sensor ? "sensor malfunction" : null;

  const result: FieldResult = { patch, problems };
  const onlineKey = fields.online !== undefined ? "online" : "onLine";
  const online = flag(fields[onlineKey]);
  if (online === "bad") bad(onlineKey);
  else if (online !== undefined) result.online = online;
  return result;
}

export interface SelfTestResult {
  success: boolean;
  patch: StatePatch;
}

/** A *testup* report: `success` → 0 is a pass; the fault flags say what failed. */
export function selfTestResult(spec: ModelSpec, input: Fields): SelfTestResult | undefined {
  const fields = flatten(input);
  let raw: unknown;
  for (const key of ["lastSelfTest", "selfTest", "selfTestResult", "testResult", "result"]) {
    if (fields[key] !== undefined) {
      raw = fields[key];
      break;
    }
  }
  if (raw === undefined || (typeof raw !== "string" && typeof raw !== "number")) return undefined;
  const success = raw === "success" || raw === 0 || raw === "0";
  const faults: string[] = [];
  if (flag(fields.selfTestSmokeFault) === true) faults.push("smoke sensor fault");
  if (flag(fields.selfTestCoFault) === true) faults.push("CO sensor fault");
  const patch: StatePatch = {};
  const done = { testing: false };
  if (spec.smoke) patch.smokeAlarm = { ...done };
  if (spec.co) patch.coAlarm = { ...done };
  if (spec.heat) patch.heatAlarm = { ...done };
  if (flag(fields.selfTestLifeEnd) === true) patch.endOfLife = true;
  if (flag(fields.selfTestLowPower) === true && spec.battery) patch.battery = { low: true };
  patch.fault =
    success && !faults.length ? null : faults.length ? faults.join(", ") : `self-test failed (${String(raw)})`;
  return { success: success && !faults.length, patch };
}

/** Distinct reported fields kept per device (a real detector reports about twenty). */
const MAX_FIELDS = 64;

/** Keep a device's reported fields: bounded, so a cloud inventing keys cannot grow memory, and never
 * `__proto__`, which Object.assign would turn into a prototype swap. */
export function remember(into: Fields, fields: Fields): void {
  let size = Object.keys(into).length;
  for (const [key, value] of Object.entries(fields)) {
    if (isUnsafeKey(key)) continue;
    if (!Object.hasOwn(into, key)) {
      if (size >= MAX_FIELDS) continue;
      size++;
    }
    into[key] = value;
  }
}
