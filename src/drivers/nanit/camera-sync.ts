// The reads of a camera's state over its control socket (docs/protocols/nanit.md §5.3, §6): what a fresh
// socket asks for, the sensors, and the sound machine. The driver applies what these return.
import type { SoundMachineState, SoundTrack, StatePatch } from "../../core/model.ts";
import { mergeCommands } from "../../core/coalesce.ts";
import { controlPatch, playbackPatch, settingsPatch, tracksOf } from "./controls.ts";
import { sensorValue, type RequestMsg, type SensorDataMsg } from "./proto.ts";
import { NanitTimeoutError, type NanitSocket } from "./socket.ts";

export interface CameraReading {
  patch: StatePatch;
  firmware?: string;
  /** Why GET_STATUS gave nothing (it is optional; a timeout is not and throws). */
  statusError?: string;
  /** What became of the configured night-light timer (set, or why not), when something happened. */
  timerNote?: string;
}

/** A fresh socket: enable sensor push (reset by every reconnect), then read sensors, night light,
 * settings and firmware; set the night-light timer (`timerS`, seconds) when the camera's differs. */
export async function readCamera(sock: NanitSocket, cry = false, timerS?: number): Promise<CameraReading> {
  const transfer = { sound: true, motion: true, temperature: true, humidity: true, light: true, night: true };
  // Cry (field 8) is known from one decoder only: asked for only when the Cry sensor is on.
  await sock.requestOk("PUT_CONTROL", {
    control: { sensor_data_transfer: { ...transfer, ...(cry ? { cry: true } : {}) } },
  });
  const sensors = await readSensors(sock);
  const control = await sock.requestOk("GET_CONTROL", {
    get_control: { night_light: true, ...(timerS !== undefined ? { night_light_timeout: true } : {}) },
  });
  const timerNote =
    timerS === undefined ? undefined : await syncTimer(sock, timerS, control.control?.night_light_timeout);
  const settings = await sock.requestOk("GET_SETTINGS", { get_settings: { all: true } });
  // A full GET_SETTINGS omits false booleans (proto2): absent sleep_mode = not in standby (HN PR #96).
  const patch = mergeCommands(
    mergeCommands(sensors, controlPatch(control.control)),
    settingsPatch(settings.settings, true),
  );
  const note = timerNote ? { timerNote } : {};
  try {
    const status = await sock.requestOk("GET_STATUS", { get_status: { all: true } });
    const firmware = status.status?.current_version;
    return { patch, ...note, ...(firmware ? { firmware } : {}) };
  } catch (error) {
    if (error instanceof NanitTimeoutError) throw error;
    return { patch, ...note, statusError: (error as Error).message };
  }
}

/**
 * The config's night-light timer: PUT_CONTROL `night_light_timeout` alone (as EM sends it), once per
 * connection and only when the camera reports another value, so a change made in the app lasts until the
 * next reconnect. A refusal is reported, never fatal (a timeout is: the session is dead).
 */
async function syncTimer(sock: NanitSocket, wantS: number, reportedS: number | undefined): Promise<string | undefined> {
  if (reportedS === wantS) return undefined;
  const was = reportedS === undefined ? "not reported" : `${reportedS} s`;
  try {
    await sock.requestOk("PUT_CONTROL", { control: { night_light_timeout: wantS } });
    return `night-light timer set to ${wantS / 60} min (the camera's was ${was})`;
  } catch (error) {
    if (error instanceof NanitTimeoutError) throw error;
    return `the camera refused the night-light timer of ${wantS / 60} min: ${(error as Error).message}`;
  }
}

export async function readSensors(sock: NanitSocket): Promise<StatePatch> {
  const response = await sock.requestOk("GET_SENSOR_DATA", { get_sensor_data: { all: true } });
  return sensorPatch(response.sensor_data ?? []);
}

/** Sensor values, each checked against a plausible range (a bad value is left out, not clamped). */
export function sensorPatch(data: SensorDataMsg[]): StatePatch {
  const patch: StatePatch = {};
  for (const d of data) {
    const value = sensorValue(d);
    if (value === undefined) continue;
    if (d.sensor_type === "TEMPERATURE" && value > -40 && value < 80) patch.temperature = Math.round(value * 100) / 100;
    if (d.sensor_type === "HUMIDITY" && value >= 0 && value <= 100) patch.humidity = Math.round(value * 100) / 100;
    // LIGHT: lux in `value` (HN); NIGHT: 1 = night (docs/protocols/nanit.md §5.3).
    if (d.sensor_type === "LIGHT" && value >= 0 && value <= 100_000) patch.lightLevel = value;
    if (d.sensor_type === "NIGHT") patch.night = value === 1;
  }
  return patch;
}

/** GET_PLAYBACK, with `withTracks` GET_SOUNDTRACKS first. */
export async function readSoundMachine(
  sock: NanitSocket,
  withTracks: boolean,
): Promise<{ tracks?: SoundTrack[]; playback?: Partial<SoundMachineState> }> {
  const tracks = withTracks ? tracksOf((await sock.requestOk("GET_SOUNDTRACKS")).soundtracks) : undefined;
  if (tracks && !tracks.length) return {};
  const playback = playbackPatch((await sock.requestOk("GET_PLAYBACK")).playback);
  return { ...(tracks ? { tracks } : {}), ...(playback ? { playback } : {}) };
}

/** What a camera-initiated request says changed (changes made in the phone app); undefined: not used. */
export function pushPatch(request: RequestMsg): StatePatch | undefined {
  switch (request.type) {
    case "PUT_SENSOR_DATA":
      // Sensor values; the SOUND/MOTION/CRY alerts in the same message go through alerts.ts.
      return sensorPatch(request.sensor_data ?? []);
    case "PUT_CONTROL":
      return controlPatch(request.control);
    case "PUT_SETTINGS":
      // Deltas: only the fields that changed are present (merge, never replace).
      return settingsPatch(request.settings, false);
    case "PUT_PLAYBACK": {
      const playback = playbackPatch(request.playback);
      return playback ? { soundMachine: playback } : {};
    }
    default:
      return undefined;
  }
}
