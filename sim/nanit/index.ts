// Loopback Nanit cloud + camera simulator (see docs/protocols/nanit.md §8). One HTTP server on
// 127.0.0.1 serves the REST API and the cloud relay socket (/focus/cameras/{uid}/user_connect); each
// camera also has its own TLS server (self-signed certificate with a wrong CN, made at start) for the
// local socket. Both speak the proto2 schema in proto/nanit.proto. Test hooks act as the phone app,
// change the room, post motion/sound messages, silence or drop sessions and inject faults. Every
// request a camera receives is recorded, decoded, and emitted as a 'request' event. PUT_STREAMING
// STARTED makes the camera publish RTMP with ffmpeg (stream.ts), to loopback URLs only.
// Made-up accounts and secrets only.
import { EventEmitter } from "node:events";
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";
import { WebSocketServer } from "ws";
import { SimSoundMachine } from "./sound-machine.ts";
import { SimSoundLight } from "./sound-light.ts";
import { CameraPusher, DEFAULT_FFMPEG, type PushInfo, type StreamProfileName } from "./stream.ts";
import { CloudMediaServer } from "./cloud-media.ts";
import { SimRest } from "./rest.ts";
import { CameraSockets } from "./socket.ts";
import type {
  ConnInfo,
  Flavour,
  HttpRecord,
  Message,
  NanitSimulatorOptions,
  ReceivedRequest,
  SimBaby,
  SimCamera,
  SimEvents,
} from "./types.ts";

export { STREAM_PROFILES, type StreamProfileName, type PushInfo } from "./stream.ts";
export { DEFAULT_TRACKS, SimSoundMachine } from "./sound-machine.ts";
export { DEFAULT_SL_TRACKS, SimSoundLight, type SimSoundLightRequest } from "./sound-light.ts";
export { CONNECTION_LIMIT_MESSAGE } from "./socket.ts";
export type { ConnInfo, Flavour, HttpRecord, NanitSimulatorOptions, ReceivedRequest, SimBaby } from "./types.ts";

export const DEMO_EMAIL = "parent@hearthbridge.invalid";
export const DEMO_PASSWORD = "made-up nanit password";
export const DEMO_MFA_CODE = "424242";

const DEFAULT_BABIES: SimBaby[] = [{ uid: "b4c0ffee", name: "Robin", cameraUid: "N301SIM0000001" }];

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
  readonly cloudMedia = new CloudMediaServer({ tokenKnown: (token) => this.#rest.accessKnown(token) });
  /** SMS "sent" (one per 482). */
  smsSent = 0;
  /** Successful /tokens/refresh calls. */
  refreshes = 0;
  readonly #port: number;
  readonly #cameras = new Map<string, SimCamera>();
  /** Sound & Light Machines by speaker uid, reached through the relay path /speakers/{uid}/user_connect/. */
  readonly speakers = new Map<string, SimSoundLight>();
  readonly #pusher: CameraPusher;
  /** The REST API and its tokens (rest.ts). */
  readonly #rest: SimRest = new SimRest(this, this.#cameras);
  /** The cloud relay and local sockets (socket.ts). */
  readonly #sockets: CameraSockets;
  /** Injected PUT_STREAMING outcomes, used one per request. */
  readonly #streamFaults: Array<{ status: number; message: string } | "no-answer"> = [];
  #stopping: Promise<void> | undefined;
  #server: Server | undefined;
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
    const { speakers } = this;
    const parts = { cameras: this.#cameras, speakers, rest: this.#rest, pusher: this.#pusher };
    this.#sockets = new CameraSockets(this, { ...parts, streamFaults: this.#streamFaults });
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
    const server = createServer((req, res) => void this.#rest.handle(req, res));
    // Node's HTTP server drops its error listener from an upgrade's socket: keep a reset from throwing.
    server.on("upgrade", (req, socket, head) =>
      this.#sockets.cloudUpgrade(
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
    this.#sockets.terminateAll();
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
    this.#sockets.close();
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
      this.#sockets.localUpgrade(
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
    this.#sockets.pushSensors(cam, ["TEMPERATURE"]);
  }

  setHumidity(percent: number, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.humidityMilli = Math.round(percent * 1000);
    this.#sockets.pushSensors(cam, ["HUMIDITY"]);
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
    return this.#sockets.alert(cam.uid, kind, at);
  }

  /** The phone app flips the night light: every session gets a camera-initiated PUT_CONTROL. */
  setNightLightFromApp(on: boolean, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.nightLight = on;
    this.#sockets.pushAll(cam, "PUT_CONTROL", { control: { night_light: on ? "LIGHT_ON" : "LIGHT_OFF" } });
  }

  /** The phone app sets the night light's timer (seconds): every session gets a PUT_CONTROL. */
  setNightLightTimerFromApp(seconds: number, cameraUid?: string): void {
    const cam = this.camera(cameraUid);
    cam.nightLightTimeoutS = seconds;
    this.#sockets.pushAll(cam, "PUT_CONTROL", { control: { night_light_timeout: seconds } });
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
    this.#sockets.pushAll(cam, "PUT_SETTINGS", { settings: delta });
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
    this.#sockets.pushAll(cam, "PUT_SETTINGS", { settings: { sleep_mode: on } });
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
    return this.#sockets.goSilent(flavour);
  }

  dropSockets(flavour?: Flavour): void {
    this.#sockets.dropSockets(flavour);
  }

  /** Send raw bytes (e.g. a malformed frame) to every session. */
  sendRaw(bytes: Uint8Array, flavour?: Flavour): void {
    this.#sockets.sendRaw(bytes, flavour);
  }

  /** Open sessions, by flavour. */
  connections(flavour?: Flavour): ConnInfo[] {
    return this.#sockets.connections(flavour);
  }

  /** Requests the cameras received (optionally of one type / flavour). */
  requests(type?: string, flavour?: Flavour): ReceivedRequest[] {
    return this.received.filter((r) => (!type || r.request.type === type) && (!flavour || r.flavour === flavour));
  }

  /** Every access token issued so far answers 401 (mid-life 401s). */
  revokeAccessTokens(): void {
    this.#rest.revokeAccessTokens();
  }

  /** Every refresh token expires (404 on refresh; the user must log in again). */
  expireRefreshTokens(): void {
    this.#rest.expireRefreshTokens();
  }

  /** The refresh tokens still valid (normally exactly one per session). */
  get validRefreshTokens(): string[] {
    return this.#rest.validRefreshTokens;
  }

  get usedRefreshTokens(): string[] {
    return this.#rest.usedRefreshTokens;
  }

  /** Answer the next `count` requests to `path` (e.g. "/tokens/refresh") with `status`. */
  failNext(path: string, status: number, count = 1, body?: unknown): void {
    this.#rest.failNext(path, status, count, body);
  }

  /** Issue a session directly (as if logged in earlier): returns its tokens. */
  issueSession(): { accessToken: string; refreshToken: string } {
    return this.#rest.issue();
  }
}
