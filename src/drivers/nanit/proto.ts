// The Nanit control protocol codec: proto/nanit.proto (proto2) loaded with protobufjs. Decoding keeps
// proto2 presence: a field the camera omitted is absent from the decoded object, never a default.
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";
import { appPath } from "../../core/app-root.ts";

export const PROTO_PATH = appPath("proto", "nanit.proto");

const root = protobuf.parse(readFileSync(PROTO_PATH, "utf8"), { keepCase: true }).root;
const MessageType = root.lookupType("nanit.Message");

export type SensorTypeName = "SOUND" | "MOTION" | "TEMPERATURE" | "HUMIDITY" | "LIGHT" | "NIGHT" | "CRY";
/** Request types this bridge sends or expects; others decode to their name (or number when unknown). */
export type RequestTypeName =
  | "PUT_STREAMING"
  | "GET_SETTINGS"
  | "PUT_SETTINGS"
  | "GET_CONTROL"
  | "PUT_CONTROL"
  | "GET_STATUS"
  | "PUT_STATUS"
  | "PUT_SENSOR_DATA"
  | "GET_SENSOR_DATA"
  | "GET_PLAYBACK"
  | "PUT_PLAYBACK"
  | "GET_SOUNDTRACKS"
  | "PUT_STING_STATUS"
  | "PUT_KEEP_ALIVE";

export interface SensorDataMsg {
  sensor_type: SensorTypeName | number;
  value?: number;
  is_alert?: boolean;
  timestamp?: number;
  value_milli?: number;
  timestamp_real?: number;
}

export interface SensorDataTransferMsg {
  sound?: boolean;
  motion?: boolean;
  temperature?: boolean;
  humidity?: boolean;
  light?: boolean;
  night?: boolean;
  safe_zone?: boolean;
  cry?: boolean;
}

export interface ControlMsg {
  night_light?: "LIGHT_OFF" | "LIGHT_ON";
  sensor_data_transfer?: SensorDataTransferMsg;
  force_connect_to_server?: boolean;
  night_light_timeout?: number;
}

export interface SettingsMsg {
  night_vision?: "NV_OFF" | "NV_AUTO" | "NV_ON";
  volume?: number;
  anti_flicker?: "FR50HZ" | "FR60HZ";
  sleep_mode?: boolean;
  status_light_on?: boolean;
  mounting_mode?: number;
  wifi_band?: "ANY" | "FR2_4GHZ" | "FR5_0GHZ";
  mic_mute_on?: boolean;
  night_light_brightness?: number;
  sensors?: unknown[];
  streams?: unknown[];
}

export interface StatusMsg {
  upgrade_downloaded?: boolean;
  connection_to_server?: "DISCONNECTED" | "CONNECTED";
  current_version?: string;
  mode?: "STAND" | "TRAVEL" | "SWITCH";
  is_security_upgrade?: boolean;
  downloaded_version?: string;
  hardware_version?: string;
}

export interface StreamingMsg {
  id?: "DVR" | "ANALYTICS" | "MOBILE";
  status?: "STARTED" | "STOPPED" | "PAUSED";
  rtmp_url?: string;
  attempts?: number;
}

export interface SoundtrackMsg {
  type?: number;
  filename?: string;
}

export interface PlaybackMsg {
  status?: "STARTED" | "STOPPED";
  /** Seconds; -1 = continuous (docs/protocols/nanit.md §4.6). */
  duration?: number;
  tracks?: SoundtrackMsg[];
  current?: SoundtrackMsg;
}

export interface GetSensorDataMsg {
  all?: boolean;
  temperature?: boolean;
  humidity?: boolean;
  light?: boolean;
  night?: boolean;
}

export interface GetControlMsg {
  ptz?: boolean;
  night_light?: boolean;
  night_light_timeout?: boolean;
  sensor_data_transfer_en?: boolean;
}

/** The payload fields of a Request (everything but id and type). */
export interface RequestPayload {
  streaming?: StreamingMsg;
  settings?: SettingsMsg;
  get_settings?: { all?: boolean };
  status?: StatusMsg;
  get_status?: { all?: boolean };
  get_sensor_data?: GetSensorDataMsg;
  sensor_data?: SensorDataMsg[];
  control?: ControlMsg;
  get_control?: GetControlMsg;
  playback?: PlaybackMsg;
  get_logs?: { url: string };
  sting_status?: Record<string, unknown>;
}

export interface RequestMsg extends RequestPayload {
  id: number;
  type: RequestTypeName | (string & {}) | number;
}

export interface ResponseMsg {
  request_id: number;
  request_type: RequestTypeName | (string & {}) | number;
  status_code?: number;
  status_message?: string;
  status?: StatusMsg;
  settings?: SettingsMsg;
  streaming?: StreamingMsg[];
  sensor_data?: SensorDataMsg[];
  control?: ControlMsg;
  playback?: PlaybackMsg;
  soundtracks?: SoundtrackMsg[];
  firmware?: Record<string, unknown>;
  sting_status?: Record<string, unknown>;
}

export interface NanitMessage {
  type: "KEEPALIVE" | "REQUEST" | "RESPONSE";
  request?: RequestMsg;
  response?: ResponseMsg;
}

export class NanitFrameError extends Error {
  override name = "NanitFrameError";
  /** A fixed description of the kind of problem (log lines are rate limited per kind). */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Encode one Message. Throws NanitFrameError when the object does not fit the schema. */
export function encodeMessage(message: NanitMessage): Uint8Array {
  let instance: protobuf.Message;
  try {
    instance = MessageType.fromObject(message);
  } catch (error) {
    throw new NanitFrameError("cannot encode", `cannot encode a Nanit message: ${(error as Error).message}`);
  }
  const problem = MessageType.verify(instance);
  if (problem) throw new NanitFrameError("cannot encode", `cannot encode a Nanit message: ${problem}`);
  return MessageType.encode(instance).finish();
}

/** Decode one binary frame. Throws NanitFrameError for bytes that are not a valid Message. */
export function decodeMessage(bytes: Uint8Array): NanitMessage {
  let decoded: protobuf.Message;
  try {
    decoded = MessageType.decode(bytes);
  } catch (error) {
    throw new NanitFrameError("not protobuf", `not a Nanit protobuf message: ${(error as Error).message}`);
  }
  const obj = MessageType.toObject(decoded, {
    enums: String,
    longs: Number,
    defaults: false,
    arrays: false,
  }) as NanitMessage;
  if (obj.type !== "KEEPALIVE" && obj.type !== "REQUEST" && obj.type !== "RESPONSE")
    throw new NanitFrameError("unknown message type", `unknown Nanit message type ${String(obj.type)}`);
  if (obj.type === "REQUEST" && !obj.request)
    throw new NanitFrameError("request missing", "a REQUEST message without a request");
  if (obj.type === "RESPONSE" && !obj.response)
    throw new NanitFrameError("response missing", "a RESPONSE message without a response");
  return obj;
}

/** KEEPALIVE: the bytes 08 00 (IF#7 trace). */
export const KEEPALIVE_FRAME: Uint8Array = encodeMessage({ type: "KEEPALIVE" });

/** Temperature / humidity from a SensorData: value_milli / 1000, falling back to the rounded value. */
export function sensorValue(data: SensorDataMsg): number | undefined {
  if (typeof data.value_milli === "number") return data.value_milli / 1000;
  if (typeof data.value === "number") return data.value;
  return undefined;
}
