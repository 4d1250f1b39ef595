// The X-Sense account session (docs/protocols/xsense.md §2-3): 101001 client info, Cognito SRP login,
// tokens refreshed before they expire (a refused refresh falls back to a full login), and authenticated
// /app calls that survive a session expired or displaced by another login.
import type { DriverRuntime, Timer } from "../../core/driver-runtime.ts";
import type { JsonStore } from "../../core/storage.ts";
import { forgetSecret, registerSecret, type Logger } from "../../core/logger.ts";
import { XSenseSessionError, type XSenseApi } from "./api.ts";
import { XSenseCognito, type CognitoTokens, type RefreshSecretHashMode } from "./cognito.ts";

export interface SessionOptions {
  api: XSenseApi;
  rt: DriverRuntime;
  log: Logger;
  email: string;
  password: string;
  /** Cognito endpoint (default from 101001's region). */
  cognitoEndpoint: string | undefined;
  cognitoMs: number;
  refreshSecretHash: RefreshSecretHashMode | undefined;
  /** Refresh the access token this long before it expires. */
  refreshMarginMs: number;
  /** After a failed login on token expiry, try again after this long. */
  retryMs: number;
  /** The account's private store (0600): the refresh token is kept there, so a restart needs no SRP login. */
  store?: JsonStore;
}

/** What survives a restart: enough to refresh instead of logging in (never the password). */
interface StoredSession {
  refreshToken: string;
  sub: string;
  email: string;
}

const SESSION_KEY = "xsenseSession";

function isStoredSession(value: unknown, email: string): value is StoredSession {
  const v = value as Partial<StoredSession> | undefined;
  return (
    !!v &&
    typeof v.refreshToken === "string" &&
    v.refreshToken.length > 0 &&
    typeof v.sub === "string" &&
    v.email === email
  );
}

/** Wait until `margin` before expiry, but never less than half the remaining lifetime. */
export function renewDelay(expiresAt: number, margin: number): number {
  const left = expiresAt - Date.now();
  return Math.max(50, Math.max(left - margin, left / 2));
}

export class XSenseSession {
  readonly #o: SessionOptions;
  #cognito: XSenseCognito | undefined;
  #tokens: CognitoTokens | undefined;
  #loginFlight: Promise<void> | undefined;
  #refreshTimer: Timer | undefined;

  constructor(options: SessionOptions) {
    this.#o = options;
  }

  get #log(): Logger {
    return this.#o.log;
  }

  /** The Cognito `sub` of the logged-in user. */
  get userId(): string | undefined {
    return this.#tokens?.sub;
  }

  /** The MQTT link was refused twice in a row: refresh (or log in) before the next credentials. */
  condemnTokens(): void {
    if (this.#tokens) this.#tokens = { ...this.#tokens, expiresAt: 0 };
  }

  ensureLogin(force = false): Promise<void> {
    if (!force && this.#tokens) return Promise.resolve();
    this.#loginFlight ??= (force ? this.#login() : this.#resumeOrLogin()).finally(
      () => (this.#loginFlight = undefined),
    );
    return this.#loginFlight;
  }

  /** At start: refresh the stored session if there is one (no SRP login, the app stays logged in);
   * a refused or missing one means a full login. */
  async #resumeOrLogin(): Promise<void> {
    const stored = this.#o.store?.get(SESSION_KEY);
    if (!isStoredSession(stored, this.#o.email)) return this.#login();
    registerSecret(stored.refreshToken);
    try {
      const cognito = await this.#connectCognito();
      const expired = {
        accessToken: "",
        idToken: "",
        refreshToken: stored.refreshToken,
        expiresAt: 0,
        sub: stored.sub,
      };
      this.#setTokens(await cognito.refresh(expired));
      this.#log.info("xsense: session resumed with the stored refresh token");
    } catch (error) {
      if (this.#o.rt.stopping) throw error;
      this.#log.info(`xsense: the stored session was refused (${(error as Error).message}); logging in again`);
      this.#o.store?.set(SESSION_KEY, undefined);
      await this.#login();
    }
  }

  /** 101001 client info and a Cognito client for it. IOB reloads the client info at every start; we do it at
   * every full login and every resume. */
  async #connectCognito(): Promise<XSenseCognito> {
    const o = this.#o;
    const info = await o.api.clientInfo();
    this.#cognito = new XSenseCognito({
      endpoint: o.cognitoEndpoint ?? `https://cognito-idp.${info.cgtRegion}.amazonaws.com/`,
      userPoolId: info.userPoolId,
      clientId: info.clientId,
      secret: info.secret,
      timeoutMs: o.cognitoMs,
      signal: o.rt.signal,
      ...(o.refreshSecretHash ? { refreshSecretHash: o.refreshSecretHash } : {}),
    });
    return this.#cognito;
  }

  async #login(): Promise<void> {
    const o = this.#o;
    const cognito = await this.#connectCognito();
    this.#log.info("xsense: logging in (Cognito SRP)");
    const tokens = await cognito.login(o.email, o.password);
    this.#setTokens(tokens);
    this.#log.info("xsense: logged in");
  }

  #setTokens(tokens: CognitoTokens): void {
    const old = this.#tokens;
    const fresh = [tokens.accessToken, tokens.idToken, tokens.refreshToken];
    if (old) for (const t of [old.accessToken, old.idToken, old.refreshToken]) if (!fresh.includes(t)) forgetSecret(t);
    for (const t of fresh) registerSecret(t);
    this.#tokens = tokens;
    this.#o.api.accessToken = tokens.accessToken;
    if (!old || old.refreshToken !== tokens.refreshToken || old.sub !== tokens.sub) {
      const stored: StoredSession = { refreshToken: tokens.refreshToken, sub: tokens.sub, email: this.#o.email };
      this.#o.store?.set(SESSION_KEY, stored);
    }
    this.#o.rt.cancel(this.#refreshTimer);
    const delay = renewDelay(tokens.expiresAt, this.#o.refreshMarginMs);
    this.#refreshTimer = this.#o.rt.later(delay, () => void this.refresh().catch(() => undefined));
  }

  /** REFRESH_TOKEN_AUTH; any failure falls back to a full SRP login. */
  async refresh(): Promise<void> {
    const rt = this.#o.rt;
    if (rt.stopping) return;
    if (this.#loginFlight) return this.#loginFlight;
    const flight = (async () => {
      const tokens = this.#tokens;
      if (tokens?.refreshToken && this.#cognito) {
        try {
          this.#setTokens(await this.#cognito.refresh(tokens));
          this.#log.info("xsense: access token refreshed");
          return;
        } catch (error) {
          if (rt.stopping) return;
          this.#log.info(`xsense: token refresh refused (${(error as Error).message}); logging in again`);
        }
      }
      await this.#login();
    })();
    this.#loginFlight = flight.finally(() => (this.#loginFlight = undefined));
    try {
      await this.#loginFlight;
    } catch (error) {
      if (rt.stopping) return;
      this.#log.warn(`xsense: login after token expiry failed: ${(error as Error).message}`);
      rt.cancel(this.#refreshTimer);
      this.#refreshTimer = rt.later(this.#o.retryMs, () => void this.refresh().catch(() => undefined));
      throw error;
    }
  }

  /** An authenticated /app call: token refreshed when due; a session error → fresh login and one retry. */
  async call(bizCode: string, params: Record<string, unknown>): Promise<unknown> {
    const { api, rt } = this.#o;
    await this.ensureLogin();
    // The timer normally refreshes earlier.
    if (this.#tokens && this.#tokens.expiresAt <= Date.now()) await this.refresh();
    try {
      return await api.call(bizCode, params);
    } catch (error) {
      if (!(error instanceof XSenseSessionError) || rt.stopping) throw error;
      this.#log.info(`xsense: session expired or replaced by another login (${error.message}); refreshing it`);
      await this.refresh(); // falls back to a full login when the refresh is refused
      try {
        return await api.call(bizCode, params);
      } catch (again) {
        // A refreshed token of a displaced session may be refused as well: only a new login helps then.
        if (!(again instanceof XSenseSessionError) || rt.stopping) throw again;
        this.#log.info(`xsense: the refreshed session was refused too (${again.message}); logging in again`);
        this.#tokens = undefined;
        await this.ensureLogin(true);
        return await api.call(bizCode, params);
      }
    }
  }
}
