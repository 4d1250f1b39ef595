// The Nanit simulator's shapes: its options, what it records, the events it emits, and its cameras and
// sessions as index.ts, rest.ts (the REST API) and socket.ts (the control sockets) share them.
import type { Server as TlsServer } from "node:https";
import type { WebSocket, WebSocketServer } from "ws";
import type { RequestMsg, SensorDataTransferMsg, SettingsMsg } from "../../src/drivers/nanit/proto.ts";
import type { SimSoundMachine } from "./sound-machine.ts";
import type { StreamEvents, StreamProfileName } from "./stream.ts";

export interface SimBaby {
  uid: string;
  name: string;
  cameraUid: string;
  /** What this camera pushes (default: the simulator's streamProfile). */
  streamProfile?: StreamProfileName;
  /** The baby also has a Sound & Light Machine with this uid. */
  speakerUid?: string;
}

export interface NanitSimulatorOptions {
  email?: string;
  password?: string;
  /** The account uses MFA: /login answers 482 first (default true). */
  mfa?: boolean;
  mfaCode?: string;
  /** Access-token (JWT) lifetime (default 3600 s; 3 h and 4 h are also reported). */
  accessTokenLifetimeS?: number;
  babies?: SimBaby[];
  /** Local sockets per camera before 403 (default 2). */
  localConnectionLimit?: number;
  /** Cloud sessions per camera before requests get 403 "connections above limit" (default 8). */
  cloudConnectionLimit?: number;
  /** Which token the local socket accepts (docs/protocols/nanit.md §9.1; default uc_token). */
  localAuth?: "uc_token" | "access_token";
  /** Irregular sensor-push cadence: uniform in [min, max] ms (default 60 s .. 300 s). */
  sensorPushMs?: [number, number];
  /** PUT_CONTROL answers echo `control` (default false: both are seen, docs/protocols/nanit.md §6). */
  echoControl?: boolean;
  /** Status for a replayed (already used) refresh token (default 404, like an expired one;
   * docs/protocols/nanit.md §9.9). */
  replayedRefreshStatus?: number;
  port?: number;
  /** Live-view push size for cameras that do not set their own (default "720p"). */
  streamProfile?: StreamProfileName;
  /** The camera's own connect time: STARTED -> ffmpeg spawned (default 0). */
  publishDelayMs?: number;
  /** The push stops this long after the last STARTED (default 20 min, docs/protocols/nanit.md §6.2). */
  streamAutoStopMs?: number;
  /** ffmpeg binary (default /usr/bin/ffmpeg when present). */
  ffmpeg?: string;
  /** Push only to 127.0.0.1 / ::1 / localhost (default true: tests never leave the machine). */
  loopbackPushOnly?: boolean;
  /** Firmware quirk (docs/protocols/nanit.md §4.1): each local socket closes (1006) this long after it opens. */
  localCloseAfterMs?: number;
}

export interface HttpRecord {
  method: string;
  path: string;
  status: number;
  authorization: string | undefined;
  body: Record<string, unknown> | undefined;
}

export type Flavour = "cloud" | "local";

export interface ReceivedRequest {
  conn: number;
  flavour: Flavour;
  cameraUid: string;
  at: number;
  request: RequestMsg;
}

export interface ConnInfo {
  conn: number;
  flavour: Flavour;
  cameraUid: string;
}

export interface SimEvents {
  http: [HttpRecord];
  connection: [ConnInfo];
  rejected: [info: { flavour: Flavour; cameraUid: string; status: number }];
  disconnect: [ConnInfo];
  request: [ReceivedRequest];
  keepalive: [ConnInfo];
  malformed: [ConnInfo & { bytes: number; error: string }];
  push: [ConnInfo & { request: RequestMsg }];
  sms: [code: string];
  "stream-start": StreamEvents["stream-start"];
  "stream-renew": StreamEvents["stream-renew"];
  "stream-stop": StreamEvents["stream-stop"];
}

export interface SimCamera {
  uid: string;
  babyUid: string;
  temperatureMilli: number;
  humidityMilli: number;
  lux: number;
  night: boolean;
  nightLight: boolean;
  /** Control.night_light_timeout in seconds; undefined = never set (left out of GET_CONTROL). */
  nightLightTimeoutS: number | undefined;
  settings: Required<
    Pick<
      SettingsMsg,
      "sleep_mode" | "volume" | "night_vision" | "status_light_on" | "mic_mute_on" | "night_light_brightness"
    >
  >;
  firmware: string;
  soundMachine: SimSoundMachine;
  streamProfile: StreamProfileName;
  server?: TlsServer;
  wss?: WebSocketServer;
  localPort: number;
  key: string;
  cert: string;
  fingerprint: string;
}

export interface Conn extends ConnInfo {
  ws: WebSocket;
  silent: boolean;
  sensorTransfer: boolean;
  /** What the session asked to receive (alerts go only where their kind is on). */
  transfer: SensorDataTransferMsg;
  pushTimer: NodeJS.Timeout | undefined;
  overLimit: boolean;
  /** A GET_PLAYBACK answer held until the next PUT_PLAYBACK is answered (SoundMachine.holdNextGet). */
  heldPlayback?: (() => void) | undefined;
}

export interface Message {
  id: number;
  baby_uid: string;
  user_id: number;
  type: string;
  time: number;
  read_at: null;
  seen_at: null;
  dismissed_at: null;
  created_at: string;
  updated_at: string;
  data: Record<string, unknown>;
}
