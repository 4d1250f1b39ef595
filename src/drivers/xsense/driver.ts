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
//
// This file wires the parts and runs start-up: session.ts (login, tokens, /app calls), credentials.ts
// (AWS credentials), shadows.ts (shadow REST client), inventory.ts (houses, stations, devices, their
// state), mqtt-link.ts (the alarm link), commands.ts (self-test, mute).
import type { Driver, DriverContext, DriverSink } from "../../core/driver.ts";
import { DriverRuntime, type BackoffPolicy } from "../../core/driver-runtime.ts";
import { registerSecret, type Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import type { Command } from "../../core/model.ts";
import { DEFAULT_API, XSenseApi } from "./api.ts";
import { CognitoError, type RefreshSecretHashMode } from "./cognito.ts";
import { XSenseCommands } from "./commands.ts";
import { XSenseCredentials } from "./credentials.ts";
import { Inventory } from "./inventory.ts";
import type { XSenseControls } from "./models.ts";
import { MqttLinks } from "./mqtt-link.ts";
import { XSenseSession } from "./session.ts";
import { ShadowClient } from "./shadows.ts";
import { FusedSink } from "./alarm-fusion.ts";
import { localSettings, type LocalConfig } from "./local-config.ts";
import { LocalPath } from "./local-path.ts";

export { DEFAULT_API } from "./api.ts";
export { parseExpiration } from "./credentials.ts";
export { utcStamp } from "./commands.ts";
export { DEFAULT_MQTT, MQTT_USERNAME } from "./mqtt-link.ts";
export { DEFAULT_IOT_DATA, SHADOW_USER_AGENT } from "./shadows.ts";

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
  /** README "Hush and self-test switches" (default: none). */
  controls?: XSenseControls;
  /** The SBS50's local MQTT output (README "Alarms without the internet"): fused with the cloud path. */
  local?: LocalConfig;
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
  /** REFRESH_TOKEN_AUTH SECRET_HASH form (default "hmac": HMAC(secret, sub ‖ clientId)); a refused refresh
   * falls back to SRP. */
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
  /** Renew AWS credentials (and re-make MQTT) this long before they expire (default 5 min; at most half the
   * lifetime). */
  credentialRenewMarginMs?: number;
  /** MQTT keepalive in seconds (default 30: a half-open connection is noticed within about a minute). */
  keepaliveSec?: number;
  /** Retry back-off: min * 2^n capped, ±25 % jitter (default 1 s .. 15 s; core/driver-runtime.ts). The first
   * MQTT reconnect is immediate; login retries wait from the first. */
  backoff?: { minMs?: number; maxMs?: number };
}

/** The parts of a started driver. */
interface Parts {
  log: Logger;
  sink: DriverSink;
  session: XSenseSession;
  credentials: XSenseCredentials;
  inventory: Inventory;
  links: MqttLinks;
  commands: XSenseCommands;
  /** The local alarm path, when configured and started. */
  local: LocalPath | undefined;
}

export class XSenseDriver implements Driver {
  readonly vendor = "xsense";
  readonly accountName: string;
  readonly #opts: XSenseDriverOptions;
  readonly #t: Required<XSenseTimeouts>;
  readonly #rt = new DriverRuntime("X-Sense");
  readonly #api: XSenseApi;
  #parts: Parts | undefined;

  constructor(options: XSenseDriverOptions) {
    this.#opts = options;
    this.accountName = options.accountName ?? options.email;
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
      signal: this.#rt.signal,
      ...(options.appVersion ? { appVersion: options.appVersion } : {}),
      ...(options.clientType ? { clientType: options.clientType } : {}),
    });
    registerSecret(options.password);
  }

  /** The Cognito `sub` of the logged-in user (tests, diagnostics). */
  get userId(): string | undefined {
    return this.#parts?.session.userId;
  }

  /** Resolves once no shadow re-read (after a reconnect or a house event) is in flight (tests, diagnostics). */
  async settled(): Promise<void> {
    await this.#parts?.links.settled();
  }

  /** Login retries and the MQTT reconnects share the minimum; MQTT has its own, lower cap. */
  get #backoff(): BackoffPolicy {
    return { minMs: this.#opts.backoff?.minMs ?? 1_000, maxMs: this.#opts.backoff?.maxMs ?? 15_000 };
  }

  start(ctx: DriverContext): Promise<void> {
    return this.#rt.start(
      () => this.#wire(ctx),
      (parts) => this.#startupLoop(parts),
    );
  }

  #wire(ctx: DriverContext): Parts {
    const o = this.#opts;
    const rt = this.#rt;
    const log = (o.log ?? ctx.log).child({ vendor: "xsense", account: this.accountName });
    // Both alarm paths report through one fusion: a change seen on both is delivered once, on either alone it is
    // delivered, and a detector is reachable while either path vouches for it.
    const fused = new FusedSink(ctx.sink);
    const sink = o.local ? fused.cloud : ctx.sink;
    const backoff = this.#backoff;
    const session = new XSenseSession({
      api: this.#api,
      rt,
      log,
      email: o.email,
      password: o.password,
      cognitoEndpoint: o.endpoints?.cognito,
      cognitoMs: this.#t.cognitoMs,
      refreshSecretHash: o.refreshSecretHash,
      refreshMarginMs: o.tokenRefreshMarginMs ?? 60_000,
      retryMs: backoff.maxMs,
      store: ctx.store,
    });
    // Renewed credentials re-make the links: `links` exists by the time the first renewal is due.
    const credentials: XSenseCredentials = new XSenseCredentials({
      session,
      rt,
      log,
      email: o.email,
      renewMarginMs: o.credentialRenewMarginMs ?? 300_000,
      retryMs: backoff.minMs,
      onRenewed: () => links.renewAll(),
    });
    const shadows = new ShadowClient({ credentials, rt, log, iotData: o.endpoints?.iotData, httpMs: this.#t.httpMs });
    const presenceGraceMs = o.presenceGraceMs ?? o.mqttGraceMs ?? 90_000;
    const inventory: Inventory = new Inventory({
      session,
      shadows,
      rt,
      log,
      sink,
      accountName: this.accountName,
      presenceGraceMs,
      controls: o.controls ?? {},
      linkDown: (house) => links.isDown(house),
    });
    const links = new MqttLinks({
      inventory,
      session,
      credentials,
      shadows,
      rt,
      log,
      sink,
      mqtt: o.endpoints?.mqtt,
      connectMs: this.#t.mqttConnectMs,
      keepaliveSec: o.keepaliveSec ?? 30,
      graceMs: o.mqttGraceMs ?? 60_000,
      retry: { minMs: backoff.minMs, maxMs: Math.min(backoff.maxMs, o.mqttRetryMaxMs ?? 5_000) },
    });
    const selfTestMs = this.#t.selfTestMs;
    const commands = new XSenseCommands({ inventory, session, shadows, rt, log, sink, selfTestMs });
    let local: LocalPath | undefined;
    if (o.local) {
      try {
        local = new LocalPath({
          settings: localSettings(o.local),
          log,
          resolve: (stationSn, deviceSn) => {
            const dev = inventory.devices.get(`${stationSn}/${deviceSn}`);
            return dev?.info ? dev.id : undefined;
          },
          sink: fused.local,
        });
      } catch (error) {
        log.error(`xsense local: not started: ${(error as Error).message}`);
      }
    }
    this.#parts = { log, sink, session, credentials, inventory, links, commands, local };
    return this.#parts;
  }

  async stop(): Promise<void> {
    await this.#rt.stop(() => this.#parts?.links.endAll());
    await this.#parts?.local?.stop();
    if (this.#parts) rateLimitedLog(this.#parts.log).flush();
  }

  async command(id: string, command: Command): Promise<void> {
    if (!this.#parts) throw new Error(`X-Sense has no device ${id}`);
    return this.#parts.commands.send(id, command);
  }

  // ---- start-up --------------------------------------------------------------------------------

  async #startupLoop(parts: Parts): Promise<void> {
    const { log, sink, session, credentials, inventory, links } = parts;
    const rt = this.#rt;
    // The local path first: it must work while the cloud cannot be reached.
    await parts.local?.start().catch((error: Error) => {
      log.error(`xsense local: not started: ${error.message}`);
      parts.local = undefined;
    });
    let failures = 0;
    while (!rt.stopping) {
      try {
        sink.linkStateChanged("connecting");
        await session.ensureLogin();
        await credentials.ensure();
        await inventory.sync();
        parts.local?.resync();
        if (rt.stopping) break;
        await links.open();
        void parts.commands.liveRead();
        this.#startPoll(parts);
        links.ready();
        rt.inventoryDone();
        return;
      } catch (error) {
        if (rt.stopping) break;
        const auth = error instanceof CognitoError && error.isAuthFailure;
        const message = (error as Error).message;
        sink.linkStateChanged(auth ? "needs-login" : "disconnected", message);
        log[auth ? "error" : "warn"](`xsense: start-up failed: ${message}`);
        rt.inventoryDone();
        await rt.sleep(auth ? this.#backoff.maxMs : rt.backoff(++failures, this.#backoff));
      }
    }
  }

  // ---- polling (drift only) -------------------------------------------------------------------------------------

  #startPoll(parts: Parts): void {
    const interval = this.#opts.pollIntervalMs ?? 300_000;
    if (interval > 0) {
      this.#rt.every(interval, () => {
        void parts.inventory
          .sync()
          .then(() => {
            parts.local?.resync();
            return parts.commands.liveRead();
          })
          .catch((error: Error) => parts.log.warn(`xsense: poll failed: ${error.message}`));
      });
    }
  }
}
