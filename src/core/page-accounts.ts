// Accounts added on the web page, kept in <data>/page-accounts.json (0600, atomic writes): the entry as
// the config would hold it (vendor, name, e-mail, the vendor's own keys) and, for a vendor whose driver
// logs in with the password every time, the password (a vendor with a stored session, such as an MFA
// log-in, keeps no password). main.ts starts them beside the config's accounts; when both name the same
// account, the config's entry wins and the page's is ignored (README "Accounts on the page").
import { join } from "node:path";
import type { AccountConfig } from "./config.ts";
import { checkAccountEntry } from "./config.ts";
import { JsonStore } from "./storage.ts";

export const PAGE_ACCOUNTS_FILE = "page-accounts.json";

interface PageAccountsFile extends Record<string, unknown> {
  accounts?: unknown[];
}

export class PageAccounts {
  readonly #store: JsonStore<PageAccountsFile>;

  /** Throws when the file exists but is not JSON (the message names the file). */
  constructor(dataDir: string) {
    this.#store = new JsonStore<PageAccountsFile>(join(dataDir, PAGE_ACCOUNTS_FILE));
  }

  get path(): string {
    return this.#store.path;
  }

  /** The stored accounts that still pass their vendor's schema; the others come back as problems. */
  load(): { accounts: AccountConfig[]; problems: string[] } {
    const accounts: AccountConfig[] = [];
    const problems: string[] = [];
    const raw = this.#store.get("accounts");
    for (const [i, entry] of (Array.isArray(raw) ? raw : []).entries()) {
      const checked =
        entry && typeof entry === "object"
          ? checkAccountEntry(entry as Record<string, unknown>)
          : { problems: ["not an object"] };
      if ("account" in checked) accounts.push(checked.account);
      else problems.push(`${PAGE_ACCOUNTS_FILE} accounts[${i}]: ${checked.problems.join("; ")}`);
    }
    return { accounts, problems };
  }

  has(name: string): boolean {
    return this.load().accounts.some((a) => a.name === name);
  }

  /** Add or replace the account of that name. */
  save(account: AccountConfig): void {
    const others = this.#entries().filter((a) => (a as { name?: unknown }).name !== account.name);
    this.#store.set("accounts", [...others, { ...account }]);
  }

  /** Keep a new password for a page account (the re-login form); false when it is not one. */
  setPassword(name: string, password: string): boolean {
    const entries = this.#entries();
    const entry = entries.find((a) => (a as { name?: unknown }).name === name) as Record<string, unknown> | undefined;
    if (!entry) return false;
    entry.password = password;
    this.#store.set("accounts", entries);
    return true;
  }

  remove(name: string): boolean {
    const entries = this.#entries();
    const kept = entries.filter((a) => (a as { name?: unknown }).name !== name);
    if (kept.length === entries.length) return false;
    this.#store.set("accounts", kept);
    return true;
  }

  #entries(): unknown[] {
    const raw = this.#store.get("accounts");
    return Array.isArray(raw) ? [...raw] : [];
  }
}
