// Password log-ins from the web page (vendor modules whose login kind is "password"), for an account in
// `needs-login` (a wrong or changed password). The password is checked against the vendor exactly as
// `npm run login -- <vendor>` does (src/cli/verify-login.ts); if the vendor accepts it, it is kept in
// <data>/account-secrets.json (0600, see core/account-secrets.ts) where the config loader finds it on
// the next start, and the account's driver is restarted with it at once (the bridge keeps running).
// It is never sent back.
import type { AccountConfig } from "../core/config.ts";
import type { AccountSecrets } from "../core/account-secrets.ts";
import { forgetSecret, isSecret, registerSecret, scrub, type Logger } from "../core/logger.ts";
import { verifyAccount, type VerifyResult } from "../cli/verify-login.ts";
import { namesOf, type VendorModule } from "../core/vendor.ts";
import { vendors, vendorOf } from "../drivers/index.ts";
import type { PasswordLoginView } from "./page.ts";

/** "A or B": the vendors whose accounts log in with a password alone, for messages. */
export const PASSWORD_VENDOR_NAMES = namesOf(
  (vendors as readonly VendorModule[]).filter((v) => v.login.kind === "password"),
);

export interface PasswordLoginOptions {
  /** Every configured account; those of a password-only vendor get a form. */
  accounts: AccountConfig[];
  log: Logger;
  /** Where accepted passwords are kept; without it (tests) the password is only used for the restart. */
  secrets?: Pick<AccountSecrets, "save"> | undefined;
  /** Replace the running driver of the account with one using this password. */
  restart?: ((account: string, password: string) => Promise<void>) | undefined;
  /** A flow moved on (the page re-renders its forms). */
  changed: (account: string) => void;
  /** Vendor log-in timeout. */
  timeoutMs?: number;
  /** Check the password with the vendor (tests may stub it). */
  verify?: (account: AccountConfig, timeoutMs: number) => Promise<VerifyResult>;
}

interface Flow {
  step: PasswordLoginView["step"];
  message?: string;
}

/** How long a form post waits for the outcome before the page shows "working" (and reloads later). */
const STEP_WAIT_MS = 30_000;
export function isAccountConfig(account: AccountConfig): boolean {
  return vendorOf(account.vendor)?.login.kind === "password";
}

const displayName = (account: AccountConfig) => vendorOf(account.vendor)?.displayName ?? account.vendor;

export class PasswordWebLogin {
  readonly #o: PasswordLoginOptions;
  readonly #accounts: Map<string, AccountConfig>;
  readonly #flows = new Map<string, Flow>();

  constructor(options: PasswordLoginOptions) {
    this.#o = options;
    // Our own copies: the password in them changes when the page's one is accepted.
    this.#accounts = new Map(options.accounts.filter(isAccountConfig).map((a) => [a.name, { ...a }]));
  }

  has(account: string): boolean {
    return this.#accounts.has(account);
  }

  /** An account added on the page gets its form (re-login) from now on; other vendors' are ignored. */
  add(account: AccountConfig): void {
    if (isAccountConfig(account)) this.#accounts.set(account.name, { ...account });
  }

  remove(name: string): void {
    this.#accounts.delete(name);
    this.#flows.delete(name);
  }

  views(): PasswordLoginView[] {
    return [...this.#accounts.values()].map((a) => {
      const flow = this.#flows.get(a.name);
      return {
        account: a.name,
        vendor: a.vendor,
        email: a.email,
        step: flow?.step ?? "idle",
        ...(flow?.message ? { message: flow.message } : {}),
      };
    });
  }

  /** Check the password with the vendor, keep it and restart the account; resolves with the outcome
   * (or after STEP_WAIT_MS, the check still running). Throws when a check for the account is running. */
  async submit(name: string, password: string): Promise<void> {
    const account = this.#accounts.get(name);
    if (!account) throw new Error(`no ${PASSWORD_VENDOR_NAMES} account ${name}`);
    if (this.#flows.get(name)?.step === "working") throw new Error(`the password for ${name} is being checked already`);
    // Scrubbed while it is checked; forgotten again if refused, so made-up passwords posted to the
    // form cannot grow the secret set (every log line is scrubbed against all of it).
    const known = isSecret(password);
    registerSecret(password);
    const flow: Flow = { step: "working", message: `Checking the password with ${displayName(account)}…` };
    this.#flows.set(name, flow);
    this.#o.log.info(
      { account: name },
      `${name}: password entered on the web page, checking it with ${displayName(account)}`,
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, STEP_WAIT_MS).unref()));
    const done = this.#run(account, password, flow).finally(() => {
      clearTimeout(timer);
      if (account.password !== password && !known) forgetSecret(password); // not accepted by the vendor
      if (this.#flows.get(name) === flow) this.#o.changed(name);
    });
    await Promise.race([done, waited]);
  }

  async #run(account: AccountConfig, password: string, flow: Flow): Promise<void> {
    const vendor = displayName(account);
    const log = this.#o.log;
    const verify = this.#o.verify ?? verifyAccount;
    try {
      const result = await verify({ ...account, password }, this.#o.timeoutMs ?? 20_000);
      if (!result.ok) {
        flow.step = "failed";
        flow.message = result.refused
          ? `${vendor} refused this password; nothing was changed.`
          : `The password could not be checked (${scrub(result.message)}); nothing was changed.`;
        log.warn(
          { account: account.name },
          `${account.name}: the password from the web page was not accepted: ${result.message}`,
        );
        return;
      }
      this.#o.secrets?.save(account.name, password);
      account.password = password;
      if (this.#o.restart) {
        try {
          await this.#o.restart(account.name, password);
        } catch (error) {
          throw new Error(
            `${vendor} accepted it and it is saved for the next start, but the account could not be restarted: ` +
              `${(error as Error).message}`,
            { cause: error },
          );
        }
      }
      flow.step = "done";
      flow.message = this.#o.restart
        ? `${vendor} accepted the password. It is saved in the data directory and the account reconnected with it.`
        : `${vendor} accepted the password; it is saved and used from the next start.`;
      log.info({ account: account.name }, `${account.name}: ${vendor} accepted the password from the web page`);
    } catch (error) {
      flow.step = "failed";
      flow.message = `Could not use the password: ${scrub((error as Error).message)}`;
      log.warn(
        { account: account.name, err: error },
        `${account.name}: the password from the web page could not be used`,
      );
    }
  }
}
