// Device profiles of the FanSync simulator, as data, plus the pure write behaviour
// (docs/protocols/fansync.md §6.3). Each profile says how one model answers a `set`: what it applies, whether it
// reports it (device_change), and whether the device's second acknowledgement is "ok" or "error".

export type Registers = Record<string, number>;

export interface ProfileBehaviour {
  /** Levels the motor holds: a request is rounded DOWN to a level; below the first gives the first. */
  speedSteps?: number[];
  /** OdynCustom quirk: a write of 100 settles at this lower "maximum" (e.g. 87) in the next report. */
  clampMax?: number;
  /** Kute60: a write carrying H00 but no H02 is applied and never reported. */
  unreportedPowerWrites?: boolean;
  /** Kute60: exactly {H00:1,H02:100,H01:0} is applied and never reported. */
  unreportedFullSpeedTriple?: boolean;
  /** {H00:0,H02:n}: "plain" applies and reports; "error-ack" (Kute60) the same but the device acks "error";
   * "bounce" (SpitfireV2) turns off, then back on, both reported. */
  offWithSpeed?: "plain" | "error-ack" | "bounce";
  /** {H02:n} while off: "stores" keeps it off with the new speed; "stays-off-error" (Kute60) ignores it,
   * reports power 0 and acks "error"; "starts" (SpitfireV2) starts the fan. */
  speedWhileOff?: "stores" | "stays-off-error" | "starts";
  /** Kute60 Home Away: H0D=1 stops the fan in the same report; a power-on write clears H0D. */
  homeAwayStopsFan?: boolean;
  /** AC / universal receivers: H06=2 toggles the direction. */
  directionToggle?: boolean;
  /** Universal receiver in a motor that cannot reverse: H06 writes are acked, then H06 0 is reported. */
  cannotReverse?: boolean;
}

export interface DeviceProfile {
  key: string;
  model: string;
  firmware: string;
  displayName: string;
  status: Registers;
  /** `get.data.fields`: deliberately not the same list as the status keys (H05 missing), as captured. */
  fields: string[];
  properties: Record<string, unknown>;
  behaviour: ProfileBehaviour;
  /** `profile.esh.device_id`: "F" (fan, the default) or "L" (light-only module). */
  deviceClass?: "F" | "L";
}

const FIELDS = ["H00", "H01", "H02", "H0E", "H06", "H0B", "H0D", "H0C"];

export const PROFILES = {
  /** Continuous DC fan with a dimmable light kit (FAN-FDR1L2), reports every write. */
  continuous: {
    key: "continuous",
    model: "OdynCustom-FDR1L2",
    firmware: "1.7.1",
    displayName: "Porch",
    status: { H00: 0, H01: 0, H02: 86, H05: 0, H06: 0, H0B: 0, H0C: 82, H0D: 0, H0E: 0 },
    fields: FIELDS,
    properties: { deviceHasBeenConfigured: true, ignoreUpdateVersion: "1.7.1" },
    behaviour: { offWithSpeed: "plain", speedWhileOff: "stores" },
  },
  /** Kute60-FD6R1L5 fw 3.2.9 as probed: ladder, unreported power writes, error acks, phantom light. */
  kute60: {
    key: "kute60",
    model: "Kute60-FD6R1L5",
    firmware: "3.2.9",
    displayName: "Bedroom",
    status: { H00: 1, H01: 0, H02: 50, H05: 0, H06: 0, H0B: 0, H0C: 0, H0D: 0, H0E: 0 },
    fields: FIELDS,
    properties: { deviceHasBeenConfigured: true, hideLightDimmer: true },
    behaviour: {
      speedSteps: [20, 35, 50, 65, 80, 100],
      unreportedPowerWrites: true,
      unreportedFullSpeedTriple: true,
      offWithSpeed: "error-ack",
      speedWhileOff: "stays-off-error",
      homeAwayStopsFan: true,
    },
  },
  /** Continuous fan with a tunable (CCT) light kit (FAN-FDR1L3): H04 holds 3000/4000/5000. */
  cct: {
    key: "cct",
    model: "Influx-FDR1L3",
    firmware: "1.7.1",
    displayName: "Living Room",
    status: { H00: 1, H01: 0, H02: 40, H04: 4000, H05: 0, H06: 1, H0B: 1, H0C: 60, H0D: 0, H0E: 0 },
    fields: [...FIELDS, "H04"],
    properties: { deviceHasBeenConfigured: true },
    behaviour: { offWithSpeed: "plain", speedWhileOff: "stores" },
  },
  /** SpitfireV2-FD6R2L5 (#249): off+speed bounces back on, speed while off starts; H04 without a tunable light. */
  spitfire: {
    key: "spitfire",
    model: "SpitfireV2-FD6R2L5",
    firmware: "3.6.7",
    displayName: "Patio",
    status: { H00: 0, H01: 0, H02: 30, H04: 0, H05: 0, H06: 0, H0E: 0 },
    fields: ["H00", "H01", "H02", "H0E", "H06"],
    properties: { deviceHasBeenConfigured: true },
    behaviour: { offWithSpeed: "bounce", speedWhileOff: "starts" },
  },
  /** A 3-speed AC family (FAN-FAR1L2): 33/66/100, H06=2 toggles. */
  ac3: {
    key: "ac3",
    model: "Brewmaster-FAR1L2",
    firmware: "1.6.1",
    displayName: "Garage",
    status: { H00: 0, H01: 0, H02: 33, H05: 0, H06: 0, H0B: 0, H0C: 50, H0D: 0, H0E: 0 },
    fields: FIELDS,
    properties: { deviceHasBeenConfigured: true },
    behaviour: { speedSteps: [33, 66, 100], directionToggle: true, offWithSpeed: "plain", speedWhileOff: "stores" },
  },
  /** Universal receiver in a motor that cannot reverse (#228): acks H06, then reports H06 0. */
  universal: {
    key: "universal",
    model: "FanSync-UAR1L2",
    firmware: "1.7.1",
    displayName: "Den",
    status: { H00: 0, H01: 0, H02: 66, H05: 0, H06: 0, H0B: 0, H0C: 50, H0D: 0, H0E: 0 },
    fields: FIELDS,
    properties: { deviceHasBeenConfigured: true, hideFanDirection: true },
    behaviour: { speedSteps: [33, 66, 100], cannotReverse: true, offWithSpeed: "plain", speedWhileOff: "stores" },
  },
  /** Corke fixture: CCT presets 2700/3000/3500/4000/5000. */
  corke: {
    key: "corke",
    model: "Corke36-FD6R1L5",
    firmware: "3.2.9",
    displayName: "Study",
    status: { H00: 0, H01: 0, H02: 50, H04: 2700, H05: 0, H06: 0, H0B: 1, H0C: 100, H0D: 0, H0E: 0 },
    fields: [...FIELDS, "H04"],
    properties: { deviceHasBeenConfigured: true },
    behaviour: { offWithSpeed: "plain", speedWhileOff: "stores" },
  },
  /** Light-only module (LIGHT-L2): H00 is the light, H02 its dimmer, H04/H05 its timers; no fan. */
  lightOnly: {
    key: "lightOnly",
    model: "FanSyncLight-L2",
    firmware: "1.6.1",
    displayName: "Hallway",
    status: { H00: 0, H02: 70, H04: 0, H05: 0, H0D: 0, H0E: 0 },
    fields: ["H00", "H02", "H0E", "H0D"],
    properties: { deviceHasBeenConfigured: true },
    behaviour: { offWithSpeed: "plain", speedWhileOff: "stores" },
    deviceClass: "L",
  },
  /** A model in no family and no table, holding odd speeds 25/45/70/100 (rounds down), no light. */
  oddSteps: {
    key: "oddSteps",
    model: "Zephyr52-FD9R1L0",
    firmware: "2.0.4",
    displayName: "Attic",
    status: { H00: 1, H01: 0, H02: 45, H05: 0, H06: 0, H0D: 0, H0E: 0 },
    fields: ["H00", "H01", "H02", "H0E", "H06", "H0D"],
    properties: { deviceHasBeenConfigured: true },
    behaviour: { speedSteps: [25, 45, 70, 100], offWithSpeed: "plain", speedWhileOff: "stores" },
  },
} satisfies Record<string, DeviceProfile>;

export type ProfileKey = keyof typeof PROFILES;

/** `get.data.profile.esh` of a device: "F" fan or "L" light-only module, and its model. */
export function eshOf(profile: DeviceProfile): Record<string, unknown> {
  return {
    brand: "Fanimation",
    esh_version: "0.0.4",
    class: 0,
    device_id: profile.deviceClass ?? "F",
    model: profile.model,
  };
}

export interface WriteOutcome {
  /** The device's real state afterwards. */
  state: Registers;
  /** Full register snapshots the device reports, in order; empty = the write is never reported. */
  reports: Registers[];
  /** The device's (second) acknowledgement. */
  ack: "ok" | "error";
}

/** What a requested speed becomes on this device. */
export function normaliseSpeed(b: ProfileBehaviour, requested: number): number {
  let n = Math.max(0, Math.min(100, Math.trunc(requested)));
  if (b.speedSteps?.length) {
    const steps = [...b.speedSteps].sort((x, y) => x - y);
    let held = steps[0]!;
    for (const s of steps) if (s <= n) held = s;
    n = held;
  }
  if (b.clampMax !== undefined && n >= 100) n = b.clampMax;
  return n;
}

function sameKeys(data: Registers, keys: string[]): boolean {
  const k = Object.keys(data).sort();
  return k.length === keys.length && k.every((x, i) => x === [...keys].sort()[i]);
}

/** Apply one `set` payload to a device's real state. Pure. */
export function applyWrite(b: ProfileBehaviour, current: Registers, data: Registers): WriteOutcome {
  const s: Registers = { ...current };
  const has = (k: string): boolean => Object.hasOwn(data, k);
  const wasOn = s.H00 === 1;

  if (
    b.unreportedFullSpeedTriple &&
    sameKeys(data, ["H00", "H01", "H02"]) &&
    data.H00 === 1 &&
    data.H02 === 100 &&
    data.H01 === 0
  ) {
    s.H00 = 1;
    s.H01 = 0;
    s.H02 = normaliseSpeed(b, 100);
    if (b.homeAwayStopsFan && has("H0D") === false && s.H0D !== undefined) s.H0D = 0;
    return { state: s, reports: [], ack: "ok" };
  }

  if (has("H00") && has("H02") && data.H00 === 0) {
    const mode = b.offWithSpeed ?? "plain";
    for (const [k, v] of Object.entries(data)) s[k] = v;
    s.H02 = normaliseSpeed(b, data.H02!);
    if (mode === "bounce") {
      const off = { ...s, H00: 0 };
      const on = { ...s, H00: 1 };
      return { state: on, reports: [off, on], ack: "ok" };
    }
    return { state: s, reports: [{ ...s }], ack: mode === "error-ack" ? "error" : "ok" };
  }

  if (has("H02") && !has("H00") && !wasOn) {
    const mode = b.speedWhileOff ?? "stores";
    if (mode === "stays-off-error") return { state: s, reports: [{ ...s, H00: 0 }], ack: "error" };
    for (const [k, v] of Object.entries(data)) s[k] = v;
    s.H02 = normaliseSpeed(b, data.H02!);
    if (mode === "starts") s.H00 = 1;
    return { state: s, reports: [{ ...s }], ack: "ok" };
  }

  for (const [k, v] of Object.entries(data)) {
    if (k === "H02") s.H02 = normaliseSpeed(b, v);
    else if (k === "H06" && b.cannotReverse) s.H06 = 0;
    else if (k === "H06" && b.directionToggle && v === 2) s.H06 = s.H06 === 1 ? 0 : 1;
    else s[k] = v;
  }
  if (b.homeAwayStopsFan) {
    if (data.H0D === 1) s.H00 = 0;
    else if (data.H00 === 1 && s.H0D !== undefined) s.H0D = 0;
  }
  const unreported = b.unreportedPowerWrites === true && has("H00") && !has("H02");
  return { state: s, reports: unreported ? [] : [{ ...s }], ack: "ok" };
}
