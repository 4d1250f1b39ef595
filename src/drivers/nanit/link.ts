// The control link of one camera: the local socket when the camera is reachable, the cloud relay
// otherwise. Local 403 (two-connection limit), TLS trouble or a pin mismatch -> the cloud, and local
// is tried again after `localRetryMs` without dropping the cloud session. A session that stops
// answering (silent relay expiry, IF#9) is replaced; a cloud session is renewed before its access
// token expires (HN "Fix A"). Reconnects back off.
import type { TimerScope } from "../../core/driver-runtime.ts";
import { registerSecret, type Logger } from "../../core/logger.ts";
import { fetchPeerCertificate, NanitCertificateMismatchError, pinnedTlsOptions, type PinnedCert } from "./pin.ts";
import { getJson, NanitLoginRequiredError, parseUcToken } from "./rest.ts";
import type { NanitSession } from "./session.ts";
import {
  NanitHandshakeError,
  NanitRequestError,
  NanitSocket,
  NanitTimeoutError,
  type NanitSocketOptions,
} from "./socket.ts";
import type { RequestMsg } from "./proto.ts";
import { ShortLivedLocalSockets } from "./local-quirk.ts";

/** After the firmware's close-after-a-second pattern, the cloud relay is kept this long. */
const QUIRK_CLOUD_HOLD_MS = 6 * 60 * 60_000;

export interface LinkOptions {
  cameraUid: string;
  /** Display name for log lines. */
  label: string;
  cloudUrl: string;
  /** The local URL, resolved at every attempt (the cloud-reported address may change). */
  localUrl: () => string | undefined;
  preferLocal: boolean;
  api: string;
  httpMs: number;
  session: NanitSession;
  log: Logger;
  pins: { get(cameraUid: string): PinnedCert | undefined; set(cameraUid: string, pin: PinnedCert): void };
  socket: Pick<
    NanitSocketOptions,
    "connectTimeoutMs" | "requestTimeoutMs" | "keepaliveIntervalMs" | "pingIntervalMs" | "pongTimeoutMs"
  >;
  healthCheckMs: number;
  sensorPollMs: number;
  localRetryMs: number;
  /** Wait after the cloud's "Mobile App connections above limit" 403 (IF 300 s, KF 5 min). */
  connectionLimitBackoffMs: number;
  refreshMarginMs: number;
  /** The wait before reconnecting after `failures` failures in a row (1, 2, ...). */
  backoff: (failures: number) => number;
  signal: AbortSignal;
  /** The link's own timer scope (a child of the driver's): closed by stop(). */
  timers: TimerScope;
  /** Report needs-login; resolves once a new session is there (or the driver stops). */
  onLoginRequired: (error: NanitLoginRequiredError) => Promise<void>;
  /** Sync a fresh socket (enable sensor push, read state). Throwing drops the socket. */
  onUp: (socket: NanitSocket) => Promise<void>;
  /** The synced socket is now the one commands use. */
  onReady: (socket: NanitSocket) => void;
  /** The synced socket closed; `lastAliveAt` is when it last showed life: now for a socket that closed,
   * its last frame or pong for one dropped for going silent (noticed only once a ping went unanswered). */
  onDown: (reason: string, lastAliveAt: number) => void;
  onPush: (request: RequestMsg, socket: NanitSocket) => void;
  onSensorPoll: (socket: NanitSocket) => Promise<void>;
}

export class CameraLink {
  readonly #o: LinkOptions;
  #socket: NanitSocket | undefined;
  /** A socket opened in the background (local probe, token renewal) that replaces the current one. */
  #next: NanitSocket | undefined;
  /** Sockets already synced in the background (local probe, token renewal): adopted without a gap. */
  readonly #presynced = new WeakSet<NanitSocket>();
  readonly #wired = new WeakSet<NanitSocket>();
  #localRetryAt = 0;
  readonly #shortLived = new ShortLivedLocalSockets();
  /** Health check, sensor poll, local probe, token renewal of the current socket: cleared when it closes. */
  #armed: TimerScope;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #up = false;
  /** Callers of whenReady waiting for the next synced socket. */
  readonly #readyWaiters = new Set<(socket: NanitSocket | undefined) => void>();

  constructor(options: LinkOptions) {
    this.#o = options;
    this.#armed = options.timers.scope();
  }

  /** The socket commands go through, when one is open and synced. */
  get socket(): NanitSocket | undefined {
    return this.#up && this.#socket?.open ? this.#socket : undefined;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** The synced socket, waiting up to `timeoutMs` for one while the link reconnects; undefined when
   * none came in time (or the link stopped). */
  whenReady(timeoutMs: number): Promise<NanitSocket | undefined> {
    const now = this.socket;
    if (now || this.#stopped || this.#o.timers.closed || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = (socket: NanitSocket | undefined): void => {
        this.#o.timers.cancel(timer);
        this.#readyWaiters.delete(done);
        resolve(socket);
      };
      const timer = this.#o.timers.later(timeoutMs, () => done(undefined));
      this.#readyWaiters.add(done);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.timers.close();
    for (const waiter of [...this.#readyWaiters]) waiter(undefined);
    this.#next?.close("stopping");
    this.#socket?.close("stopping");
    await this.#loop;
  }

  /** Drop the current socket (e.g. a command went unanswered); the loop reconnects. */
  replace(reason: string): void {
    const sock = this.#socket;
    if (!sock?.open) return;
    this.#o.log.warn(`nanit: ${this.#o.label}: ${reason}; replacing the ${sock.kind} connection`);
    sock.close(reason);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      let sock: NanitSocket;
      try {
        sock = this.#next ?? (await this.#connect());
        this.#next = undefined;
      } catch (error) {
        if (this.#stopped) break;
        if (error instanceof NanitLoginRequiredError) {
          await this.#o.onLoginRequired(error);
          continue;
        }
        this.#o.log.warn(`nanit: ${this.#o.label}: cannot connect: ${(error as Error).message}`);
        await this.#sleep(this.#o.backoff(++failures));
        continue;
      }
      if (this.#stopped) {
        sock.close("stopping");
        break;
      }
      const closed = new Promise<string>((resolve) => (sock.open ? sock.once("close", resolve) : resolve("closed")));
      const openedAt = Date.now();
      let limited = false;
      this.#socket = sock;
      this.#wire(sock);
      try {
        if (!this.#presynced.has(sock)) await this.#o.onUp(sock);
        this.#up = true;
        failures = 0;
        this.#o.onReady(sock);
        this.#o.log.info(`nanit: ${this.#o.label}: connected (${sock.kind})`);
        this.#arm(sock);
        for (const waiter of [...this.#readyWaiters]) waiter(sock);
      } catch (error) {
        if (error instanceof NanitRequestError && error.statusCode === 403) {
          limited = true;
          this.#o.log.warn(
            `nanit: ${this.#o.label}: the ${sock.kind} session was declined (${error.statusMessage ?? "HTTP 403"}); ` +
              `too many app connections, waiting ${Math.round(this.#o.connectionLimitBackoffMs / 1000)} s ` +
              "(close a Nanit app or another bridge)",
          );
        } else if (error instanceof NanitTimeoutError)
          this.#o.log.warn(`nanit: ${this.#o.label}: the ${sock.kind} session does not answer (${error.message})`);
        else if (!this.#stopped) this.#o.log.warn(`nanit: ${this.#o.label}: sync failed: ${(error as Error).message}`);
        sock.close("sync failed");
      }
      const reason = await closed;
      if (this.#shortLived.closed(sock.kind, openedAt, reason, Date.now())) this.#avoidLocal(reason);
      this.#armed.close();
      this.#armed = this.#o.timers.scope();
      this.#up = false;
      this.#socket = undefined;
      if (this.#stopped) break;
      const next = this.#pending();
      if (next?.open) {
        this.#o.log.info(`nanit: ${this.#o.label}: moving to the new ${next.kind} connection (${reason})`);
        continue;
      }
      this.#next = undefined;
      this.#o.onDown(reason, sock.silentSince ?? Date.now());
      if (limited) {
        await this.#sleep(this.#o.connectionLimitBackoffMs);
        continue;
      }
      this.#o.log.warn(`nanit: ${this.#o.label}: ${sock.kind} connection lost (${reason}); reconnecting`);
      await this.#sleep(this.#o.backoff(++failures));
    }
    this.#up = false;
  }

  #wire(sock: NanitSocket): void {
    if (this.#wired.has(sock)) return;
    this.#wired.add(sock);
    sock.on("push", (request) => this.#o.onPush(request, sock));
  }

  /** Sync a socket opened in the background, then hand it over by closing the current one. */
  async #handOver(current: NanitSocket, next: NanitSocket, reason: string): Promise<void> {
    this.#wire(next);
    try {
      await this.#o.onUp(next);
    } catch (error) {
      next.close("sync failed");
      throw error;
    }
    if (this.#stopped || !current.open || !next.open) return next.close("no longer needed");
    this.#presynced.add(next);
    this.#next = next;
    current.close(reason);
  }

  #pending(): NanitSocket | undefined {
    return this.#next;
  }

  /** Health check, sensor poll, local probe and token renewal for an open, synced socket. */
  #arm(sock: NanitSocket): void {
    const o = this.#o;
    const unanswered = (what: string, error: unknown): void => {
      if (error instanceof NanitTimeoutError && sock.open) this.replace(`no answer to ${what} (${error.message})`);
      else o.log.debug(`nanit: ${o.label}: ${what} failed: ${(error as Error).message}`);
    };
    if (o.healthCheckMs > 0) {
      this.#armed.every(o.healthCheckMs, () => {
        const check = sock.request("GET_STATUS", { get_status: { all: true } });
        check.catch((e: unknown) => unanswered("the GET_STATUS health check", e));
      });
    }
    if (o.sensorPollMs > 0) {
      const poll = (): void => void o.onSensorPoll(sock).catch((e: unknown) => unanswered("the sensor poll", e));
      this.#armed.every(o.sensorPollMs, poll);
    }
    if (sock.kind === "cloud" && o.preferLocal && o.localUrl()) {
      this.#armed.later(Math.max(0, this.#localRetryAt - Date.now()), () => void this.#probeLocal(sock));
    }
    if (sock.kind === "cloud") {
      const expires = o.session.accessExpiresAt;
      const renewIn = expires === undefined ? undefined : Math.max(1000, expires - o.refreshMarginMs - Date.now());
      if (renewIn !== undefined) this.#armed.later(renewIn, () => void this.#renewCloud(sock));
    }
  }

  async #probeLocal(current: NanitSocket): Promise<void> {
    const url = this.#o.localUrl();
    if (!url || this.#stopped || !current.open) return;
    try {
      const local = await this.#connectLocal(url);
      if (this.#stopped || !current.open) return local.close("no longer needed");
      await this.#handOver(current, local, "the camera is reachable locally again");
    } catch (error) {
      this.#localFailed(error);
      if (current.open && !this.#stopped) this.#armed.later(this.#o.localRetryMs, () => void this.#probeLocal(current));
    }
  }

  async #renewCloud(current: NanitSocket): Promise<void> {
    if (this.#stopped || !current.open) return;
    try {
      const fresh = await this.#connectCloud();
      if (this.#stopped || !current.open) return fresh.close("no longer needed");
      await this.#handOver(current, fresh, "the access token is about to expire");
    } catch (error) {
      this.#o.log.warn(
        `nanit: ${this.#o.label}: could not open a cloud session with a renewed token: ${(error as Error).message}`,
      );
    }
  }

  async #connect(): Promise<NanitSocket> {
    const url = this.#o.preferLocal ? this.#o.localUrl() : undefined;
    if (url && Date.now() >= this.#localRetryAt) {
      try {
        return await this.#connectLocal(url);
      } catch (error) {
        if (error instanceof NanitLoginRequiredError || this.#stopped) throw error;
        this.#localFailed(error);
      }
    }
    return this.#connectCloud();
  }

  #avoidLocal(reason: string): void {
    this.#localRetryAt = Date.now() + QUIRK_CLOUD_HOLD_MS;
    this.#o.log.warn(
      `nanit: ${this.#o.label}: the camera closes its local connection right after opening it (${reason}), ` +
        `a known firmware behaviour; using the cloud relay for ${QUIRK_CLOUD_HOLD_MS / 3_600_000} h`,
    );
  }

  #localFailed(error: unknown): void {
    const o = this.#o;
    this.#localRetryAt = Date.now() + o.localRetryMs;
    const later = `using the cloud; local again in ${Math.round(o.localRetryMs / 1000)} s`;
    if (error instanceof NanitCertificateMismatchError) o.log.error(`nanit: ${o.label}: ${error.message}; ${later}`);
    else if (error instanceof NanitHandshakeError && error.status === 403)
      o.log.warn(
        `nanit: ${o.label}: the camera refused a local connection ` +
          `(HTTP 403: it allows only two local connections); ${later}`,
      );
    else o.log.info(`nanit: ${o.label}: local connection failed (${(error as Error).message}); ${later}`);
  }

  async #connectLocal(url: string): Promise<NanitSocket> {
    const o = this.#o;
    const answer = await o.session.authed((token) =>
      getJson(o.api, `/focus/cameras/${encodeURIComponent(o.cameraUid)}/uc_token`, token, {
        timeoutMs: o.httpMs,
        signal: o.signal,
      }),
    );
    const ucToken = parseUcToken(answer);
    registerSecret(ucToken);
    const authorization = `token ${ucToken}`;
    const base = { ...o.socket, url, kind: "local" as const, authorization, log: o.log, timers: o.timers };
    const target = new URL(url);
    if (target.protocol !== "wss:") return NanitSocket.connect(base);
    const host = target.hostname.replace(/^\[|\]$/g, "");
    const port = Number(target.port || 443);
    const where = `${host}:${port}`;
    let pin = o.pins.get(o.cameraUid);
    if (!pin) {
      pin = await fetchPeerCertificate(host, port, o.socket.connectTimeoutMs);
      o.pins.set(o.cameraUid, pin);
      o.log.info(`nanit: ${o.label}: pinned the camera's certificate on first use (SHA-256 ${pin.fingerprint256})`);
    }
    try {
      return await NanitSocket.connect({ ...base, tls: pinnedTlsOptions(pin, where) });
    } catch (error) {
      if (error instanceof NanitHandshakeError || error instanceof NanitCertificateMismatchError) throw error;
      // A certificate that is not the pinned one fails verification before the identity check: look
      // at what the camera presents now to give a clear answer.
      const presented = await fetchPeerCertificate(host, port, o.socket.connectTimeoutMs).catch(() => undefined);
      if (presented && presented.fingerprint256 !== pin.fingerprint256)
        throw new NanitCertificateMismatchError(where, pin.fingerprint256, presented.fingerprint256);
      throw error;
    }
  }

  async #connectCloud(): Promise<NanitSocket> {
    const o = this.#o;
    const open = (token: string): Promise<NanitSocket> => {
      const authorization = `Bearer ${token}`;
      const url = o.cloudUrl;
      return NanitSocket.connect({ ...o.socket, url, kind: "cloud", authorization, log: o.log, timers: o.timers });
    };
    const token = await o.session.accessToken();
    try {
      return await open(token);
    } catch (error) {
      if (!(error instanceof NanitHandshakeError) || (error.status !== 401 && error.status !== 403)) throw error;
      o.log.info(`nanit: ${o.label}: ${error.message}; refreshing the session and retrying once`);
      return open(await o.session.refresh(token));
    }
  }

  /** Ends early when the link stops (its scope is closed) or the driver does. */
  #sleep(ms: number): Promise<void> {
    return this.#o.timers.sleep(ms, this.#o.signal);
  }
}
