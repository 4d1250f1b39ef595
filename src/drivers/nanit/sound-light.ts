// The Sound & Light Machine's frames and their meaning (docs/protocols/nanit.md §4.7): the codec for
// proto/sound_light.proto and the mapping between its Settings and the vendor-neutral model. Pure.
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";
import type { Capabilities, Command, SoundTrack, StatePatch } from "../../core/model.ts";
import { NanitFrameError } from "./proto.ts";
import { appPath } from "../../core/app-root.ts";

export const SL_PROTO_PATH = appPath("proto", "sound_light.proto");
const root = protobuf.parse(readFileSync(SL_PROTO_PATH, "utf8"), { keepCase: true }).root;
const MessageType = root.lookupType("nanit.sl.Message");

export interface SlSettings {
  brightness?: number;
  color?: { no_color?: boolean; hue?: number; saturation?: number };
  volume?: number;
  sound?: { no_sound?: boolean; track?: string };
  is_on?: boolean;
  sound_list?: { tracks?: string[] };
  temperature?: number;
  humidity?: number;
}

export interface SlMessage {
  request?: {
    id?: number;
    get_settings?: { all?: boolean };
    settings?: SlSettings;
    status?: { temperature?: number; humidity?: number };
    get_status?: { all?: boolean };
    session_id?: string;
  };
  response?: {
    request_id?: number;
    status_code?: number;
    status_message?: string;
    settings?: SlSettings;
    status?: { temperature?: number; humidity?: number };
  };
  backend?: { device?: { status?: "DISCONNECTED" | "CONNECTED" } };
}

export function encodeSl(message: SlMessage): Uint8Array {
  const instance = MessageType.fromObject(message);
  const problem = MessageType.verify(instance);
  if (problem) throw new NanitFrameError("cannot encode", `cannot encode a Sound & Light message: ${problem}`);
  return MessageType.encode(instance).finish();
}

export function decodeSl(bytes: Uint8Array): SlMessage {
  try {
    const decoded = MessageType.decode(bytes);
    return MessageType.toObject(decoded, { enums: String, longs: Number, defaults: false }) as SlMessage;
  } catch (error) {
    throw new NanitFrameError("not protobuf", `not a Sound & Light message: ${(error as Error).message}`);
  }
}

/** Floats on the wire (0.0-1.0) to percent, and back. */
const toPercent = (f: number): number => Math.max(0, Math.min(100, Math.round(f * 100)));
const toFloat = (p: number): number => Math.max(0, Math.min(100, Math.round(p))) / 100;

/** Track names from the device's sound list (names are ids and labels both). */
export function slTracks(settings: SlSettings | undefined): SoundTrack[] | undefined {
  const names = settings?.sound_list?.tracks?.filter((t) => typeof t === "string" && t && t.length <= 200);
  if (!names?.length) return undefined;
  return [...new Set(names)].map((id) => ({ id, label: id.slice(0, 64) }));
}

export function soundLightCapabilities(tracks: SoundTrack[] | undefined): Capabilities {
  return {
    light: { dimmable: true, color: true, label: "Light" },
    volume: { label: "Volume" },
    ...(tracks?.length ? { soundMachine: { label: "Sound", tracks } } : {}),
    temperature: {},
    humidity: {},
  };
}

/**
 * The state a Settings message says. The light and the sound are "on" when the device is on and their
 * inverted flag (no_color / no_sound) is absent or false; the device's own power (is_on) switches both.
 */
export function slStatePatch(s: SlSettings | undefined, powered: boolean | undefined): StatePatch {
  const patch: StatePatch = {};
  if (!s) return patch;
  const on = s.is_on ?? powered;
  const light: NonNullable<StatePatch["light"]> = {};
  if (typeof s.brightness === "number") light.brightness = Math.max(1, toPercent(s.brightness));
  if (s.color) {
    if (on !== undefined) light.on = on && s.color.no_color !== true;
    if (typeof s.color.hue === "number") light.hue = Math.round(Math.max(0, Math.min(1, s.color.hue)) * 360);
    if (typeof s.color.saturation === "number") light.saturation = toPercent(s.color.saturation);
  } else if (s.is_on === false) light.on = false;
  if (Object.keys(light).length) patch.light = light;
  if (typeof s.volume === "number") patch.volume = toPercent(s.volume);
  if (s.sound) {
    const sound: NonNullable<StatePatch["soundMachine"]> = {};
    if (on !== undefined) sound.on = on && s.sound.no_sound !== true;
    if (s.sound.track) sound.track = s.sound.track;
    patch.soundMachine = sound;
  } else if (s.is_on === false) patch.soundMachine = { on: false };
  if (typeof s.temperature === "number" && s.temperature > -40 && s.temperature < 80)
    patch.temperature = Math.round(s.temperature * 100) / 100;
  if (typeof s.humidity === "number" && s.humidity >= 0 && s.humidity <= 100)
    patch.humidity = Math.round(s.humidity * 100) / 100;
  return patch;
}

/**
 * The Settings delta for a command: only the changed fields (as for the camera). Turning the light or
 * the sound on also powers the device on (is_on), which the app does too; turning one off leaves the
 * other playing.
 */
export function slSettingsFor(command: Command, caps: Capabilities, name: string): SlSettings {
  const refused = Object.keys(command).filter(
    (k) => !["light", "volume", "soundMachine"].includes(k) || !caps[k as keyof Capabilities],
  );
  if (command.light?.colorTemperatureK !== undefined) refused.push("light.colorTemperatureK");
  const track = command.soundMachine?.track;
  if (track !== undefined && !caps.soundMachine?.tracks.some((t) => t.id === track))
    refused.push(`the track "${String(track).slice(0, 80)}"`);
  if (refused.length) throw new Error(`${name} cannot do ${refused.join(", ")}`);
  const s: SlSettings = {};
  const light = command.light;
  if (light?.brightness !== undefined) s.brightness = toFloat(Math.max(1, light.brightness));
  if (light && (light.on !== undefined || light.hue !== undefined || light.saturation !== undefined)) {
    s.color = {};
    if (light.on !== undefined) s.color.no_color = !light.on;
    if (light.hue !== undefined) s.color.hue = Math.max(0, Math.min(360, light.hue)) / 360;
    if (light.saturation !== undefined) s.color.saturation = toFloat(light.saturation);
  }
  if (command.volume !== undefined) s.volume = toFloat(command.volume);
  const sm = command.soundMachine;
  if (sm && (sm.on !== undefined || sm.track !== undefined)) {
    const on = sm.track !== undefined ? sm.on !== false : sm.on === true;
    s.sound = { no_sound: !on, ...(sm.track !== undefined ? { track: sm.track } : {}) };
  }
  if (light?.on === true || s.sound?.no_sound === false) s.is_on = true;
  return s;
}
