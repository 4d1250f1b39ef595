// The page's own password: /login, the first-password /setup with its one-time token, /logout, and the
// log line that hands out the setup link. The sessions and the limiter are auth.ts's.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { WebConfig } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "../core/password.ts";
import { lanHost } from "../cli/first-run.ts";
import { SetupRefused, WebAuth, sessionToken } from "./auth.ts";
import type { ProxyTrust } from "./client-address.ts";
import { HttpError, html, isHttps, readForm, redirect, type RequestContext } from "./http.ts";
import { renderLogin, renderSetup } from "./page.ts";

/** What a setup token in a link may look like (auth.ts makes 32 characters). */
const TOKEN_PARAM = /^[A-Za-z0-9_-]{1,64}$/;

export interface AuthRouteOptions {
  auth: WebAuth;
  proxy: ProxyTrust;
  log: Logger;
  title: string;
  config: Pick<WebConfig, "host"> & Partial<Pick<WebConfig, "publicOrigin">>;
  /** Logging out ends the session's open event streams. */
  endStreams: (session: string | undefined) => void;
}

export class AuthRoutes {
  readonly #o: AuthRouteOptions;
  readonly #auth: WebAuth;
  readonly #log: Logger;
  readonly #title: string;

  constructor(options: AuthRouteOptions) {
    this.#o = options;
    this.#auth = options.auth;
    this.#log = options.log;
    this.#title = options.title;
  }

  authorized(req: IncomingMessage): boolean {
    return !this.#auth.required || this.#auth.valid(sessionToken(req.headers.cookie));
  }

  /** The scheme the browser used (http.ts); the session cookie is then Secure. */
  https(req: IncomingMessage): boolean {
    return isHttps(req, this.#o.proxy, this.#o.config.publicOrigin);
  }

  /** /login, /setup and /logout; undefined for any other path. */
  readonly route = (ctx: RequestContext): Promise<void> | undefined => {
    if (ctx.path === "/login") return this.#loginPath(ctx);
    if (ctx.path === "/setup") return this.#setupPath(ctx);
    if (ctx.path === "/logout") return this.#logout(ctx);
    return undefined;
  };

  async #loginPath({ req, res, get, post }: RequestContext): Promise<void> {
    if (get) {
      if (this.#auth.needsSetup) return redirect(res, "/setup");
      if (this.authorized(req)) return redirect(res, "/");
      return html(res, 200, renderLogin(this.#title));
    }
    if (post) return this.#login(req, res);
    throw new HttpError(405, "GET or POST");
  }

  async #setupPath({ req, res, url, get, post }: RequestContext): Promise<void> {
    if (!get) {
      if (post) return this.#setup(req, res);
      throw new HttpError(405, "GET or POST");
    }
    if (!this.#auth.needsSetup) return redirect(res, "/");
    const token = url.searchParams.get("token") ?? "";
    const form = { token: TOKEN_PARAM.test(token) ? token : undefined };
    return html(res, 200, renderSetup(this.#title, MIN_PASSWORD_LENGTH, form));
  }

  async #logout({ req, res, post }: RequestContext): Promise<void> {
    if (!post) throw new HttpError(405, "POST only");
    const session = sessionToken(req.headers.cookie);
    this.#auth.endSession(session);
    this.#o.endStreams(session);
    return redirect(res, "/login", { "Set-Cookie": WebAuth.clearCookie(this.https(req)) });
  }

  /** No password yet: the link with the one-time setup token goes to the log (the one place it is
   * written; `npm run pairing` reads it from web.json). It is not given to the log scrubber, or this
   * line would lose it; request paths are logged without their query, so the link shows nowhere else. */
  announceSetup(port: number | undefined): void {
    let token: string | undefined;
    try {
      token = this.#auth.setupToken();
    } catch (error) {
      const why = "the web page has no password yet, and no setup token could be stored: set web.password";
      this.#log.error({ err: error }, why);
      return;
    }
    if (!token) return;
    const { host, publicOrigin } = this.#o.config;
    const name = host === "0.0.0.0" || host === "::" ? lanHost() : host;
    const origin = publicOrigin ?? `http://${name.includes(":") ? `[${name}]` : name}:${port}`;
    const url = `${origin}/setup?token=${token}`;
    const how = "(a one-time link; npm run pairing shows it too; or set web.password)";
    this.#log.warn({ event: "web-setup", url }, `the web page has no password yet: choose it at ${url} ${how}`);
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = this.#o.proxy.client(req);
    const wait = this.#auth.limiter.retryAfterMs(client);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      return html(res, 429, renderLogin(this.#title, `Too many attempts; try again in ${seconds} s.`), {
        "Retry-After": String(seconds),
      });
    }
    // Counted as a failure at once, before any await: parallel attempts must not all pass the limit.
    this.#auth.limiter.failed(client);
    const form = await readForm(req);
    const password = form.get("password") ?? "";
    if (password && password.length <= MAX_PASSWORD_LENGTH && (await this.#auth.check(password))) {
      this.#auth.limiter.succeeded(client);
      return redirect(res, "/", { "Set-Cookie": this.#auth.cookie(this.#auth.newSession(), this.https(req)) });
    }
    this.#log.warn({ client }, "web page: wrong password");
    return html(res, 401, renderLogin(this.#title, "Wrong password."));
  }

  /** The first password, with the setup token from the log. A wrong token counts against the same
   * per-client limit as wrong passwords (it cannot be guessed, but it should not fill the log either). */
  async #setup(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#auth.needsSetup) throw new HttpError(409, "a password is already set");
    const client = this.#o.proxy.client(req);
    const wait = this.#auth.limiter.retryAfterMs(client);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      const message = `Too many attempts; try again in ${seconds} s.`;
      const page = renderSetup(this.#title, MIN_PASSWORD_LENGTH, { message });
      return html(res, 429, page, { "Retry-After": String(seconds) });
    }
    const form = await readForm(req);
    const token = form.get("token") ?? "";
    if (!this.#auth.checkSetupToken(token)) return this.#wrongSetupToken(res, client);
    const password = form.get("password") ?? "";
    const problem =
      password.length < MIN_PASSWORD_LENGTH
        ? `The password needs at least ${MIN_PASSWORD_LENGTH} characters.`
        : password.length > MAX_PASSWORD_LENGTH
          ? "The password is too long."
          : password !== form.get("confirm")
            ? "The two passwords differ."
            : undefined;
    if (problem) return html(res, 400, renderSetup(this.#title, MIN_PASSWORD_LENGTH, { token, message: problem }));
    try {
      await this.#auth.setPassword(password, token);
    } catch (error) {
      if (error instanceof SetupRefused && error.reason === "wrong-token") return this.#wrongSetupToken(res, client);
      throw new HttpError(409, (error as Error).message);
    }
    this.#auth.limiter.succeeded(client);
    this.#log.info({ client }, `web page: password set from ${client}; the setup token is used up`);
    return redirect(res, "/", { "Set-Cookie": this.#auth.cookie(this.#auth.newSession(), this.https(req)) });
  }

  #wrongSetupToken(res: ServerResponse, client: string): void {
    this.#auth.limiter.failed(client);
    this.#log.warn({ client }, "web page: wrong setup token");
    const message = "That setup token is wrong: use the link from the bridge's log or npm run pairing.";
    return html(res, 403, renderSetup(this.#title, MIN_PASSWORD_LENGTH, { message }));
  }
}
