// The FanSync driver: one Fanimation account. HTTP login, one WebSocket (login, lst_device, get per
// device, device_change pushes, set with its double acknowledgement), reconnect with back-off and
// re-sync, a fallback `get` poll, and assumed state for power writes the device never reports.
import type { Driver, DriverContext, DriverSink } from "../../core/driver.ts";
import { DriverRuntime, type BackoffPolicy, type Timer } from "../../core/driver-runtime.ts";
import { registerSecret, type Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import { assignSafe, copySafe } from "../../core/safe-keys.ts";
import { deviceId, type Command, type DeviceInfo } from "../../core/model.ts";
import { detectTraits, isLightOnly, overrideFor, stepsUnknown } from "./capabilities.ts";
import type { DeviceOverride, FanSyncTraits } from "./capabilities.ts";
import { AssumedPower } from "./assumed.ts";
import { LearnedSteps } from "./learned-steps.ts";
import { FanSyncAuthError, login, validateToken } from "./http-auth.ts";
import {
  assumableRegister,
  isRegisterMap,
  planWrites,
  registersToPatch,
  registersToState,
  type Registers,
} from "./registers.ts";
import { closedOrStopped, FanSyncLoginRejectedError, FanSyncSocket } from "./socket.ts";
import type { PushEvent, SocketOptions } from "./socket.ts";
import { deviceInfo, parseDeviceList, type ListEntry } from "./device-list.ts";
import { InFlightWrites } from "./in-flight.ts";

export const DEFAULT_API = "https://fanimation.apps.exosite.io/api:1";
export const DEFAULT_WEBSOCKET = "wss://fanimation.apps.exosite.io/api:1/phone";

export interface FanSyncTimeouts {
  /** Wait for the WebSocket login answer before giving up and retrying (default 15 s). */
  loginMs?: number;
  /** Wait for the device's (second) set acknowledgement after the cloud's ok (default 3 s; measured 1.9-2.5 s). */
  ackMs?: number;
  /** Wait for the answer to lst_device / get / the cloud's set ok (default 15 s). */
  getMs?: number;
  /** HTTP requests (default 20 s). */
  httpMs?: number;
  /** After a device ack "error", wait this long for the push before asking with `get` (default 3 s). */
  pushGraceMs?: number;
}

export interface FanSyncDriverOptions {
  accountName?: string;
  email: string;
  password: string;
  endpoints?: { api?: string | undefined; websocket?: string | undefined };
  /** Defaults to the context's logger. */
  log?: Logger;
  timeouts?: FanSyncTimeouts;
  /** Fallback `get` poll per device; 0 = off. Default 60 s. */
  pollIntervalMs?: number;
  /** WebSocket control-frame ping interval (default 20 s) and pong timeout (default 10 s). */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** Reconnect back-off: min * 2^n, capped, ±25 % jitter (default 0.5 s .. 30 s; core/driver-runtime.ts). */
  backoff?: { minMs?: number; maxMs?: number };
  /** Before reusing a token on reconnect, validate it with GET /session (default true). */
  validateTokenOnReconnect?: boolean;
  /** Random source for the jitter (tests). */
  random?: () => number;
  /** Per-device corrections (config `devices`), keyed by vendor device id or display name. */
  overrides?: Record<string, DeviceOverride>;
}

export interface Dev {
  vid: string;
  id: string;
  model: string;
  /** `profile.esh.device_id`: "F" fan, "L" light-only module. */
  deviceClass: string | undefined;
  firmware: string | undefined;
  properties: Record<string, unknown>;
  reported: Registers;
  traits: FanSyncTraits;
  info: DeviceInfo;
  connected: number;
  available: boolean;
  pushSeq: number;
  /** Writes sent and not yet answered: a command is planned as if they were carried out. */
  inFlight: InFlightWrites;
  /** The speed last written, until a push reports a speed (learned-steps.ts). */
  speedAsked: number | undefined;
}

const STORE_KEY = "assumed";
const LEARNED_KEY = "learnedSteps";
/** The cloud's 30-day session JWT, kept (0600) so a restart does not log in over HTTP again. */
const TOKEN_KEY = "token";

export class FanSyncDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName: string;
  readonly #email: string;
  readonly #password: string;
  readonly #api: string;
  readonly #wsUrl: string;
  readonly #opts: FanSyncDriverOptions;
  readonly #t: Required<FanSyncTimeouts>;
  readonly #devices = new Map<string, Dev>();
  readonly #byId = new Map<string, Dev>();
  readonly #rt: DriverRuntime;
  readonly #pushWaiters = new Set<{ vid: string; resolve: (pushed: boolean) => void }>();
  #ctx: DriverContext | undefined;
  #log!: Logger;
  #token: string | undefined;
  #socket: FanSyncSocket | undefined;
  #assumed = new AssumedPower(undefined);
  #learned = new LearnedSteps(undefined);
  #pollTimer: Timer | undefined;
  #polling = false;
  #accountDown = false;

  constructor(options: FanSyncDriverOptions) {
    this.#opts = options;
    this.accountName = options.accountName ?? options.email;
    this.#email = options.email;
    this.#password = options.password;
    this.#api = (options.endpoints?.api ?? DEFAULT_API).replace(/\/+$/, "");
    this.#wsUrl = options.endpoints?.websocket ?? DEFAULT_WEBSOCKET;
    this.#t = {
      loginMs: options.timeouts?.loginMs ?? 15_000,
      ackMs: options.timeouts?.ackMs ?? 3_000,
      getMs: options.timeouts?.getMs ?? 15_000,
      httpMs: options.timeouts?.httpMs ?? 20_000,
      pushGraceMs: options.timeouts?.pushGraceMs ?? 3_000,
    };
    this.#rt = new DriverRuntime("FanSync", { random: options.random });
    registerSecret(options.password);
  }

  get #sink(): DriverSink {
    if (!this.#ctx) throw new Error("FanSync driver not started");
    return this.#ctx.sink;
  }

  start(ctx: DriverContext): Promise<void> {
    return this.#rt.start(
      () => this.#setUp(ctx),
      () => this.#run(),
    );
  }

  #setUp(ctx: DriverContext): void {
    this.#ctx = ctx;
    this.#log = (this.#opts.log ?? ctx.log).child({ vendor: "fansync", account: this.accountName });
    this.#assumed = new AssumedPower(ctx.store.get(STORE_KEY));
    this.#learned = new LearnedSteps(ctx.store.get(LEARNED_KEY));
    const token = ctx.store.get(TOKEN_KEY);
    if (typeof token === "string" && token) {
      registerSecret(token);
      this.#token = token;
    }
  }

  async stop(): Promise<void> {
    await this.#rt.stop(() => {
      for (const w of this.#pushWaiters) w.resolve(false);
      this.#pushWaiters.clear();
      this.#socket?.close();
      this.#socket = undefined;
    });
    if (this.#log) rateLimitedLog(this.#log).flush();
  }

  async command(id: string, command: Command): Promise<void> {
    const dev = this.#byId.get(id);
    if (!dev) throw new Error(`FanSync has no device ${id}`);
    const sock = this.#socket;
    if (!sock?.open)
      throw new Error(
        `FanSync account "${this.accountName}" is not connected; ${dev.info.name} cannot be controlled right now`,
      );
    const writes = planWrites(dev.inFlight.over(this.#effective(dev)), dev.traits, command);
    if (!writes.length) {
      this.#log.debug({ device: dev.id, command }, "fansync: nothing to write");
      return;
    }
    const seqAtStart = dev.pushSeq;
    dev.inFlight.add(writes);
    let deviceRefused = false;
    let assumedChanged = false;
    for (const write of writes) {
      const seq = dev.pushSeq;
      if (write.H02 !== undefined) dev.speedAsked = write.H02;
      let result;
      try {
        result = await dev.inFlight.settled(write, sock.set(dev.vid, write));
      } catch (error) {
        dev.inFlight.forget(writes);
        throw new Error(
          `FanSync could not set ${JSON.stringify(write)} on ${dev.info.name}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      if (result.deviceAck === "error") {
        this.#log.info(
          { device: dev.id, write },
          "fansync: the device answered error; its next report decides the state",
        );
        deviceRefused = true;
        continue;
      }
      if (result.deviceAck === "none")
        this.#log.debug({ device: dev.id, write }, "fansync: no device acknowledgement within the grace");
      const reg = assumableRegister(write);
      if (!reg || dev.inFlight.superseded(write, reg)) continue;
      const value = write[reg]!;
      if (dev.pushSeq !== seq && dev.reported[reg] === value) continue; // already reported
      assumedChanged = this.#assume(dev, reg, value) || assumedChanged;
    }
    if (deviceRefused) this.#reconcile(dev, seqAtStart);
    else if (assumedChanged || dev.pushSeq !== seqAtStart) this.#emitSoon(dev);
  }

  // ---- connection loop -----------------------------------------------------------------------

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#rt.stopping) {
      let session: { sock: FanSyncSocket; closed: Promise<string> };
      try {
        session = await this.#connect();
      } catch (error) {
        if (this.#rt.stopping) break;
        const auth = error instanceof FanSyncAuthError;
        this.#sink.linkStateChanged(auth ? "needs-login" : "disconnected", (error as Error).message);
        this.#log[auth ? "error" : "warn"](`fansync: connect failed: ${(error as Error).message}`);
        if (this.#devices.size && !this.#accountDown) {
          this.#accountDown = true;
          this.#sink.availabilityChanged(undefined, false);
        }
        this.#rt.inventoryDone();
        await this.#rt.sleep(auth ? this.#backoff.maxMs : this.#rt.backoff(++failures, this.#backoff));
        continue;
      }
      failures = 0;
      this.#rt.inventoryDone();
      const reason = await closedOrStopped(session.closed, this.#rt.signal);
      if (this.#rt.stopping) break;
      this.#socket = undefined;
      this.#stopPoll();
      this.#log.warn(`fansync: link lost (${reason}); reconnecting`);
      this.#sink.linkStateChanged("disconnected", reason);
      await this.#rt.sleep(this.#rt.backoff(++failures, this.#backoff));
    }
  }

  /** Every retry waits (counted from 1): the cloud is asked again no sooner than about minMs. */
  get #backoff(): BackoffPolicy {
    return { minMs: this.#opts.backoff?.minMs ?? 500, maxMs: this.#opts.backoff?.maxMs ?? 30_000 };
  }

  async #httpLogin(): Promise<void> {
    this.#log.info("fansync: logging in over HTTP");
    const http = { timeoutMs: this.#t.httpMs, signal: this.#rt.signal };
    const { token } = await login(this.#api, this.#email, this.#password, http);
    registerSecret(token);
    this.#setToken(token);
  }

  #setToken(token: string | undefined): void {
    this.#token = token;
    this.#ctx?.store.set(TOKEN_KEY, token);
  }

  #socketOptions(): SocketOptions {
    return {
      url: this.#wsUrl,
      log: this.#log,
      loginTimeoutMs: this.#t.loginMs,
      requestTimeoutMs: this.#t.getMs,
      deviceAckGraceMs: this.#t.ackMs,
      pingIntervalMs: this.#opts.pingIntervalMs ?? 20_000,
      pongTimeoutMs: this.#opts.pongTimeoutMs ?? 10_000,
      signal: this.#rt.signal,
      timers: this.#rt.timers,
    };
  }

  async #connect(): Promise<{ sock: FanSyncSocket; closed: Promise<string> }> {
    this.#sink.linkStateChanged("connecting");
    let reused = this.#token !== undefined;
    if (this.#token && this.#opts.validateTokenOnReconnect !== false) {
      const http = { timeoutMs: this.#t.httpMs, signal: this.#rt.signal };
      const verdict = await validateToken(this.#api, this.#token, http);
      if (verdict === "invalid") {
        this.#log.info("fansync: the cloud refused the session token (HTTP 401/403); logging in again");
        this.#setToken(undefined);
        reused = false;
      }
    }
    if (!this.#token) await this.#httpLogin();
    let sock: FanSyncSocket;
    for (;;) {
      try {
        sock = await FanSyncSocket.connect(this.#token!, this.#socketOptions());
        break;
      } catch (error) {
        if (!(error instanceof FanSyncLoginRejectedError)) throw error;
        // A refused WS login drops the token so the next login goes over HTTP (the ~30-day expiry loop).
        this.#setToken(undefined);
        if (!reused || this.#rt.stopping) throw error;
        this.#log.info("fansync: websocket login refused the cached token; logging in over HTTP again");
        reused = false;
        await this.#httpLogin();
      }
    }
    const closed = new Promise<string>((resolve) => sock.once("close", resolve));
    sock.on("push", (push) => this.#onPush(push));
    try {
      await this.#sync(sock);
    } catch (error) {
      sock.close();
      throw error;
    }
    if (this.#rt.stopping) {
      sock.close();
      throw new Error("stopped");
    }
    this.#socket = sock;
    this.#sink.linkStateChanged("connected");
    this.#startPoll();
    return { sock, closed };
  }

  /** lst_device, then a pipelined `get` per device; every listed device is (re)announced. */
  async #sync(sock: FanSyncSocket): Promise<void> {
    const list = await sock.request("lst_device");
    const entries = parseDeviceList((why, fields) => this.#malformed(why, fields), list.data);
    const answers = await Promise.allSettled(entries.map((e) => sock.request("get", e.device)));
    entries.forEach((entry, i) => {
      const answer = answers[i]!;
      if (answer.status === "rejected") {
        rateLimitedLog(this.#log).warn("get failed during sync", "fansync: get failed during sync", {
          device: entry.device,
          err: (answer.reason as Error).message,
        });
        return;
      }
      this.#learn(entry, answer.value.data);
    });
    if (this.#accountDown) {
      this.#accountDown = false;
      this.#sink.availabilityChanged(undefined, true);
    }
    for (const entry of entries) {
      const dev = this.#devices.get(entry.device);
      if (dev) this.#applyConnected(dev);
    }
  }

  /** Rate limited per reason, shared with the socket (same logger). */
  #malformed(why: string, fields: Record<string, unknown> = {}): void {
    rateLimitedLog(this.#log).warn(why, "fansync: ignoring a malformed frame", fields);
  }

  /** Take a `get` answer for a listed device: create or refresh it and announce it. */
  #learn(entry: ListEntry, data: unknown): void {
    const d = data as {
      status?: unknown;
      profile?: { esh?: { model?: unknown; device_id?: unknown }; module?: { firmware_version?: unknown } };
      connected?: unknown;
    } | null;
    if (!d || typeof d !== "object" || !isRegisterMap(d.status)) {
      this.#malformed("get has no register status", { device: entry.device });
      return;
    }
    const model =
      typeof d.profile?.esh?.model === "string" && d.profile.esh.model.trim()
        ? d.profile.esh.model.trim()
        : "FanSync fan";
    const firmware =
      typeof d.profile?.module?.firmware_version === "string" ? d.profile.module.firmware_version : undefined;
    const existing = this.#devices.get(entry.device);
    const status = copySafe(d.status);
    const dev: Dev = existing ?? {
      vid: entry.device,
      id: deviceId("fansync", entry.device),
      model,
      deviceClass: undefined,
      firmware,
      properties: entry.properties,
      reported: status,
      traits: undefined as unknown as FanSyncTraits,
      info: undefined as unknown as DeviceInfo,
      connected: 1,
      available: true,
      pushSeq: 0,
      inFlight: new InFlightWrites(),
      speedAsked: undefined,
    };
    dev.model = model;
    dev.deviceClass = typeof d.profile?.esh?.device_id === "string" ? d.profile.esh.device_id : undefined;
    dev.firmware = firmware;
    dev.properties = entry.properties;
    dev.reported = status;
    this.#learnSpeed(dev, undefined);
    dev.traits = this.#detect(dev);
    dev.connected = typeof d.connected === "number" ? d.connected : 1;
    dev.info = deviceInfo(dev, this.accountName);
    this.#devices.set(dev.vid, dev);
    this.#byId.set(dev.id, dev);
    if (this.#assumed.dropContradicted(dev.vid, dev.reported)) this.#saveAssumed();
    this.#sink.deviceFound(dev.info, registersToState(this.#effective(dev), dev.traits));
    dev.available = true; // deviceFound means reachable; #applyConnected corrects it
  }

  #applyConnected(dev: Dev): void {
    const available = dev.connected !== 0;
    if (available === dev.available) return;
    dev.available = available;
    this.#log.info(
      { device: dev.id },
      `fansync: ${dev.info.name} is ${available ? "connected" : "not connected to the cloud"}`,
    );
    this.#sink.availabilityChanged(dev.id, available);
  }

  // ---- pushes, polls, assumed state -----------------------------------------------------------

  #onPush(push: PushEvent): void {
    const dev = this.#devices.get(push.device);
    if (!dev) {
      this.#log.debug({ device: push.device }, "fansync: push for an unknown device dropped");
      return;
    }
    dev.pushSeq++;
    assignSafe(dev.reported, push.status);
    if (this.#assumed.dropPushed(dev.vid, push.status)) this.#saveAssumed();
    if (Object.hasOwn(push.status, "H02")) {
      this.#learnSpeed(dev, dev.speedAsked);
      dev.speedAsked = undefined;
    }
    this.#report(dev);
    for (const w of [...this.#pushWaiters]) {
      if (w.vid !== dev.vid) continue;
      this.#pushWaiters.delete(w);
      w.resolve(true);
    }
  }

  /** Tell the core about the device's current state; re-announce it when its capabilities changed. */
  #report(dev: Dev): void {
    const traits = this.#detect(dev);
    if (JSON.stringify(traits) !== JSON.stringify(dev.traits)) {
      const steps = traits.capabilities.fan?.speedSteps;
      if (steps && String(steps) !== String(dev.traits.capabilities.fan?.speedSteps))
        this.#log.info({ device: dev.id, steps }, `fansync: ${dev.info.name} holds the speeds ${steps.join("/")} %`);
      dev.traits = traits;
      dev.info = deviceInfo(dev, this.accountName);
      this.#sink.deviceFound(dev.info, registersToState(this.#effective(dev), traits));
      dev.available = true;
      this.#applyConnected(dev);
      return;
    }
    this.#sink.stateChanged(dev.id, registersToPatch(this.#effective(dev), dev.traits));
  }

  /** A `get` answer (poll or reconcile) for a known device. */
  #applyGet(dev: Dev, data: unknown): void {
    const d = data as { status?: unknown; connected?: unknown } | null;
    if (!d || typeof d !== "object" || !isRegisterMap(d.status)) {
      this.#malformed("get has no register status", { device: dev.id });
      return;
    }
    dev.reported = copySafe(d.status);
    if (typeof d.connected === "number") dev.connected = d.connected;
    if (this.#assumed.dropContradicted(dev.vid, dev.reported)) this.#saveAssumed();
    this.#learnSpeed(dev, undefined);
    this.#report(dev);
    this.#applyConnected(dev);
  }

  #assume(dev: Dev, reg: "H00" | "H0B", value: number): boolean {
    if (!this.#assumed.assume(dev.vid, dev.reported, reg, value)) return false;
    if (dev.reported[reg] !== value)
      this.#log.info(
        { device: dev.id, register: reg, value },
        "fansync: write acknowledged but not reported; keeping the written value (assumed state)",
      );
    this.#saveAssumed();
    return true;
  }

  #saveAssumed(): void {
    this.#ctx?.store.set(STORE_KEY, this.#assumed.toJSON());
  }

  #effective(dev: Dev): Registers {
    return this.#assumed.effective(dev.vid, dev.reported);
  }

  /** Traits from the device's report, its config override and the steps learned for its model. */
  #detect(dev: Dev): FanSyncTraits {
    const override = this.#overrideFor(dev);
    return detectTraits(dev.model, dev.reported, dev.properties, dev.traits, {
      deviceClass: dev.deviceClass,
      override,
      learnedSteps: stepsUnknown(dev.model, override) ? this.#learned.stepsFor(dev.model) : undefined,
    });
  }

  #overrideFor(dev: Dev): DeviceOverride | undefined {
    return overrideFor(this.#opts.overrides, dev.vid, dev.properties.displayName);
  }

  /** A running fan's reported speed is one of its levels; `asked` is the write it answers, if any. */
  #learnSpeed(dev: Dev, asked: number | undefined): void {
    const { H00: power, H02: speed } = dev.reported;
    if (power !== 1 || speed === undefined || isLightOnly(dev.model, dev.deviceClass)) return;
    if (!stepsUnknown(dev.model, this.#overrideFor(dev))) return;
    if (this.#learned.observe(dev.model, speed, asked)) this.#ctx?.store.set(LEARNED_KEY, this.#learned.toJSON());
  }

  /** Re-send the state after the core applied the command (a push may have beaten the ack). */
  #emitSoon(dev: Dev): void {
    setImmediate(() => {
      if (!this.#rt.stopping) this.#report(dev);
    });
  }

  /** After a device ack "error": the device's next report decides; ask with `get` if none comes. */
  #reconcile(dev: Dev, seqAtStart: number): void {
    setImmediate(() => {
      if (this.#rt.stopping) return;
      if (dev.pushSeq !== seqAtStart) return this.#report(dev);
      void this.#waitForPush(dev.vid, this.#t.pushGraceMs).then(async (pushed) => {
        if (pushed || this.#rt.stopping) return;
        const sock = this.#socket;
        if (!sock) return;
        try {
          const answer = await sock.request("get", dev.vid);
          this.#applyGet(dev, answer.data);
        } catch (error) {
          this.#log.debug({ device: dev.id }, `fansync: reconcile get failed: ${(error as Error).message}`);
        }
      });
    });
  }

  #waitForPush(vid: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter = {
        vid,
        resolve: (pushed: boolean): void => {
          this.#rt.cancel(timer);
          resolve(pushed);
        },
      };
      const timer = this.#rt.later(ms, () => {
        this.#pushWaiters.delete(waiter);
        waiter.resolve(false);
      });
      this.#pushWaiters.add(waiter);
    });
  }

  #startPoll(): void {
    this.#stopPoll();
    const interval = this.#opts.pollIntervalMs ?? 60_000;
    if (interval > 0) this.#pollTimer = this.#rt.every(interval, () => void this.#poll());
  }

  #stopPoll(): void {
    this.#pollTimer = this.#rt.cancel(this.#pollTimer);
  }

  async #poll(): Promise<void> {
    const sock = this.#socket;
    if (!sock?.open || this.#polling) return;
    this.#polling = true;
    try {
      await Promise.all(
        [...this.#devices.values()].map(async (dev) => {
          try {
            const answer = await sock.request("get", dev.vid);
            if (!this.#rt.stopping) this.#applyGet(dev, answer.data);
          } catch (error) {
            this.#log.debug({ device: dev.id }, `fansync: poll failed: ${(error as Error).message}`);
          }
        }),
      );
    } finally {
      this.#polling = false;
    }
  }
}
