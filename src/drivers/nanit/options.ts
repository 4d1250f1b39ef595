// The Nanit driver's options (config keys map onto these in index.ts; README "Nanit").
import type { RecordingTrigger } from "../../core/camera.ts";
import type { Logger } from "../../core/logger.ts";
import type { CameraConfig } from "./camera-info.ts";

export interface NanitTimeouts {
  /** HTTP requests (default 20 s). */
  httpMs?: number;
  /** Camera requests (default 10 s, as HN and UL). */
  requestMs?: number;
  /** WebSocket / TLS handshakes (default 10 s). */
  connectMs?: number;
  /** PUT_STREAMING answers (default 20 s, as UL and TJ wait). */
  streamMs?: number;
  /** A camera whose control link dropped reads unreachable only if the link is not back within this
   * long (default 10 s): reconnects take 1-3 s and must not flash "No Response" in the Home app. */
  linkGraceMs?: number;
}

export interface NanitDriverOptions {
  accountName?: string;
  email: string;
  /** Optional: used only to log in again without MFA. MFA accounts log in with `npm run login -- nanit`. */
  password?: string | undefined;
  endpoints?: {
    /** REST base (default https://api.nanit.com). */
    api?: string | undefined;
    /**
     * Cloud socket URL template; `{camera_uid}` is replaced
     * (default wss://api.nanit.com/focus/cameras/{camera_uid}/user_connect).
     */
    websocket?: string | undefined;
    /** Sound & Light Machine relay URL template; `{speaker_uid}` is replaced (default
     * wss://remote.nanit.com/speakers/{speaker_uid}/user_connect/). */
    speakers?: string | undefined;
    /** Local socket: a URL (may contain `{camera_uid}`), or a host[:port] (wss://host:442). Default: the camera's
     * cloud-reported `private_address`. */
    local?: string | undefined;
    /** Cloud video: rtmps://host[:port]/app (default rtmps://media-secured.nanit.com/nanit), and a PEM file of
     * extra certificates to trust for it (simulators). */
    media?: string | undefined;
    mediaCa?: string | undefined;
  };
  log?: Logger;
  timeouts?: NanitTimeouts;
  /** Try the camera's local socket before the cloud (default true). */
  preferLocal?: boolean;
  /** /babies/{uid}/messages poll (default 20 s; 10-30 s in use, docs/protocols/nanit.md §3). */
  messagesPollMs?: number;
  /** Messages in one poll (default 10). */
  messagesLimit?: number;
  /** A MOTION/SOUND/CAMERA_CRY_DETECTION message counts when it is at most this old (default 120 s). */
  eventWindowMs?: number;
  /** How long motion/sound/cry stay "detected" after an alert (default 30 s). */
  eventHoldMs?: number;
  /** Alerts of one kind from the socket and /messages this close in time are one event (default 15 s). */
  alertMatchMs?: number;
  /** Show a Cry sensor and ask the camera for cry alerts (default false; docs/protocols/nanit.md §6.4). */
  cry?: boolean;
  /** Sensors besides motion that start a HomeKit Secure Video recording (config `recordOn`; default none). */
  recordOn?: readonly RecordingTrigger[];
  /** /babies re-read (default 300 s, as HN); 0 = off. */
  babiesPollMs?: number;
  /** Per camera (the baby's name or the camera uid): items left out, night-light timer (README "Nanit"). */
  cameras?: Record<string, CameraConfig>;
  /** GET_PLAYBACK poll: the camera never pushes the sound machine's state (default 30 s, as HN); 0 = off. */
  playbackPollMs?: number;
  /** GET_SENSOR_DATA fallback poll while pushes are enabled (default 120 s). */
  sensorPollMs?: number;
  /** GET_STATUS health check of an open socket; no answer = a silent session, replaced (default 270 s, as HN). */
  healthCheckMs?: number;
  /** KEEPALIVE frame interval (default 20 s). */
  keepaliveMs?: number;
  /** WebSocket ping interval and pong deadline (default 30 s / 20 s). */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** After a local failure (403 limit, pin mismatch, unreachable), use the cloud this long (default 300 s). */
  localRetryMs?: number;
  /** After the cloud declines a session ("Mobile App connections above limit", 403), wait this long (default 300 s). */
  connectionLimitBackoffMs?: number;
  /** Refresh the access token this long before its `exp` (default 300 s). */
  refreshMarginMs?: number;
  /** While a login is needed, look for a session written by the login CLI this often (default 30 s). */
  loginWatchMs?: number;
  /** Reconnect back-off: min * 2^n, capped, ±25 % jitter (default 2 s .. 60 s; core/driver-runtime.ts). */
  backoff?: { minMs?: number; maxMs?: number };
  random?: () => number;
}
