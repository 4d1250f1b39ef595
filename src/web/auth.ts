// Who may see the page. A password is required unless the server only listens on loopback: it comes
// from the config (`web.password` / `web.passwordHash`) or is set on the first visit and kept as a
// scrypt hash in <data>/web.json (0600). Sessions are random tokens held in memory (a restart logs
// everyone out), sent as an HttpOnly, SameSite=Strict cookie. Failed logins are rate limited per
// client address.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { JsonStore } from "../core/storage.ts";
import { hashPassword, isPasswordHash, verifyPassword } from "../core/password.ts";

export const SESSION_COOKIE = "hb_session";
const SESSION_TTL_MS = 7 * 24 * 3600_000;
const MAX_SESSIONS = 100;

export function isLoopbackHost(host: string): boolean {
  return host === "127.0.0.1" || host === "::1" || host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
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
}

export class WebAuth {
  readonly limiter = new LoginLimiter();
  readonly #store: JsonStore<{ passwordHash?: string }>;
  readonly #configHash: string | undefined;
  readonly #loopback: boolean;
  readonly #sessions = new Map<string, number>();

  constructor(options: AuthOptions) {
    this.#store = new JsonStore(join(options.dataDir, "web.json"));
    this.#configHash = options.passwordHash;
    this.#loopback = isLoopbackHost(options.host);
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

  /** No password yet and one is required: the first visitor sets it. */
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

  /** Store the first password (only while none is set). */
  async setPassword(password: string): Promise<void> {
    if (!this.needsSetup) throw new Error("a password is already set");
    const hash = await hashPassword(password);
    if (!this.needsSetup) throw new Error("a password is already set");
    this.#store.set("passwordHash", hash);
  }

  newSession(now = Date.now()): string {
    for (const [token, expires] of this.#sessions) if (expires <= now) this.#sessions.delete(token);
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const token = randomBytes(32).toString("base64url");
    this.#sessions.set(token, now + SESSION_TTL_MS);
    return token;
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

  cookie(token: string): string {
    return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}`;
  }

  static clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}

export function sessionToken(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
