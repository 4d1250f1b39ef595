// Loopback Nanit cloud + camera simulator (see docs/protocols/nanit.md §8). One HTTP server on
// 127.0.0.1 serves the REST API and the cloud relay socket (/focus/cameras/{uid}/user_connect); each
// camera also has its own TLS server (self-signed certificate with a wrong CN, made at start) for the
// local socket. Both speak the proto2 schema in proto/nanit.proto. Test hooks act as the phone app,
// change the room, post motion/sound messages, silence or drop sessions and inject faults. Every
// request a camera receives is recorded, decoded, and emitted as a 'request' event. PUT_STREAMING
// STARTED makes the camera publish RTMP with ffmpeg (stream.ts), to loopback URLs only.
// Made-up accounts and secrets only.
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import { createHmac, randomBytes, X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { generate } from "selfsigned";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import {
  decodeMessage,
  encodeMessage,
  type NanitMessage,
  type RequestMsg,
  type ResponseMsg,
  type RequestPayload,
  type SensorDataTransferMsg,
  type SettingsMsg,
} from "../../src/drivers/nanit/proto.ts";
import { sendAlert } from "./alerts.ts";
import { SimSoundMachine, type Answer } from "./sound-machine.ts";
import { SimSoundLight } from "./sound-light.ts";
import { CameraPusher, DEFAULT_FFMPEG, type PushInfo, type StreamEvents, type StreamProfileName } from "./stream.ts";
import { CloudMediaServer } from "./cloud-media.ts";

export { STREAM_PROFILES, type StreamProfileName, type PushInfo } from "./stream.ts";
export { DEFAULT_TRACKS, SimSoundMachine } from "./sound-machine.ts";
export { DEFAULT_SL_TRACKS, SimSoundLight, type SimSoundLightRequest } from "./sound-light.ts";

export const DEMO_EMAIL = "parent@hearthbridge.invalid";
export const DEMO_PASSWORD = "made-up nanit password";
export const DEMO_MFA_CODE = "424242";
export const CONNECTION_LIMIT_MESSAGE = "Forbidden: Number of Mobile App connections above limit, declining connection";

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

interface SimEvents {
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

interface SimCamera {
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

interface Conn extends ConnInfo {
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

interface Message {
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

const DEFAULT_BABIES: SimBaby[] = [{ uid: "b4c0ffee", name: "Robin", cameraUid: "N301SIM0000001" }];

function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString("hex"); // 48 chars, like the refresh tokens in the issue logs
}

export class NanitSimulator extends EventEmitter<SimEvents> {
  readonly email: string;
  readonly password: string;
  readonly mfaEnabled: boolean;
  readonly mfaCode: string;
  readonly babies: SimBaby[];
  readonly httpRequests: HttpRecord[] = [];
  readonly received: ReceivedRequest[] = [];
  readonly messages: Message[] = [];
  accessTokenLifetimeS: number;
  localConnectionLimit: number;
  cloudConnectionLimit: number;
  localAuth: "uc_token" | "access_token";
  sensorPushMs: [number, number];
  echoControl: boolean;
  replayedRefreshStatus: number;
  loopbackPushOnly: boolean;
  /** The push stops this long after the last STARTED (takes effect at the next STARTED). */
  streamAutoStopMs: number;
  /** Firmware quirk: local sockets close abnormally (1006) this long after opening; undefined = off. */
  localCloseAfterMs: number | undefined;
  /** Nanit's RTMPS media host (cloud video), started with the simulator. */
  readonly cloudMedia = new CloudMediaServer({ tokenKnown: (token) => this.#access.has(token) });
  /** SMS "sent" (one per 482). */
  smsSent = 0;
  /** Successful /tokens/refresh calls. */
  refreshes = 0;
  readonly #secret = randomBytes(32).toString("hex");
  readonly #port: number;
  readonly #cameras = new Map<string, SimCamera>();
  /** Sound & Light Machines by speaker uid, reached through the relay path /speakers/{uid}/user_connect/. */
  readonly speakers = new Map<string, SimSoundLight>();
  readonly #conns = new Set<Conn>();
  readonly #refresh = new Map<string, "valid" | "used" | "expired">();
  readonly #access = new Set<string>();
  readonly #ucTokens = new Set<string>();
  readonly #faults = new Map<string, { status: number; count: number; body?: unknown }>();
  readonly #cloudWss = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false });
  readonly #pusher: CameraPusher;
  /** Injected PUT_STREAMING outcomes, used one per request. */
  readonly #streamFaults: Array<{ status: number; message: string } | "no-answer"> = [];
  #mfaToken: string | undefined;
  #stopping: Promise<void> | undefined;
  #server: Server | undefined;
  #connCount = 0;
  #cameraRequestId = 112_000;
  #messageId = 1000;

  constructor(options: NanitSimulatorOptions = {}) {
    super();
    this.email = options.email ?? DEMO_EMAIL;
    this.password = options.password ?? DEMO_PASSWORD;
    this.mfaEnabled = options.mfa ?? true;
    this.mfaCode = options.mfaCode ?? DEMO_MFA_CODE;
    this.babies = options.babies ?? DEFAULT_BABIES;
    this.accessTokenLifetimeS = options.accessTokenLifetimeS ?? 3600;
    this.localConnectionLimit = options.localConnectionLimit ?? 2;
    this.cloudConnectionLimit = options.cloudConnectionLimit ?? 8;
    this.localAuth = options.localAuth ?? "uc_token";
    this.sensorPushMs = options.sensorPushMs ?? [60_000, 300_000];
    this.echoControl = options.echoControl ?? false;
    this.replayedRefreshStatus = options.replayedRefreshStatus ?? 404;
    this.#port = options.port ?? 0;
    this.loopbackPushOnly = options.loopbackPushOnly ?? true;
    this.streamAutoStopMs = options.streamAutoStopMs ?? 20 * 60_000;
    this.localCloseAfterMs = options.localCloseAfterMs;
    this.#pusher = new CameraPusher({
      ffmpeg: options.ffmpeg ?? DEFAULT_FFMPEG,
      publishDelayMs: options.publishDelayMs ?? 0,
      autoStopMs: () => this.streamAutoStopMs,
      emit: (event, ...args) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
    });
    for (const b of this.babies) {
      if (b.speakerUid) this.speakers.set(b.speakerUid, new SimSoundLight(b.speakerUid));
      this.#cameras.set(b.cameraUid, {
        uid: b.cameraUid,
        babyUid: b.uid,
        temperatureMilli: 21_500,
        humidityMilli: 44_616,
        lux: 12,
        night: true,
        nightLight: false,
        nightLightTimeoutS: undefined,
        settings: {
          sleep_mode: false,
          volume: 50,
          night_vision: "NV_AUTO",
          status_light_on: true,
          mic_mute_on: false,
          night_light_brightness: 60,
        },
        firmware: "6.29.1",
        soundMachine: new SimSoundMachine(),
        streamProfile: b.streamProfile ?? options.streamProfile ?? "720p",
        localPort: 0,
        key: "",
        cert: "",
        fingerprint: "",
      });
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async start(): Promise<{
    apiUrl: string;
    wsUrl: string;
    speakersUrl: string;
    localUrls: Record<string, string>;
    /** Cloud video: the driver's endpoints.media and the certificate (PEM) to trust for it. */
    mediaUrl: string;
    mediaCert: string;
  }> {
    for (const cam of this.#cameras.values()) await this.#startCamera(cam);
    await this.cloudMedia.start();
    const server = createServer((req, res) => void this.#http(req, res));
    // Node's HTTP server drops its error listener from an upgrade's socket: keep a reset from throwing.
    server.on("upgrade", (req, socket, head) =>
      this.#cloudUpgrade(
        req,
        socket.on("error", () => undefined),
        head,
      ),
    );
    await new Promise<void>((resolve) => server.listen(this.#port, "127.0.0.1", resolve));
    this.#server = server;
    const port = (server.address() as AddressInfo).port;
    const localUrls = Object.fromEntries(
      [...this.#cameras.values()].map((c) => [c.uid, `wss://127.0.0.1:${c.localPort}`]),
    );
    return {
      apiUrl: `http://127.0.0.1:${port}`,
      wsUrl: `ws://127.0.0.1:${port}/focus/cameras/{camera_uid}/user_connect`,
      speakersUrl: `ws://127.0.0.1:${port}/speakers/{speaker_uid}/user_connect/`,
      localUrls,
      mediaUrl: this.cloudMedia.base,
      mediaCert: this.cloudMedia.cert,
    };
  }

  /** Idempotent: every push's ffmpeg is gone when it resolves. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    await this.#pusher.stopAll();
    for (const c of this.#conns) {
      clearTimeout(c.pushTimer);
      c.ws.terminate();
    }
    this.#conns.clear();
    const close = (
      s: { close(cb: () => void): unknown; closeAllConnections?: () => void } | undefined,
    ): Promise<void> =>
      new Promise((resolve) => {
        if (!s) return resolve();
        s.close(() => resolve());
        s.closeAllConnections?.();
      });
    for (const cam of this.#cameras.values()) {
      cam.wss?.close();
      await close(cam.server);
    }
    for (const sl of this.speakers.values()) sl.close();
    this.#cloudWss.close();
    await close(this.#server);
    await this.cloudMedia.stop();
  }

  async #startCamera(cam: SimCamera): Promise<void> {
    await this.#newCertificate(cam);
    const server = createTlsServer({ key: cam.key, cert: cam.cert }, (_req, res) => {
      res.writeHead(426).end();
    });
    const wss = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false });
    server.on("upgrade", (req, socket, head) =>
      this.#localUpgrade(
        cam,
        wss,
        req,
        socket.on("error", () => undefined),
        head,
      ),
    );
    await new Promise<void>((resolve) => server.listen(cam.localPort, "127.0.0.1", resolve));
    cam.server = server;
    cam.wss = wss;
    cam.localPort = (server.address() as AddressInfo).port;
  }

  async #newCertificate(cam: SimCamera): Promise<void> {
    // A wrong CN on purpose, like the real camera (the driver pins the fingerprint instead).
    const pems = await generate([{ name: "commonName", value: "nanit-camera.invalid" }], {
      keySize: 2048,
      algorithm: "sha256",
    });
    cam.key = pems.private;
    cam.cert = pems.cert;
    cam.fingerprint = new X509Certificate(pems.cert).fingerprint256;
  }

  // ---- test hooks ----------------------------------------------------------------------------

  camera(cameraUid?: string): SimCamera {
    const cam = cameraUid ? this.#cameras.get(cameraUid) : this.#cameras.values().next().value;
    if (!cam) throw new Error(`no simulated camera ${cameraUid ?? ""}`);
    return cam;
  }

  /** SHA-256 fingerprint of the camera's current certificate (Node's fingerprint256 format). */
  fingerprint(cameraUid?: string): string {
    return this.camera(cameraUid).fingerprint;
  }

  /** The camera got a new certificate (reset / replaced): the pinned one no longer matches. */
  async replaceCertificate(cameraUid?: string): Promise<string> {
    const cam = this.camera(cameraUid);
    await this.#newCertificate(cam);
    cam.server?.setSecureContext({ key: cam.key, cert: cam.cert });
    return cam.fingerprint;
  }

  /** Change the room temperature; sessions with sensor transfer on get a PUT_SENSOR_DATA at once. */
  setTemperature(celsius: number, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.temperatureMilli = Math.round(celsius * 1000);
    this.#pushSensors(cam, ["TEMPERATURE"]);
  }

  setHumidity(percent: number, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.humidityMilli = Math.round(percent * 1000);
    this.#pushSensors(cam, ["HUMIDITY"]);
  }

  /** Change a value without any push (only a GET_SENSOR_DATA poll sees it). */
  setTemperatureQuietly(celsius: number, cameraUid?: string): void {
    this.camera(cameraUid).temperatureMilli = Math.round(celsius * 1000);
  }

  /** A motion / sound / other notification message, `ageS` seconds old. */
  postMessage(type: string, options: { babyUid?: string; ageS?: number } = {}): Message {
    const babyUid = options.babyUid ?? this.babies[0]!.uid;
    const now = new Date().toISOString();
    const m: Message = {
      id: ++this.#messageId,
      baby_uid: babyUid,
      user_id: 4242,
      type,
      time: Math.floor(Date.now() / 1000) - (options.ageS ?? 0),
      read_at: null,
      seen_at: null,
      dismissed_at: null,
      created_at: now,
      updated_at: now,
      data: {},
    };
    this.messages.push(m);
    return m;
  }

  /** The camera detects motion, sound or a cry at `at` (default now): a PUT_SENSOR_DATA alert to every
   * session that enabled that kind, and (`message`, default true) the /messages item the cloud makes of it
   * (CAMERA_CRY_DETECTION for a cry). Returns the sessions the alert went to. */
  cameraAlert(
    kind: "motion" | "sound" | "cry",
    options: { cameraUid?: string; message?: boolean; socket?: boolean; at?: number } = {},
  ): number {
    const cam = this.camera(options.cameraUid);
    const at = options.at ?? Date.now();
    if (options.message ?? true)
      this.postMessage(kind === "cry" ? "CAMERA_CRY_DETECTION" : kind.toUpperCase(), {
        babyUid: cam.babyUid,
        ageS: Math.max(0, Math.floor((Date.now() - at) / 1000)),
      });
    if (options.socket === false) return 0;
    return sendAlert([...this.#conns], cam.uid, kind, at, (conn, payload) =>
      this.#cameraRequest(conn, "PUT_SENSOR_DATA", payload),
    );
  }

  /** The phone app flips the night light: every session gets a camera-initiated PUT_CONTROL. */
  setNightLightFromApp(on: boolean, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.nightLight = on;
    this.#pushAll(cam, "PUT_CONTROL", { control: { night_light: on ? "LIGHT_ON" : "LIGHT_OFF" } });
  }

  /** The phone app sets the night light's timer (seconds): every session gets a PUT_CONTROL. */
  setNightLightTimerFromApp(seconds: number, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.nightLightTimeoutS = seconds;
    this.#pushAll(cam, "PUT_CONTROL", { control: { night_light_timeout: seconds } });
  }

  /** Light level and day/night; never pushed (LIGHT is not, docs/protocols/nanit.md §5.3): a poll sees it. */
  setLight(lux: number, night: boolean, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.lux = lux;
    cam.night = night;
  }

  /** The phone app changes settings (brightness, volume, night vision, ...): every session gets a
   * camera-initiated PUT_SETTINGS delta with only those fields. */
  setSettingsFromApp(delta: Partial<SimCamera["settings"]>, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    Object.assign(cam.settings, delta);
    this.#pushAll(cam, "PUT_SETTINGS", { settings: delta });
  }

  /** The phone app starts or stops the sound machine. No push: the camera never reports playback. */
  setPlaybackFromApp(track: string | undefined, cameraUid?: string): void {
    const sm = this.camera(cameraUid).soundMachine;
    if (track === undefined) sm.playing = false;
    else sm.put({ status: "STARTED", tracks: [{ filename: track }] });
  }

  /** The phone app toggles standby: a PUT_SETTINGS delta with only sleep_mode. */
  setStandbyFromApp(on: boolean, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.settings.sleep_mode = on;
    if (on) this.#pusher.stop(cam.uid, "standby");
    this.#pushAll(cam, "PUT_SETTINGS", { settings: { sleep_mode: on } });
  }

  // ---- live view (PUT_STREAMING) -------------------------------------------------------------

  /** ffmpeg pushes still running (a replaced push counts until its ffmpeg is gone). */
  get livePushes(): number {
    return this.#pusher.live;
  }

  /** The running pushes, with their ffmpeg pid. */
  streams(): PushInfo[] {
    return this.#pusher.list();
  }

  /** The tail of the camera's push ffmpeg stderr (current or last push), for debugging. */
  streamLog(cameraUid?: string): string[] {
    return this.#pusher.log(this.camera(cameraUid).uid);
  }

  /** Later pushes of this camera use another size. */
  setStreamProfile(profile: StreamProfileName, cameraUid?: string): void {
    this.camera(cameraUid).streamProfile = profile;
  }

  /** SIGSTOP the camera's push: the RTMP connection stays open, no byte flows. False if none runs. */
  stallStream(cameraUid?: string): boolean {
    return this.#pusher.stall(this.camera(cameraUid).uid);
  }

  resumeStream(cameraUid?: string): boolean {
    return this.#pusher.resume(this.camera(cameraUid).uid);
  }

  /** Answer the next `count` PUT_STREAMING with `status` / `message` (e.g. 500 "failed to punch p2p"), no push. */
  failStreamingNext(status: number, message: string, count = 1): void {
    for (let i = 0; i < count; i++) this.#streamFaults.push({ status, message });
  }

  /** The next `count` PUT_STREAMING STARTED get no answer, but the camera publishes anyway (UL). */
  publishWithoutAnswerNext(count = 1): void {
    for (let i = 0; i < count; i++) this.#streamFaults.push("no-answer");
  }

  /** Existing sessions stop answering requests and pings (socket open, TCP alive). New sessions work. */
  goSilent(flavour?: Flavour): number {
    let n = 0;
    for (const c of this.#conns) {
      if (flavour && c.flavour !== flavour) continue;
      c.silent = true;
      n++;
    }
    return n;
  }

  dropSockets(flavour?: Flavour): void {
    for (const c of this.#conns) if (!flavour || c.flavour === flavour) c.ws.terminate();
  }

  /** Send raw bytes (e.g. a malformed frame) to every session. */
  sendRaw(bytes: Uint8Array, flavour?: Flavour): void {
    for (const c of this.#conns) if (!flavour || c.flavour === flavour) c.ws.send(bytes, { binary: true });
  }

  /** Open sessions, by flavour. */
  connections(flavour?: Flavour): ConnInfo[] {
    return [...this.#conns]
      .filter((c) => !flavour || c.flavour === flavour)
      .map(({ conn, flavour: f, cameraUid }) => ({ conn, flavour: f, cameraUid }));
  }

  /** Requests the cameras received (optionally of one type / flavour). */
  requests(type?: string, flavour?: Flavour): ReceivedRequest[] {
    return this.received.filter((r) => (!type || r.request.type === type) && (!flavour || r.flavour === flavour));
  }

  /** Every access token issued so far answers 401 (mid-life 401s). */
  revokeAccessTokens(): void {
    this.#access.clear();
  }

  /** Every refresh token expires (404 on refresh; the user must log in again). */
  expireRefreshTokens(): void {
    for (const t of this.#refresh.keys()) this.#refresh.set(t, "expired");
  }

  /** The refresh tokens still valid (normally exactly one per session). */
  get validRefreshTokens(): string[] {
    return [...this.#refresh].filter(([, s]) => s === "valid").map(([t]) => t);
  }

  get usedRefreshTokens(): string[] {
    return [...this.#refresh].filter(([, s]) => s === "used").map(([t]) => t);
  }

  /** Answer the next `count` requests to `path` (e.g. "/tokens/refresh") with `status`. */
  failNext(path: string, status: number, count = 1, body?: unknown): void {
    this.#faults.set(path, { status, count, body });
  }

  /** Issue a session directly (as if logged in earlier): returns its tokens. */
  issueSession(): { accessToken: string; refreshToken: string } {
    return this.#issue();
  }

  // ---- REST ----------------------------------------------------------------------------------

  #issue(): { accessToken: string; refreshToken: string } {
    const now = Math.floor(Date.now() / 1000);
    const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({ sub: 4242, iat: now, exp: now + this.accessTokenLifetimeS, jti: randomToken(8) }),
    ).toString("base64url");
    const sig = createHmac("sha256", this.#secret).update(`${header}.${payload}`).digest("base64url");
    const accessToken = `${header}.${payload}.${sig}`;
    const refreshToken = randomToken();
    this.#access.add(accessToken);
    this.#refresh.set(refreshToken, "valid");
    return { accessToken, refreshToken };
  }

  #accessValid(token: string | undefined): boolean {
    if (!token || !this.#access.has(token)) return false;
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { exp: number };
    return payload.exp * 1000 > Date.now();
  }

  /** Bare, `token ` and `Bearer ` are accepted on REST; `/focus/*` needs Bearer (docs/protocols/nanit.md §2.6). */
  #tokenFrom(authorization: string | undefined, bearerOnly: boolean): string | undefined {
    if (!authorization) return undefined;
    const m = /^(Bearer|token) (.+)$/.exec(authorization);
    if (bearerOnly) return m?.[1] === "Bearer" ? m[2] : undefined;
    return m ? m[2] : authorization;
  }

  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> | undefined;
    try {
      body = chunks.length
        ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>)
        : undefined;
    } catch {
      body = undefined;
    }
    const url = new URL(req.url ?? "/", "http://sim");
    const send = (status: number, json: unknown): void => {
      const record: HttpRecord = {
        method: req.method ?? "",
        path: url.pathname,
        status,
        authorization: req.headers.authorization,
        body,
      };
      this.httpRequests.push(record);
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
      this.emit("http", record);
    };
    const fault = this.#faults.get(url.pathname);
    if (fault && fault.count > 0) {
      if (--fault.count === 0) this.#faults.delete(url.pathname);
      return send(fault.status, fault.body ?? { message: "injected fault" });
    }
    const route = `${req.method} ${url.pathname}`;
    if (route === "POST /login") return send(...this.#login(body));
    if (route === "POST /tokens/refresh") return send(...this.#refreshTokens(body));
    const bearerOnly = url.pathname.startsWith("/focus/");
    if (!this.#accessValid(this.#tokenFrom(req.headers.authorization, bearerOnly)))
      return send(401, { error: "unauthorized", error_description: "Access token is invalid or expired" });
    if (route === "GET /babies") return send(200, { babies: this.babies.map((b) => this.#babyJson(b)) });
    let m = /^GET \/babies\/([^/]+)\/messages$/.exec(route);
    if (m) {
      const limit = Math.max(1, Number(url.searchParams.get("limit") ?? 10));
      const list = this.messages
        .filter((x) => x.baby_uid === m![1])
        .sort((a, b) => b.id - a.id)
        .slice(0, limit);
      return send(200, { messages: list });
    }
    m = /^GET \/focus\/cameras\/([^/]+)\/uc_token$/.exec(route);
    if (m && this.#cameras.has(decodeURIComponent(m[1]!))) {
      const token = randomToken(16);
      this.#ucTokens.add(token);
      return send(200, { token });
    }
    return send(404, { message: "Not Found" });
  }

  #babyJson(b: SimBaby): Record<string, unknown> {
    const cam = this.#cameras.get(b.cameraUid)!;
    return {
      uid: b.uid,
      name: b.name,
      camera_uid: b.cameraUid,
      camera: {
        uid: b.cameraUid,
        baby_uid: b.uid,
        hardware: "gen_2",
        version: cam.firmware,
        mode: "STAND",
        connected: true,
        last_seen: Math.floor(Date.now() / 1000),
        stream_url: "rtmps://media-secured.nanit.invalid",
        private_address: `127.0.0.1:${cam.localPort}`,
        public_address: "203.0.113.7:50000",
      },
      speaker: b.speakerUid
        ? { attached_to_speaker: true, speaker: { uid: b.speakerUid } }
        : { attached_to_speaker: false, speaker: null },
      timezone: "Europe/London",
    };
  }

  #login(body: Record<string, unknown> | undefined): [number, unknown] {
    if (!body || body.email !== this.email || body.password !== this.password) {
      return [
        401,
        body?.mfa_token
          ? { message: "Unauthorized" }
          : { error: "invalid_grant", error_description: "Invalid email or password" },
      ];
    }
    if (this.mfaEnabled) {
      if (body.mfa_token === undefined) {
        this.#mfaToken = randomToken(16);
        this.smsSent++;
        this.emit("sms", this.mfaCode);
        return [
          482,
          { mfa_token: this.#mfaToken, phone_suffix: "42", channel: body.channel === "email" ? "email" : "sms" },
        ];
      }
      if (body.mfa_token !== this.#mfaToken || body.mfa_code !== this.mfaCode)
        return [401, { message: "Invalid or expired MFA code" }];
      this.#mfaToken = undefined;
    }
    const { accessToken, refreshToken } = this.#issue();
    return [
      201,
      {
        access_token: accessToken,
        refresh_token: refreshToken,
        token: randomToken(),
        user: { id: 4242, email: this.email, enforce_mfa: this.mfaEnabled, units: "metric", feature_flags: {} },
      },
    ];
  }

  #refreshTokens(body: Record<string, unknown> | undefined): [number, unknown] {
    const token = typeof body?.refresh_token === "string" ? body.refresh_token : "";
    const state = this.#refresh.get(token);
    if (state === "used") return [this.replayedRefreshStatus, { message: "refresh token has expired" }];
    if (state !== "valid") return [404, { message: "refresh token has expired" }];
    this.#refresh.set(token, "used");
    this.refreshes++;
    const { accessToken, refreshToken } = this.#issue();
    return [200, { access_token: accessToken, refresh_token: refreshToken }];
  }

  // ---- sockets -------------------------------------------------------------------------------

  #reject(socket: Duplex, status: number, flavour: Flavour, cameraUid: string): void {
    const text = status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : "Not Found";
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    this.emit("rejected", { flavour, cameraUid, status });
  }

  #cloudUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const speaker = /^\/speakers\/([^/]+)\/user_connect\/?$/.exec(new URL(req.url ?? "/", "http://sim").pathname);
    if (speaker) return this.#speakerUpgrade(decodeURIComponent(speaker[1]!), req, socket, head);
    const m = /^\/focus\/cameras\/([^/]+)\/user_connect$/.exec(new URL(req.url ?? "/", "http://sim").pathname);
    const cameraUid = m ? decodeURIComponent(m[1]!) : "";
    const cam = this.#cameras.get(cameraUid);
    if (!cam) return this.#reject(socket, 404, "cloud", cameraUid);
    if (!this.#accessValid(this.#tokenFrom(req.headers.authorization, true)))
      return this.#reject(socket, 401, "cloud", cameraUid);
    const overLimit =
      [...this.#conns].filter((c) => c.flavour === "cloud" && c.cameraUid === cameraUid).length >=
      this.cloudConnectionLimit;
    this.#cloudWss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, "cloud", cam, overLimit));
  }

  /** The Sound & Light relay: `token <access token>` (not Bearer; docs/protocols/nanit.md §4.7). */
  #speakerUpgrade(uid: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const sl = this.speakers.get(uid);
    if (!sl) return this.#reject(socket, 404, "cloud", uid);
    const m = /^token (.+)$/.exec(req.headers.authorization ?? "");
    if (!m || !this.#accessValid(m[1])) return this.#reject(socket, 401, "cloud", uid);
    this.#cloudWss.handleUpgrade(req, socket, head, (ws) => sl.accept(ws));
  }

  #localUpgrade(cam: SimCamera, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const auth = req.headers.authorization ?? "";
    const m = /^token (.+)$/.exec(auth);
    const ok = !!m && (this.localAuth === "uc_token" ? this.#ucTokens.has(m[1]!) : this.#accessValid(m[1]));
    if (!ok) return this.#reject(socket, 401, "local", cam.uid);
    if (
      [...this.#conns].filter((c) => c.flavour === "local" && c.cameraUid === cam.uid).length >=
      this.localConnectionLimit
    )
      return this.#reject(socket, 403, "local", cam.uid);
    wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, "local", cam, false));
  }

  #accept(ws: WebSocket, flavour: Flavour, cam: SimCamera, overLimit: boolean): void {
    const conn: Conn = {
      conn: ++this.#connCount,
      flavour,
      cameraUid: cam.uid,
      ws,
      silent: false,
      sensorTransfer: false,
      transfer: {},
      pushTimer: undefined,
      overLimit,
    };
    this.#conns.add(conn);
    const info: ConnInfo = { conn: conn.conn, flavour, cameraUid: cam.uid };
    ws.on("ping", (data) => {
      if (!conn.silent) ws.pong(data);
    });
    ws.on("message", (data, isBinary) => this.#onFrame(conn, cam, data, isBinary));
    ws.on("error", () => undefined);
    ws.on("close", () => {
      clearTimeout(conn.pushTimer);
      this.#conns.delete(conn);
      // The push dies with the control session that requested it (docs/protocols/nanit.md §6.2).
      this.#pusher.stopOwnedBy(conn.conn, "control-closed");
      this.emit("disconnect", info);
    });
    this.emit("connection", info);
    // The quirk: a state burst, then an abnormal close (no close frame: the client sees 1006).
    if (flavour === "local" && this.localCloseAfterMs !== undefined) {
      this.#cameraRequest(conn, "PUT_STATUS", { status: { connection_to_server: "CONNECTED" } });
      setTimeout(() => ws.terminate(), this.localCloseAfterMs).unref();
    }
  }

  #send(conn: Conn, message: NanitMessage): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(encodeMessage(message), { binary: true });
  }

  #onFrame(conn: Conn, cam: SimCamera, data: RawData, isBinary: boolean): void {
    const info: ConnInfo = { conn: conn.conn, flavour: conn.flavour, cameraUid: cam.uid };
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    let message: NanitMessage;
    try {
      if (!isBinary) throw new Error("text frame");
      message = decodeMessage(bytes);
    } catch (error) {
      this.emit("malformed", { ...info, bytes: bytes.length, error: (error as Error).message });
      return;
    }
    if (message.type === "KEEPALIVE") return void this.emit("keepalive", info); // never answered
    if (message.type !== "REQUEST" || !message.request) return;
    const request = message.request;
    const record: ReceivedRequest = { ...info, at: Date.now(), request };
    this.received.push(record);
    this.emit("request", record);
    if (conn.silent) return;
    const respond = (status: number, extra: Partial<ResponseMsg> = {}, statusMessage?: string): void =>
      this.#send(conn, {
        type: "RESPONSE",
        response: {
          request_id: request.id,
          request_type: request.type,
          status_code: status,
          ...(statusMessage ? { status_message: statusMessage } : {}),
          ...extra,
        },
      });
    const answer = (a: Answer): void => (a === "no-answer" ? undefined : respond(a.status, a.extra, a.message));
    if (conn.overLimit) return respond(403, {}, CONNECTION_LIMIT_MESSAGE);
    switch (request.type) {
      case "GET_SENSOR_DATA":
        return respond(200, { sensor_data: this.#sensorData(cam, ["TEMPERATURE", "HUMIDITY", "LIGHT", "NIGHT"]) });
      case "PUT_CONTROL": {
        const c = request.control ?? {};
        if (c.sensor_data_transfer) {
          conn.sensorTransfer = Object.values(c.sensor_data_transfer).some(Boolean);
          conn.transfer = { ...c.sensor_data_transfer };
          this.#schedulePush(conn, cam);
        }
        if (c.night_light !== undefined) {
          cam.nightLight = c.night_light === "LIGHT_ON";
          this.#pushAll(cam, "PUT_CONTROL", { control: { night_light: c.night_light } }, conn);
        }
        if (c.night_light_timeout !== undefined) {
          cam.nightLightTimeoutS = c.night_light_timeout;
          this.#pushAll(cam, "PUT_CONTROL", { control: { night_light_timeout: c.night_light_timeout } }, conn);
        }
        return respond(
          200,
          this.echoControl && c.night_light !== undefined ? { control: { night_light: c.night_light } } : {},
        );
      }
      case "GET_CONTROL": {
        // The timer only when asked for (EM's GetControl adds night_light_timeout) and ever set.
        const timeout = request.get_control?.night_light_timeout ? cam.nightLightTimeoutS : undefined;
        return respond(200, {
          control: {
            night_light: cam.nightLight ? "LIGHT_ON" : "LIGHT_OFF",
            ...(timeout !== undefined ? { night_light_timeout: timeout } : {}),
          },
        });
      }
      case "GET_SETTINGS":
        return respond(200, { settings: this.#settings(cam) });
      case "PUT_SETTINGS": {
        const delta: SettingsMsg = {};
        for (const [k, v] of Object.entries(request.settings ?? {})) {
          if (k in cam.settings && v !== undefined) {
            (cam.settings as Record<string, unknown>)[k] = v;
            (delta as Record<string, unknown>)[k] = v;
          }
        }
        if (Object.keys(delta).length) this.#pushAll(cam, "PUT_SETTINGS", { settings: delta }, conn);
        if (delta.sleep_mode) this.#pusher.stop(cam.uid, "standby");
        return respond(200);
      }
      case "GET_STATUS":
        return respond(200, {
          status: {
            connection_to_server: "CONNECTED",
            current_version: cam.firmware,
            hardware_version: "gen_2",
            mode: "STAND",
          },
        });
      case "PUT_STREAMING":
        return this.#streaming(conn, cam, request, respond);
      case "GET_SOUNDTRACKS":
        return answer(cam.soundMachine.getSoundtracks());
      case "GET_PLAYBACK": {
        const playback = cam.soundMachine.getPlayback();
        if (!cam.soundMachine.holdNextGet) return answer(playback);
        cam.soundMachine.holdNextGet = false;
        conn.heldPlayback = () => answer(playback);
        return;
      }
      case "PUT_PLAYBACK": {
        answer(cam.soundMachine.put(request.playback));
        const held = conn.heldPlayback;
        conn.heldPlayback = undefined;
        return held?.();
      }
      default:
        return respond(501, {}, "Not implemented");
    }
  }

  #streaming(
    conn: Conn,
    cam: SimCamera,
    request: RequestMsg,
    respond: (status: number, extra?: Partial<ResponseMsg>, statusMessage?: string) => void,
  ): void {
    const s = request.streaming ?? {};
    const fault = this.#streamFaults.shift();
    if (fault && fault !== "no-answer") return respond(fault.status, {}, fault.message);
    // "no-answer": the camera acts on the request but its answer never comes.
    const reply = fault === "no-answer" ? (): void => undefined : respond;
    if (cam.settings.sleep_mode) return reply(409, {}, "camera is sleeping");
    // proto2 default: an absent status is STARTED (0).
    if (s.status === "STOPPED") {
      this.#pusher.stop(cam.uid, "stopped");
      return reply(200);
    }
    if (s.status === "PAUSED") return reply(501, {}, "Not implemented");
    const url = s.rtmp_url ?? "";
    let target: URL | undefined;
    try {
      target = new URL(url);
    } catch {
      target = undefined;
    }
    if (!target || (target.protocol !== "rtmp:" && target.protocol !== "rtmps:"))
      return reply(400, {}, "invalid rtmp_url");
    // Loopback only (the project's network rule); a real camera would answer 200 and fail to connect.
    if (this.loopbackPushOnly && !["127.0.0.1", "[::1]", "localhost"].includes(target.hostname))
      return reply(400, {}, "simulator pushes to loopback only");
    this.#pusher.start(cam.uid, url, conn.conn, cam.streamProfile);
    reply(200);
  }

  /** proto2 style: false booleans are omitted from a full GET_SETTINGS (HN PR #96). */
  #settings(cam: SimCamera): SettingsMsg {
    const out: SettingsMsg = {};
    for (const [k, v] of Object.entries(cam.settings)) if (v !== false) (out as Record<string, unknown>)[k] = v;
    return out;
  }

  #sensorData(cam: SimCamera, types: string[]): NonNullable<RequestPayload["sensor_data"]> {
    const out: NonNullable<RequestPayload["sensor_data"]> = [];
    const now = Date.now();
    if (types.includes("TEMPERATURE"))
      out.push({
        sensor_type: "TEMPERATURE",
        value: Math.round(cam.temperatureMilli / 1000),
        value_milli: cam.temperatureMilli,
        timestamp_real: now,
      });
    if (types.includes("HUMIDITY"))
      out.push({
        sensor_type: "HUMIDITY",
        value: Math.round(cam.humidityMilli / 1000),
        value_milli: cam.humidityMilli,
        timestamp_real: now,
      });
    if (types.includes("LIGHT")) out.push({ sensor_type: "LIGHT", value: cam.lux });
    if (types.includes("NIGHT")) out.push({ sensor_type: "NIGHT", value: cam.night ? 1 : 0 });
    return out;
  }

  /** Irregular cadence (IF#35): each push is followed by another after a random delay. LIGHT never pushed. */
  #schedulePush(conn: Conn, cam: SimCamera): void {
    clearTimeout(conn.pushTimer);
    conn.pushTimer = undefined;
    if (!conn.sensorTransfer) return;
    const [min, max] = this.sensorPushMs;
    conn.pushTimer = setTimeout(
      () => {
        if (!conn.silent)
          this.#cameraRequest(conn, "PUT_SENSOR_DATA", {
            sensor_data: this.#sensorData(cam, ["TEMPERATURE", "HUMIDITY"]),
          });
        this.#schedulePush(conn, cam);
      },
      min + Math.random() * (max - min),
    );
  }

  #pushSensors(cam: SimCamera, types: string[]): void {
    for (const c of this.#conns)
      if (c.cameraUid === cam.uid && c.sensorTransfer && !c.silent)
        this.#cameraRequest(c, "PUT_SENSOR_DATA", { sensor_data: this.#sensorData(cam, types) });
  }

  #pushAll(cam: SimCamera, type: "PUT_CONTROL" | "PUT_SETTINGS", payload: RequestPayload, except?: Conn): void {
    for (const c of this.#conns)
      if (c.cameraUid === cam.uid && c !== except && !c.silent) this.#cameraRequest(c, type, payload);
  }

  #cameraRequest(conn: Conn, type: string, payload: RequestPayload): void {
    const request: RequestMsg = { id: ++this.#cameraRequestId, type, ...payload };
    this.#send(conn, { type: "REQUEST", request });
    this.emit("push", { conn: conn.conn, flavour: conn.flavour, cameraUid: conn.cameraUid, request });
  }
}
