// The MFA log-in from the web page, for accounts whose vendor module logs in with a password and then
// a code (src/core/vendor.ts): the same flow as `npm run login -- <vendor>` (src/cli/login.ts), with
// the session saved to the account's 0600 data file where the running driver picks it up. The password
// is used once and never stored or sent back.
import type { AccountConfig } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import { scrub } from "../core/logger.ts";
import { accountStore } from "../core/storage.ts";
import { namesOf, type MfaLogin, type VendorAccount, type VendorModule } from "../core/vendor.ts";
import { vendorOf, vendors } from "../drivers/index.ts";
import type { MfaLoginView } from "./page.ts";

interface MfaAccount {
  account: VendorAccount;
  login: MfaLogin<VendorAccount>;
}

/** The names of the vendors that log in with a code, for messages ("A" or "A or B"). */
export const MFA_VENDOR_NAMES = namesOf(
  (vendors as readonly VendorModule[]).filter((v) => v.login.kind === "password+mfa"),
);

/** The accounts whose vendor logs in with a code. */
export function mfaAccounts(accounts: readonly AccountConfig[]): MfaAccount[] {
  return accounts.flatMap((account) => {
    const vendor = vendorOf(account.vendor);
    return vendor?.login.kind === "password+mfa" ? [{ account, login: vendor.login }] : [];
  });
}

interface Flow {
  step: MfaLoginView["step"];
  message?: string;
  /** The MFA prompt waiting for the user's code. */
  pending?: { resolve(code: string): void; reject(error: Error): void };
  /** Wakes whoever waits for the flow to reach its next step. */
  wake?: () => void;
  expiry?: NodeJS.Timeout;
}

/** How long a started login waits for the user's code before giving up. */
const CODE_WAIT_MS = 10 * 60_000;
/** How long a form post waits for the next step before the page shows "working". */
const STEP_WAIT_MS = 30_000;

export class MfaWebLogin {
  readonly #accounts: Map<string, MfaAccount>;
  readonly #flows = new Map<string, Flow>();
  /** Work to do after a successful log-in (an account being added starts only then). */
  readonly #loggedIn = new Map<string, () => Promise<void>>();
  readonly #dataDir: string;
  readonly #log: Logger;
  readonly #changed: (account: string) => void;

  /** `accounts`: every configured account; those of an MFA vendor get a form. */
  constructor(accounts: readonly AccountConfig[], dataDir: string, log: Logger, changed: (account: string) => void) {
    this.#accounts = new Map(mfaAccounts(accounts).map((a) => [a.account.name, a]));
    this.#dataDir = dataDir;
    this.#log = log;
    this.#changed = changed;
  }

  has(account: string): boolean {
    return this.#accounts.has(account);
  }

  /** An account of a code-login vendor added on the page. `loggedIn` runs once its log-in succeeded
   * (before the page is told), e.g. to store the account and start its driver. */
  add(account: AccountConfig, loggedIn?: () => Promise<void>): void {
    const [entry] = mfaAccounts([account]);
    if (!entry) return;
    this.#accounts.set(account.name, entry);
    if (loggedIn) this.#loggedIn.set(account.name, loggedIn);
    else this.#loggedIn.delete(account.name);
  }

  remove(name: string): void {
    this.#cancel(name);
    this.#accounts.delete(name);
    this.#loggedIn.delete(name);
  }

  views(): MfaLoginView[] {
    return [...this.#accounts.values()].map(({ account: a }) => {
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

  /** Start a login; resolves once it asks for a code, succeeds or fails (or after STEP_WAIT_MS). */
  async start(name: string, password: string): Promise<void> {
    const entry = this.#accounts.get(name);
    if (!entry) throw new Error(`no ${MFA_VENDOR_NAMES} account ${name}`);
    this.#cancel(name);
    const flow: Flow = { step: "working", message: "Logging in…" };
    this.#flows.set(name, flow);
    const stepped = this.#nextStep(flow);
    this.#log.info({ account: name }, `${name}: log-in started from the web page`);
    entry.login
      .login(
        entry.account,
        { password, store: accountStore(this.#dataDir, name) },
        (prompt) =>
          new Promise<string>((resolve, reject) => {
            if (this.#flows.get(name) !== flow) return reject(new Error("replaced by a newer log-in"));
            const where = prompt.phoneSuffix
              ? ` (sent by ${prompt.channel ?? "sms"} to the number ending ${prompt.phoneSuffix})`
              : "";
            flow.step = "code";
            flow.message =
              prompt.attempt > 1
                ? "That code was refused; enter the latest code."
                : `Enter the verification code${where}.`;
            flow.pending = { resolve, reject };
            clearTimeout(flow.expiry);
            flow.expiry = setTimeout(
              () => reject(new Error("no code was entered in time; log in again")),
              CODE_WAIT_MS,
            ).unref();
            this.#settled(name, flow);
          }),
      )
      .then(
        async (result) => {
          const how = result.mfa ? " with two-factor authentication" : "";
          const then = this.#loggedIn.get(name);
          if (then) {
            try {
              await then();
            } catch (error) {
              flow.step = "failed";
              flow.message = `Logged in, but the account could not be added: ${scrub((error as Error).message)}`;
              this.#log.warn({ account: name, err: error }, `${name}: logged in from the web page but not added`);
              return;
            }
            this.#loggedIn.delete(name);
            flow.step = "done";
            flow.message = `Logged in${how}; the account is added and its devices appear as they are found.`;
          } else {
            flow.step = "done";
            flow.message = `Logged in${how}; the bridge picks the session up within a minute.`;
          }
          this.#log.info({ account: name }, `${name}: logged in from the web page`);
        },
        (error: Error) => {
          flow.step = "failed";
          flow.message = `Log-in failed: ${scrub(error.message)}`;
          this.#log.warn({ account: name }, `${name}: web log-in failed: ${error.message}`);
        },
      )
      .finally(() => {
        clearTimeout(flow.expiry);
        flow.pending = undefined;
        this.#settled(name, flow);
      });
    await stepped;
  }

  /** Hand the user's MFA code to the waiting login; resolves at its next step. */
  async submitCode(name: string, code: string): Promise<void> {
    const flow = this.#flows.get(name);
    if (!flow?.pending || flow.step !== "code") throw new Error("no log-in is waiting for a code; start again");
    const { pending } = flow;
    flow.pending = undefined;
    flow.step = "working";
    flow.message = "Checking the code…";
    const stepped = this.#nextStep(flow);
    pending.resolve(code);
    await stepped;
  }

  stop(): void {
    for (const name of this.#flows.keys()) this.#cancel(name);
  }

  #cancel(name: string): void {
    const flow = this.#flows.get(name);
    if (!flow) return;
    this.#flows.delete(name);
    clearTimeout(flow.expiry);
    flow.pending?.reject(new Error("replaced by a newer log-in"));
    flow.wake?.();
  }

  #nextStep(flow: Flow): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STEP_WAIT_MS).unref();
      flow.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #settled(name: string, flow: Flow): void {
    const wake = flow.wake;
    flow.wake = undefined;
    wake?.();
    if (this.#flows.get(name) === flow) this.#changed(name);
  }
}
