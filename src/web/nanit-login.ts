// The Nanit log-in from the web page: the same flow as `npm run login -- nanit` (src/cli/login.ts),
// e-mail + password, then the MFA code, with the session saved to the account's 0600 data file where
// the running driver picks it up. The password is used once and never stored or sent back.
import type { Logger } from "../core/logger.ts";
import { scrub } from "../core/logger.ts";
import { accountStore } from "../core/storage.ts";
import { loginWithMfa } from "../drivers/nanit/index.ts";
import type { NanitLoginView } from "./page.ts";

export interface NanitAccount {
  name: string;
  email: string;
  api?: string | undefined;
}

interface Flow {
  step: NanitLoginView["step"];
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

export class NanitWebLogin {
  readonly #accounts: Map<string, NanitAccount>;
  readonly #flows = new Map<string, Flow>();
  readonly #dataDir: string;
  readonly #log: Logger;
  readonly #changed: (account: string) => void;

  constructor(accounts: NanitAccount[], dataDir: string, log: Logger, changed: (account: string) => void) {
    this.#accounts = new Map(accounts.map((a) => [a.name, a]));
    this.#dataDir = dataDir;
    this.#log = log;
    this.#changed = changed;
  }

  has(account: string): boolean {
    return this.#accounts.has(account);
  }

  views(): NanitLoginView[] {
    return [...this.#accounts.values()].map((a) => {
      const flow = this.#flows.get(a.name);
      return { account: a.name, email: a.email, step: flow?.step ?? "idle", ...(flow?.message ? { message: flow.message } : {}) };
    });
  }

  /** Start a login; resolves once it asks for a code, succeeds or fails (or after STEP_WAIT_MS). */
  async start(name: string, password: string): Promise<void> {
    const account = this.#accounts.get(name);
    if (!account) throw new Error(`no Nanit account ${name}`);
    this.#cancel(name);
    const flow: Flow = { step: "working", message: "Logging in…" };
    this.#flows.set(name, flow);
    const stepped = this.#nextStep(flow);
    this.#log.info({ account: name }, `${name}: log-in started from the web page`);
    loginWithMfa({ email: account.email, password, endpoints: { api: account.api }, store: accountStore(this.#dataDir, name) }, (prompt) =>
      new Promise<string>((resolve, reject) => {
        if (this.#flows.get(name) !== flow) return reject(new Error("replaced by a newer log-in"));
        const where = prompt.phoneSuffix ? ` (sent by ${prompt.channel ?? "sms"} to the number ending ${prompt.phoneSuffix})` : "";
        flow.step = "code";
        flow.message = prompt.attempt > 1 ? "That code was refused; enter the latest code." : `Enter the verification code${where}.`;
        flow.pending = { resolve, reject };
        clearTimeout(flow.expiry);
        flow.expiry = setTimeout(() => reject(new Error("no code was entered in time; log in again")), CODE_WAIT_MS).unref();
        this.#settled(name, flow);
      }),
    ).then(
      (result) => {
        flow.step = "done";
        flow.message = `Logged in${result.mfa ? " with two-factor authentication" : ""}; the bridge picks the session up within a minute.`;
        this.#log.info({ account: name }, `${name}: logged in from the web page`);
      },
      (error: Error) => {
        flow.step = "failed";
        flow.message = `Log-in failed: ${scrub(error.message)}`;
        this.#log.warn({ account: name }, `${name}: web log-in failed: ${error.message}`);
      },
    ).finally(() => {
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
