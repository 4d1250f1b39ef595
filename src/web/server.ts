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
import type { LinkState } from "../core/driver.ts";
import type { DeviceEntry } from "../core/registry.ts";
import { SetupRefused, WebAuth, sessionToken } from "./auth.ts";
import { forwarded, isLoopbackAddress, ProxyTrust } from "./client-address.ts";
import { EventStreams } from "./event-streams.ts";
import { HostCheck } from "./host-check.ts";
import { rateLimitedLog } from "../core/rate-limited-log.ts";
import { lanHost } from "../cli/first-run.ts";
import { LogRing, type LogEntry } from "./log-ring.ts";
import { BridgeMetrics } from "./metrics.ts";
import { MFA_VENDOR_NAMES, MfaWebLogin } from "./mfa-login.ts";
import { PASSWORD_VENDOR_NAMES, PasswordWebLogin } from "./account-login.ts";
import {
  cameraEvent,
  matterCameraEvent,
  pairingText,
  renderLogin,
  renderPage,
  renderSetup,
  type MfaLoginView,
  type PageData,
} from "./page.ts";
import { vendors } from "../drivers/index.ts";
import { bundleFileName, DiagnosticsService, type DiagnosticsOptions } from "./diagnostics.ts";
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "../core/password.ts";
import {
  accountViews,
  cameraViews,
  deviceView,
  deviceViews,
  health,
  matterCameraViews,
  pairingView,
  streamStates,
} from "./status.ts";
import type { Reachability, WebSources } from "./status.ts";
import { BadCommand, parseCommand } from "./device-commands.ts";
import { AccountAdmin, type AccountRuntime } from "./account-admin.ts";
import type { PageAccounts } from "../core/page-accounts.ts";
import { CommandError } from "../core/registry.ts";
import { scrub } from "../core/logger.ts";
import { PAIRING_ACTION, PairingsApi } from "./pairings-api.ts";
import { RequestError } from "./request-error.ts";
import { logDownload, LogLevelControl } from "./logs-api.ts";
import { cameraSnapshot, SNAPSHOT_PATH } from "./snapshots.ts";
import { handleWhep, type WhepBackend } from "./whep.ts";

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
const MAX_BODY = 8 * 1024;
/** The page and the diagnostics bundle show this many recent log lines; the download has all the ring holds. */
const PAGE_LOG_LINES = 200;
const KEEPALIVE_MS = 25_000;
const PAIRING_POLL_MS = 5_000;
/** The stream hubs emit nothing: their state (watching, pushing, last error) is looked at this often. */
const STREAM_POLL_MS = 1_000;
const MAX_EVENT_CLIENTS = 50;
/** A page that stops reading its event stream is dropped past this much unsent data. */
const MAX_EVENT_BUFFER = 1024 * 1024;
/** What a setup token in a link may look like (auth.ts makes 32 characters). */
const TOKEN_PARAM = /^[A-Za-z0-9_-]{1,64}$/;

const CAMERA_EVENTS = ["camera-listening", "camera-paired", "camera-unpaired"] as const;

class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function securityHeaders(res: ServerResponse): void {
  res.setHeader(
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  res.setHeader("X-Content-Type-Options", "nosniff");
  // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own form posts.
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Cache-Control", "no-store");
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
  send(res, status, JSON.stringify(value), "application/json; charset=utf-8", headers);
const html = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
  send(res, status, body, "text/html; charset=utf-8", headers);
const redirect = (res: ServerResponse, to: string, headers: Record<string, string> = {}) => {
  res.writeHead(303, { Location: to, "Content-Length": 0, ...headers });
  res.end();
};

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(req, "application/x-www-form-urlencoded", "the form"));
}

/** A JSON body. Only our page's script sends one: a cross-site page cannot send application/json
 * without a CORS preflight, which this server never grants (the CSRF guard besides the Origin check). */
async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req, "application/json", "the request");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "the body is not JSON");
  }
}

async function readBody(req: IncomingMessage, expected: string, what: string): Promise<string> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== expected) throw new HttpError(415, `send ${what} as ${expected}`);
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, "request body too large");
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw new HttpError(413, "request body too large");
      chunks.push(chunk);
    }
  } catch (error) {
    // The client went away mid-body ("aborted"): its fault, not ours, and nobody is left to answer.
    throw error instanceof HttpError ? error : new HttpError(400, "the request body did not arrive");
  }
  return Buffer.concat(chunks).toString("utf8");
}

function decodeSegment(segment: string, what = "account name"): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `bad ${what}`);
  }
}
const decodeAccount = (segment: string) => decodeSegment(segment);

function field(form: URLSearchParams, name: string, max = MAX_PASSWORD_LENGTH): string {
  const value = form.get(name);
  if (value === null || value === "") throw new HttpError(400, `missing field "${name}"`);
  if (value.length > max) throw new HttpError(400, `field "${name}" is too long`);
  return value;
}

export class WebServer {
  readonly #o: WebServerOptions;
  readonly #log: Logger;
  readonly #auth: WebAuth;
  readonly #metrics: BridgeMetrics;
  readonly #logs: LogRing;
  readonly #mfa: MfaWebLogin;
  readonly #passwords: PasswordWebLogin;
  readonly #admin: AccountAdmin | undefined;
  readonly #server: Server;
  readonly #streams: EventStreams;
  readonly #hosts: HostCheck;
  readonly #proxy: ProxyTrust;
  readonly #title: string;
  readonly #diagnostics: DiagnosticsService | undefined;
  readonly #pairings: PairingsApi;
  readonly #logLevel: LogLevelControl;
  #timers: NodeJS.Timeout[] = [];
  #lastPairing = "";
  /** What the pages were last told per camera: its pairing card, its stream line. */
  readonly #lastCamera = new Map<string, string>();
  readonly #lastStream = new Map<string, string>();
  #cameraPush: Promise<void> = Promise.resolve();
  #port: number | undefined;

  /** When each device was seen going unreachable (for "unreachable since" on the page). */
  readonly #downSince = new Map<string, number>();
  /** When each account's link last changed (seeded at start from the diagnostics' link history). */
  readonly #linkSince = new Map<string, number>();
  readonly #reach: Reachability = {
    link: (account) => this.#o.sources.registry.linkState(account),
    downSince: (id) => this.#downSince.get(id),
    linkSince: (account) => this.#linkSince.get(account),
  };

  readonly #onAvailability = (entry: DeviceEntry): void => {
    if (entry.available) this.#downSince.delete(entry.info.id);
    else if (!this.#downSince.has(entry.info.id)) this.#downSince.set(entry.info.id, Date.now());
    this.#onDevice(entry);
  };
  readonly #onDevice = (entry: DeviceEntry): void => {
    const view = deviceView(entry, streamStates(this.#o.sources), this.#reach);
    if (view.stream) this.#lastStream.set(view.id, view.stream.text);
    this.#broadcast("device", view);
  };
  readonly #onRenamed = (from: string, to: string): void => {
    const since = this.#linkSince.get(from);
    this.#linkSince.delete(from);
    if (since !== undefined) this.#linkSince.set(to, since);
  };
  readonly #onLink = (account: string, link: LinkState): void => {
    this.#linkSince.set(account, Date.now());
    const vendor = this.#o.sources.accounts.find((a) => a.name === account)?.vendor ?? "unknown";
    this.#broadcast("account", { name: account, vendor, link });
    // Its unreachable devices say why in words that name the link.
    for (const entry of this.#o.sources.registry.devices) {
      if (entry.info.account === account && !entry.available) this.#onDevice(entry);
    }
  };
  readonly #onLog = (line: LogEntry): void => this.#broadcast("log", line);
  readonly #onRemoved = (entry: DeviceEntry): void => {
    this.#downSince.delete(entry.info.id);
    this.#broadcast("device-removed", { id: entry.info.id });
  };
  readonly #onPairing = (): void => this.#pushPairing();
  readonly #onCamera = (): void => void this.#pushCameras();

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
    this.#streams = new EventStreams({
      log: options.log,
      maxClients: MAX_EVENT_CLIENTS,
      maxBufferedBytes: MAX_EVENT_BUFFER,
    });
    this.#metrics = new BridgeMetrics(options.sources);
    this.#pairings = new PairingsApi(options.sources, options.log);
    this.#logLevel = new LogLevelControl(options.log);
    this.#logs = options.logs ?? new LogRing();
    const { sources, dataDir } = options;
    const diagnostics = { ...options.diagnostics, sources, dataDir, logs: () => this.#logs.recent(PAGE_LOG_LINES) };
    this.#diagnostics = options.diagnostics ? new DiagnosticsService(diagnostics) : undefined;
    this.#mfa = new MfaWebLogin(options.loginAccounts ?? [], options.dataDir, options.log, (account) =>
      this.#broadcast("login", { account }),
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
      changed: (account) => this.#broadcast("login", { account }),
    });
    this.#admin =
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
    const { registry } = this.#o.sources;
    registry.on("device", this.#onDevice);
    registry.on("state", this.#onDevice);
    registry.on("availability", this.#onAvailability);
    registry.on("link", this.#onLink);
    registry.on("removed", this.#onRemoved);
    registry.on("account-renamed", this.#onRenamed);
    this.#logs.on("line", this.#onLog);
    this.#o.sources.homekit?.on("paired", this.#onPairing);
    this.#o.sources.homekit?.on("unpaired", this.#onPairing);
    for (const event of CAMERA_EVENTS) this.#o.sources.homekit?.on(event, this.#onCamera);
    this.#lastPairing = JSON.stringify(pairingText(pairingView(this.#o.sources)));
    for (const c of cameraViews(this.#o.sources)) this.#lastCamera.set(c.deviceId, JSON.stringify(c));
    for (const c of matterCameraViews(this.#o.sources)) this.#lastCamera.set(`matter:${c.deviceId}`, JSON.stringify(c));
    for (const entry of registry.devices) if (!entry.available) this.#downSince.set(entry.info.id, Date.now());
    for (const a of this.#o.diagnostics?.links?.view(this.#o.sources.accounts) ?? [])
      this.#linkSince.set(a.name, Date.parse(a.since));
    for (const d of deviceViews(this.#o.sources)) if (d.stream) this.#lastStream.set(d.id, d.stream.text);
    this.#timers = [
      setInterval(() => {
        this.#pushPairing();
        void this.#pushCameras();
      }, PAIRING_POLL_MS).unref(),
      setInterval(() => this.#comment("keepalive"), KEEPALIVE_MS).unref(),
    ];
    // Always: the media layer may start later (the first account with cameras added on the page).
    this.#timers.push(setInterval(() => this.#pushStreams(), STREAM_POLL_MS).unref());
    const open = !this.#auth.required;
    this.#log.info(
      { event: "web", port: this.#port, host },
      `web page on http://${host.includes(":") ? `[${host}]` : host}:${this.#port}/` +
        (open ? " (no password: loopback only)" : ""),
    );
    this.#announceSetup();
    return this.#port;
  }

  async stop(): Promise<void> {
    const { registry } = this.#o.sources;
    registry.off("device", this.#onDevice);
    registry.off("state", this.#onDevice);
    registry.off("availability", this.#onAvailability);
    registry.off("link", this.#onLink);
    registry.off("removed", this.#onRemoved);
    registry.off("account-renamed", this.#onRenamed);
    this.#logs.off("line", this.#onLog);
    this.#o.sources.homekit?.off("paired", this.#onPairing);
    this.#o.sources.homekit?.off("unpaired", this.#onPairing);
    for (const event of CAMERA_EVENTS) this.#o.sources.homekit?.off(event, this.#onCamera);
    for (const t of this.#timers) clearInterval(t);
    this.#diagnostics?.stop();
    this.#mfa.stop();
    this.#streams.closeAll();
    this.#metrics.close();
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #authorized(req: IncomingMessage): boolean {
    return !this.#auth.required || this.#auth.valid(sessionToken(req.headers.cookie));
  }

  /** No password yet: the link with the one-time setup token goes to the log (the one place it is
   * written; `npm run pairing` reads it from web.json). It is not given to the log scrubber, or this
   * line would lose it; request paths are logged without their query, so the link shows nowhere else. */
  #announceSetup(): void {
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
    const origin = publicOrigin ?? `http://${name.includes(":") ? `[${name}]` : name}:${this.#port}`;
    const url = `${origin}/setup?token=${token}`;
    const how = "(a one-time link; npm run pairing shows it too; or set web.password)";
    this.#log.warn({ event: "web-setup", url }, `the web page has no password yet: choose it at ${url} ${how}`);
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

  /** The scheme the browser used: https behind a TLS proxy (a trusted one's X-Forwarded-Proto, or a post
   * from the https public origin). The session cookie is then Secure. */
  #https(req: IncomingMessage): boolean {
    if (this.#proxy.scheme(req) === "https") return true;
    const { publicOrigin } = this.#o.config;
    if (publicOrigin === undefined) return false;
    return publicOrigin.startsWith("https:") && req.headers.origin === publicOrigin;
  }

  /** Forms come from our own page: a cross-site POST (Origin of another site) is refused. Our own page
   * is this Host (with the scheme the browser used) or web.publicOrigin. */
  #sameOrigin(req: IncomingMessage): void {
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none")
      throw new HttpError(403, "cross-site request refused");
    const origin = req.headers.origin;
    if (origin === undefined || origin === this.#o.config.publicOrigin) return;
    const own = `${this.#proxy.scheme(req)}://${(req.headers.host ?? "").toLowerCase()}`;
    if (origin.toLowerCase() !== own) throw new HttpError(403, "cross-site request refused");
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
      return send(res, 200, readFileSync(new URL(`./static/${asset.file}`, import.meta.url), "utf8"), asset.type);
    }
    if (path === "/login") {
      if (get) {
        if (this.#auth.needsSetup) return redirect(res, "/setup");
        if (this.#authorized(req)) return redirect(res, "/");
        return html(res, 200, renderLogin(this.#title));
      }
      if (post) return this.#login(req, res);
      throw new HttpError(405, "GET or POST");
    }
    if (path === "/setup") {
      if (!get) {
        if (post) return this.#setup(req, res);
        throw new HttpError(405, "GET or POST");
      }
      if (!this.#auth.needsSetup) return redirect(res, "/");
      const token = url.searchParams.get("token") ?? "";
      const form = { token: TOKEN_PARAM.test(token) ? token : undefined };
      return html(res, 200, renderSetup(this.#title, MIN_PASSWORD_LENGTH, form));
    }
    if (path === "/logout") {
      if (!post) throw new HttpError(405, "POST only");
      const session = sessionToken(req.headers.cookie);
      this.#auth.endSession(session);
      this.#streams.endSession(session);
      return redirect(res, "/login", { "Set-Cookie": WebAuth.clearCookie(this.#https(req)) });
    }

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
          ...this.#snapshot(),
          mfa: this.#mfa.views(),
          logins: this.#passwords.views(),
          canLogOut: this.#auth.required,
          admin: this.#adminView(),
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
      return json(res, 200, { ...this.#snapshot(), ...this.#mfaByVendor(), logins: this.#passwords.views() });
    }
    if (path.startsWith("/api/whep/")) {
      // POST was checked above; ending a view is a state change too.
      if (method === "DELETE") this.#sameOrigin(req);
      return handleWhep(this.#o.whep, req, res, path, this.#proxy.client(req));
    }
    if (path === "/api/pairings") {
      if (!get) throw new HttpError(405, "GET only");
      return json(res, 200, this.#pairings.view());
    }
    const pairing = PAIRING_ACTION.exec(path);
    if (pairing) {
      if (!post) throw new HttpError(405, "POST only");
      const body = await readJsonBody(req);
      const view = await this.#pairings.act(pairing[1]!, pairing[2]!, body, this.#proxy.client(req));
      this.#pushPairing();
      return json(res, 200, view);
    }
    if (path === "/api/logs/level") {
      if (get) return json(res, 200, this.#logLevel.view());
      if (!post) throw new HttpError(405, "GET or POST");
      return json(res, 200, this.#logLevel.set(await readJsonBody(req), this.#proxy.client(req)));
    }
    const snapshot = SNAPSHOT_PATH.exec(path);
    if (snapshot) {
      if (!get) throw new HttpError(405, "GET only");
      const jpeg = await cameraSnapshot(this.#o.sources, decodeSegment(snapshot[1]!, "camera id"));
      res.writeHead(200, { "Content-Type": "image/jpeg", "Content-Length": jpeg.length });
      return void res.end(jpeg);
    }
    if (path === "/api/logs/download") {
      if (!get) throw new HttpError(405, "GET only");
      const file = logDownload(this.#logs.lines, url.searchParams);
      const disposition = `attachment; filename="${file.name}"`;
      return send(res, 200, file.text, "text/plain; charset=utf-8", { "Content-Disposition": disposition });
    }
    const command = /^\/api\/devices\/([^/]+)\/command$/.exec(path);
    if (command) {
      if (!post) throw new HttpError(405, "POST only");
      return this.#command(req, res, decodeSegment(command[1]!, "device id"));
    }
    if (path === "/accounts") {
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
    const remove = /^\/accounts\/([^/]+)\/remove$/.exec(path);
    if (remove) {
      if (!post) throw new HttpError(405, "POST only");
      if (!this.#admin) throw new HttpError(404, "accounts cannot be removed on this page");
      const account = decodeAccount(remove[1]!);
      try {
        await this.#admin.remove(account);
      } catch (error) {
        throw new HttpError(409, (error as Error).message);
      }
      this.#broadcast("login", { account });
      return redirect(res, "/");
    }
    const rename = /^\/api\/accounts\/([^/]+)\/rename$/.exec(path);
    if (rename) {
      if (!post) throw new HttpError(405, "POST only");
      if (!this.#admin) throw new HttpError(404, "accounts cannot be renamed on this page");
      const from = decodeAccount(rename[1]!);
      const notice = await this.#admin.rename(from, await readJsonBody(req));
      this.#broadcast("login", { account: from });
      return json(res, 200, { ok: true, message: notice.message });
    }
    const password = /^\/accounts\/([^/]+)\/password$/.exec(path);
    if (password) {
      if (!post) throw new HttpError(405, "POST only");
      const account = decodeAccount(password[1]!);
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
    const login = /^\/accounts\/([^/]+)\/login(\/code)?$/.exec(path);
    if (login) {
      if (!post) throw new HttpError(405, "POST only");
      const account = decodeAccount(login[1]!);
      if (!this.#mfa.has(account)) throw new HttpError(404, `no such ${MFA_VENDOR_NAMES} account`);
      const form = await readForm(req);
      try {
        if (login[2]) await this.#mfa.submitCode(account, field(form, "code", 12));
        else await this.#mfa.start(account, field(form, "password"));
      } catch (error) {
        if (error instanceof HttpError) throw error;
        throw new HttpError(409, (error as Error).message);
      }
      return redirect(res, "/");
    }
    throw new HttpError(404, "not found");
  }

  /** A control on the page: checked against the device's capabilities, then the registry's command
   * (which waits for the vendor's acknowledgement). The new state reaches every page over /events. */
  async #command(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const { registry } = this.#o.sources;
    const entry = registry.get(id);
    if (!entry) throw new HttpError(404, "no such device");
    const body = await readJsonBody(req);
    let patch;
    try {
      patch = parseCommand(body, entry.info.capabilities);
    } catch (error) {
      if (error instanceof BadCommand) throw new HttpError(400, error.message);
      throw error;
    }
    const client = this.#proxy.client(req);
    this.#log.info({ device: id, command: patch, client }, `web page: command to ${entry.info.name}`);
    try {
      await registry.command(id, patch);
    } catch (error) {
      const message = scrub((error as Error).message);
      this.#log.warn({ device: id, err: error }, `web page: command to ${entry.info.name} failed: ${message}`);
      // Unknown or unreachable: the request cannot be done now; anything else is the vendor's answer.
      throw new HttpError(error instanceof CommandError ? 409 : 502, message);
    }
    const after = registry.get(id);
    return json(res, 200, {
      ok: true,
      device: after ? deviceView(after, streamStates(this.#o.sources), this.#reach) : null,
    });
  }

  #adminView(): PageData["admin"] {
    const admin = this.#admin;
    if (!admin) return undefined;
    const pageAccounts = new Set(this.#o.sources.accounts.map((a) => a.name).filter((n) => admin.isPageAccount(n)));
    return { vendors: admin.vendors(), notice: admin.notice, pageAccounts };
  }

  /** /api/status lists the code log-ins under each such vendor's id, one list per vendor (empty too). */
  #mfaByVendor(): Record<string, MfaLoginView[]> {
    const views = this.#mfa.views();
    const ids = vendors.filter((v) => v.login.kind === "password+mfa").map((v) => v.id);
    return Object.fromEntries(ids.map((id) => [id, views.filter((v) => v.vendor === id)]));
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = this.#proxy.client(req);
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
      return redirect(res, "/", { "Set-Cookie": this.#auth.cookie(this.#auth.newSession(), this.#https(req)) });
    }
    this.#log.warn({ client }, "web page: wrong password");
    return html(res, 401, renderLogin(this.#title, "Wrong password."));
  }

  /** The first password, with the setup token from the log. A wrong token counts against the same
   * per-client limit as wrong passwords (it cannot be guessed, but it should not fill the log either). */
  async #setup(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#auth.needsSetup) throw new HttpError(409, "a password is already set");
    const client = this.#proxy.client(req);
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
    return redirect(res, "/", { "Set-Cookie": this.#auth.cookie(this.#auth.newSession(), this.#https(req)) });
  }

  #wrongSetupToken(res: ServerResponse, client: string): void {
    this.#auth.limiter.failed(client);
    this.#log.warn({ client }, "web page: wrong setup token");
    const message = "That setup token is wrong: use the link from the bridge's log or npm run pairing.";
    return html(res, 403, renderSetup(this.#title, MIN_PASSWORD_LENGTH, { message }));
  }

  #snapshot() {
    const s = this.#o.sources;
    return {
      pairing: pairingView(s),
      cameras: cameraViews(s),
      matterCameras: matterCameraViews(s),
      accounts: accountViews(s),
      devices: deviceViews(s, this.#reach),
      logs: this.#logs.recent(PAGE_LOG_LINES),
    };
  }

  async #events(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#streams.full) throw new HttpError(503, "too many open pages");
    const snapshot = this.#snapshot();
    // Cameras go with their QR as SVG: one may have appeared since the page was rendered.
    const cameras = await Promise.all(snapshot.cameras.map(cameraEvent));
    const matterCameras = await Promise.all(snapshot.matterCameras.map(matterCameraEvent));
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    // Tied to the session: logging out or its expiry ends the stream.
    const session = this.#auth.required ? sessionToken(req.headers.cookie) : undefined;
    this.#streams.add(res, { session, expiresAt: this.#auth.expiresAt(session), client: this.#proxy.client(req) });
    // The page formats nothing itself: pairing goes as text, the bridge's QR payloads stay in the HTML.
    this.#streams.send(res, "snapshot", {
      ...snapshot,
      pairing: pairingText(snapshot.pairing),
      cameras,
      matterCameras,
    });
  }

  #broadcast(event: string, data: unknown): void {
    this.#streams.broadcast(event, data);
  }

  #comment(text: string): void {
    this.#streams.comment(text);
  }

  /** A camera appeared, was published, paired or unpaired, or renamed: its card is sent again. One
   * run at a time, so an older card (its QR still being drawn) never overtakes a newer one. */
  #pushCameras(): Promise<void> {
    this.#cameraPush = this.#cameraPush.then(() => this.#sendCameras());
    return this.#cameraPush;
  }

  async #sendCameras(): Promise<void> {
    try {
      for (const camera of cameraViews(this.#o.sources)) {
        const key = JSON.stringify(camera);
        if (this.#lastCamera.get(camera.deviceId) === key) continue;
        this.#lastCamera.set(camera.deviceId, key);
        this.#broadcast("camera", await cameraEvent(camera));
      }
      // A Matter camera node started (found after start) or was commissioned: polled, as it emits nothing.
      for (const camera of matterCameraViews(this.#o.sources)) {
        const key = JSON.stringify(camera);
        if (this.#lastCamera.get(`matter:${camera.deviceId}`) === key) continue;
        this.#lastCamera.set(`matter:${camera.deviceId}`, key);
        this.#broadcast("matter-camera", await matterCameraEvent(camera));
      }
    } catch (error) {
      this.#log.warn({ err: error }, "web page: camera pairing update failed");
    }
  }

  /** A camera's stream line changed (a viewer came or went, the push started or failed): its row is sent again. */
  #pushStreams(): void {
    if (!this.#o.sources.media) return;
    const streams = streamStates(this.#o.sources);
    for (const entry of this.#o.sources.registry.devices) {
      if (!entry.info.capabilities.camera) continue;
      const view = deviceView(entry, streams, this.#reach);
      if (!view.stream || this.#lastStream.get(view.id) === view.stream.text) continue;
      this.#lastStream.set(view.id, view.stream.text);
      this.#broadcast("device", view);
    }
  }

  #pushPairing(): void {
    const text = pairingText(pairingView(this.#o.sources));
    const key = JSON.stringify(text);
    if (key === this.#lastPairing) return;
    this.#lastPairing = key;
    this.#broadcast("pairing", text);
  }
}
