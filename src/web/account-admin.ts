// Adding and removing vendor accounts on the web page, without a restart. The vendor list and how each
// logs in come from the vendor modules (src/drivers/index.ts). A password vendor's e-mail and password
// are checked with the vendor first (as `npm run login -- <vendor>`); a code vendor's log-in runs through
// MfaWebLogin (password, then the code). Only then is the account stored in <data>/page-accounts.json
// (0600, core/page-accounts.ts) and its driver started (main.ts); its devices then reach HomeKit and
// Matter as the registry reports them. Removing stops the driver and takes its devices out of both.
// Renaming restarts the driver under the new name with its store moved (core/page-accounts.ts); its
// devices stay in both, paired, with the same ids. Accounts named in the config are the config's: they
// are not removed or renamed here.
import { rmSync } from "node:fs";
import type { AccountConfig } from "../core/config.ts";
import { checkAccountEntry } from "../core/config.ts";
import { accountNameProblem, shareAccountFile, type PageAccounts } from "../core/page-accounts.ts";
import { accountStore } from "../core/storage.ts";
import { forgetSecret, isSecret, registerSecret, scrub, type Logger } from "../core/logger.ts";
import type { VendorModule } from "../core/vendor.ts";
import { vendorOf, vendors } from "../drivers/index.ts";
import { verifyAccount, type VerifyResult } from "../cli/verify-login.ts";
import type { MfaWebLogin } from "./mfa-login.ts";
import type { PasswordWebLogin } from "./account-login.ts";
import { RequestError } from "./request-error.ts";

/** What main.ts does for the page: start or stop one account's driver, the bridge running on. */
export interface AccountRuntime {
  add(account: AccountConfig): Promise<void>;
  remove(name: string): Promise<void>;
  /** Stop the account's driver, run `move` (its stored state follows the new name), start it again under
   * the new name; its devices stay (same ids), so they stay in HomeKit and Matter. */
  rename(from: string, to: string, move: () => void): Promise<void>;
}

export interface VendorChoice {
  id: string;
  displayName: string;
  /** "password" or "password+mfa" (the page says a code will be asked). */
  login: string;
}

/** The outcome of the last add or remove, shown above the form. */
export interface AccountNotice {
  step: "done" | "failed" | "code";
  message: string;
}

export interface AccountAdminOptions {
  runtime: AccountRuntime;
  store: PageAccounts;
  /** Names of the accounts the config file holds (they stay the config's). */
  configNames: ReadonlySet<string>;
  /** The accounts running now (config and page). */
  accounts: () => readonly { name: string }[];
  passwords: PasswordWebLogin;
  mfa: MfaWebLogin;
  dataDir: string;
  log: Logger;
  /** Check a password vendor's credentials (tests may stub it). */
  verify?: (account: AccountConfig, timeoutMs: number) => Promise<VerifyResult>;
}

export interface AddForm {
  vendor: string;
  name?: string | undefined;
  email: string;
  password: string;
  /** The vendor's own keys as JSON (e.g. its endpoints), as the config would hold them. */
  settings?: string | undefined;
}

export class AccountAdmin {
  readonly #o: AccountAdminOptions;
  #notice: AccountNotice | undefined;
  /** Names being added or renamed right now (a second post for one of them waits its turn by failing). */
  readonly #busy = new Set<string>();

  constructor(options: AccountAdminOptions) {
    this.#o = options;
  }

  get notice(): AccountNotice | undefined {
    return this.#notice;
  }

  vendors(): VendorChoice[] {
    return (vendors as readonly VendorModule[]).map((v) => ({
      id: v.id,
      displayName: v.displayName,
      login: v.login.kind,
    }));
  }

  /** Added on the page (so it can be removed here): stored there and not named by the config. */
  isPageAccount(name: string): boolean {
    return !this.#o.configNames.has(name) && this.#o.store.has(name);
  }

  /** Check, log in and start a new account. Resolves with the notice the page shows. */
  async add(form: AddForm): Promise<AccountNotice> {
    const notice = await this.#add(form).catch((error: Error): AccountNotice => {
      this.#o.log.warn({ err: error }, `web page: an account could not be added: ${error.message}`);
      return { step: "failed", message: `The account was not added: ${scrub(error.message)}` };
    });
    this.#notice = notice;
    return notice;
  }

  async #add(form: AddForm): Promise<AccountNotice> {
    const entry = this.#entry(form);
    if ("problems" in entry) return { step: "failed", message: `Check the form: ${entry.problems.join("; ")}.` };
    const account = entry.account;
    const name = account.name;
    const typed = form.name?.trim();
    const problem = (typed ? accountNameProblem(typed) : undefined) ?? this.#nameTaken(name);
    if (problem) return { step: "failed", message: `${capitalized(problem)}.` };
    const vendor = vendorOf(account.vendor)!;
    this.#busy.add(name);
    try {
      if (vendor.login.kind === "password+mfa") return await this.#addWithCode(account, form.password);
      return await this.#addWithPassword(account, vendor.displayName);
    } finally {
      this.#busy.delete(name);
    }
  }

  /** Why `name` cannot be taken by a new or renamed account (`self`: the one being renamed). */
  #nameTaken(name: string, self?: string): string | undefined {
    const names = new Set([
      ...this.#o.accounts().map((a) => a.name),
      ...this.#o.configNames,
      ...this.#o.store.load().accounts.map((a) => a.name),
      ...this.#busy,
    ]);
    names.delete(self ?? "");
    if (names.has(name)) return `an account named "${name}" exists already; choose another name`;
    const near = [...names].find((other) => shareAccountFile(other, name));
    if (near)
      return `"${name}" is too close to the account "${near}" (they would share one data file); choose another name`;
    return undefined;
  }

  #entry(form: AddForm): { account: AccountConfig } | { problems: string[] } {
    let settings: Record<string, unknown> = {};
    if (form.settings?.trim()) {
      try {
        settings = JSON.parse(form.settings) as Record<string, unknown>;
      } catch {
        return { problems: ["vendor settings: not JSON"] };
      }
      if (!settings || typeof settings !== "object" || Array.isArray(settings))
        return { problems: ["vendor settings: must be a JSON object"] };
      for (const key of ["vendor", "name", "email", "password", "passwordFile"]) {
        if (key in settings) return { problems: [`vendor settings: "${key}" belongs in its own field`] };
      }
    }
    const name = form.name?.trim();
    return checkAccountEntry({
      ...settings,
      vendor: form.vendor,
      ...(name ? { name } : {}),
      email: form.email.trim(),
      password: form.password,
    });
  }

  async #addWithPassword(account: AccountConfig, vendorName: string): Promise<AccountNotice> {
    const password = account.password!;
    const known = isSecret(password);
    registerSecret(password);
    const verify = this.#o.verify ?? verifyAccount;
    this.#o.log.info(
      { account: account.name },
      `${account.name}: being added on the web page, checking it with ${vendorName}`,
    );
    const result = await verify(account, 20_000);
    if (!result.ok) {
      if (!known) forgetSecret(password);
      const why = result.refused
        ? `${vendorName} refused the e-mail and password`
        : `it could not be checked (${scrub(result.message)})`;
      return { step: "failed", message: `The account was not added: ${why}.` };
    }
    // The driver logs in with the password at every start: it is kept (0600) for that.
    this.#o.store.save(account);
    this.#o.passwords.add(account);
    await this.#o.runtime.add(account);
    return {
      step: "done",
      message: `${vendorName} accepted it: "${account.name}" is added and its devices appear as they are found.`,
    };
  }

  async #addWithCode(account: AccountConfig, password: string): Promise<AccountNotice> {
    // The password is used once for the log-in and not stored: the session is (in the account's file).
    const { password: _used, ...kept } = account;
    const stored = kept as AccountConfig;
    this.#o.mfa.add(stored, async () => {
      this.#o.store.save(stored);
      await this.#o.runtime.add(stored);
    });
    await this.#o.mfa.start(account.name, password);
    const view = this.#o.mfa.views().find((v) => v.account === account.name);
    const step = view?.step === "code" ? "code" : view?.step === "failed" ? "failed" : "done";
    if (step === "failed") this.#o.mfa.remove(account.name);
    return { step, message: view?.message ?? "Logging in…" };
  }

  /** Give a page account a new name (`body`: {"name": "..."}). Its devices keep their ids, so they stay
   * paired in HomeKit and Matter with their automations; its session and learned state move with it.
   * Throws a RequestError: 400 for a bad or taken name, 404 for no such page account, 409 for a config
   * account or one being changed right now. */
  async rename(from: string, body: unknown): Promise<AccountNotice> {
    const raw = (body as { name?: unknown } | null)?.name;
    if (typeof raw !== "string" || raw.length > 200) throw new RequestError(400, 'send {"name": "the new name"}');
    const to = raw.trim();
    if (this.#o.configNames.has(from)) {
      const there = "change its name there and restart the bridge";
      throw new RequestError(409, `"${from}" is in the config file: it cannot be renamed on this page; ${there}`);
    }
    if (!this.isPageAccount(from) || !this.#o.accounts().some((a) => a.name === from)) {
      throw new RequestError(404, `no account "${from}" was added on this page`);
    }
    if (to === from) throw new RequestError(400, `the account is named "${from}" already`);
    const problem = accountNameProblem(to) ?? this.#nameTaken(to, from);
    if (problem) throw new RequestError(400, `${capitalized(problem)}.`);
    if (this.#busy.has(from)) throw new RequestError(409, `"${from}" is being changed; try again in a moment`);
    this.#busy.add(from).add(to);
    try {
      await this.#o.runtime.rename(from, to, () => this.#o.store.rename(from, to));
    } catch (error) {
      this.#o.log.warn({ account: from, err: error }, `${from}: could not be renamed: ${(error as Error).message}`);
      throw new RequestError(409, `"${from}" was not renamed: ${scrub((error as Error).message)}`);
    } finally {
      this.#busy.delete(from);
      this.#busy.delete(to);
    }
    const renamed = this.#o.store.load().accounts.find((a) => a.name === to);
    this.#o.passwords.remove(from);
    this.#o.mfa.remove(from);
    if (renamed) {
      this.#o.passwords.add(renamed);
      this.#o.mfa.add(renamed);
    }
    this.#o.log.info({ account: to }, `${from}: renamed "${to}" on the web page; its devices stay paired`);
    const stay = "its devices stay in Apple Home and Matter with their pairings and automations";
    this.#notice = { step: "done", message: `"${from}" is now "${to}"; ${stay}.` };
    return this.#notice;
  }

  /** Stop a page account's driver, take its devices out, forget it and its session. */
  async remove(name: string): Promise<AccountNotice> {
    if (this.#o.configNames.has(name)) {
      throw new Error(`"${name}" is in the config file: remove it there and restart the bridge`);
    }
    if (!this.#o.store.has(name)) throw new Error(`no account "${name}" was added on this page`);
    if (this.#busy.has(name)) throw new Error(`"${name}" is being changed; try again in a moment`);
    await this.#o.runtime.remove(name);
    this.#o.store.remove(name);
    this.#o.passwords.remove(name);
    this.#o.mfa.remove(name);
    rmSync(accountStore(this.#o.dataDir, name).path, { force: true });
    this.#o.log.info({ account: name }, `${name}: removed on the web page with its session`);
    this.#notice = { step: "done", message: `"${name}" is removed; its devices left Apple Home and Matter.` };
    return this.#notice;
  }
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
