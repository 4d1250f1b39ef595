// Account passwords entered on the web page (FanSync, X-Sense), kept in <data>/account-secrets.json
// (0600, atomic writes). The config loader reads them (loadConfig's dataDir):
//  - an account with no password in the config uses the stored one;
//  - an account whose config password is the one the page replaced (a changed vendor password, the
//    config not edited yet) uses the stored one too;
//  - once the config's password is edited to anything else, the config wins again: the stored entry
//    is stale and ignored, so a fix in the config is never silently overridden.
// `replaces` is a SHA-256 of the replaced config password: the file holds the plain new password
// anyway, so the digest reveals nothing more, and it keeps the config's old password out of the file.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { JsonStore } from "./storage.ts";

export const ACCOUNT_SECRETS_FILE = "account-secrets.json";

export interface StoredPassword {
  password: string;
  /** SHA-256 (hex) of the config's password this one replaced; absent when the config had none. */
  replaces?: string;
  /** ISO time of the entry. */
  savedAt: string;
}

export function passwordDigest(password: string): string {
  return createHash("sha256").update(password, "utf8").digest("hex");
}

function isStoredPassword(value: unknown): value is StoredPassword {
  const v = value as StoredPassword | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.password === "string" &&
    v.password.length > 0 &&
    (v.replaces === undefined || typeof v.replaces === "string")
  );
}

/** The stored passwords of one data directory. loadConfig creates it and asks choose() for every
 * account, so it knows what each config password was when the page saves a new one. */
export class AccountSecrets {
  readonly #store: JsonStore<Record<string, unknown>>;
  /** Per account: the digest of the config's own password at load (undefined: the config had none). */
  readonly #configured = new Map<string, string | undefined>();

  /** Throws when the file exists but is not JSON (the message names the file). */
  constructor(dataDir: string) {
    this.#store = new JsonStore(join(dataDir, ACCOUNT_SECRETS_FILE));
  }

  get path(): string {
    return this.#store.path;
  }

  get(account: string): StoredPassword | undefined {
    const entry = this.#store.get(account);
    return isStoredPassword(entry) ? entry : undefined;
  }

  /** The password the bridge should use given the config's own (see the top of this file). */
  choose(account: string, configured: string | undefined): string | undefined {
    const digest = configured === undefined ? undefined : passwordDigest(configured);
    this.#configured.set(account, digest);
    const stored = this.get(account);
    if (!stored) return configured;
    if (digest === undefined) return stored.password;
    return stored.replaces === digest ? stored.password : configured;
  }

  /** Keep `password` for `account`; it replaces the config's password until the config's is edited. */
  save(account: string, password: string): void {
    const replaces = this.#configured.get(account);
    this.#store.set(account, {
      password,
      ...(replaces !== undefined ? { replaces } : {}),
      savedAt: new Date().toISOString(),
    } satisfies StoredPassword);
  }
}
