// The X-Sense driver: one X-Sense account (see docs/protocols/xsense.md).
// 101001 client info → Cognito SRP login (SECRET_HASH) → /app calls with the request MAC → 101003 AWS
// credentials → named shadows over HTTPS (SigV4, `iotdata`) for the initial state → MQTT over a
// SigV4-presigned WebSocket for live updates. Tokens are refreshed (falling back to a full login),
// credentials renewed before they expire (the MQTT connection is re-made with them), the session-expiry
// error codes lead to a fresh login, and a slow poll catches drift only.
//
// Safety path: an alarm message on MQTT becomes sink.stateChanged synchronously in the message
// handler (no batching, no debounce). A dropped MQTT connection is re-made at once; detectors are
// marked unavailable only when it stays down past a grace period.
import { randomUUID } from "node:crypto";
import { readBodyCapped } from "../../core/http.ts";
import { abortableSleep, requestSignal } from "../../core/timing.ts";
import { connect as mqttConnect, type MqttClient } from "mqtt";
import WebSocket from "ws";
import type { Driver, DriverContext, DriverSink } from "../../core/driver.ts";
import { forgetSecret, registerSecret, type Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import { isUnsafeKey } from "../../core/safe-keys.ts";
import { applyPatch, deviceId, type Command, type DeviceInfo, type DeviceState, type StatePatch } from "../../core/model.ts";
import { DEFAULT_API, XSenseApi, XSenseApiError, XSenseSessionError, type ClientInfo } from "./api.ts";
import { CognitoError, XSenseCognito, type CognitoTokens, type RefreshSecretHashMode } from "./cognito.ts";
import { capabilitiesOf, inferSpec, modelSpec, thingName, type ModelSpec } from "./models.ts";
import { childSn, fieldsToPatch, flag, flatten, isObject, selfTestResult, type Fields } from "./parse.ts";
import { presignUrl, signRequest, type AwsCredentials } from "./sigv4.ts";
import { CLOSED_WITHOUT_ANSWER, errorFailure, upgradeFailure, type LinkFailure } from "./link-failure.ts";

export { DEFAULT_API } from "./api.ts";
export const DEFAULT_IOT_DATA = "https://{region}.x-sense-iot.com";
export const DEFAULT_MQTT = "wss://{server}/mqtt";
export const SHADOW_USER_AGENT = "aws-sdk-iOS/2.26.5 iOS/17.3 nl_NL";
export const MQTT_USERNAME = "?SDK=iOS&Version=2.26.5";

export interface XSenseTimeouts {
  /** /app and shadow HTTP requests (default 20 s). */
  httpMs?: number;
  /** Each Cognito request (default 15 s). */
  cognitoMs?: number;
  /** MQTT CONNACK wait (default 20 s). */
  mqttConnectMs?: number;
  /** A self-test with no result by then is reported as finished (testing: false) (default 120 s). */
  selfTestMs?: number;
}

export interface XSenseEndpoints {
  /** App API base; `/app` is appended (default https://api.x-sense-iot.com). */
  api?: string | undefined;
  /** Cognito endpoint (default https://cognito-idp.{region}.amazonaws.com/, region from 101001). */
  cognito?: string | undefined;
  /** Shadow REST base; `{region}` is replaced by the house's mqttRegion (default https://{region}.x-sense-iot.com). */
  iotData?: string | undefined;
  /** MQTT WebSocket URL; `{server}`/`{region}` are replaced per house (default wss://{server}/mqtt). */
  mqtt?: string | undefined;
}

export interface XSenseDriverOptions {
  accountName?: string;
  email: string;
  password: string;
  endpoints?: XSenseEndpoints;
  /** Defaults to the context's logger. */
  log?: Logger;
  timeouts?: XSenseTimeouts;
  /** docs/protocols/xsense.md §3.4 (default v1.40.0_20260612, appCode 1400). */
  appVersion?: string;
  /** "1" iOS, "2" Android (default "2", as the APK-aligned clients). */
  clientType?: string;
  /** REFRESH_TOKEN_AUTH SECRET_HASH form (default "hmac": HMAC(secret, sub ‖ clientId)); a refused refresh falls back to SRP. */
  refreshSecretHash?: RefreshSecretHashMode;
  /** Drift poll (inventory + shadows); 0 = off. Default 300 s (HA/IOB). */
  pollIntervalMs?: number;
  /** The alarm link (MQTT) down longer than this marks the detectors it serves unavailable (default 60 s). */
  mqttGraceMs?: number;
  /** A station's presence "disconnected" counts only after this long (default: mqttGraceMs, else 90 s). */
  presenceGraceMs?: number;
  /** MQTT reconnect back-off cap (default 5 s): once the cloud answers again, the link is back within it. */
  mqttRetryMaxMs?: number;
  /** Refresh the access token this long before it expires (default 60 s; at most half the lifetime). */
  tokenRefreshMarginMs?: number;
  /** Renew AWS credentials (and re-make MQTT) this long before they expire (default 5 min; at most half the lifetime). */
  credentialRenewMarginMs?: number;
  /** MQTT keepalive in seconds (default 30: a half-open connection is noticed within about a minute). */
  keepaliveSec?: number;
  /** Retry back-off: first MQTT reconnect is immediate, then min * 2^n capped (default 1 s .. 15 s). Login retries use the same. */
  backoff?: { minMs?: number; maxMs?: number };
}

interface House {
  id: string;
  name: string;
  region: string;
  server: string;
}

interface Station {
  id: string;
  sn: string;
  name: string;
  model: string;
  house: House;
  thing: string;
  /** A base station (SBS50/SBS10) rather than a standalone Wi-Fi detector. */
  bridge: boolean;
  /** Last known link status (103007 onLine, shadows, presence). */
  online: boolean;
  presenceTimer: NodeJS.Timeout | undefined;
  firmware: string | undefined;
}

interface Dev {
  /** Vendor id (deviceId, or stationId for Wi-Fi detectors). */
  vid: string;
  id: string;
  sn: string;
  name: string;
  model: string;
  station: Station;
  spec: ModelSpec | undefined;
  known: boolean;
  fields: Fields;
  info: DeviceInfo | undefined;
  /** The device's own online flag (undefined: not reported). */
  online: boolean | undefined;
  available: boolean;
  testTimer: NodeJS.Timeout | undefined;
  /** Combo detectors: which alarm is sounding (reports do not always say, docs/protocols/xsense.md §5.4). */
  comboActive?: "smoke" | "co" | undefined;
}

interface Link {
  key: string;
  base: string;
  region: string;
  houses: Set<string>;
  client: MqttClient | undefined;
  pending: MqttClient | undefined;
  connected: boolean;
  everConnected: boolean;
  /** Detectors were marked unavailable because of this link. */
  down: boolean;
  attempt: number;
  /** Connection attempts refused in a row (HTTP 401/403, CONNACK 4/5, TLS); reset by a CONNACK. */
  refusals: number;
  /** Since when the link has been down (performance-free wall clock, for logs and the web page). */
  downSince: number | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
}

const SHADOW_RE = /^\$aws\/things\/([^/]+)\/shadow\/name\/([^/]+)\/update(?:\/(accepted|documents|rejected))?$/;
const PRESENCE_RE = /^\$aws\/events\/presence\/(connected|disconnected)\/(.+)$/;

/** Largest MQTT-over-WebSocket frame accepted (a shadow document is a few KB; AWS IoT's cap is 128 KB). */
const MQTT_MAX_PAYLOAD = 256 * 1024;

/** Distinct reported fields kept per device (a real detector reports about twenty). */
const MAX_FIELDS = 64;

/** Keep a device's reported fields: bounded, so a cloud inventing keys cannot grow memory, and never
 * `__proto__`, which Object.assign would turn into a prototype swap. */
function remember(into: Fields, fields: Fields): void {
  let size = Object.keys(into).length;
  for (const [key, value] of Object.entries(fields)) {
    if (isUnsafeKey(key)) continue;
    if (!Object.hasOwn(into, key)) {
      if (size >= MAX_FIELDS) continue;
      size++;
    }
    into[key] = value;
  }
}

/** `2024-01-01 12:00:00+00:00` / `+0000` / ISO → epoch ms. */
export function parseExpiration(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value > 1e12 ? value : value * 1000;
  if (typeof value !== "string") return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (!m) return undefined;
  let tz = m[3] ?? "Z";
  if (/^[+-]\d{4}$/.test(tz)) tz = `${tz.slice(0, 3)}:${tz.slice(3)}`;
  const t = Date.parse(`${m[1]}T${m[2]}${tz}`);
  return Number.isNaN(t) ? undefined : t;
}

/** YYYYMMDDHHMMSS in UTC. */
export function utcStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

export class XSenseDriver implements Driver {
  readonly vendor = "xsense";
  readonly accountName: string;
  readonly #opts: XSenseDriverOptions;
  readonly #email: string;
  readonly #password: string;
  readonly #t: Required<XSenseTimeouts>;
  readonly #abort = new AbortController();
  readonly #api: XSenseApi;
  readonly #houses = new Map<string, House>();
  readonly #stations = new Map<string, Station>(); // by sn
  readonly #things = new Map<string, Station>(); // by thing name
  readonly #devices = new Map<string, Dev>(); // by `${stationSn}/${sn}`
  readonly #byId = new Map<string, Dev>();
  readonly #links = new Map<string, Link>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #reportedUnknown = new Set<string>();
  /** House re-reads in flight (by house id); `again`: another event came in meanwhile. */
  readonly #rereads = new Map<string, { again: boolean }>();
  #ctx: DriverContext | undefined;
  #log!: Logger;
  #stopping = false;
  #info: ClientInfo | undefined;
  #cognito: XSenseCognito | undefined;
  #tokens: CognitoTokens | undefined;
  #creds: (AwsCredentials & { expiresAt: number }) | undefined;
  #loginFlight: Promise<void> | undefined;
  #credsFlight: Promise<void> | undefined;
  #syncFlight: Promise<void> | undefined;
  #tokenTimer: NodeJS.Timeout | undefined;
  #credsTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #skewMs = 0;
  #started = false;
  /** Start-up finished: link state changes are reported from now on. */
  #ready = false;
  #linkState: "connected" | "disconnected" | undefined;

  constructor(options: XSenseDriverOptions) {
    this.#opts = options;
    this.accountName = options.accountName ?? options.email;
    this.#email = options.email;
    this.#password = options.password;
    this.#t = {
      httpMs: options.timeouts?.httpMs ?? 20_000,
      cognitoMs: options.timeouts?.cognitoMs ?? 15_000,
      // Short: an attempt hung on a dead endpoint delays the first try after the cloud comes back.
      mqttConnectMs: options.timeouts?.mqttConnectMs ?? 8_000,
      selfTestMs: options.timeouts?.selfTestMs ?? 120_000,
    };
    this.#api = new XSenseApi({
      base: options.endpoints?.api ?? DEFAULT_API,
      timeoutMs: this.#t.httpMs,
      signal: this.#abort.signal,
      ...(options.appVersion ? { appVersion: options.appVersion } : {}),
      ...(options.clientType ? { clientType: options.clientType } : {}),
    });
    registerSecret(options.password);
  }

  get #sink(): DriverSink {
    if (!this.#ctx) throw new Error("X-Sense driver not started");
    return this.#ctx.sink;
  }

  /** The Cognito `sub` of the logged-in user (tests, diagnostics). */
  get userId(): string | undefined {
    return this.#tokens?.sub;
  }

  async start(ctx: DriverContext): Promise<void> {
    if (this.#started) throw new Error("X-Sense driver already started");
    this.#started = true;
    this.#ctx = ctx;
    this.#log = (this.#opts.log ?? ctx.log).child({ vendor: "xsense", account: this.accountName });
    let firstDone!: () => void;
    const first = new Promise<void>((resolve) => (firstDone = resolve));
    this.#loop = this.#startupLoop(firstDone);
    await first;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const t of [this.#tokenTimer, this.#credsTimer]) if (t) clearTimeout(t);
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    for (const dev of this.#devices.values()) if (dev.testTimer) clearTimeout(dev.testTimer);
    for (const st of this.#stations.values()) if (st.presenceTimer) clearTimeout(st.presenceTimer);
    const ends: Promise<void>[] = [];
    for (const link of this.#links.values()) {
      if (link.graceTimer) clearTimeout(link.graceTimer);
      if (link.retryTimer) clearTimeout(link.retryTimer);
      for (const c of [link.client, link.pending]) if (c) ends.push(new Promise((resolve) => c.end(true, {}, () => resolve())));
      link.client = link.pending = undefined;
    }
    await Promise.all(ends);
    await this.#loop?.catch(() => undefined);
    if (this.#log) rateLimitedLog(this.#log).flush();
  }

  // ---- start-up --------------------------------------------------------------------------------

  async #startupLoop(firstDone: () => void): Promise<void> {
    let attempt = 0;
    while (!this.#stopping) {
      try {
        this.#sink.linkStateChanged("connecting");
        await this.#ensureLogin();
        await this.#ensureCreds();
        await this.#sync();
        if (this.#stopping) break;
        await this.#openLinks();
        this.#startPoll();
        this.#ready = true;
        if (!this.#stopping) this.#reportLink();
        firstDone();
        return;
      } catch (error) {
        if (this.#stopping) break;
        const auth = error instanceof CognitoError && error.isAuthFailure;
        const message = (error as Error).message;
        this.#sink.linkStateChanged(auth ? "needs-login" : "disconnected", message);
        this.#log[auth ? "error" : "warn"](`xsense: start-up failed: ${message}`);
        firstDone();
        await this.#sleep(auth ? this.#backoffMax : this.#backoff(attempt++ + 1));
      }
    }
    firstDone();
  }

  get #backoffMax(): number {
    return this.#opts.backoff?.maxMs ?? 15_000;
  }

  /** 0 for attempt 0 (at once), then min * 2^(attempt-1), capped. */
  #backoff(attempt: number): number {
    if (attempt <= 0) return 0;
    const min = this.#opts.backoff?.minMs ?? 1_000;
    return Math.min(this.#backoffMax, min * 2 ** Math.min(attempt - 1, 20));
  }

  /** MQTT reconnects: at once, then exponential with ±25 % jitter (links of many bridges must not retry in
   * step), capped low enough that the alarm link is back within seconds of the cloud answering again. */
  #retryDelay(attempt: number): number {
    if (attempt <= 0) return 0;
    const cap = Math.min(this.#backoffMax, this.#opts.mqttRetryMaxMs ?? 5_000);
    const base = Math.min(cap, (this.#opts.backoff?.minMs ?? 1_000) * 2 ** Math.min(attempt - 1, 20));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  #sleep(ms: number): Promise<void> {
    return abortableSleep(ms, this.#abort.signal);
  }


  /** Cancel a #later timer. Also drops it from #timers: a timer cleared with clearTimeout alone stays
   * in the set until stop(), one per reconnect or presence flap. */
  #cancel(timer: NodeJS.Timeout | undefined): undefined {
    if (!timer) return undefined;
    clearTimeout(timer);
    this.#timers.delete(timer);
    return undefined;
  }

  #later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopping) fn();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  #reportLink(): void {
    if (!this.#ready) return;
    const links = [...this.#links.values()];
    const state = links.every((l) => l.connected) ? "connected" : "disconnected";
    if (state === this.#linkState) return;
    this.#linkState = state;
    if (state === "connected") this.#sink.linkStateChanged("connected");
    else this.#sink.linkStateChanged("disconnected", "MQTT reconnecting");
  }

  // ---- session: 101001, Cognito, tokens ---------------------------------------------------------

  #ensureLogin(force = false): Promise<void> {
    if (!force && this.#tokens) return Promise.resolve();
    this.#loginFlight ??= this.#login().finally(() => (this.#loginFlight = undefined));
    return this.#loginFlight;
  }

  async #login(): Promise<void> {
    // IOB reloads the client info at every start; we do it at every full login.
    const info = await this.#api.clientInfo();
    this.#info = info;
    this.#cognito = new XSenseCognito({
      endpoint: this.#opts.endpoints?.cognito ?? `https://cognito-idp.${info.cgtRegion}.amazonaws.com/`,
      userPoolId: info.userPoolId,
      clientId: info.clientId,
      secret: info.secret,
      timeoutMs: this.#t.cognitoMs,
      signal: this.#abort.signal,
      ...(this.#opts.refreshSecretHash ? { refreshSecretHash: this.#opts.refreshSecretHash } : {}),
    });
    this.#log.info("xsense: logging in (Cognito SRP)");
    const tokens = await this.#cognito.login(this.#email, this.#password);
    this.#setTokens(tokens);
    this.#log.info("xsense: logged in");
  }

  #setTokens(tokens: CognitoTokens): void {
    const old = this.#tokens;
    if (old) for (const t of [old.accessToken, old.idToken, old.refreshToken]) if (![tokens.accessToken, tokens.idToken, tokens.refreshToken].includes(t)) forgetSecret(t);
    for (const t of [tokens.accessToken, tokens.idToken, tokens.refreshToken]) registerSecret(t);
    this.#tokens = tokens;
    this.#api.accessToken = tokens.accessToken;
    if (this.#tokenTimer) clearTimeout(this.#tokenTimer);
    const delay = this.#renewDelay(tokens.expiresAt, this.#opts.tokenRefreshMarginMs ?? 60_000);
    this.#tokenTimer = setTimeout(() => void this.#refreshTokens().catch(() => undefined), delay);
  }

  /** Wait until `margin` before expiry, but never less than half the remaining lifetime. */
  #renewDelay(expiresAt: number, margin: number): number {
    const left = expiresAt - Date.now();
    return Math.max(50, Math.max(left - margin, left / 2));
  }

  /** REFRESH_TOKEN_AUTH; any failure falls back to a full SRP login. */
  async #refreshTokens(): Promise<void> {
    if (this.#stopping) return;
    if (this.#loginFlight) return this.#loginFlight;
    const flight = (async () => {
      const tokens = this.#tokens;
      if (tokens?.refreshToken && this.#cognito) {
        try {
          this.#setTokens(await this.#cognito.refresh(tokens));
          this.#log.info("xsense: access token refreshed");
          return;
        } catch (error) {
          if (this.#stopping) return;
          this.#log.info(`xsense: token refresh refused (${(error as Error).message}); logging in again`);
        }
      }
      await this.#login();
    })();
    this.#loginFlight = flight.finally(() => (this.#loginFlight = undefined));
    try {
      await this.#loginFlight;
    } catch (error) {
      if (this.#stopping) return;
      this.#log.warn(`xsense: login after token expiry failed: ${(error as Error).message}`);
      this.#tokenTimer = setTimeout(() => void this.#refreshTokens().catch(() => undefined), this.#backoffMax);
      throw error;
    }
  }

  /** An authenticated /app call: token refreshed when due; a session error → fresh login and one retry. */
  async #call(bizCode: string, params: Record<string, unknown>): Promise<unknown> {
    await this.#ensureLogin();
    if (this.#tokens && this.#tokens.expiresAt <= Date.now()) await this.#refreshTokens(); // the timer normally refreshes earlier
    try {
      return await this.#api.call(bizCode, params);
    } catch (error) {
      if (!(error instanceof XSenseSessionError) || this.#stopping) throw error;
      this.#log.info(`xsense: session expired or replaced by another login (${error.message}); refreshing it`);
      await this.#refreshTokens(); // falls back to a full login when the refresh is refused
      try {
        return await this.#api.call(bizCode, params);
      } catch (again) {
        // A refreshed token of a displaced session may be refused as well: only a new login helps then.
        if (!(again instanceof XSenseSessionError) || this.#stopping) throw again;
        this.#log.info(`xsense: the refreshed session was refused too (${again.message}); logging in again`);
        this.#tokens = undefined;
        await this.#ensureLogin(true);
        return await this.#api.call(bizCode, params);
      }
    }
  }

  // ---- AWS credentials (101003) -------------------------------------------------------------------

  #ensureCreds(force = false): Promise<void> {
    if (!force && this.#creds && this.#creds.expiresAt > Date.now()) return Promise.resolve(); // the timer normally renews earlier
    this.#credsFlight ??= this.#fetchCreds().finally(() => (this.#credsFlight = undefined));
    return this.#credsFlight;
  }

  async #fetchCreds(): Promise<void> {
    const data = await this.#call("101003", { userName: this.#email });
    const d = data as Record<string, unknown> | null;
    if (!isObject(d) || typeof d.accessKeyId !== "string" || typeof d.secretAccessKey !== "string" || typeof d.sessionToken !== "string") {
      throw new XSenseApiError("101003", "the credentials answer lacks accessKeyId/secretAccessKey/sessionToken", 200);
    }
    const previous = this.#creds;
    if (previous) for (const s of [previous.accessKeyId, previous.secretAccessKey, previous.sessionToken]) forgetSecret(s);
    for (const s of [d.accessKeyId, d.secretAccessKey, d.sessionToken]) registerSecret(s);
    const expiresAt = parseExpiration(d.expiration) ?? Date.now() + 3600_000;
    this.#creds = { accessKeyId: d.accessKeyId, secretAccessKey: d.secretAccessKey, sessionToken: d.sessionToken, expiresAt };
    this.#log.debug({ expiresInS: Math.round((expiresAt - Date.now()) / 1000) }, "xsense: AWS credentials received");
    if (this.#credsTimer) clearTimeout(this.#credsTimer);
    this.#credsTimer = setTimeout(() => void this.#renewCreds(), this.#renewDelay(expiresAt, this.#opts.credentialRenewMarginMs ?? 300_000));
  }

  /** Renew the credentials before they expire and re-make every MQTT connection with them. */
  async #renewCreds(): Promise<void> {
    if (this.#stopping) return;
    try {
      await this.#ensureCreds(true);
    } catch (error) {
      if (this.#stopping) return;
      this.#log.warn(`xsense: renewing AWS credentials failed: ${(error as Error).message}; retrying`);
      this.#credsTimer = setTimeout(() => void this.#renewCreds(), this.#opts.backoff?.minMs ?? 1_000);
      return;
    }
    this.#log.info("xsense: AWS credentials renewed; re-making the MQTT connections");
    for (const link of this.#links.values()) this.#connectLink(link, "renew");
  }

  // ---- shadows over HTTPS --------------------------------------------------------------------------

  #iotBase(house: House): string {
    return (this.#opts.endpoints?.iotData ?? DEFAULT_IOT_DATA).replace(/\/+$/, "").replaceAll("{region}", house.region);
  }

  /** GET (body undefined) or POST a named shadow. Resolves with the document, or undefined on 404. */
  async #shadow(house: House, thing: string, name: string, body?: unknown, retried = false): Promise<Record<string, unknown> | undefined> {
    await this.#ensureCreds();
    const creds = this.#creds!;
    const url = new URL(`${this.#iotBase(house)}/things/${encodeURIComponent(thing)}/shadow?name=${encodeURIComponent(name)}`);
    const text = body === undefined ? "" : JSON.stringify(body); // sign and send the identical string
    const method = body === undefined ? "GET" : "POST";
    const headers = signRequest({
      method,
      url,
      headers: { "content-type": "application/x-amz-json-1.0", "user-agent": SHADOW_USER_AGENT },
      body: text,
      region: house.region,
      credentials: creds,
      now: new Date(Date.now() + this.#skewMs),
    });
    delete headers.host; // fetch sends the same host itself
    const request = requestSignal(this.#t.httpMs, this.#abort.signal);
    let response: Response;
    let answer: string;
    try {
      response = await fetch(url, { method, headers, ...(method === "POST" ? { body: text } : {}), signal: request.signal });
      answer = await readBodyCapped(response);
    } finally {
      request.dispose();
    }
    if (response.status === 404) {
      this.#log.debug({ thing, shadow: name }, `xsense: ${answer.slice(0, 200)}`);
      return undefined;
    }
    if ((response.status === 401 || response.status === 403) && !retried) {
      const date = Date.parse(response.headers.get("date") ?? "");
      const skew = Number.isNaN(date) ? 0 : date - Date.now();
      if (Math.abs(skew - this.#skewMs) > 60_000) {
        this.#skewMs = skew;
        this.#log.warn({ skewS: Math.round(skew / 1000) }, "xsense: the shadow host refused the signature and its clock differs from ours; compensating");
      } else {
        this.#log.info(`xsense: the shadow host answered HTTP ${response.status}; fetching new AWS credentials`);
        await this.#ensureCreds(true);
      }
      return this.#shadow(house, thing, name, body, true);
    }
    if (response.status >= 400) throw new Error(`shadow ${thing}~${name}: HTTP ${response.status} ${answer.slice(0, 200)}`);
    try {
      const doc = JSON.parse(answer) as unknown;
      return isObject(doc) ? doc : {};
    } catch {
      return {};
    }
  }

  async #reported(house: House, thing: string, name: string): Promise<Fields | undefined> {
    try {
      const doc = await this.#shadow(house, thing, name);
      const state = doc?.state;
      if (!isObject(state)) return undefined;
      return isObject(state.reported) ? state.reported : undefined;
    } catch (error) {
      if (this.#stopping) return undefined;
      this.#log.warn(`xsense: reading shadow ${thing}~${name} failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  // ---- inventory and initial state ------------------------------------------------------------------

  #sync(): Promise<void> {
    this.#syncFlight ??= this.#doSync().finally(() => (this.#syncFlight = undefined));
    return this.#syncFlight;
  }

  async #doSync(): Promise<void> {
    const houses = await this.#call("102007", { utctimestamp: "0" });
    const list = Array.isArray(houses) ? houses : isObject(houses) && Array.isArray(houses.houses) ? houses.houses : [];
    const seen = new Set<Dev>();
    for (const raw of list) {
      if (!isObject(raw) || typeof raw.houseId !== "string") {
        rateLimitedLog(this.#log).warn("malformed house entry", "xsense: ignoring a malformed house entry");
        continue;
      }
      const region = typeof raw.mqttRegion === "string" && raw.mqttRegion ? raw.mqttRegion : "us-east-1";
      const house: House = {
        id: raw.houseId,
        name: typeof raw.houseName === "string" ? raw.houseName : raw.houseId,
        region,
        server: typeof raw.mqttServer === "string" && raw.mqttServer ? raw.mqttServer : `${region}.x-sense-iot.com`,
      };
      const existing = this.#houses.get(house.id);
      if (existing) Object.assign(existing, house);
      this.#houses.set(house.id, existing ?? house);
      const detail = await this.#call("103007", { houseId: house.id, utctimestamp: "0" });
      const stations = isObject(detail) && Array.isArray(detail.stations) ? detail.stations : [];
      for (const rawStation of stations) this.#learnStation(existing ?? house, rawStation, seen);
    }
    await this.#readShadows([...this.#houses.values()]);
    for (const dev of seen) this.#announce(dev);
  }

  #learnStation(house: House, raw: unknown, seen: Set<Dev>): void {
    if (!isObject(raw) || typeof raw.stationSn !== "string" || !raw.stationSn) {
      rateLimitedLog(this.#log).warn("malformed station entry", "xsense: ignoring a malformed station entry");
      return;
    }
    const model = typeof raw.category === "string" ? raw.category : "";
    const spec = modelSpec(model);
    const devices = Array.isArray(raw.devices) ? raw.devices : [];
    const bridge = spec ? spec.kind === "station" : devices.length > 0 || /^SBS/.test(model);
    const naming = spec?.thing ?? (bridge ? (model === "SBS10" ? "bare" : "sbs50") : "plain");
    const sn = raw.stationSn;
    const station: Station = this.#stations.get(sn) ?? {
      id: typeof raw.stationId === "string" ? raw.stationId : sn,
      sn,
      name: "",
      model,
      house,
      thing: thingName(naming, model, sn),
      bridge,
      online: true,
      presenceTimer: undefined,
      firmware: undefined,
    };
    station.name = typeof raw.stationName === "string" && raw.stationName.trim() ? raw.stationName.trim() : `${model} ${sn}`;
    station.model = model;
    station.house = house;
    station.bridge = bridge;
    station.thing = thingName(naming, model, sn);
    const online = flag(raw.onLine);
    if (typeof online === "boolean") station.online = online;
    if (typeof raw.sbs50Sw === "string") station.firmware = raw.sbs50Sw;
    this.#stations.set(sn, station);
    this.#things.set(station.thing, station);
    if (bridge) {
      for (const d of devices) {
        if (!isObject(d)) {
          rateLimitedLog(this.#log).warn("malformed device entry", "xsense: ignoring a malformed device entry");
          continue;
        }
        const dsn = childSn(d);
        const type = typeof d.deviceType === "string" ? d.deviceType : typeof d.category === "string" ? d.category : "";
        if (!dsn) {
          rateLimitedLog(this.#log).warn("device entry without a serial", "xsense: ignoring a device entry without a serial", { station: sn });
          continue;
        }
        const vid = typeof d.deviceId === "string" && d.deviceId ? d.deviceId : `${sn}_${dsn}`;
        seen.add(this.#learnDevice(station, vid, dsn, type, typeof d.deviceName === "string" ? d.deviceName : ""));
      }
    } else {
      seen.add(this.#learnDevice(station, station.id, sn, model, station.name));
    }
  }

  #learnDevice(station: Station, vid: string, sn: string, model: string, name: string): Dev {
    const key = `${station.sn}/${sn}`;
    const dev: Dev = this.#devices.get(key) ?? {
      vid,
      id: deviceId("xsense", vid),
      sn,
      name: "",
      model,
      station,
      spec: undefined,
      known: false,
      fields: {},
      info: undefined,
      online: undefined,
      available: false,
      testTimer: undefined,
    };
    dev.name = name.trim() || `${model || "X-Sense"} ${sn}`;
    dev.model = model;
    dev.station = station;
    this.#devices.set(key, dev);
    return dev;
  }

  /** Read the shadows that hold the current state of every device of these houses. */
  async #readShadows(houses: House[]): Promise<void> {
    const ids = new Set(houses.map((h) => h.id));
    const jobs: Promise<void>[] = [];
    for (const station of this.#stations.values()) {
      if (!ids.has(station.house.id)) continue;
      if (station.bridge) {
        const main = station.model === "SBS10" ? "mainpage" : "2nd_mainpage";
        jobs.push(
          (async () => {
            const reported = await this.#reported(station.house, station.thing, main);
            if (reported) this.#applyShadow(station, main, reported, "read");
            if (station.model === "SBS10") return;
            await Promise.all(
              [...this.#devices.values()]
                .filter((d) => d.station === station)
                .map(async (d) => {
                  const info = await this.#reported(station.house, station.thing, `2nd_info_${d.sn}`);
                  if (info) this.#applyShadow(station, `2nd_info_${d.sn}`, info, "read");
                }),
            );
          })(),
        );
      } else {
        jobs.push(
          (async () => {
            const info = await this.#reported(station.house, station.thing, `2nd_info_${station.sn}`);
            if (info) this.#applyShadow(station, `2nd_info_${station.sn}`, info, "read");
          })(),
        );
      }
    }
    for (const house of houses) {
      if (![...this.#stations.values()].some((s) => s.house.id === house.id && !s.bridge)) continue;
      for (const name of ["mainpage", "2nd_mainpage"]) {
        jobs.push(
          (async () => {
            const reported = await this.#reported(house, house.id, name);
            if (reported) this.#applyHouseShadow(house, name, reported, "read");
          })(),
        );
      }
    }
    await Promise.all(jobs);
  }

  /** Announce a device (first time, or again with its current state). */
  #announce(dev: Dev): void {
    let spec = modelSpec(dev.model);
    let known = spec !== undefined;
    if (spec?.kind === "station") spec = undefined;
    if (!spec || spec.kind === "ignored") {
      if (spec?.kind === "ignored") {
        if (!this.#reportedUnknown.has(dev.model)) this.#log.info({ model: dev.model }, `xsense: ${dev.name} (${dev.model}, ${spec.note ?? "not an alarm"}) is not exposed`);
        this.#reportedUnknown.add(dev.model);
        return;
      }
      known = false;
      spec = inferSpec(dev.model, dev.fields, !dev.station.bridge);
      if (!this.#reportedUnknown.has(dev.model)) {
        this.#reportedUnknown.add(dev.model);
        this.#log.warn(
          { model: dev.model, fields: Object.keys(dev.fields) },
          `xsense: unknown model ${dev.model || "(none)"}${spec ? ` shown as a ${spec.kind} from what it reports` : " not shown (no alarm in what it reports)"}; please report this model to the hearthbridge project`,
        );
      }
      if (!spec) return;
    }
    dev.spec = spec;
    dev.known = known;
    const info: DeviceInfo = {
      id: dev.id,
      vendor: "xsense",
      account: this.accountName,
      kind: spec.kind,
      name: dev.name,
      manufacturer: "X-Sense",
      model: dev.model || "unknown",
      serialNumber: dev.sn,
      ...(dev.station.bridge ? {} : dev.station.firmware ? { firmware: dev.station.firmware } : {}),
      capabilities: capabilitiesOf(spec),
    };
    const unchanged = dev.info !== undefined && JSON.stringify(dev.info) === JSON.stringify(info);
    dev.info = info;
    this.#byId.set(dev.id, dev);
    const result = fieldsToPatch(spec, dev.fields, dev.comboActive ? { active: dev.comboActive } : {});
    if (result.online !== undefined) dev.online = result.online;
    if (result.patch.coAlarm?.detected === true) dev.comboActive = "co";
    else if (result.patch.smokeAlarm?.detected === true) dev.comboActive = "smoke";
    if (unchanged) {
      // A re-sync of a device the core already knows: state only (deviceFound would flip it available).
      if (Object.keys(result.patch).length) this.#sink.stateChanged(dev.id, result.patch);
    } else {
      this.#sink.deviceFound(info, this.#initialState(dev, result.patch));
      dev.available = true;
    }
    this.#updateAvailability(dev);
  }

  #initialState(dev: Dev, patch: StatePatch): DeviceState {
    const caps = dev.info!.capabilities;
    const base: DeviceState = {};
    if (caps.smokeAlarm) base.smokeAlarm = { detected: false };
    if (caps.coAlarm) base.coAlarm = { detected: false };
    if (caps.heatAlarm) base.heatAlarm = { detected: false };
    if (caps.battery) base.battery = { low: false };
    return applyPatch(base, patch);
  }

  // ---- shadow reports (read or pushed) ----------------------------------------------------------------

  #devBySn(stationSn: string | undefined, sn: string | undefined): Dev | undefined {
    if (stationSn && sn) {
      const d = this.#devices.get(`${stationSn}/${sn}`);
      if (d) return d;
    }
    if (sn) {
      const wifi = this.#devices.get(`${sn}/${sn}`);
      if (wifi) return wifi;
      if (!stationSn) for (const d of this.#devices.values()) if (d.sn === sn) return d;
    }
    if (stationSn && !sn) return this.#devices.get(`${stationSn}/${stationSn}`);
    return undefined;
  }

  /** `why` is a fixed reason (the rate-limit key); details go in `fields`. */
  #malformed(topic: string, why: string, fields: Record<string, unknown> = {}): void {
    rateLimitedLog(this.#log).warn(why, "xsense: ignoring a malformed message", { topic, ...fields });
  }

  /** Apply one device's fields. Pushes reach the sink at once. */
  #applyFields(dev: Dev, fields: Fields, origin: string): void {
    const known = { ...dev.fields };
    remember(dev.fields, flatten(fields));
    if (!dev.spec || !dev.info) return; // not announced yet: the announcement carries the fields
    const result = fieldsToPatch(dev.spec, fields, { known, ...(dev.comboActive ? { active: dev.comboActive } : {}) });
    if (result.patch.coAlarm?.detected === true) dev.comboActive = "co";
    else if (result.patch.smokeAlarm?.detected === true) dev.comboActive = "smoke";
    else if (result.patch.smokeAlarm?.detected === false && result.patch.coAlarm?.detected === false) dev.comboActive = undefined;
    if (result.problems.length) this.#malformed(origin, "bad fields", { device: dev.sn, problems: result.problems.join(", ").slice(0, 300) });
    if (Object.keys(result.patch).length) this.#sink.stateChanged(dev.id, result.patch);
    if (result.online !== undefined && result.online !== dev.online) {
      dev.online = result.online;
      this.#updateAvailability(dev);
    }
  }

  /** A shadow of a station thing (SBS50/SBS10) or a Wi-Fi detector's own thing. */
  #applyShadow(station: Station, shadow: string, reported: Fields, origin: string): void {
    const stationSn = typeof reported.stationSN === "string" ? reported.stationSN : station.sn;
    if (shadow === "2nd_alarm" || shadow === "alarm") {
      const sn = childSn(reported) ?? (station.bridge ? undefined : station.sn);
      const dev = this.#devBySn(stationSn, sn);
      if (!dev) return this.#unknownTarget(origin, stationSn, sn);
      if (reported.isAlarm === undefined && reported.alarmStatus === undefined) return this.#malformed(origin, "alarm report without isAlarm");
      return this.#applyFields(dev, reported, origin);
    }
    if (/testup/.test(shadow)) {
      const sn = childSn(reported) ?? (station.bridge ? undefined : station.sn);
      const dev = this.#devBySn(stationSn, sn);
      if (!dev) return this.#unknownTarget(origin, stationSn, sn);
      if (!dev.spec || !dev.info) return;
      const result = selfTestResult(dev.spec, reported);
      if (!result) return this.#malformed(origin, "self-test report without a result");
      dev.testTimer = this.#cancel(dev.testTimer);
      this.#log.info({ device: dev.id, success: result.success }, `xsense: self-test of ${dev.name} ${result.success ? "passed" : "failed"}`);
      this.#sink.stateChanged(dev.id, result.patch);
      return;
    }
    const info = /^(?:2nd_)?info_(.+)$/.exec(shadow);
    if (info) {
      const sn = info[1]!;
      if (station.bridge && sn === station.sn) return this.#applyStationFields(station, reported);
      const dev = this.#devBySn(station.sn, sn);
      if (!dev) return this.#unknownTarget(origin, station.sn, sn);
      if (!station.bridge) this.#applyStationFields(station, reported);
      return this.#applyFields(dev, reported, origin);
    }
    if (shadow === "2nd_mainpage" || shadow === "mainpage") {
      this.#applyStationFields(station, reported);
      for (const [sn, fields] of this.#children(reported, origin)) {
        const dev = this.#devBySn(station.bridge ? stationSn : station.sn, station.bridge ? sn : station.sn);
        if (!dev) {
          this.#unknownTarget(origin, stationSn, sn);
          continue;
        }
        this.#applyFields(dev, fields, origin);
      }
      return;
    }
    this.#log.debug({ thing: station.thing, shadow }, "xsense: shadow report not used");
  }

  /** Children of a mainpage report: `devs` map (or list) or one child at top level. */
  #children(reported: Fields, origin: string): Array<[string, Fields]> {
    const out: Array<[string, Fields]> = [];
    const devs = reported.devs;
    if (isObject(devs)) {
      for (const [sn, fields] of Object.entries(devs)) {
        if (isObject(fields)) out.push([childSn(fields) ?? sn, fields]);
        else this.#malformed(origin, "a devs entry is not an object", { sn });
      }
    } else if (Array.isArray(devs)) {
      for (const fields of devs) {
        const sn = isObject(fields) ? childSn(fields) : undefined;
        if (isObject(fields) && sn) out.push([sn, fields]);
        else this.#malformed(origin, "a devs entry has no serial");
      }
    } else if (devs !== undefined) this.#malformed(origin, "devs is neither a map nor a list");
    else {
      const sn = childSn(reported);
      if (sn) out.push([sn, reported]);
    }
    return out;
  }

  #applyStationFields(station: Station, fields: Fields): void {
    const key = fields.online !== undefined ? "online" : fields.onLine !== undefined ? "onLine" : undefined;
    if (!key) return;
    const online = flag(fields[key]);
    if (typeof online === "boolean") this.#setStationOnline(station, online);
  }

  /** House-level shadows: `reported` maps a Wi-Fi detector's SN to its state. */
  #applyHouseShadow(house: House, shadow: string, reported: Fields, origin: string): void {
    if (shadow !== "mainpage" && shadow !== "2nd_mainpage") {
      if (shadow === "2nd_alarm" || /testup/.test(shadow)) {
        const sn = typeof reported.stationSN === "string" ? reported.stationSN : childSn(reported);
        const station = sn ? this.#stations.get(sn) : undefined;
        if (station) return this.#applyShadow(station, shadow, reported, origin);
        return this.#unknownTarget(origin, sn, undefined);
      }
      this.#log.debug({ house: house.id, shadow }, "xsense: house shadow report not used");
      return;
    }
    for (const [sn, fields] of Object.entries(reported)) {
      if (!isObject(fields)) continue; // scalars (e.g. time) sit beside the device map
      const dev = this.#devBySn(sn, undefined) ?? this.#devBySn(sn, sn);
      if (!dev) {
        this.#log.debug({ house: house.id, sn }, "xsense: house shadow entry for an unknown device");
        continue;
      }
      this.#applyStationFields(dev.station, fields);
      this.#applyFields(dev, fields, origin);
    }
  }

  #unknownTarget(origin: string, stationSn: string | undefined, sn: string | undefined): void {
    this.#log.debug({ origin, stationSn, sn }, "xsense: report for a device we do not know; the next sync will pick it up");
  }

  // ---- availability -------------------------------------------------------------------------------------

  #linkOf(house: House): Link | undefined {
    for (const link of this.#links.values()) if (link.houses.has(house.id)) return link;
    return undefined;
  }

  #updateAvailability(dev: Dev): void {
    if (!dev.info) return;
    const link = this.#linkOf(dev.station.house);
    const available = !(link?.down ?? false) && dev.station.online && dev.online !== false;
    if (available === dev.available) return;
    dev.available = available;
    this.#sink.availabilityChanged(dev.id, available);
  }

  #setStationOnline(station: Station, online: boolean): void {
    station.presenceTimer = this.#cancel(station.presenceTimer);
    if (station.online === online) return;
    station.online = online;
    this.#log.info({ station: station.sn }, `xsense: ${station.name} is ${online ? "online" : "offline"}`);
    for (const dev of this.#devices.values()) if (dev.station === station) this.#updateAvailability(dev);
  }

  // ---- MQTT ---------------------------------------------------------------------------------------------------

  #mqttBase(house: House): string {
    return (this.#opts.endpoints?.mqtt ?? DEFAULT_MQTT).replaceAll("{server}", house.server).replaceAll("{region}", house.region);
  }

  async #openLinks(): Promise<void> {
    const opened: Promise<void>[] = [];
    for (const house of this.#houses.values()) {
      const base = this.#mqttBase(house);
      const key = `${base}|${house.region}`;
      let link = this.#links.get(key);
      if (!link) {
        link = {
          key, base, region: house.region, houses: new Set(), client: undefined, pending: undefined, connected: false,
          everConnected: false, down: false, attempt: 0, refusals: 0, downSince: undefined, graceTimer: undefined, retryTimer: undefined,
        };
        this.#links.set(key, link);
      }
      const fresh = !link.houses.has(house.id);
      link.houses.add(house.id);
      if (!link.client && !link.pending) opened.push(this.#connectLink(link, "start"));
      else if (fresh && link.connected && link.client) this.#subscribe(link, link.client, [house.id]);
    }
    await Promise.all(opened);
  }

  #topics(link: Link, houseIds?: string[]): string[] {
    const ids = houseIds ?? [...link.houses];
    const topics: string[] = [];
    for (const id of ids) {
      topics.push(`@xsense/events/+/${id}`, `$aws/things/${id}/shadow/name/+/update`);
      for (const st of this.#stations.values()) {
        if (st.house.id !== id) continue;
        topics.push(`$aws/things/${st.thing}/shadow/name/+/update`, `$aws/events/presence/+/${st.thing}`);
      }
    }
    return [...new Set(topics)];
  }

  #subscribe(link: Link, client: MqttClient, houseIds?: string[]): Promise<void> {
    const topics = this.#topics(link, houseIds);
    const batches: string[][] = [];
    for (let i = 0; i < topics.length; i += 8) batches.push(topics.slice(i, i + 8)); // ≤ 8 topics per SUBSCRIBE
    return batches.reduce<Promise<void>>(
      (prev, batch) =>
        prev.then(
          () =>
            new Promise<void>((resolve) => {
              client.subscribe(batch, { qos: 0 }, (error, granted) => {
                // A refused subscription (SUBACK 0x80, e.g. AWS "Quota exceeded") comes back as an error.
                const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
                if (error || refused.length) this.#log.warn({ topics: refused.length ? refused : batch, why: error?.message }, "xsense: MQTT subscriptions refused by the broker (quota exceeded?)");
                resolve();
              });
            }),
        ),
      Promise.resolve(),
    );
  }

  /** (Re)connect a link with a freshly presigned URL. `renew`: keep the old connection until the new one is up. */
  #connectLink(link: Link, why: "start" | "reconnect" | "renew"): Promise<void> {
    if (this.#stopping || !this.#creds) return Promise.resolve();
    if (link.pending) {
      link.pending.end(true);
      link.pending = undefined;
    }
    const url = presignUrl(link.base, link.region, this.#creds, new Date(Date.now() + this.#skewMs));
    const presignedWith = this.#creds.accessKeyId;
    /** Why this attempt failed, when it says: the upgrade's HTTP status, a CONNACK code, a TLS error. */
    let failure: LinkFailure | undefined;
    const client = mqttConnect(url, {
      clientId: randomUUID(),
      username: MQTT_USERNAME,
      password: "",
      keepalive: this.#opts.keepaliveSec ?? 30,
      reconnectPeriod: 0,
      connectTimeout: this.#t.mqttConnectMs,
      protocolVersion: 4,
      clean: true,
      // Our own socket, because mqtt.js drops a refused upgrade's status without a word (no error event,
      // just a close): a 403 here means these credentials are dead, and only the status can say so.
      createWebsocket: (wsUrl: string, protocols: string[]) => {
        const socket = new WebSocket(wsUrl, protocols, { maxPayload: MQTT_MAX_PAYLOAD });
        socket.on("unexpected-response", (_req, res) => {
          const errorType = res.headers["x-amzn-errortype"];
          failure = upgradeFailure(res.statusCode ?? 0, res.statusMessage ?? "", typeof errorType === "string" ? errorType.slice(0, 80) : undefined);
          res.resume();
          socket.terminate();
        });
        socket.on("error", (error: Error & { code?: unknown }) => (failure ??= errorFailure(error)));
        return socket;
      },
    });
    link.pending = client;
    return new Promise<void>((resolve) => {
      let settled = false;
      const settle = (): void => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      client.on("connect", () => {
        if (link.pending !== client) return;
        link.pending = undefined;
        const old = link.client;
        link.client = client;
        if (old && old !== client) old.end(true);
        const wasDown = link.down;
        const resync = link.everConnected;
        link.connected = true;
        link.everConnected = true;
        link.attempt = 0;
        link.refusals = 0;
        if (link.downSince !== undefined) this.#log.info({ downS: Math.round((Date.now() - link.downSince) / 1000) }, "xsense: alarm link back");
        link.downSince = undefined;
        link.graceTimer = this.#cancel(link.graceTimer);
        link.retryTimer = this.#cancel(link.retryTimer);
        this.#log.info(`xsense: MQTT connected (${why})`);
        void this.#subscribe(link, client).then(() => {
          settle();
          if (this.#stopping || link.client !== client) return;
          if (wasDown) {
            link.down = false;
            for (const dev of this.#devices.values()) if (link.houses.has(dev.station.house.id)) this.#updateAvailability(dev);
          }
          this.#reportLink();
          // Anything may have happened while we were away: read the shadows again.
          if (resync && why !== "renew") void this.#resyncHouses(link);
        });
      });
      client.on("message", (topic, payload) => {
        if (link.client === client || link.pending === client) this.#onMessage(topic, payload);
      });
      client.on("error", (error) => {
        failure ??= errorFailure(error as Error & { code?: unknown });
        if (link.client === client) this.#log.warn({ code: (error as { code?: unknown }).code }, `xsense: MQTT error: ${error.message}`);
      });
      client.on("close", () => {
        settle();
        if (link.pending === client) {
          link.pending = undefined;
          this.#attemptFailed(link, failure ?? CLOSED_WITHOUT_ANSWER, presignedWith);
          if (link.client) return; // a renewal failed; the old connection still serves
          this.#linkDropped(link, client, "connection attempt failed");
          return;
        }
        if (link.client !== client) return;
        this.#linkDropped(link, client, "connection closed");
      });
    });
  }

  /** A connection attempt that never got its CONNACK. A refusal condemns the credentials it was
   * presigned with (and, refused again with fresh ones, the tokens that fetched them): the next attempt
   * never presents what was just refused. Each cause is logged, at most once a minute. */
  #attemptFailed(link: Link, failure: LinkFailure, presignedWith: string): void {
    if (this.#stopping) return;
    const refused = failure.kind === "refused";
    if (refused) link.refusals++;
    rateLimitedLog(this.#log).warn(`mqtt-${failure.cause}`, `xsense: MQTT connection ${refused ? "refused" : "failed"}: ${failure.reason}`, {
      ...(failure.status ? { status: failure.status } : {}),
      ...(refused ? { refusedInARow: link.refusals } : {}),
    });
    if (!refused) return;
    if (this.#creds?.accessKeyId === presignedWith) this.#creds = { ...this.#creds, expiresAt: 0 }; // fetched anew before the next try
    if (link.refusals >= 2 && this.#tokens) this.#tokens = { ...this.#tokens, expiresAt: 0 }; // refreshed (or a new login) first
  }

  #linkDropped(link: Link, client: MqttClient, reason: string): void {
    if (this.#stopping) return;
    client.removeAllListeners("message");
    if (link.client === client) link.client = undefined;
    const wasConnected = link.connected;
    link.connected = false;
    link.downSince ??= Date.now();
    if (wasConnected) {
      this.#log.warn(`xsense: MQTT ${reason}; reconnecting`);
      this.#reportLink();
    }
    if (!link.graceTimer && !link.down) {
      const grace = this.#opts.mqttGraceMs ?? 60_000;
      link.graceTimer = this.#later(grace, () => {
        link.graceTimer = undefined;
        if (link.connected) return;
        this.#log.warn(`xsense: the alarm link (MQTT) has been down for ${Math.round(grace / 1000)} s; marking its detectors unavailable`);
        link.down = true;
        for (const dev of this.#devices.values()) if (link.houses.has(dev.station.house.id)) this.#updateAvailability(dev);
      });
    }
    const delay = this.#retryDelay(link.attempt++);
    this.#cancel(link.retryTimer);
    link.retryTimer = this.#later(delay, () => {
      link.retryTimer = undefined;
      void this.#ensureCreds()
        .then(() => this.#connectLink(link, "reconnect"))
        .catch((error: Error) => {
          this.#log.warn(`xsense: cannot reconnect MQTT: ${error.message}`);
          this.#linkDropped(link, client, "reconnect failed");
        });
    });
  }

  async #resyncHouses(link: Link): Promise<void> {
    try {
      await this.#readShadows([...this.#houses.values()].filter((h) => link.houses.has(h.id)));
    } catch (error) {
      this.#log.warn(`xsense: re-reading shadows failed: ${(error as Error).message}`);
    }
  }

  /** Every MQTT message. Alarm reports reach the sink synchronously from here. */
  #onMessage(topic: string, payload: Buffer): void {
    if (this.#stopping) return;
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString("utf8"));
    } catch {
      return this.#malformed(topic, "not JSON");
    }
    if (!isObject(doc)) return this.#malformed(topic, "not a JSON object");
    const presence = PRESENCE_RE.exec(topic);
    if (presence) {
      const station = this.#things.get(presence[2]!);
      if (station) this.#presence(station, presence[1] === "connected");
      return;
    }
    const shadow = SHADOW_RE.exec(topic);
    if (shadow) {
      if (shadow[3]) return; // /accepted, /documents, /rejected duplicate /update
      const state = doc.state;
      if (!isObject(state) || !isObject(state.reported)) {
        if (isObject(state) && isObject(state.desired) && state.reported === undefined) return; // someone's command, not a report
        return this.#malformed(topic, "no state.reported object");
      }
      const thing = shadow[1]!;
      const name = shadow[2]!;
      const station = this.#things.get(thing);
      if (station) return this.#applyShadow(station, name, state.reported, topic);
      const house = this.#houses.get(thing);
      if (house) return this.#applyHouseShadow(house, name, state.reported, topic);
      this.#log.debug({ topic }, "xsense: message for an unknown thing");
      return;
    }
    if (topic.startsWith("@xsense/events/")) {
      // No captured payload of this topic exists (docs/protocols/xsense.md §4.4, §9): log it and
      // re-read the house's shadows.
      this.#log.debug({ topic, eventType: doc.eventType }, "xsense: house event");
      const houseId = topic.split("/").pop() ?? "";
      const house = this.#houses.get(houseId);
      if (house) this.#rereadHouse(house);
      return;
    }
    this.#log.debug({ topic }, "xsense: message on an unexpected topic");
  }

  /** Re-read a house's shadows after a house event. Events that come in meanwhile cause one more read,
   * not one each: a burst of events must not become a burst of shadow requests. */
  #rereadHouse(house: House): void {
    const running = this.#rereads.get(house.id);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    this.#rereads.set(house.id, state);
    void (async () => {
      do {
        state.again = false;
        await this.#readShadows([house]).catch(() => undefined);
      } while (state.again && !this.#stopping);
      this.#rereads.delete(house.id);
    })();
  }

  /** Presence flaps while hubs are stable (#102): "disconnected" counts only if it lasts the grace period. */
  #presence(station: Station, connected: boolean): void {
    if (connected) return this.#setStationOnline(station, true);
    if (station.presenceTimer || !station.online) return;
    station.presenceTimer = this.#later(this.#opts.presenceGraceMs ?? this.#opts.mqttGraceMs ?? 90_000, () => {
      station.presenceTimer = undefined;
      this.#setStationOnline(station, false);
    });
  }

  // ---- polling (drift only) -------------------------------------------------------------------------------------

  #startPoll(): void {
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    const interval = this.#opts.pollIntervalMs ?? 300_000;
    if (interval > 0)
      this.#pollTimer = setInterval(() => {
        void this.#sync().catch((error: Error) => this.#log.warn(`xsense: poll failed: ${error.message}`));
      }, interval);
  }

  // ---- commands ---------------------------------------------------------------------------------------------------

  async command(id: string, command: Command): Promise<void> {
    const dev = this.#byId.get(id);
    if (!dev?.spec || !dev.info) throw new Error(`X-Sense has no device ${id}`);
    const parts = [command.smokeAlarm, command.coAlarm, command.heatAlarm];
    const test = parts.some((p) => p?.testing === true);
    const mute = parts.some((p) => p?.muted === true);
    const other = Object.keys(command).some((k) => !["smokeAlarm", "coAlarm", "heatAlarm"].includes(k)) || parts.some((p) => p && Object.keys(p).some((k) => !(k === "testing" && p.testing) && !(k === "muted" && p.muted)));
    if ((!test && !mute) || other) throw new Error(`X-Sense ${dev.name}: only a self-test (testing: true) or mute (muted: true) can be requested`);
    if (test) await this.#selfTest(dev);
    if (mute) await this.#mute(dev);
  }

  #desiredBase(dev: Dev, shadow: string, time: "utc" | "ms" | "none" | undefined): Record<string, unknown> {
    const base: Record<string, unknown> = { deviceSN: dev.sn, shadow, stationSN: dev.station.sn };
    if (time !== "none") base.time = time === "ms" ? String(Date.now()) : utcStamp();
    base.userId = this.#tokens?.sub ?? "";
    return base;
  }

  async #write(dev: Dev, topic: string, desired: Record<string, unknown>): Promise<void> {
    try {
      await this.#ensureLogin();
      const doc = await this.#shadow(dev.station.house, dev.station.thing, topic, { state: { desired } });
      if (doc === undefined) throw new Error(`No shadow exists with name: '${dev.station.thing}~${topic}'`);
    } catch (error) {
      throw new Error(`X-Sense could not send ${String(desired.shadow)} to ${dev.name}: ${(error as Error).message}`, { cause: error });
    }
  }

  async #selfTest(dev: Dev): Promise<void> {
    const route = dev.spec?.selfTest;
    if (!route) throw new Error(`X-Sense ${dev.name} (${dev.model}) has no remote self-test`);
    // SBS10 children use appselftest_ on the bare station thing and send no time (docs/protocols/xsense.md §6).
    const sbs10 = dev.station.model === "SBS10";
    const topic = `${sbs10 ? "appselftest_" : route.topic}${dev.sn}`;
    const desired = this.#desiredBase(dev, sbs10 ? "appSelfTest" : route.shadow, sbs10 ? "none" : route.time);
    if (route.userParam && !sbs10) desired.userParam = "source=1";
    await this.#write(dev, topic, desired);
    this.#log.info({ device: dev.id }, `xsense: self-test of ${dev.name} requested`);
    this.#cancel(dev.testTimer);
    dev.testTimer = this.#later(this.#t.selfTestMs, () => {
      dev.testTimer = undefined;
      this.#log.warn({ device: dev.id }, `xsense: no self-test result from ${dev.name}`);
      const patch: StatePatch = {};
      if (dev.spec?.smoke) patch.smokeAlarm = { testing: false };
      if (dev.spec?.co) patch.coAlarm = { testing: false };
      if (dev.spec?.heat) patch.heatAlarm = { testing: false };
      this.#sink.stateChanged(dev.id, patch);
    });
  }

  async #mute(dev: Dev): Promise<void> {
    const route = dev.spec?.mute;
    if (!route) throw new Error(`X-Sense ${dev.name} (${dev.model}) cannot be muted remotely`);
    const desired = this.#desiredBase(dev, route.shadow, "utc");
    let muteType = "0";
    if (route.coSensitive) {
      const ppm = Number(dev.fields.coPpm);
      if (String(dev.fields.standard ?? "") === "0" && ppm > 210) muteType = "1";
    }
    desired.muteType = muteType;
    if (route.userParam) desired.userParam = "source=1";
    await this.#write(dev, `${route.topic}`, desired);
  }
}
