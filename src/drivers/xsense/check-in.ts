// Reachability of Wi-Fi detectors that sleep between check-ins (docs/protocols/xsense.md §5.4, §5.6). Their
// Wi-Fi module is off most of the time: the thing's presence reads "disconnected" and the station list's
// `onLine` 0 between check-ins, which is not a fault. The app instead looks at the last check-in
// (`onlineTime`, YYYYMMDDHHMMSS UTC) and calls the detector offline only when it is older than 34 hours
// (49 for the SWS0B). Pure functions, so the rule is tested with any clock.
import type { CheckInHours } from "./models.ts";

const HOUR_MS = 3_600_000;

/** A `YYYYMMDDHHMMSS` UTC stamp as epoch ms; undefined when the value is not one. */
export function parseStamp(value: unknown): number | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(String(value));
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Reject impossible dates (month 13, 31 February) instead of letting Date roll them over.
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return ms;
}

/** The moment a check-in stops vouching for the detector. */
export function staleAt(checkInMs: number, hours: CheckInHours): number {
  return checkInMs + hours * HOUR_MS;
}

/** Whether a sleeping detector counts as reachable at `nowMs`: its last check-in is within its window. A
 * check-in from the future (a clock ahead of ours) counts as now. */
export function checkInFresh(checkInMs: number, hours: CheckInHours, nowMs: number): boolean {
  return nowMs < staleAt(Math.min(checkInMs, nowMs), hours);
}
