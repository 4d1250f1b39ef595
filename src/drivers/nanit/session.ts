// The Nanit session: access token (JWT, its own `exp`) and the rotating, single-use refresh token.
// Refreshes are single-flight; the new pair is written to the 0600 store (atomic write + rename)
// before anything uses it. 404/401 on refresh -> NanitLoginRequiredError, never a retry loop.
import type { Logger } from "../../core/logger.ts";
import { registerSecret } from "../../core/logger.ts";
import { readJson, type JsonStore } from "../../core/storage.ts";
import {
  jwtExpiry,
  NanitAuthError,
  NanitLoginRequiredError,
  NanitMfaRequiredError,
  NanitUnauthorizedError,
  postLogin,
  postRefresh,
  type Tokens,
} from "./rest.ts";

export const SESSION_KEY = "session";
/** Set once a password login answered 482: the bridge never logs in with the password again (each try sends an SMS). */
export const MFA_KEY = "mfaRequired";
/** HN's fallback when the access token carries no `exp`. */
export const DEFAULT_ACCESS_LIFETIME_MS = 3_600_000;
export const LOGIN_HINT = "run `npm run login -- nanit` to log in again";

export interface StoredSession {
  email: string;
  refreshToken: string;
  accessToken?: string;
  /** Unix ms. */
  accessExpiresAt?: number;
  savedAt: string;
}

interface MinimalStore {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

export function isStoredSession(value: unknown): value is StoredSession {
  const v = value as StoredSession | null;
  return (
    !!v &&
    typeof v === "object" &&
    typeof v.refreshToken === "string" &&
    v.refreshToken.length > 0 &&
    typeof v.email === "string"
  );
}

function expiryOf(accessToken: string, now: number): number {
  const exp = jwtExpiry(accessToken);
  return exp !== undefined ? exp * 1000 : now + DEFAULT_ACCESS_LIFETIME_MS;
}

/** Persist a fresh token pair (atomic, 0600 via JsonStore) and register both as secrets. */
export function saveSession(store: MinimalStore, email: string, tokens: Tokens, now = Date.now()): StoredSession {
  registerSecret(tokens.accessToken);
  registerSecret(tokens.refreshToken);
  const session: StoredSession = {
    email,
    refreshToken: tokens.refreshToken,
    accessToken: tokens.accessToken,
    accessExpiresAt: expiryOf(tokens.accessToken, now),
    savedAt: new Date(now).toISOString(),
  };
  store.set(SESSION_KEY, session);
  store.set(MFA_KEY, undefined);
  return session;
}

export interface SessionOptions {
  api: string;
  email: string;
  password?: string | undefined;
  store: JsonStore;
  log: Logger;
  httpMs: number;
  signal: AbortSignal;
  /** Refresh this long before the access token's `exp` (default 5 min, as HN). */
  refreshMarginMs: number;
  now?: () => number;
}

export class NanitSession {
  readonly #o: SessionOptions;
  readonly #now: () => number;
  #session: StoredSession | undefined;
  #refreshing: Promise<string> | undefined;
  #passwordRefused = false;
  /** Bumped on every new access token, so callers can tell whether a 401 is already handled. */
  generation = 0;

  constructor(options: SessionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    registerSecret(options.password);
    this.#adopt(options.store.get(SESSION_KEY));
  }

  get hasSession(): boolean {
    return !!this.#session;
  }

  /** Unix ms when the current access token expires (its JWT `exp`), if there is one. */
  get accessExpiresAt(): number | undefined {
    return this.#session?.accessToken ? this.#session.accessExpiresAt : undefined;
  }

  #adopt(value: unknown): boolean {
    if (!isStoredSession(value)) return false;
    if (value.email.toLowerCase() !== this.#o.email.toLowerCase()) {
      this.#o.log.warn("nanit: the stored session belongs to another e-mail address; ignoring it");
      return false;
    }
    registerSecret(value.refreshToken);
    registerSecret(value.accessToken);
    this.#session = { ...value };
    this.generation++;
    return true;
  }

  /** Re-read the data file (the login CLI may have written a new session); true when a new one was adopted. */
  reloadFromFile(): boolean {
    let data: Record<string, unknown> | undefined;
    try {
      data = readJson<Record<string, unknown>>(this.#o.store.path);
    } catch {
      return false;
    }
    const value = data?.[SESSION_KEY];
    if (!isStoredSession(value) || value.refreshToken === this.#session?.refreshToken) return false;
    if (!this.#adopt(value)) return false;
    this.#o.store.set(SESSION_KEY, value);
    this.#o.store.set(MFA_KEY, undefined);
    this.#passwordRefused = false;
    return true;
  }

  /** A usable access token: the current one, or a refreshed one when it is (nearly) expired. */
  async accessToken(): Promise<string> {
    const s = this.#session;
    if (s?.accessToken && (s.accessExpiresAt ?? 0) - this.#o.refreshMarginMs > this.#now()) return s.accessToken;
    return this.refresh(s?.accessToken);
  }

  /** Refresh (single-flight). `stale` = the access token the caller saw refused: when the session has
   * already moved past it, the current token is returned without another refresh. */
  refresh(stale?: string): Promise<string> {
    if (this.#refreshing) return this.#refreshing;
    const current = this.#session?.accessToken;
    if (
      stale !== undefined &&
      current &&
      current !== stale &&
      (this.#session?.accessExpiresAt ?? 0) - this.#o.refreshMarginMs > this.#now()
    ) {
      return Promise.resolve(current);
    }
    this.#refreshing = this.#doRefresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #doRefresh(): Promise<string> {
    const s = this.#session;
    if (!s) return this.#passwordLogin(`no Nanit session is stored; ${LOGIN_HINT}`);
    let tokens: Tokens;
    try {
      tokens = await postRefresh(this.#o.api, s.refreshToken, s.accessToken, {
        timeoutMs: this.#o.httpMs,
        signal: this.#o.signal,
      });
    } catch (error) {
      if (!(error instanceof NanitLoginRequiredError)) throw error; // transient: keep the refresh token
      this.#session = undefined;
      this.#o.store.set(SESSION_KEY, undefined);
      return this.#passwordLogin(`${error.message}; ${LOGIN_HINT}`);
    }
    this.#store(tokens, "token refresh");
    this.#o.log.info("nanit: access token refreshed (the new refresh token is saved)");
    return tokens.accessToken;
  }

  /** Write the rotated pair before anyone uses it: the old refresh token is already dead. */
  #store(tokens: Tokens, what: string): void {
    registerSecret(tokens.accessToken);
    registerSecret(tokens.refreshToken);
    try {
      this.#session = saveSession(this.#o.store, this.#o.email, tokens, this.#now());
    } catch (error) {
      // Keep going on the in-memory pair; the next restart will need a login.
      this.#session = {
        email: this.#o.email,
        refreshToken: tokens.refreshToken,
        accessToken: tokens.accessToken,
        accessExpiresAt: expiryOf(tokens.accessToken, this.#now()),
        savedAt: new Date().toISOString(),
      };
      this.#o.log.error(
        `nanit: could not save the session after the ${what} (${(error as Error).message}); ` +
          "after a restart you will have to log in again",
      );
    }
    this.generation++;
  }

  /** Without MFA a stored password can log in again; with MFA (482) only a person can. */
  async #passwordLogin(reason: string): Promise<string> {
    const password = this.#o.password;
    if (!password || this.#passwordRefused || this.#o.store.get(MFA_KEY) === true)
      throw new NanitLoginRequiredError(reason);
    this.#o.log.info("nanit: logging in with the stored password");
    try {
      const tokens = await postLogin(
        this.#o.api,
        { email: this.#o.email, password },
        { timeoutMs: this.#o.httpMs, signal: this.#o.signal },
      );
      this.#store(tokens, "login");
      return tokens.accessToken;
    } catch (error) {
      if (error instanceof NanitMfaRequiredError) {
        this.#o.store.set(MFA_KEY, true);
        throw new NanitLoginRequiredError(
          `this Nanit account uses two-factor authentication (a code was just sent); ${LOGIN_HINT} and enter the code`,
        );
      }
      if (error instanceof NanitAuthError) {
        this.#passwordRefused = true;
        throw new NanitLoginRequiredError(`${error.message}; fix the password or ${LOGIN_HINT}`);
      }
      throw error;
    }
  }

  /** Run a REST call with the access token; on 401 refresh once and retry once (docs/protocols/nanit.md §2.5). */
  async authed<T>(call: (accessToken: string) => Promise<T>): Promise<T> {
    const token = await this.accessToken();
    try {
      return await call(token);
    } catch (error) {
      if (!(error instanceof NanitUnauthorizedError)) throw error;
      this.#o.log.info(`nanit: ${error.message}; refreshing the session and retrying once`);
      const fresh = await this.refresh(token);
      return call(fresh);
    }
  }
}
