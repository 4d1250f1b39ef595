// The X-Sense model catalogue, as data (docs/protocols/xsense.md §5.1, §5.2, §6): what each model can do, how
// its AWS IoT thing is named and which shadow writes run its self-test and mute. A new model is one row.
import type { AlarmControlsCapability, Capabilities } from "../../core/model.ts";

export type AlarmKind = "smoke-alarm" | "co-alarm" | "combo-alarm" | "heat-alarm" | "alarm-listener";
export type SensorKind = "leak-sensor" | "climate-sensor";

/** How the thing that holds a device's shadows is named. */
export type ThingNaming =
  /** `SBS50{stationSn}` (SBS50 and all its children). */
  | "sbs50"
  /** `{stationSn}` with no prefix (SBS10 and its children). */
  | "bare"
  /** `{model}-{sn}` (dashed Wi-Fi models). */
  | "dashed"
  /** `{model}{sn}` (other Wi-Fi models). */
  | "plain"
  /** XS01-WX: dashed when the serial holds EN or UL (v9 hardware), else plain. */
  | "xs01wx";

export interface SelfTestRoute {
  /** Shadow name prefix; the device SN is appended: `2nd_selftest_` or `appselftest_`. */
  topic: "2nd_selftest_" | "appselftest_";
  /** The desired `shadow` field. */
  shadow: string;
  userParam?: boolean;
  /** `time` as epoch milliseconds (2nd_selftest app routes) instead of YYYYMMDDHHMMSS UTC; "none" sends no time. */
  time?: "utc" | "ms" | "none";
}

export interface MuteRoute {
  topic: "2nd_appmute" | "appmute";
  shadow: string;
  userParam?: boolean;
  /** CO-capable: muteType "1" when standard == "0" (EN) and coPpm > 210. */
  coSensitive?: boolean;
}

/** Wi-Fi detectors that sleep between check-ins: reachable while their last check-in (`onlineTime`) is at
 * most this many hours old (docs/protocols/xsense.md §5.4). */
export type CheckInHours = 34 | 49;

export interface ModelSpec {
  kind: AlarmKind | SensorKind | "station" | "ignored";
  smoke?: boolean;
  co?: boolean;
  coPpm?: boolean;
  /** Reports the highest CO level it measured (`peak.coPpmPeak`). */
  coPeak?: boolean;
  heat?: boolean;
  /** An alarm listener: its alarm flag is the alarm it hears, smoke or CO, told apart as on a combo detector. */
  listener?: boolean;
  /** A water leak sensor: its alarm flag means water. */
  leak?: boolean;
  /** A thermo-hygrometer: temperature and humidity (its alarm flag is a threshold alarm, not shown). */
  climate?: boolean;
  /** Fresh readings can be asked for (`2nd_apptempdata`, docs/protocols/xsense.md §6). */
  liveRead?: boolean;
  /** Sleeps between check-ins (see CheckInHours); absent: reachability from its online flags. */
  checkInHours?: CheckInHours;
  /** Battery reported (batInfo 0-3). */
  battery?: boolean;
  /** Standalone Wi-Fi detector: listed as a station in 103007, state in house-level shadows. */
  wifi?: boolean;
  /** Naming of the device's own thing (Wi-Fi devices and stations). */
  thing?: ThingNaming;
  selfTest?: SelfTestRoute;
  mute?: MuteRoute;
  /** Human note for ignored models. */
  note?: string;
}

const SELFTEST_2ND: SelfTestRoute = { topic: "2nd_selftest_", shadow: "app2ndSelfTest", userParam: true, time: "ms" };
const MUTE_2ND: MuteRoute = { topic: "2nd_appmute", shadow: "app2ndMute", userParam: true };
const RF = { battery: true } as const;

const smokeRf = (extra: Partial<ModelSpec> = {}): ModelSpec => ({
  kind: "smoke-alarm",
  smoke: true,
  ...RF,
  selfTest: SELFTEST_2ND,
  mute: MUTE_2ND,
  ...extra,
});
const comboRf = (extra: Partial<ModelSpec> = {}): ModelSpec => ({
  kind: "combo-alarm",
  smoke: true,
  co: true,
  coPpm: true,
  coPeak: true,
  ...RF,
  selfTest: SELFTEST_2ND,
  mute: { topic: "2nd_appmute", shadow: "appSc07mrMute", coSensitive: true },
  ...extra,
});
const wifi = (kind: AlarmKind, thing: ThingNaming, extra: Partial<ModelSpec> = {}): ModelSpec => ({
  kind,
  smoke: kind === "smoke-alarm" || kind === "combo-alarm",
  co: kind === "co-alarm" || kind === "combo-alarm",
  coPpm: kind === "co-alarm" || kind === "combo-alarm",
  coPeak: kind === "co-alarm" || kind === "combo-alarm",
  battery: true,
  wifi: true,
  thing,
  mute: { topic: "2nd_appmute", shadow: "appMute" },
  checkInHours: 34,
  ...extra,
});
/** Wi-Fi models that report no check-in time the app trusts: reachability from their online flags. */
const AWAKE = { checkInHours: undefined } as const;
const WIFI_SELFTEST: SelfTestRoute = { topic: "2nd_selftest_", shadow: "appSelfTest", userParam: true, time: "ms" };
const listener = (): ModelSpec => ({
  kind: "alarm-listener",
  listener: true,
  smoke: true,
  co: true,
  ...RF,
  selfTest: { topic: "2nd_selftest_", shadow: "listenerSelfTest", time: "ms" },
  mute: { topic: "2nd_appmute", shadow: "appListener" },
});
const climateRf = (): ModelSpec => ({ kind: "climate-sensor", climate: true, ...RF, liveRead: true });
const leakRf = (extra: Partial<ModelSpec>): ModelSpec => ({ kind: "leak-sensor", leak: true, ...RF, ...extra });

/** Known models. Children of an SBS50 use the station's thing; Wi-Fi models have their own. */
export const MODELS: Record<string, ModelSpec> = {
  // Base stations: bridges of their detectors, never alarms themselves.
  SBS50: { kind: "station", thing: "sbs50" },
  SBS10: { kind: "station", thing: "bare" },

  // RF smoke
  "XS01-M": smokeRf({
    selfTest: { topic: "2nd_selftest_", shadow: "appSelfTest", userParam: true, time: "ms" },
    mute: { topic: "2nd_appmute", shadow: "appMute" },
  }),
  "XS03-iWX": smokeRf({
    selfTest: { topic: "2nd_selftest_", shadow: "appSelfTest", userParam: true, time: "ms" },
    mute: { topic: "2nd_appmute", shadow: "appMute" },
  }),
  "XS0B-MR": smokeRf(),
  "XS0D-MR": smokeRf({ mute: { topic: "2nd_appmute", shadow: "appMute" } }),
  "XP02S-MR": smokeRf({ mute: { topic: "2nd_appmute", shadow: "appMute" } }),
  "SD11-MR": smokeRf({ mute: { topic: "2nd_appmute", shadow: "appMute" } }),
  "SD19-MN": smokeRf(),
  "SK0Z-3S": smokeRf(),
  "XS0X-MN": smokeRf(),
  "XS0F-PMA": smokeRf(),
  "LP/N-SA-0B": smokeRf(),
  // RF CO
  "XC01-M": {
    kind: "co-alarm",
    co: true,
    coPpm: true,
    coPeak: true,
    ...RF,
    selfTest: { topic: "2nd_selftest_", shadow: "appCoSelfTest", time: "ms" },
    mute: { topic: "2nd_appmute", shadow: "appCoMute", coSensitive: true },
  },
  "XC0C-MR": {
    kind: "co-alarm",
    co: true,
    coPpm: true,
    coPeak: true,
    ...RF,
    selfTest: SELFTEST_2ND,
    mute: { ...MUTE_2ND, coSensitive: true },
  },
  // RF heat
  "XH02-M": {
    kind: "heat-alarm",
    heat: true,
    ...RF,
    selfTest: { topic: "2nd_selftest_", shadow: "appXh02mSelfTest", userParam: true, time: "ms" },
    mute: { topic: "2nd_appmute", shadow: "appXh02mMute" },
  },
  // RF smoke + CO
  "SC07-MR": comboRf(),
  "XP0A-MR": comboRf({ mute: { topic: "2nd_appmute", shadow: "appXp0amrMute", coSensitive: true } }),
  "XP0H-MR": comboRf(),
  "XP0P-MR": comboRf(),
  "SC01-MN": comboRf({ mute: { ...MUTE_2ND, coSensitive: true } }),
  "SC01-MR": comboRf(),
  "CB0Z-3S": comboRf({ mute: { ...MUTE_2ND, coSensitive: true } }),
  "LP/N-SCA-0A": comboRf({ mute: { ...MUTE_2ND, coSensitive: true } }),

  // Standalone Wi-Fi smoke
  "XS01-WX": wifi("smoke-alarm", "xs01wx", { mute: { topic: "appmute", shadow: "appMute" } }),
  "XS03-WX": wifi("smoke-alarm", "plain", { selfTest: WIFI_SELFTEST }),
  "XS0B-iR": wifi("smoke-alarm", "dashed"),
  "XS0E-iR": wifi("smoke-alarm", "plain", { selfTest: WIFI_SELFTEST }),
  "XS0R-iA": wifi("smoke-alarm", "dashed", { selfTest: WIFI_SELFTEST, ...AWAKE }),
  "XS0AA-iA": wifi("smoke-alarm", "dashed", { selfTest: WIFI_SELFTEST, ...AWAKE }),
  "XS0AB-iA": wifi("smoke-alarm", "dashed", { selfTest: WIFI_SELFTEST, ...AWAKE }),
  // Standalone Wi-Fi CO
  "XC04-WX": wifi("co-alarm", "dashed", { selfTest: WIFI_SELFTEST }),
  "XC0C-iA": wifi("co-alarm", "dashed", { selfTest: WIFI_SELFTEST }),
  "XC0C-iR": wifi("co-alarm", "dashed", { selfTest: WIFI_SELFTEST }),
  "XC0M-iR": wifi("co-alarm", "dashed", { selfTest: WIFI_SELFTEST }),
  // Standalone Wi-Fi combo
  "SC06-WX": wifi("combo-alarm", "dashed", { mute: undefined }),
  "SC07-WX": wifi("combo-alarm", "dashed", { selfTest: WIFI_SELFTEST }),
  "SC07-iA": wifi("combo-alarm", "dashed", { selfTest: WIFI_SELFTEST, ...AWAKE }),
  "XP0A-iR": wifi("combo-alarm", "dashed", { selfTest: WIFI_SELFTEST }),
  "XP0H-iR": wifi("combo-alarm", "dashed", { selfTest: WIFI_SELFTEST }),
  ...Object.fromEntries(
    ["J", "S", "T", "V", "W"].map((l) => [
      `XP0${l}-iA`,
      wifi("combo-alarm", "dashed", { selfTest: WIFI_SELFTEST, ...AWAKE }),
    ]),
  ),

  // Alarm listeners (SBS50 children): the smoke or CO alarm they hear.
  ...Object.fromEntries(["SAL51", "SAL100"].map((m) => [m, listener()])),
  // Thermo-hygrometers: SBS50 children, and the Wi-Fi STH0C (its own thing; no live read, no check-in time).
  STH51: climateRf(),
  STH0A: climateRf(),
  STH0B: climateRf(),
  STH0C: { kind: "climate-sensor", climate: true, battery: true, wifi: true, thing: "dashed" },
  // Water leak sensors: SBS50 children, and the Wi-Fi SWS0B (its own thing, checks in every 49 h at most).
  SWS51: leakRf({ selfTest: { topic: "2nd_selftest_", shadow: "waterSelfTest", time: "ms" } }),
  SWS0A: leakRf({ selfTest: { topic: "2nd_selftest_", shadow: "waterSelfTest", userParam: true, time: "ms" } }),
  SWS0B: { kind: "leak-sensor", leak: true, battery: true, wifi: true, thing: "dashed", checkInHours: 49 },
  "XR0A-iR": { kind: "ignored", note: "radon sensor" },
};

/** Wi-Fi models whose shadows also need no `-` (handled by ThingNaming); kept for documentation. */
export function modelSpec(model: string): ModelSpec | undefined {
  // Own keys only: a model named "constructor" or "toString" must not find Object.prototype's.
  return Object.hasOwn(MODELS, model) ? MODELS[model] : undefined;
}

/** Guess a spec for a model not in the catalogue from its name prefix and what its shadow reports. */
export function inferSpec(
  model: string,
  reported: Record<string, unknown>,
  wifiDevice: boolean,
): ModelSpec | undefined {
  const m = model.toUpperCase();
  let smoke = /^(XS|SD|SK|LP\/N-SA)/.test(m);
  let co = /^XC/.test(m);
  const heat = /^XH/.test(m);
  if (/^(SC|XP|CB|LP\/N-SCA)/.test(m)) {
    smoke = true;
    co = /^(SC|XP0[AHPJSTVW]|CB|LP\/N-SCA)/.test(m);
  }
  if ("coPpm" in reported || "coLevel" in reported) co = true;
  if (!smoke && !co && !heat) return undefined;
  const kind: AlarmKind = smoke && co ? "combo-alarm" : co ? "co-alarm" : heat ? "heat-alarm" : "smoke-alarm";
  return { kind, smoke, co, coPpm: co, heat, battery: true, wifi: wifiDevice, thing: wifiDevice ? "plain" : undefined };
}

/** What the owner turned on for a detector (opt-in, README "Hush and self-test switches"). */
export type ControlsWanted = { hush?: boolean; selfTest?: boolean };

/** The account's choice: every detector (true) or those whose serial is listed. */
export interface XSenseControls {
  hush?: boolean | string[];
  selfTest?: boolean | string[];
}

/** What the account's choice turns on for one detector. */
export function wantedFor(controls: XSenseControls, serial: string): ControlsWanted {
  const pick = (choice: boolean | string[] | undefined) => (Array.isArray(choice) ? choice.includes(serial) : !!choice);
  return { hush: pick(controls.hush), selfTest: pick(controls.selfTest) };
}

/** The momentary controls a model gets: those wanted that it can do. */
export function controlsOf(spec: ModelSpec, wanted: ControlsWanted = {}): AlarmControlsCapability | undefined {
  const alarm = spec.smoke || spec.co || spec.heat;
  const hush = !!wanted.hush && alarm && spec.mute !== undefined;
  const selfTest = !!wanted.selfTest && alarm && spec.selfTest !== undefined;
  return hush || selfTest ? { ...(hush ? { hush } : {}), ...(selfTest ? { selfTest } : {}) } : undefined;
}

/** The core capabilities of a model (with the momentary controls the owner asked for and it can do). */
export function capabilitiesOf(spec: ModelSpec, wanted: ControlsWanted = {}): Capabilities {
  const caps: Capabilities = {};
  const selfTest = spec.selfTest !== undefined;
  const mute = spec.mute !== undefined;
  const alarm = { ...(selfTest ? { selfTest: true } : {}), ...(mute ? { mute: true } : {}) };
  if (spec.smoke) caps.smokeAlarm = { ...alarm };
  if (spec.co) {
    caps.coAlarm = { ...alarm, ppm: spec.coPpm === true, ...(spec.coPeak && spec.coPpm ? { peak: true } : {}) };
  }
  if (spec.heat) caps.heatAlarm = { ...alarm };
  if (spec.leak) caps.leak = {};
  if (spec.climate) {
    caps.temperature = {};
    caps.humidity = {};
  }
  if (spec.battery) caps.battery = { level: true };
  const controls = controlsOf(spec, wanted);
  if (controls) caps.alarmControls = controls;
  return caps;
}

/** The thing holding a Wi-Fi device's or station's own shadows. */
export function thingName(naming: ThingNaming | undefined, model: string, sn: string): string {
  switch (naming) {
    case "sbs50":
      return `SBS50${sn}`;
    case "bare":
      return sn;
    case "dashed":
      return `${model}-${sn}`;
    case "xs01wx":
      return /EN|UL/.test(sn) ? `XS01-WX-${sn}` : `XS01-WX${sn}`;
    case "plain":
    case undefined:
      return `${model}${sn}`;
  }
}
