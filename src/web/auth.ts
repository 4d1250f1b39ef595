// Who may see the page. A password is required unless the server only listens on loopback: it comes
// from the config (`web.password` / `web.passwordHash`) or is chosen on the page and kept as a scrypt
// hash in <data>/web.json (0600). Choosing it there takes the one-time setup token the bridge prints in
// its log and `npm run pairing` shows (kept in web.json too, so a restart prints the same one until it
// is used): whoever reaches the page first does not get to choose. Sessions are random tokens held in
// memory (a restart logs everyone out), sent as an HttpOnly, SameSite=Strict cookie. Failed logins and
// wrong setup tokens are rate limited per client address.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { JsonStore, readJson } from "../core/storage.ts";
import { hashPassword, isPasswordHash, verifyPassword } from "../core/password.ts";

export const SESSION_COOKIE = "hb_session";
const SESSION_TTL_MS = 7 * 24 * 3600_000;
/** The page's own file in the data directory: the chosen password's hash, the pending setup token. */
export const WEB_STORE_FILE = "web.json";
interface WebStore extends Record<string, unknown> {
  passwordHash?: string;
  setupToken?: string;
}
const SETUP_TOKEN = /^[A-Za-z0-9_-]{32}$/;

/** A fresh setup token: 192 random bits, URL-safe (it travels in a link). */
export function newSetupToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Compare a guess with a secret in constant time (as digests, so a length difference shows nothing either). */
export function sameSecret(guess: string, secret: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();
  return timingSafeEqual(digest(guess), digest(secret));
}

/** What web.json holds about the password, read without creating anything (for `npm run pairing`). */
export function readWebStore(dataDir: string): { passwordSet: boolean; setupToken?: string } {
  let stored: WebStore | undefined;
  try {
    stored = readJson<WebStore>(join(dataDir, WEB_STORE_FILE));
  } catch {
    stored = undefined; // damaged: the bridge reports it at start
  }
  const passwordSet = typeof stored?.passwordHash === "string" && isPasswordHash(stored.passwordHash);
  const token = stored?.setupToken;
  const pending = !passwordSet && typeof token === "string" && SETUP_TOKEN.test(token);
  return { passwordSet, ...(pending ? { setupToken: token } : {}) };
}

/** Why the page's password could not be set. */
export class SetupRefused extends Error {
  override name = "SetupRefused";
  readonly reason: "already-set" | "wrong-token";
  constructor(reason: SetupRefused["reason"]) {
    super(reason === "already-set" ? "a password is already set" : "wrong setup token");
    this.reason = reason;
  }
}
const MAX_SESSIONS = 100;

export function isLoopbackHost(host: string): boolean {
  return (
    host === "127.0.0.1" ||
    host === "::1" ||
    host === "localhost" ||
    host === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

/** Failed logins per client: `limit` failures per `windowMs`, then refused until the window ends. */
export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();
  readonly #limit: number;
  readonly #windowMs: number;

  constructor(limit = 5, windowMs = 60_000) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /** Milliseconds until this client may try again; 0 = now. */
  retryAfterMs(client: string, now = Date.now()): number {
    const recent = (this.#failures.get(client) ?? []).filter((t) => now - t < this.#windowMs);
    if (recent.length) this.#failures.set(client, recent);
    else this.#failures.delete(client);
    return recent.length >= this.#limit ? this.#windowMs - (now - recent[0]!) : 0;
  }

  failed(client: string, now = Date.now()): void {
    const list = this.#failures.get(client) ?? [];
    list.push(now);
    this.#failures.set(client, list.slice(-this.#limit));
    // Bound the table: a flood of addresses must not grow memory without end.
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value!);
  }

  succeeded(client: string): void {
    this.#failures.delete(client);
  }
}

export interface AuthOptions {
  dataDir: string;
  /** Interface the server listens on. */
  host: string;
  /** From the config; wins over a hash stored by the set-password form. */
  passwordHash?: string | undefined;
  /** Session lifetime (tests shorten it). */
  sessionTtlMs?: number;
}

export class WebAuth {
  readonly limiter = new LoginLimiter();
  readonly #store: JsonStore<WebStore>;
  readonly #configHash: string | undefined;
  readonly #loopback: boolean;
  readonly #ttlMs: number;
  readonly #sessions = new Map<string, number>();

  constructor(options: AuthOptions) {
    this.#store = new JsonStore(join(options.dataDir, WEB_STORE_FILE));
    this.#configHash = options.passwordHash;
    this.#loopback = isLoopbackHost(options.host);
    this.#ttlMs = options.sessionTtlMs ?? SESSION_TTL_MS;
  }

  get #hash(): string | undefined {
    if (this.#configHash) return this.#configHash;
    const stored = this.#store.get("passwordHash");
    return typeof stored === "string" && isPasswordHash(stored) ? stored : undefined;
  }

  /** Whether a request needs a session at all. */
  get required(): boolean {
    return this.#hash !== undefined || !this.#loopback;
  }

  /** No password yet and one is required: it is chosen on the page with the setup token. */
  get needsSetup(): boolean {
    return this.#hash === undefined && !this.#loopback;
  }

  get passwordFromConfig(): boolean {
    return this.#configHash !== undefined;
  }

  async check(password: string): Promise<boolean> {
    const hash = this.#hash;
    return hash !== undefined && verifyPassword(password, hash);
  }

  /** The one-time token that lets the page's password be chosen: made (and kept in web.json) while one
   * is needed, the same one until it is used; undefined once a password exists (a leftover is removed). */
  setupToken(): string | undefined {
    const stored = this.#store.get("setupToken");
    if (!this.needsSetup) {
      if (stored !== undefined) this.#store.set("setupToken", undefined);
      return undefined;
    }
    if (typeof stored === "string" && SETUP_TOKEN.test(stored)) return stored;
    const token = newSetupToken();
    this.#store.set("setupToken", token);
    return token;
  }

  /** Whether `candidate` is the pending setup token (constant time). */
  checkSetupToken(candidate: string): boolean {
    const token = this.#store.get("setupToken");
    return typeof token === "string" && SETUP_TOKEN.test(token) && sameSecret(candidate, token);
  }

  /** Store the first password, given the setup token; the token is used up. Throws SetupRefused. */
  async setPassword(password: string, setupToken: string): Promise<void> {
    if (!this.needsSetup) throw new SetupRefused("already-set");
    if (!this.checkSetupToken(setupToken)) throw new SetupRefused("wrong-token");
    const hash = await hashPassword(password);
    // Another request may have used the token while this one was hashing.
    if (!this.needsSetup) throw new SetupRefused("already-set");
    if (!this.checkSetupToken(setupToken)) throw new SetupRefused("wrong-token");
    this.#store.set("passwordHash", hash);
    this.#store.set("setupToken", undefined);
  }

  newSession(now = Date.now()): string {
    for (const [token, expires] of this.#sessions) if (expires <= now) this.#sessions.delete(token);
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const token = randomBytes(32).toString("base64url");
    this.#sessions.set(token, now + this.#ttlMs);
    return token;
  }

  /** When a valid session ends by itself (epoch ms); undefined for an unknown or ended one. */
  expiresAt(token: string | undefined, now = Date.now()): number | undefined {
    return token !== undefined && this.valid(token, now) ? this.#sessions.get(token) : undefined;
  }

  endSession(token: string | undefined): void {
    if (token) this.#sessions.delete(token);
  }

  valid(token: string | undefined, now = Date.now()): boolean {
    if (!token) return false;
    const expires = this.#sessions.get(token);
    if (expires === undefined) return false;
    if (expires <= now) {
      this.#sessions.delete(token);
      return false;
    }
    return true;
  }

  /** `secure`: the browser reached the page over https (a TLS proxy), so the cookie never goes over http. */
  cookie(token: string, secure = false): string {
    const maxAge = Math.floor(this.#ttlMs / 1000);
    return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secureFlag(secure)}`;
  }

  static clearCookie(secure = false): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secureFlag(secure)}`;
  }
}

const secureFlag = (secure: boolean) => (secure ? "; Secure" : "");

export function sessionToken(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
