// The camera's controls in the vendor-neutral model, both ways (docs/protocols/nanit.md §5.3, §6):
// what a Settings / Control / Playback message means for the device state, and which requests a
// command becomes. Pure: the driver sends the requests and applies the patches.
import type {
  Capabilities,
  Command,
  DeviceState,
  SoundMachineState,
  SoundTrack,
  StatePatch,
} from "../../core/model.ts";
import type { ControlMsg, PlaybackMsg, RequestPayload, SettingsMsg, SoundtrackMsg } from "./proto.ts";

export const STANDBY = "standby";
export const NIGHT_VISION = "nightVision";
export const NIGHT_VISION_ALWAYS_ON = "nightVisionAlwaysOn";
export const STATUS_LIGHT = "statusLight";
export const MIC_MUTE = "micMute";

/** What `hide` in the config can leave out (README "Nanit"). `nightVision` hides both night-vision switches. */
export const CAMERA_ITEMS = [
  "nightLight",
  "standby",
  "volume",
  "soundMachine",
  "nightVision",
  "statusLight",
  "micMute",
  "lightLevel",
  "night",
  "temperature",
  "humidity",
  "motion",
  "sound",
] as const;
export type CameraItem = (typeof CAMERA_ITEMS)[number];

type NightVision = NonNullable<SettingsMsg["night_vision"]>;

/** The capabilities of a camera: everything it has, minus what the config hides. */
export function cameraCapabilities(tracks: SoundTrack[] | undefined, hide: ReadonlySet<string>): Capabilities {
  const shown = (item: CameraItem): boolean => !hide.has(item);
  const caps: Capabilities = {};
  if (shown("temperature")) caps.temperature = {};
  if (shown("humidity")) caps.humidity = {};
  if (shown("motion")) caps.motion = {};
  if (shown("sound")) caps.sound = {};
  if (shown("lightLevel")) caps.lightLevel = {};
  if (shown("night")) caps.night = {};
  if (shown("nightLight")) caps.light = { dimmable: true, label: "Night light" };
  if (shown("volume")) caps.volume = { label: "Volume" };
  // Known once the camera listed its tracks (GET_SOUNDTRACKS); a camera without any has no sound machine.
  if (shown("soundMachine") && tracks?.length) caps.soundMachine = { label: "Sound machine", tracks };
  const switches: NonNullable<Capabilities["switches"]> = {};
  if (shown("standby")) switches[STANDBY] = { label: "Standby" };
  if (shown("nightVision")) {
    switches[NIGHT_VISION] = { label: "Night vision" };
    switches[NIGHT_VISION_ALWAYS_ON] = { label: "Night vision 24h" };
  }
  if (shown("statusLight")) switches[STATUS_LIGHT] = { label: "Status light" };
  if (shown("micMute")) switches[MIC_MUTE] = { label: "Mic mute" };
  if (Object.keys(switches).length) caps.switches = switches;
  return caps;
}

/** Track list from GET_SOUNDTRACKS: the file name is the id, the name without extension the label. */
export function tracksOf(soundtracks: SoundtrackMsg[] | undefined): SoundTrack[] {
  const out: SoundTrack[] = [];
  for (const t of soundtracks ?? []) {
    const id = t.filename;
    if (typeof id !== "string" || !id || id.length > 200 || out.some((o) => o.id === id)) continue;
    const label =
      id
        .replace(/\.[A-Za-z0-9]{1,5}$/, "")
        .replace(/[_-]+/g, " ")
        .trim() || id;
    out.push({ id, label: label.slice(0, 64) });
  }
  return out;
}

/** Night vision as two switches: "Night vision" (auto or on) and "always on" (on). HomeKit and Matter
 * have no three-way switch; these two show and set all three values (README "Nanit"). */
function nightVisionSwitches(nv: NightVision): Record<string, boolean> {
  return { [NIGHT_VISION]: nv !== "NV_OFF", [NIGHT_VISION_ALWAYS_ON]: nv === "NV_ON" };
}

function nightVisionOf(state: DeviceState): NightVision {
  const s = state.switches ?? {};
  if (s[NIGHT_VISION] === false) return "NV_OFF";
  if (s[NIGHT_VISION_ALWAYS_ON]) return "NV_ON";
  return s[NIGHT_VISION] ? "NV_AUTO" : "NV_OFF";
}

function percent(value: number): number {
  return Math.max(0, Math.min(100, Math.round(value)));
}

/**
 * The state a Settings message says. `full`: a whole GET_SETTINGS answer, which leaves out false
 * booleans and zero enums (proto2), so absent means false / NV_OFF; a delta (PUT_SETTINGS) carries
 * only what changed, so absent means unchanged.
 */
export function settingsPatch(s: SettingsMsg | undefined, full: boolean): StatePatch {
  const patch: StatePatch = {};
  const switches: Record<string, boolean> = {};
  const flag = (key: string, value: boolean | undefined): void => {
    if (value !== undefined || full) switches[key] = value ?? false;
  };
  flag(STANDBY, s?.sleep_mode);
  flag(STATUS_LIGHT, s?.status_light_on);
  flag(MIC_MUTE, s?.mic_mute_on);
  if (s?.night_vision !== undefined || full) Object.assign(switches, nightVisionSwitches(s?.night_vision ?? "NV_OFF"));
  if (Object.keys(switches).length) patch.switches = switches;
  if (typeof s?.volume === "number") patch.volume = percent(s.volume);
  // LightState.brightness is 1-100: a camera at 0 is as dark as it goes.
  if (typeof s?.night_light_brightness === "number")
    patch.light = { brightness: Math.max(1, percent(s.night_light_brightness)) };
  return patch;
}

export function controlPatch(c: ControlMsg | undefined): StatePatch {
  return c?.night_light === undefined ? {} : { light: { on: c.night_light === "LIGHT_ON" } };
}

/** GET_PLAYBACK's answer. Status is required in every schema that has it, so it is on the wire. */
export function playbackPatch(p: PlaybackMsg | undefined): Partial<SoundMachineState> | undefined {
  if (!p || p.status === undefined) return undefined;
  const track = p.current?.filename ?? p.tracks?.[0]?.filename;
  return { on: p.status === "STARTED", ...(track ? { track } : {}) };
}

/** Keep only the parts of a patch the capabilities show (hidden items are neither reported nor sent). */
export function visiblePatch(patch: StatePatch, caps: Capabilities): StatePatch {
  const out: StatePatch = {};
  if (patch.light && caps.light) out.light = patch.light;
  if (patch.volume !== undefined && caps.volume) out.volume = patch.volume;
  if (patch.soundMachine && caps.soundMachine) out.soundMachine = patch.soundMachine;
  if (patch.switches) {
    const switches = Object.fromEntries(Object.entries(patch.switches).filter(([k]) => caps.switches?.[k]));
    if (Object.keys(switches).length) out.switches = switches;
  }
  return out;
}

/** One request a command becomes, with the state the camera holds once it answered 200. */
export interface CameraWrite {
  type: "PUT_SETTINGS" | "PUT_CONTROL" | "PUT_PLAYBACK";
  payload: RequestPayload;
  /** For error messages: "could not <what>". */
  what: string;
  patch: StatePatch;
}

const ON_OFF = (on: boolean): string => (on ? "on" : "off");

/**
 * The requests for a command, in the order they go out: one PUT_SETTINGS holding only the changed
 * fields (a full write would reset the others, docs/protocols/nanit.md §5.3), then PUT_CONTROL for the
 * night light (after its brightness, so it comes on at the new level), then PUT_PLAYBACK. Throws for
 * anything the camera (as configured) does not have.
 */
export function planCommand(command: Command, state: DeviceState, caps: Capabilities, name: string): CameraWrite[] {
  const refused: string[] = [];
  for (const [part, value] of Object.entries(command)) {
    if (value === undefined) continue;
    if (part === "switches") {
      for (const key of Object.keys(value as object)) if (!caps.switches?.[key]) refused.push(`switches.${key}`);
    } else if (!["light", "volume", "soundMachine"].includes(part) || !caps[part as keyof Capabilities]) {
      refused.push(part);
    }
  }
  if (command.light?.colorTemperatureK !== undefined) refused.push("light.colorTemperatureK");
  if (
    command.soundMachine?.track !== undefined &&
    !caps.soundMachine?.tracks.some((t) => t.id === command.soundMachine?.track)
  )
    refused.push(`the track "${String(command.soundMachine.track).slice(0, 80)}"`);
  if (refused.length) {
    const has = [
      ...(caps.light ? ["light"] : []),
      ...(caps.volume ? ["volume"] : []),
      ...(caps.soundMachine ? ["soundMachine"] : []),
      ...Object.keys(caps.switches ?? {}).map((k) => `switches.${k}`),
    ];
    throw new Error(`${name} cannot do ${refused.join(", ")} (it has ${has.join(", ") || "no controls"})`);
  }

  const writes: CameraWrite[] = [];
  const settings: SettingsMsg = {};
  const what: string[] = [];
  const sw = command.switches ?? {};
  if (sw[STANDBY] !== undefined) {
    settings.sleep_mode = sw[STANDBY];
    what.push(`turn standby ${ON_OFF(sw[STANDBY])}`);
  }
  if (sw[STATUS_LIGHT] !== undefined) {
    settings.status_light_on = sw[STATUS_LIGHT];
    what.push(`turn the status light ${ON_OFF(sw[STATUS_LIGHT])}`);
  }
  if (sw[MIC_MUTE] !== undefined) {
    settings.mic_mute_on = sw[MIC_MUTE];
    what.push(`turn mic mute ${ON_OFF(sw[MIC_MUTE])}`);
  }
  if (sw[NIGHT_VISION] !== undefined || sw[NIGHT_VISION_ALWAYS_ON] !== undefined) {
    let nv = nightVisionOf(state);
    // "Night vision" on keeps "always on"; "always on" off falls back to auto, not off.
    if (sw[NIGHT_VISION] === true && nv === "NV_OFF") nv = "NV_AUTO";
    if (sw[NIGHT_VISION] === false) nv = "NV_OFF";
    if (sw[NIGHT_VISION_ALWAYS_ON] === true) nv = "NV_ON";
    if (sw[NIGHT_VISION_ALWAYS_ON] === false && nv === "NV_ON") nv = "NV_AUTO";
    if (nv !== nightVisionOf(state) || !state.switches || state.switches[NIGHT_VISION] === undefined) {
      settings.night_vision = nv;
      what.push(`set night vision to ${nv.slice(3).toLowerCase()}`);
    }
  }
  if (command.volume !== undefined) {
    settings.volume = percent(command.volume);
    what.push(`set the volume to ${settings.volume} %`);
  }
  if (command.light?.brightness !== undefined) {
    settings.night_light_brightness = Math.max(1, percent(command.light.brightness));
    what.push(`set the night light to ${settings.night_light_brightness} %`);
  }
  if (Object.keys(settings).length)
    writes.push({
      type: "PUT_SETTINGS",
      payload: { settings },
      what: what.join(", "),
      patch: settingsPatch(settings, false),
    });
  if (command.light?.on !== undefined) {
    const on = command.light.on;
    writes.push({
      type: "PUT_CONTROL",
      payload: { control: { night_light: on ? "LIGHT_ON" : "LIGHT_OFF" } },
      what: `turn the night light ${ON_OFF(on)}`,
      patch: { light: { on } },
    });
  }
  const sm = command.soundMachine;
  if (sm && (sm.on !== undefined || sm.track !== undefined)) {
    // Choosing a track plays it; "on" alone plays the track last played (or the first).
    const on = sm.track !== undefined ? sm.on !== false : sm.on === true;
    const track = sm.track ?? state.soundMachine?.track ?? caps.soundMachine!.tracks[0]!.id;
    const playback: PlaybackMsg = on ? { status: "STARTED", tracks: [{ filename: track }] } : { status: "STOPPED" };
    writes.push({
      type: "PUT_PLAYBACK",
      payload: { playback },
      what: on ? `play "${track}" on the sound machine` : "stop the sound machine",
      patch: { soundMachine: on ? { on, track } : { on } },
    });
  }
  return writes;
}
