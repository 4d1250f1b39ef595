// The appliance's web page, /health and /metrics on one node:http server. No framework: there are a
// dozen routes, one form encoding and one event stream (Server-Sent Events, which a plain response
// carries), so a router or template engine would add more surface than it saves; and everything here
// must never be able to take the bridge down, which is easiest to see when every byte is handled here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import type { AccountConfig, WebConfig } from "../core/config.ts";
import type { AccountSecrets } from "../core/account-secrets.ts";
import type { Logger } from "../core/logger.ts";
import { WebAuth, sessionToken } from "./auth.ts";
import { forwarded, isLoopbackAddress, ProxyTrust } from "./client-address.ts";
import { HostCheck } from "./host-check.ts";
import { rateLimitedLog } from "../core/rate-limited-log.ts";
import { LogRing } from "./log-ring.ts";
import { BridgeMetrics } from "./metrics.ts";
import { MfaWebLogin } from "./mfa-login.ts";
import { PasswordWebLogin } from "./account-login.ts";
import { renderPage } from "./page.ts";
import { bundleFileName, DiagnosticsService, type DiagnosticsOptions } from "./diagnostics.ts";
import { health } from "./status.ts";
import type { WebSources } from "./status.ts";
import { AccountAdmin, type AccountRuntime } from "./account-admin.ts";
import type { PageAccounts } from "../core/page-accounts.ts";
import { PairingsApi } from "./pairings-api.ts";
import { RequestError } from "./request-error.ts";
import { LogLevelControl } from "./logs-api.ts";
import type { WhepBackend } from "./whep.ts";
import { appPath } from "../core/app-root.ts";
import {
  checkSameOrigin,
  html,
  HttpError,
  json,
  redirect,
  type RequestContext,
  type Route,
  securityHeaders,
  send,
} from "./http.ts";
import { LiveUpdates, PAGE_LOG_LINES } from "./live-updates.ts";
import { AuthRoutes } from "./routes-auth.ts";
import { AccountRoutes } from "./routes-accounts.ts";
import { cameraRoutes } from "./routes-camera.ts";
import { deviceRoutes } from "./routes-devices.ts";
import { logRoutes } from "./routes-logs.ts";
import { pairingRoutes } from "./routes-pairing.ts";

export interface WebServerOptions {
  sources: WebSources;
  log: Logger;
  dataDir: string;
  config: Pick<WebConfig, "port" | "host" | "passwordHash"> & Partial<WebGuards>;
  /** The logger's recent lines (createLogger's tap); an empty ring when absent. */
  logs?: LogRing;
  /** Configured accounts: each gets its vendor's log-in form (password, or password and a code). */
  loginAccounts?: AccountConfig[];
  /** Where a password accepted on the page is kept (config loader's store). */
  secrets?: AccountSecrets | undefined;
  /** Restart an account's driver with a password accepted on the page. */
  restartAccount?: ((account: string, password: string) => Promise<void>) | undefined;
  /** Start and stop one account's driver (main.ts); without it accounts cannot be added on the page. */
  accountRuntime?: AccountRuntime | undefined;
  /** Where accounts added on the page are kept. */
  pageAccounts?: PageAccounts | undefined;
  /** Names of the accounts in the config file (the page does not remove those). */
  configAccountNames?: ReadonlySet<string> | undefined;
  title?: string;
  /** Session lifetime (tests shorten it; a week by default). */
  sessionTtlMs?: number;
  /** GET /api/diagnostics (diagnostics.ts): the config and ffmpeg path for the bundle. */
  diagnostics?: Pick<DiagnosticsOptions, "config" | "ffmpeg" | "links">;
  /** The cameras' WebRTC live views (whep.ts); absent: no cameras. */
  whep?: WhepBackend | undefined;
}

type WebGuards = Pick<WebConfig, "allowedHosts" | "publicOrigin" | "trustedProxies" | "healthAccess" | "metricsAccess">;
type Access = WebConfig["healthAccess"];

const STATIC: Record<string, { file: string; type: string }> = {
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
  "/theme.js": { file: "theme.js", type: "text/javascript; charset=utf-8" },
  // app.js's parts (ES modules it imports).
  "/ui.js": { file: "ui.js", type: "text/javascript; charset=utf-8" },
  "/logs.js": { file: "logs.js", type: "text/javascript; charset=utf-8" },
  "/pairings.js": { file: "pairings.js", type: "text/javascript; charset=utf-8" },
  "/accounts.js": { file: "accounts.js", type: "text/javascript; charset=utf-8" },
  "/tiles.js": { file: "tiles.js", type: "text/javascript; charset=utf-8" },
  "/live.js": { file: "live.js", type: "text/javascript; charset=utf-8" },
  "/live.css": { file: "live.css", type: "text/css; charset=utf-8" },
};

export class WebServer {
  readonly #o: WebServerOptions;
  readonly #log: Logger;
  readonly #auth: WebAuth;
  readonly #metrics: BridgeMetrics;
  readonly #logs: LogRing;
  readonly #mfa: MfaWebLogin;
  readonly #passwords: PasswordWebLogin;
  readonly #server: Server;
  readonly #live: LiveUpdates;
  readonly #hosts: HostCheck;
  readonly #proxy: ProxyTrust;
  readonly #title: string;
  readonly #diagnostics: DiagnosticsService | undefined;
  readonly #logLevel: LogLevelControl;
  readonly #authRoutes: AuthRoutes;
  readonly #accountRoutes: AccountRoutes;
  /** The routes behind the session check, each answering only its own paths. */
  readonly #routes: Route[];
  #port: number | undefined;

  constructor(options: WebServerOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#title = options.title ?? "Hearthbridge";
    const { config } = options;
    this.#auth = new WebAuth({
      dataDir: options.dataDir,
      host: config.host,
      passwordHash: config.passwordHash,
      ...(options.sessionTtlMs ? { sessionTtlMs: options.sessionTtlMs } : {}),
    });
    const publicOrigin = config.publicOrigin ? { publicOrigin: config.publicOrigin } : {};
    this.#hosts = new HostCheck({ allowedHosts: config.allowedHosts ?? [], ...publicOrigin });
    this.#proxy = new ProxyTrust(config.trustedProxies ?? []);
    this.#metrics = new BridgeMetrics(options.sources);
    const pairings = new PairingsApi(options.sources, options.log);
    this.#logLevel = new LogLevelControl(options.log);
    this.#logs = options.logs ?? new LogRing();
    const { sources, dataDir } = options;
    this.#live = new LiveUpdates({ sources, log: options.log, logs: this.#logs, links: options.diagnostics?.links });
    const diagnostics = { ...options.diagnostics, sources, dataDir, logs: () => this.#logs.recent(PAGE_LOG_LINES) };
    this.#diagnostics = options.diagnostics ? new DiagnosticsService(diagnostics) : undefined;
    this.#mfa = new MfaWebLogin(options.loginAccounts ?? [], options.dataDir, options.log, (account) =>
      this.#live.broadcast("login", { account }),
    );
    const pageAccounts = options.pageAccounts;
    // A page account's new password goes back to its own entry; a config account's to account-secrets.
    const secrets = pageAccounts
      ? {
          save: (name: string, password: string) =>
            void (pageAccounts.setPassword(name, password) || options.secrets?.save(name, password)),
        }
      : options.secrets;
    this.#passwords = new PasswordWebLogin({
      accounts: options.loginAccounts ?? [],
      log: options.log,
      secrets,
      restart: options.restartAccount,
      changed: (account) => this.#live.broadcast("login", { account }),
    });
    const admin =
      options.accountRuntime && pageAccounts
        ? new AccountAdmin({
            runtime: options.accountRuntime,
            store: pageAccounts,
            configNames: options.configAccountNames ?? new Set(),
            accounts: () => options.sources.accounts,
            passwords: this.#passwords,
            mfa: this.#mfa,
            dataDir: options.dataDir,
            log: options.log,
          })
        : undefined;
    const client = (req: IncomingMessage) => this.#proxy.client(req);
    this.#authRoutes = new AuthRoutes({
      auth: this.#auth,
      proxy: this.#proxy,
      log: options.log,
      title: this.#title,
      config,
      endStreams: (session) => this.#live.endSession(session),
    });
    const broadcast = (event: string, data: unknown) => this.#live.broadcast(event, data);
    this.#accountRoutes = new AccountRoutes({ admin, passwords: this.#passwords, mfa: this.#mfa, broadcast });
    this.#routes = [
      cameraRoutes({ sources, whep: options.whep, client, sameOrigin: (req) => this.#sameOrigin(req) }),
      pairingRoutes({ pairings, client, pushPairing: () => this.#live.pushPairing() }),
      logRoutes({ logLevel: this.#logLevel, logs: this.#logs, client }),
      deviceRoutes({ sources, log: options.log, reach: this.#live.reach, client }),
      this.#accountRoutes.route,
    ];
    this.#server = createServer((req, res) => {
      securityHeaders(res);
      // Before anything else, on every path: a foreign Host is a DNS-rebinding page in someone's browser.
      if (!this.#hosts.allows(req.headers.host)) return this.#refuseHost(req, res);
      this.#handle(req, res).catch((error: unknown) => {
        const status = error instanceof HttpError || error instanceof RequestError ? error.status : 500;
        // The path only: a query may hold the setup token, which belongs in the one log line made for it.
        const path = (req.url ?? "").split("?")[0]!.slice(0, 200);
        if (status === 500) this.#log.warn({ err: error, path }, "web request failed");
        if (res.headersSent) res.destroy();
        else json(res, status, { error: status === 500 ? "internal error" : (error as Error).message });
      });
    });
    this.#server.requestTimeout = 15_000;
    this.#server.headersTimeout = 10_000;
    this.#server.maxHeadersCount = 100;
    // A malformed request (bad request line, oversized headers) gets a 400 from node and never reaches us.
    this.#server.on("clientError", (_error, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      else socket.destroy();
    });
  }

  get port(): number | undefined {
    return this.#port;
  }

  /** Listen on config.host:config.port; rejects (port taken, bad host) without side effects. */
  async start(): Promise<number> {
    const { host, port } = this.#o.config;
    this.#server.listen(port, host);
    try {
      await Promise.race([
        once(this.#server, "listening"),
        once(this.#server, "error").then(([error]) => Promise.reject(error as Error)),
      ]);
    } catch (error) {
      this.#metrics.close();
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(
        `the web page cannot listen on ${host}:${port} (${code ?? (error as Error).message}); ` +
          "set web.port / web.host, or web.enabled: false",
      );
    }
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#diagnostics?.listening(this.#port);
    this.#live.start();
    const open = !this.#auth.required;
    this.#log.info(
      { event: "web", port: this.#port, host },
      `web page on http://${host.includes(":") ? `[${host}]` : host}:${this.#port}/` +
        (open ? " (no password: loopback only)" : ""),
    );
    this.#authRoutes.announceSetup(this.#port);
    return this.#port;
  }

  async stop(): Promise<void> {
    this.#live.stop();
    this.#diagnostics?.stop();
    this.#mfa.stop();
    this.#live.closeAll();
    this.#metrics.close();
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #authorized(req: IncomingMessage): boolean {
    return this.#authRoutes.authorized(req);
  }

  #refuseHost(req: IncomingMessage, res: ServerResponse): void {
    const host = String(req.headers.host ?? "(none)")
      .replace(/[^\x21-\x7e]/g, "?")
      .slice(0, 100);
    const msg =
      "web page: refused a request for a host name that is not this bridge's (a DNS-rebinding page?); " +
      "if the name is yours, add it to web.allowedHosts";
    rateLimitedLog(this.#log).warn("host-not-allowed", msg, { client: this.#proxy.client(req), host });
    const text = "This host name is not allowed; add it to web.allowedHosts in the bridge's config.\n";
    send(res, 403, text, "text/plain; charset=utf-8", { Connection: "close" });
  }

  /** The cross-site guard (http.ts) with this server's proxy trust and public origin. */
  #sameOrigin(req: IncomingMessage): void {
    checkSameOrigin(req, this.#proxy, this.#o.config.publicOrigin);
  }

  /** web.healthAccess / web.metricsAccess. */
  #checkAccess(access: Access | undefined, req: IncomingMessage, key: string): void {
    if (access === "loopback" && !(isLoopbackAddress(req.socket.remoteAddress) && !forwarded(req))) {
      throw new HttpError(403, `answered on this machine only (web.${key}: loopback)`);
    }
    if (access === "login" && !this.#authorized(req)) throw new HttpError(401, `log in first (web.${key}: login)`);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://bridge");
    } catch {
      throw new HttpError(400, "bad request path");
    }
    const path = url.pathname;
    const method = req.method ?? "GET";
    const get = method === "GET" || method === "HEAD";
    const post = method === "POST";
    if (post) this.#sameOrigin(req);
    const ctx: RequestContext = { req, res, url, path, method, get, post };

    if (path === "/health") {
      if (!get) throw new HttpError(405, "GET only");
      this.#checkAccess(this.#o.config.healthAccess, req, "healthAccess");
      return json(res, 200, health(this.#o.sources));
    }
    if (path === "/metrics") {
      if (!get) throw new HttpError(405, "GET only");
      this.#checkAccess(this.#o.config.metricsAccess, req, "metricsAccess");
      return send(res, 200, await this.#metrics.render(), this.#metrics.contentType);
    }
    if (path === "/favicon.ico") {
      res.writeHead(204);
      return void res.end();
    }
    const asset = STATIC[path];
    if (asset) {
      if (!get) throw new HttpError(405, "GET only");
      return send(res, 200, readFileSync(appPath("src", "web", "static", asset.file), "utf8"), asset.type);
    }
    const own = this.#authRoutes.route(ctx);
    if (own) return own;

    if (path === "/api/diagnostics" && this.#diagnostics) {
      if (!get) throw new HttpError(405, "GET only");
      // A session, or the CLI's key from <data>/diagnostics-access.json (npm run doctor -- --bundle).
      if (!this.#authorized(req) && !this.#diagnostics.allows(req)) return json(res, 401, { error: "log in first" });
      const disposition = `attachment; filename="${bundleFileName()}"`;
      const type = "application/json; charset=utf-8";
      return send(res, 200, await this.#diagnostics.bundle(), type, { "Content-Disposition": disposition });
    }

    // Everything below needs a session (when a password is in use).
    if (!this.#authorized(req)) {
      if (path === "/" && get) return redirect(res, this.#auth.needsSetup ? "/setup" : "/login");
      return json(res, 401, { error: "log in first" });
    }
    if (path === "/") {
      if (!get) throw new HttpError(405, "GET only");
      return html(
        res,
        200,
        await renderPage({
          title: this.#title,
          ...this.#live.snapshot(),
          mfa: this.#mfa.views(),
          logins: this.#passwords.views(),
          canLogOut: this.#auth.required,
          admin: this.#accountRoutes.adminView(this.#o.sources.accounts),
          logLevel: this.#logLevel.view().level,
        }),
      );
    }
    if (path === "/events") {
      if (!get) throw new HttpError(405, "GET only");
      return await this.#events(req, res);
    }
    if (path === "/api/session") return json(res, 200, { ok: true });
    if (path === "/api/status") {
      const status = { ...this.#live.snapshot(), ...this.#accountRoutes.mfaByVendor() };
      return json(res, 200, { ...status, logins: this.#passwords.views() });
    }
    for (const route of this.#routes) {
      const answer = route(ctx);
      if (answer) return answer;
    }
    throw new HttpError(404, "not found");
  }

  async #events(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#live.full) throw new HttpError(503, "too many open pages");
    // Tied to the session: logging out or its expiry ends the stream.
    return this.#live.events(res, () => {
      const session = this.#auth.required ? sessionToken(req.headers.cookie) : undefined;
      return { session, expiresAt: this.#auth.expiresAt(session), client: this.#proxy.client(req) };
    });
  }
}
