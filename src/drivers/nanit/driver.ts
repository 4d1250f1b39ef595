// The Nanit driver: one account. REST session (MFA login done by the CLI, rotating refresh tokens),
// /babies -> one device per camera, and one control link per camera (local socket or cloud relay) for
// sensors, motion/sound/cry alerts, the controls (controls.ts: night light, settings, sound machine) and the
// live-view push (PUT_STREAMING: the camera publishes RTMP to a URL we give it). /messages is polled as the
// alerts' backstop (alerts.ts).
import type { CloudStream, StreamRequest } from "../../core/camera.ts";
import type { Driver, DriverContext, DriverSink } from "../../core/driver.ts";
import { DriverRuntime, type BackoffPolicy, type Timer } from "../../core/driver-runtime.ts";
import { registerSecret, type Logger } from "../../core/logger.ts";
import { applyPatch, deviceId } from "../../core/model.ts";
import type { Command, DeviceInfo, DeviceState, SoundTrack, StatePatch } from "../../core/model.ts";
import { mergeCommands } from "../../core/coalesce.ts";
import { ownValue } from "../../core/safe-keys.ts";
import { AlertFusion, messageAlerts, socketAlerts, type AlertKind } from "./alerts.ts";
import { CameraLink } from "./link.ts";
import type { PinnedCert } from "./pin.ts";
import type { RequestMsg, ResponseMsg } from "./proto.ts";
import { pushPatch, readCamera, readSensors, readSoundMachine } from "./camera-sync.ts";
import { DEFAULT_SPEAKER_RELAY, Speakers } from "./speakers.ts";
import {
  DEFAULT_API,
  DEFAULT_WEBSOCKET,
  getJson,
  NanitLoginRequiredError,
  parseBabies,
  parseMessages,
  type BabyCamera,
} from "./rest.ts";
import { LOGIN_HINT, NanitSession } from "./session.ts";
import { cameraInfo, hiddenItems, localUrl, nightLightTimerS } from "./camera-info.ts";
import { controlPatch, planCommand, settingsPatch, visiblePatch } from "./controls.ts";
import { CloudStreamUrls, putStreaming } from "./stream-request.ts";

export { NANIT_CAMERA } from "./camera-info.ts";
export { STANDBY, CAMERA_ITEMS, type CameraItem } from "./controls.ts";
import { NanitRequestError, NanitTimeoutError, type NanitSocket } from "./socket.ts";
import type { NanitDriverOptions } from "./options.ts";

const PINS_KEY = "pins";
/** The sound machines' track lists by camera uid, so a restart describes the camera whole at once. */
const TRACKS_KEY = "soundtracks";

export type { NanitDriverOptions, NanitTimeouts } from "./options.ts";

interface Cam {
  cam: BabyCamera;
  id: string;
  info: DeviceInfo;
  state: DeviceState;
  link: CameraLink;
  lastMessageId: number;
  alerts: AlertFusion;
  /** The control link has been ready before: the next ready is a reconnect (any push died with it). */
  everReady: boolean;
  /** What we last told the sink. */
  available: boolean;
  /** Running while the link is down but the camera still reads reachable (the grace period). */
  graceTimer: Timer | undefined;
  /** When the grace period started. */
  downSince: number;
  /** The sound machine's tracks, once the camera listed them. */
  tracks: SoundTrack[] | undefined;
  /** Items the config leaves out. */
  hide: ReadonlySet<string>;
  /** PUT_PLAYBACKs sent: a GET_PLAYBACK answer read before the newest one is stale (its answer may be
   * handled after the PUT's when both arrive in one read). */
  playbackWrites: number;
}

export class NanitDriver implements Driver {
  readonly vendor = "nanit";
  readonly accountName: string;
  readonly #o: NanitDriverOptions;
  readonly #api: string;
  readonly #wsTemplate: string;
  readonly #cams = new Map<string, Cam>();
  readonly #byId = new Map<string, Cam>();
  readonly #rt: DriverRuntime;
  readonly #cloudUrls: CloudStreamUrls;
  #ctx: DriverContext | undefined;
  #log!: Logger;
  #session!: NanitSession;
  #needsLogin: Promise<void> | undefined;
  #polling = false;
  #cryHinted = false;
  #speakers!: Speakers;

  constructor(options: NanitDriverOptions) {
    this.#o = options;
    this.accountName = options.accountName ?? options.email;
    this.#api = (options.endpoints?.api ?? DEFAULT_API).replace(/\/+$/, "");
    this.#wsTemplate = options.endpoints?.websocket ?? DEFAULT_WEBSOCKET;
    this.#rt = new DriverRuntime("Nanit", { random: options.random });
    const { media, mediaCa } = options.endpoints ?? {};
    this.#cloudUrls = new CloudStreamUrls({ base: media, caFile: mediaCa, session: () => this.#session });
    registerSecret(options.password);
  }

  get #sink(): DriverSink {
    if (!this.#ctx) throw new Error("Nanit driver not started");
    return this.#ctx.sink;
  }

  get #httpMs(): number {
    return this.#o.timeouts?.httpMs ?? 20_000;
  }

  get #graceMs(): number {
    return this.#o.timeouts?.linkGraceMs ?? 10_000;
  }

  start(ctx: DriverContext): Promise<void> {
    return this.#rt.start(
      () => this.#setUp(ctx),
      () => this.#run(),
    );
  }

  #setUp(ctx: DriverContext): void {
    this.#ctx = ctx;
    this.#log = (this.#o.log ?? ctx.log).child({ vendor: "nanit", account: this.accountName });
    this.#session = new NanitSession({
      api: this.#api,
      email: this.#o.email,
      password: this.#o.password,
      store: ctx.store,
      log: this.#log,
      httpMs: this.#httpMs,
      signal: this.#rt.signal,
      refreshMarginMs: this.#o.refreshMarginMs ?? 300_000,
    });
    const t = this.#o.timeouts;
    this.#speakers = new Speakers({
      ...{ account: this.accountName, session: this.#session, log: this.#log, rt: this.#rt, store: ctx.store },
      relay: this.#o.endpoints?.speakers ?? DEFAULT_SPEAKER_RELAY,
      sink: () => this.#sink,
      ...{ connectTimeoutMs: t?.connectMs ?? 10_000, requestTimeoutMs: t?.requestMs ?? 10_000, graceMs: this.#graceMs },
      ...{ pollMs: this.#o.playbackPollMs || 30_000, pingIntervalMs: this.#o.pingIntervalMs ?? 20_000 },
    });
  }

  async stop(): Promise<void> {
    await this.#rt.stop(async () => {
      await Promise.all([...this.#cams.values()].map((c) => c.link.stop()));
    });
  }

  async command(id: string, command: Command): Promise<void> {
    if (this.#speakers.owns(id)) return this.#speakers.command(id, command);
    const c = this.#byId.get(id);
    if (!c) throw new Error(`Nanit has no device ${id}`);
    const writes = planCommand(command, c.state, c.info.capabilities, c.info.name);
    if (!writes.length) return;
    const sock = await this.#socketFor(c);
    if (!sock) throw new Error(`${c.info.name} is not connected right now`);
    for (const write of writes) {
      let response: ResponseMsg;
      if (write.type === "PUT_PLAYBACK") c.playbackWrites++;
      try {
        response = await sock.requestOk(write.type, write.payload);
      } catch (error) {
        if (error instanceof NanitTimeoutError)
          c.link.replace(`the camera did not answer a command (${error.message})`);
        const detail = error instanceof NanitRequestError ? error.message : (error as Error).message;
        throw new Error(`${c.info.name}: could not ${write.what}: ${detail}`, { cause: error });
      }
      // The answer may or may not echo the new value (HN merges the requested value optimistically).
      const echoed = { ...controlPatch(response.control), ...settingsPatch(response.settings, false) };
      this.#patch(c, mergeCommands(write.patch, echoed));
      // The sound machine is never pushed: read back what it really plays (EM re-queries after a PUT).
      if (write.type === "PUT_PLAYBACK") void this.#readPlayback(c, sock);
    }
  }

  /** PUT_STREAMING over the camera's current control socket (local or cloud); the camera then
   * connects out and publishes RTMP to `request.url`, or to Nanit's cloud (docs/protocols/nanit.md §6). */
  async requestStream(id: string, request: StreamRequest): Promise<CloudStream | undefined> {
    const c = this.#byId.get(id);
    if (!c) throw new Error(`Nanit has no device ${id}`);
    const sock = await this.#socketFor(c);
    const what = request.action === "start" ? "start" : "stop";
    if (!sock) throw new Error(`${c.info.name}: cannot ${what} the live view: the camera is not connected right now`);
    const cloud = () => this.#cloudUrls.urlFor(c.cam.babyUid, request.freshUrl === true);
    return putStreaming(sock, c.info.name, request, this.#o.timeouts?.streamMs ?? 20_000, cloud);
  }

  // ---- account loop ----------------------------------------------------------------------------

  async #run(): Promise<void> {
    let failures = 0;
    this.#sink.linkStateChanged("connecting");
    while (!this.#rt.stopping) {
      try {
        await this.#discover();
        break;
      } catch (error) {
        if (this.#rt.stopping) break;
        if (error instanceof NanitLoginRequiredError) {
          const waiting = this.#loginRequired(error);
          this.#rt.inventoryDone();
          await waiting;
          continue;
        }
        this.#sink.linkStateChanged("disconnected", (error as Error).message);
        this.#log.warn(`nanit: cannot list the cameras: ${(error as Error).message}`);
        this.#rt.inventoryDone();
        await this.#rt.sleep(this.#rt.backoff(++failures, this.#backoff));
      }
    }
    if (this.#rt.stopping) return;
    this.#sink.linkStateChanged("connected");
    this.#rt.inventoryDone();
    const messagesMs = this.#o.messagesPollMs ?? 20_000;
    if (messagesMs > 0) this.#rt.every(messagesMs, () => void this.#pollMessages());
    void this.#pollMessages();
    const playbackMs = this.#o.playbackPollMs ?? 30_000;
    if (playbackMs > 0) {
      this.#rt.every(playbackMs, () => {
        for (const c of this.#cams.values())
          if (c.link.socket && !c.hide.has("soundMachine")) void this.#readPlayback(c, c.link.socket, !c.tracks);
      });
    }
    const babiesMs = this.#o.babiesPollMs ?? 300_000;
    if (babiesMs > 0) {
      this.#rt.every(babiesMs, () => {
        if (this.#needsLogin) return;
        this.#discover().catch((error: unknown) => {
          if (error instanceof NanitLoginRequiredError) void this.#loginRequired(error);
          else this.#log.warn(`nanit: re-reading /babies failed: ${(error as Error).message}`);
        });
      });
    }
  }

  /** GET /babies: announce new cameras (and changed names/firmware), start their links. */
  async #discover(): Promise<void> {
    const http = { timeoutMs: this.#httpMs, signal: this.#rt.signal };
    const body = await this.#session.authed((token) => getJson(this.#api, "/babies", token, http));
    const { cameras, skipped } = parseBabies(body);
    const entries = skipped === 1 ? "entry" : "entries";
    if (skipped) this.#log.warn(`nanit: ignoring ${skipped} /babies ${entries} without a usable baby or camera uid`);
    if (!cameras.length) this.#log.warn("nanit: this account has no camera");
    this.#speakers.discover(cameras);
    for (const cam of cameras) {
      const existing = this.#cams.get(cam.cameraUid);
      if (existing) {
        existing.cam = { ...cam, firmware: existing.info.firmware ?? cam.firmware };
        const info = cameraInfo(existing.cam, this.accountName, existing.tracks, existing.hide, this.#o);
        if (JSON.stringify(info) !== JSON.stringify(existing.info)) {
          existing.info = info;
          this.#sink.deviceFound(info, existing.state);
          // deviceFound reads as reachable: say again that it is not.
          if (!existing.available) this.#sink.availabilityChanged(existing.id, false);
        }
        continue;
      }
      const id = deviceId("nanit", cam.cameraUid);
      const hide = hiddenItems(this.#o.cameras, cam);
      const stored = (this.#ctx!.store.get(TRACKS_KEY) ?? {}) as Record<string, SoundTrack[]>;
      const tracks = ownValue(stored, cam.cameraUid);
      const c: Cam = {
        cam,
        id,
        info: cameraInfo(cam, this.accountName, tracks, hide, this.#o),
        state: { motion: false, sound: false, ...(this.#o.cry ? { cry: false } : {}) },
        link: undefined as unknown as CameraLink,
        lastMessageId: 0,
        alerts: undefined as unknown as AlertFusion,
        everReady: false,
        available: false,
        graceTimer: undefined,
        downSince: 0,
        tracks,
        hide,
        playbackWrites: 0,
      };
      c.link = this.#makeLink(c);
      c.alerts = this.#makeAlerts(c);
      this.#cams.set(cam.cameraUid, c);
      this.#byId.set(id, c);
      this.#sink.deviceFound(c.info, c.state);
      // Reachable once its control link is up.
      this.#sink.availabilityChanged(id, false);
      c.link.start();
    }
  }

  #makeLink(c: Cam): CameraLink {
    const o = this.#o;
    const store = this.#ctx!.store;
    return new CameraLink({
      cameraUid: c.cam.cameraUid,
      label: c.info.name,
      cloudUrl: this.#wsTemplate.replaceAll("{camera_uid}", encodeURIComponent(c.cam.cameraUid)),
      localUrl: () => localUrl(c.cam, this.#o.endpoints?.local),
      preferLocal: o.preferLocal ?? true,
      api: this.#api,
      httpMs: this.#httpMs,
      session: this.#session,
      log: this.#log,
      pins: {
        get: (uid) => ownValue((store.get(PINS_KEY) ?? {}) as Record<string, PinnedCert>, uid),
        set: (uid, pin) =>
          store.set(PINS_KEY, { ...((store.get(PINS_KEY) ?? {}) as Record<string, PinnedCert>), [uid]: pin }),
      },
      socket: {
        connectTimeoutMs: o.timeouts?.connectMs ?? 10_000,
        requestTimeoutMs: o.timeouts?.requestMs ?? 10_000,
        keepaliveIntervalMs: o.keepaliveMs ?? 20_000,
        // A silent socket (a relay or NAT that stopped forwarding without closing) is noticed within
        // 20 s, so with the 10 s grace counted from its last frame the camera reads "No Response"
        // within about 20 s of going quiet, not after a minute of stale values.
        pingIntervalMs: o.pingIntervalMs ?? 10_000,
        pongTimeoutMs: o.pongTimeoutMs ?? 10_000,
      },
      healthCheckMs: o.healthCheckMs ?? 270_000,
      sensorPollMs: o.sensorPollMs ?? 120_000,
      localRetryMs: o.localRetryMs ?? 300_000,
      connectionLimitBackoffMs: o.connectionLimitBackoffMs ?? 300_000,
      refreshMarginMs: o.refreshMarginMs ?? 300_000,
      backoff: (failures) => this.#rt.backoff(failures, this.#backoff),
      signal: this.#rt.signal,
      timers: this.#rt.timers.scope(),
      onLoginRequired: (error) => this.#loginRequired(error),
      onUp: (sock) => this.#sync(c, sock),
      onReady: () => this.#onReady(c),
      onDown: (reason, lastAliveAt) => this.#onDown(c, reason, lastAliveAt),
      onPush: (request) => this.#onPush(c, request),
      onSensorPoll: (sock) => this.#readSensors(c, sock),
    });
  }

  /** The control link is up (again). A reconnect or socket hand-over ends any push the camera was making: the
   * push dies with the control session that requested it (docs/protocols/nanit.md §6.2), so whoever watches
   * must request it again. */
  #onReady(c: Cam): void {
    c.graceTimer = this.#rt.cancel(c.graceTimer);
    this.#setAvailable(c, true);
    if (c.everReady) this.#sink.streamInterrupted?.(c.id, "link-reconnected");
    c.everReady = true;
  }

  /** The control link dropped and the link loop reconnects. The camera reads unreachable only if the
   * link is not back within the grace period (a camera that never connected already reads so). */
  #onDown(c: Cam, reason: string, lastAliveAt: number): void {
    if (!c.available || c.graceTimer) return;
    const grace = this.#graceMs;
    // The grace counts from the last sign of life: a socket that went silent is noticed only when a
    // ping goes unanswered, and that time already counts as "not reachable".
    c.downSince = Math.min(Date.now(), lastAliveAt);
    c.graceTimer = this.#rt.later(Math.max(0, c.downSince + grace - Date.now()), () => {
      c.graceTimer = undefined;
      if (c.link.socket) return;
      const downS = Math.round((Date.now() - c.downSince) / 100) / 10;
      const what = `no control connection for ${downS} s (${reason}); the camera reads unreachable until it is back`;
      this.#log.warn(`nanit: ${c.info.name}: ${what}`);
      this.#setAvailable(c, false);
    });
  }

  #setAvailable(c: Cam, available: boolean): void {
    if (c.available === available) return;
    c.available = available;
    this.#sink.availabilityChanged(c.id, available);
  }

  /** The socket for a command or a stream request. Within the grace period the camera still reads
   * reachable, so wait for the reconnect (typically 1-3 s) rather than fail what it will take soon. */
  #socketFor(c: Cam): Promise<NanitSocket | undefined> {
    const now = c.link.socket;
    if (now || !c.graceTimer) return Promise.resolve(now);
    return c.link.whenReady(c.downSince + this.#graceMs - Date.now());
  }

  // ---- camera state ------------------------------------------------------------------------------

  /** A fresh socket: enable sensor push (reset by every reconnect), then read sensors, night light,
   * standby and firmware. Only then is the camera reachable: after an outage, what changed meanwhile
   * is in before "No Response" ends. */
  async #sync(c: Cam, sock: NanitSocket): Promise<void> {
    const read = await readCamera(sock, this.#o.cry, nightLightTimerS(this.#o.cameras, c.cam));
    const { patch, firmware, statusError, timerNote } = read;
    if (statusError) this.#log.debug(`nanit: ${c.info.name}: GET_STATUS failed: ${statusError}`);
    if (timerNote) this.#log.info({ device: c.id }, `nanit: ${c.info.name}: ${timerNote}`);
    if (firmware && firmware !== c.info.firmware) {
      c.cam = { ...c.cam, firmware };
      this.#describe(c);
    }
    this.#patch(c, patch);
    if (!c.hide.has("soundMachine")) await this.#readPlayback(c, sock, true);
  }

  /** Announce the device again when its description changed (firmware, the sound machine's tracks). */
  #describe(c: Cam): void {
    const info = cameraInfo(c.cam, this.accountName, c.tracks, c.hide, this.#o);
    if (JSON.stringify(info) === JSON.stringify(c.info)) return;
    c.info = info;
    this.#sink.deviceFound(info, c.state);
  }

  /** The sound machine (and its tracks while unknown). Never fatal and never a reconnect: a camera may
   * leave GET_PLAYBACK unanswered, and a reconnect would end a running live view (HN PR #101). */
  async #readPlayback(c: Cam, sock: NanitSocket, withTracks = false): Promise<void> {
    try {
      const writes = c.playbackWrites;
      const { tracks, playback } = await readSoundMachine(sock, withTracks);
      if (tracks && JSON.stringify(tracks) !== JSON.stringify(c.tracks)) {
        c.tracks = tracks;
        const store = this.#ctx!.store;
        store.set(TRACKS_KEY, { ...((store.get(TRACKS_KEY) ?? {}) as object), [c.cam.cameraUid]: tracks });
        this.#describe(c);
      }
      if (playback && writes === c.playbackWrites) this.#patch(c, { soundMachine: playback });
    } catch (error) {
      this.#log.debug(`nanit: ${c.info.name}: reading the sound machine failed: ${(error as Error).message}`);
    }
  }

  async #readSensors(c: Cam, sock: NanitSocket): Promise<void> {
    this.#patch(c, await readSensors(sock));
  }

  /** Camera-initiated requests: sensor pushes and changes made elsewhere (the phone app). */
  #onPush(c: Cam, request: RequestMsg): void {
    if (request.type === "PUT_SENSOR_DATA") {
      // Alerts arrive here within a second where the camera sends them; /messages is the backstop. The
      // receipt time, not the camera's clock: the socket's delay is well under the match window.
      for (const kind of socketAlerts(request.sensor_data ?? [])) c.alerts.report(kind, "socket", Date.now());
    }
    const patch = pushPatch(request);
    if (patch) this.#patch(c, patch);
    else this.#log.debug({ device: c.id, type: request.type }, "nanit: camera request not used");
  }

  /** Report a change, minus what the config hides; object parts merge into the state. */
  #patch(c: Cam, reported: StatePatch): void {
    const caps = c.info.capabilities;
    const patch: StatePatch = visiblePatch(reported, caps);
    for (const key of ["temperature", "humidity", "motion", "sound", "cry", "lightLevel", "night"] as const)
      if (reported[key] !== undefined && caps[key]) (patch as Record<string, unknown>)[key] = reported[key];
    if (!Object.keys(patch).length) return;
    c.state = applyPatch(c.state, patch);
    this.#sink.stateChanged(c.id, patch);
  }

  // ---- alerts: the camera socket (onPush) first, /messages as the backstop (alerts.ts) ----------------

  #makeAlerts(c: Cam): AlertFusion {
    const matchMs = this.#o.alertMatchMs ?? 15_000;
    const memoryMs = (this.#o.eventWindowMs ?? 120_000) + matchMs;
    const onChange = (kind: AlertKind, detected: boolean): void => this.#alertChanged(c, kind, detected);
    return new AlertFusion({ holdMs: this.#o.eventHoldMs ?? 30_000, matchMs, memoryMs, timers: this.#rt, onChange });
  }

  #alertChanged(c: Cam, kind: AlertKind, detected: boolean): void {
    if (kind !== "cry" || this.#o.cry) this.#patch(c, { [kind]: detected });
    else if (detected && !this.#cryHinted) {
      this.#cryHinted = true;
      this.#log.info(`nanit: ${c.info.name} reports cry detection; set "cry: true" on the account for a Cry sensor`);
    }
  }

  async #pollMessages(): Promise<void> {
    if (this.#polling || this.#needsLogin || this.#rt.stopping) return;
    this.#polling = true;
    try {
      await Promise.all([...this.#cams.values()].map((c) => this.#pollBaby(c)));
    } finally {
      this.#polling = false;
    }
  }

  async #pollBaby(c: Cam): Promise<void> {
    const path = `/babies/${encodeURIComponent(c.cam.babyUid)}/messages?limit=${this.#o.messagesLimit ?? 10}`;
    let messages;
    try {
      const http = { timeoutMs: this.#httpMs, signal: this.#rt.signal };
      messages = parseMessages(await this.#session.authed((token) => getJson(this.#api, path, token, http)));
    } catch (error) {
      if (error instanceof NanitLoginRequiredError) void this.#loginRequired(error);
      else if (!this.#rt.stopping)
        this.#log.warn(`nanit: ${c.info.name}: reading messages failed: ${(error as Error).message}`);
      return;
    }
    const found = messageAlerts(messages, c.lastMessageId, this.#o.eventWindowMs ?? 120_000);
    c.lastMessageId = found.lastId;
    for (const { kind, at } of found.alerts) c.alerts.report(kind, "messages", at);
  }

  // ---- login required ----------------------------------------------------------------------------

  /** Report needs-login once (a clear log line, no retry loop) and wait for a session from the login
   * CLI (the data file is re-read every loginWatchMs). Shared by every caller. */
  #loginRequired(error: NanitLoginRequiredError): Promise<void> {
    if (this.#needsLogin) return this.#needsLogin;
    const message = error.message.includes(LOGIN_HINT) ? error.message : `${error.message}; ${LOGIN_HINT}`;
    this.#log.error(`nanit: account "${this.accountName}" needs a login: ${message}`);
    this.#sink.linkStateChanged("needs-login", message);
    this.#needsLogin = new Promise<void>((resolve) => {
      const watch = this.#rt.every(this.#o.loginWatchMs ?? 30_000, () => {
        if (!this.#session.reloadFromFile()) return;
        this.#log.info("nanit: found a new session from the login command; reconnecting");
        done();
        if (this.#cams.size) this.#sink.linkStateChanged("connected");
      });
      const done = (): void => {
        this.#rt.cancel(watch);
        this.#rt.signal.removeEventListener("abort", done);
        this.#needsLogin = undefined;
        resolve();
      };
      if (this.#rt.stopping) return done();
      this.#rt.signal.addEventListener("abort", done, { once: true });
    });
    return this.#needsLogin;
  }

  // ---- helpers -------------------------------------------------------------------------------------

  /** Every retry waits (counted from 1): a camera is asked again no sooner than about minMs. */
  get #backoff(): BackoffPolicy {
    return { minMs: this.#o.backoff?.minMs ?? 2_000, maxMs: this.#o.backoff?.maxMs ?? 60_000 };
  }
}
