// The page's account routes: adding and removing a page account, renaming one, a new password for a
// password account and the password-then-code log-in. The work is account-admin.ts's, account-login.ts's
// and mfa-login.ts's; this module reads the forms and turns their refusals into answers.
import { vendors } from "../drivers/index.ts";
import type { AccountAdmin } from "./account-admin.ts";
import { PASSWORD_VENDOR_NAMES, type PasswordWebLogin } from "./account-login.ts";
import {
  decodeAccount,
  field,
  HttpError,
  json,
  readForm,
  readJsonBody,
  redirect,
  type RequestContext,
} from "./http.ts";
import { MFA_VENDOR_NAMES, type MfaWebLogin } from "./mfa-login.ts";
import type { MfaLoginView, PageData } from "./page.ts";
import type { WebSources } from "./status.ts";

const REMOVE = /^\/accounts\/([^/]+)\/remove$/;
const RENAME = /^\/api\/accounts\/([^/]+)\/rename$/;
const PASSWORD = /^\/accounts\/([^/]+)\/password$/;
const LOGIN = /^\/accounts\/([^/]+)\/login(\/code)?$/;

export interface AccountRouteOptions {
  /** Absent: accounts cannot be added, removed or renamed on this page. */
  admin: AccountAdmin | undefined;
  passwords: PasswordWebLogin;
  mfa: MfaWebLogin;
  /** Tells the open pages an account's log-in changed. */
  broadcast: (event: string, data: unknown) => void;
}

export class AccountRoutes {
  readonly #admin: AccountAdmin | undefined;
  readonly #passwords: PasswordWebLogin;
  readonly #mfa: MfaWebLogin;
  readonly #broadcast: (event: string, data: unknown) => void;

  constructor(options: AccountRouteOptions) {
    this.#admin = options.admin;
    this.#passwords = options.passwords;
    this.#mfa = options.mfa;
    this.#broadcast = options.broadcast;
  }

  /** The account routes; undefined for any other path. */
  readonly route = (ctx: RequestContext): Promise<void> | undefined => {
    const { path } = ctx;
    if (path === "/accounts") return this.#add(ctx);
    const remove = REMOVE.exec(path);
    if (remove) return this.#remove(ctx, remove[1]!);
    const rename = RENAME.exec(path);
    if (rename) return this.#rename(ctx, rename[1]!);
    const password = PASSWORD.exec(path);
    if (password) return this.#password(ctx, password[1]!);
    const login = LOGIN.exec(path);
    if (login) return this.#login(ctx, login[1]!, login[2]);
    return undefined;
  };

  /** The page's "add an account" form and which accounts it may remove. */
  adminView(accounts: WebSources["accounts"]): PageData["admin"] {
    const admin = this.#admin;
    if (!admin) return undefined;
    const pageAccounts = new Set(accounts.map((a) => a.name).filter((n) => admin.isPageAccount(n)));
    return { vendors: admin.vendors(), notice: admin.notice, pageAccounts };
  }

  /** /api/status lists the code log-ins under each such vendor's id, one list per vendor (empty too). */
  mfaByVendor(): Record<string, MfaLoginView[]> {
    const views = this.#mfa.views();
    const ids = vendors.filter((v) => v.login.kind === "password+mfa").map((v) => v.id);
    return Object.fromEntries(ids.map((id) => [id, views.filter((v) => v.vendor === id)]));
  }

  async #add({ req, res, post }: RequestContext): Promise<void> {
    if (!post) throw new HttpError(405, "POST only");
    if (!this.#admin) throw new HttpError(404, "accounts cannot be added on this page");
    const form = await readForm(req);
    const optional = (key: string) => form.get(key) ?? undefined;
    await this.#admin.add({
      vendor: field(form, "vendor", 64),
      name: optional("name")?.slice(0, 200),
      email: field(form, "email", 320),
      password: field(form, "password"),
      settings: form.get("settings")?.slice(0, 4000) ?? undefined,
    });
    this.#broadcast("login", { account: "" });
    return redirect(res, "/");
  }

  async #remove({ res, post }: RequestContext, segment: string): Promise<void> {
    if (!post) throw new HttpError(405, "POST only");
    if (!this.#admin) throw new HttpError(404, "accounts cannot be removed on this page");
    const account = decodeAccount(segment);
    try {
      await this.#admin.remove(account);
    } catch (error) {
      throw new HttpError(409, (error as Error).message);
    }
    this.#broadcast("login", { account });
    return redirect(res, "/");
  }

  async #rename({ req, res, post }: RequestContext, segment: string): Promise<void> {
    if (!post) throw new HttpError(405, "POST only");
    if (!this.#admin) throw new HttpError(404, "accounts cannot be renamed on this page");
    const from = decodeAccount(segment);
    const notice = await this.#admin.rename(from, await readJsonBody(req));
    this.#broadcast("login", { account: from });
    return json(res, 200, { ok: true, message: notice.message });
  }

  async #password({ req, res, post }: RequestContext, segment: string): Promise<void> {
    if (!post) throw new HttpError(405, "POST only");
    const account = decodeAccount(segment);
    if (!this.#passwords.has(account)) throw new HttpError(404, `no such ${PASSWORD_VENDOR_NAMES} account`);
    const form = await readForm(req);
    try {
      await this.#passwords.submit(account, field(form, "password"));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(409, (error as Error).message);
    }
    return redirect(res, "/");
  }

  async #login({ req, res, post }: RequestContext, segment: string, code: string | undefined): Promise<void> {
    if (!post) throw new HttpError(405, "POST only");
    const account = decodeAccount(segment);
    if (!this.#mfa.has(account)) throw new HttpError(404, `no such ${MFA_VENDOR_NAMES} account`);
    const form = await readForm(req);
    try {
      if (code) await this.#mfa.submitCode(account, field(form, "code", 12));
      else await this.#mfa.start(account, field(form, "password"));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(409, (error as Error).message);
    }
    return redirect(res, "/");
  }
}
