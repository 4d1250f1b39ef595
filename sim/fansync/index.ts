// Loopback FanSync cloud simulator (see docs/protocols/fansync.md §8). One HTTP server on
// 127.0.0.1 serves the REST API under /api:1 and the WebSocket at /api:1/phone. Test hooks let a
// test act as the wall remote, drop or silence sockets, stall or fail logins, expire tokens and
// inject HTTP faults; every frame received from clients is recorded and emitted as a 'frame' event.
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import { issueJwt, verifyJwt } from "./jwt.ts";
import { getData, listEntry, me, provisionToken, type SimDevice, userData } from "./answers.ts";
import {
  applyWrite,
  PROFILES,
  type DeviceProfile,
  type ProfileBehaviour,
  type ProfileKey,
  type Registers,
} from "./profiles.ts";
import { INFO_MODEL } from "./info-model.ts";

export {
  PROFILES,
  applyWrite,
  normaliseSpeed,
  type DeviceProfile,
  type ProfileBehaviour,
  type ProfileKey,
  type Registers,
} from "./profiles.ts";

export const DEMO_EMAIL = "demo@hearthbridge.invalid";
export const DEMO_PASSWORD = "correct horse battery";

export interface SimDeviceSpec {
  /** 24 hex chars; generated from the index when absent. */
  id?: string;
  profile: ProfileKey | DeviceProfile;
  displayName?: string;
  /** Overrides of the profile's initial registers. */
  status?: Registers;
  /** Merged over the profile's lst_device properties. */
  properties?: Record<string, unknown>;
  /** Overrides of the profile's write behaviour (e.g. { clampMax: 87 }). */
  behaviour?: Partial<ProfileBehaviour>;
  /** `get.data.connected` (default 1). */
  connected?: number;
}

export interface FanSyncSimulatorOptions {
  email?: string;
  password?: string;
  userId?: number;
  devices?: SimDeviceSpec[];
  /** Delay of the device's second `set` answer (measured 1.9-2.5 s). Default 2000. */
  deviceAckDelayMs?: number;
  /** Delay between a device change and its device_change push. Default 1500. */
  pushDelayMs?: number;
  /** "full": pushes carry every register (as captured); "changed": only changed + written keys. */
  pushMode?: "full" | "changed";
  /** Delay before a `get` is answered (degraded cloud). Default 0. */
  getDelayMs?: number;
  /** Answers to lst_device/get are delayed by jitter * (id mod 3) so pipelined answers come out of order. Default 0. */
  responseJitterMs?: number;
  /** Frames sent unsolicited right after every upgrade (objects are JSON-encoded, strings sent raw). */
  greeting?: unknown[];
  port?: number;
}

export interface ReceivedFrame {
  /** Index of the client connection (1, 2, ... in accept order). */
  conn: number;
  at: number;
  raw: string;
  /** Parsed JSON, or undefined when the text was not JSON. */
  frame: Record<string, unknown> | undefined;
}

export interface HttpRecord {
  method: string;
  path: string;
  status: number;
  headers: IncomingMessage["headers"];
}

export type DeviceAckOverride = "ok" | "error" | "none";

interface Conn {
  index: number;
  ws: WebSocket;
  loggedIn: boolean;
  deflate: boolean;
}

interface SimEvents {
  frame: [ReceivedFrame];
  connection: [conn: number, deflate: boolean];
  login: [conn: number, ok: boolean];
  disconnect: [conn: number];
  push: [device: string, changes: Registers];
  http: [HttpRecord];
}

const REGISTER = /^H[0-9A-F]{2}$/;

function defaultId(i: number): string {
  // 12 chars "MAC" + 12 chars, all hex, stable per index.
  const n = (i + 1).toString(16).padStart(4, "0");
  return `a4cf12${n}00` + `5f0e${n}77d1`;
}

export const DEFAULT_DEVICES: SimDeviceSpec[] = [
  { profile: "continuous" },
  { profile: "kute60" },
  { profile: "cct" },
  { profile: "spitfire" },
];

export class FanSyncSimulator extends EventEmitter<SimEvents> {
  readonly email: string;
  readonly password: string;
  readonly userId: number;
  /** Every frame any client sent, in arrival order. */
  readonly frames: ReceivedFrame[] = [];
  readonly httpRequests: HttpRecord[] = [];
  deviceAckDelayMs: number;
  pushDelayMs: number;
  getDelayMs: number;
  responseJitterMs: number;
  pushMode: "full" | "changed";
  greeting: unknown[] | undefined;
  /** Count of successful HTTP logins (tokens issued). */
  tokensIssued = 0;
  /** Count of successful WS logins. */
  wsLogins = 0;

  readonly #devices = new Map<string, SimDevice>();
  readonly #conns = new Set<Conn>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #secret = randomBytes(32).toString("hex");
  readonly #expiredTokens = new Set<string>();
  readonly #issued = new Set<string>();
  readonly #port: number;
  #connCount = 0;
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #stall = false;
  #fail: Record<string, unknown> | undefined;
  #silent = false;
  #httpFault: number | undefined;
  #ackOverride: DeviceAckOverride | undefined;
  #failSets = false;
  #dropPushes = false;

  constructor(options: FanSyncSimulatorOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.email = options.email ?? DEMO_EMAIL;
    this.password = options.password ?? DEMO_PASSWORD;
    this.userId = options.userId ?? 31337;
    this.deviceAckDelayMs = options.deviceAckDelayMs ?? 2000;
    this.pushDelayMs = options.pushDelayMs ?? 1500;
    this.getDelayMs = options.getDelayMs ?? 0;
    this.responseJitterMs = options.responseJitterMs ?? 0;
    this.pushMode = options.pushMode ?? "full";
    this.greeting = options.greeting;
    this.#port = options.port ?? 0;
    (options.devices ?? DEFAULT_DEVICES).forEach((spec, i) => this.addDevice(spec, i));
  }

  addDevice(spec: SimDeviceSpec, index = this.#devices.size): string {
    const base: DeviceProfile = typeof spec.profile === "string" ? PROFILES[spec.profile] : spec.profile;
    const id = spec.id ?? defaultId(index);
    if (!/^[0-9a-f]{24}$/.test(id)) throw new Error(`device id must be 24 hex chars: ${id}`);
    const status = { ...base.status, ...spec.status };
    this.#devices.set(id, {
      id,
      profile: base,
      behaviour: { ...base.behaviour, ...spec.behaviour },
      properties: { displayName: spec.displayName ?? base.displayName, ...base.properties, ...spec.properties },
      actual: { ...status },
      reported: { ...status },
      connected: spec.connected ?? 1,
    });
    return id;
  }

  get deviceIds(): string[] {
    return [...this.#devices.keys()];
  }

  /** Last device-REPORTED registers (what `get` answers). */
  device(id: string): Registers {
    return { ...this.#dev(id).reported };
  }

  /** The device's real registers (may differ from the reported ones after an unreported write). */
  actual(id: string): Registers {
    return { ...this.#dev(id).actual };
  }

  /** Number of open client sockets. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Frames from clients that are requests with the given name (parsed). */
  requests(name: string, device?: string): Record<string, unknown>[] {
    return this.frames
      .map((f) => f.frame)
      .filter(
        (f): f is Record<string, unknown> => !!f && f.request === name && (device === undefined || f.device === device),
      );
  }

  async start(): Promise<{ apiUrl: string; wsUrl: string; port: number }> {
    const server = createServer((req, res) => this.#http(req, res));
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true, autoPong: false });
    server.on("upgrade", (req, socket, head) => {
      // Node's HTTP server drops its error listener from an upgrade's socket: keep a reset from throwing.
      socket.on("error", () => undefined);
      const path = (req.url ?? "").split("?")[0];
      if (path !== "/api:1/phone") {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
    });
    this.#server = server;
    this.#wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return { apiUrl: `http://127.0.0.1:${port}/api:1`, wsUrl: `ws://127.0.0.1:${port}/api:1/phone`, port };
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.#conns) c.ws.terminate();
    this.#conns.clear();
    this.#wss?.close();
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  // ---- test hooks -------------------------------------------------------------------------------

  /** Act as the wall remote: apply registers at once and push device_change after the push delay.
   * Resolves once the push went out. */
  remote(deviceId: string, registers: Registers): Promise<void> {
    const dev = this.#dev(deviceId);
    Object.assign(dev.actual, registers);
    return new Promise((resolve) =>
      this.#later(this.pushDelayMs, () => {
        this.#report(dev, { ...dev.actual }, Object.keys(registers));
        resolve();
      }),
    );
  }

  /** Server-initiated drop of every client socket (abrupt by default, a close frame when graceful). */
  dropSockets(options: { graceful?: boolean; code?: number } = {}): void {
    for (const c of this.#conns) {
      if (options.graceful) c.ws.close(options.code ?? 1001, "going away");
      else c.ws.terminate();
    }
  }

  /** Logins get no answer at all; the socket stays up and still answers pings. */
  stallLogins(on: boolean): void {
    this.#stall = on;
  }

  /** Logins get a non-ok answer; `frame` (merged over {status:"error",response:"login",id}) shapes it. */
  failLogins(on: boolean, frame: Record<string, unknown> = {}): void {
    this.#fail = on ? frame : undefined;
  }

  /** Every token issued so far is expired: WS login rejects it, GET /session answers 401. */
  expireTokens(): void {
    for (const t of this.#issued) this.#expiredTokens.add(t);
  }

  /** Silence: frames are read but never answered, pings are not ponged, nothing is pushed. */
  goSilent(on: boolean): void {
    this.#silent = on;
  }

  /** Answer every HTTP request with this status (401, 403, 500...) until cleared with undefined. */
  setHttpFault(status: number | undefined): void {
    this.#httpFault = status;
  }

  /** Force the device's second set answer: "ok", "error" or "none" (never sent); undefined = profile. */
  forceDeviceAck(value: DeviceAckOverride | undefined): void {
    this.#ackOverride = value;
  }

  /** The cloud answers every `set` with "error" (answer 1) and nothing reaches the device. */
  failSets(on: boolean): void {
    this.#failSets = on;
  }

  /** Devices keep reporting (`get` sees it) but no device_change push is delivered (exercises polling). */
  dropPushes(on: boolean): void {
    this.#dropPushes = on;
  }

  /** Every token issued by POST /session, oldest first. */
  get issuedTokens(): string[] {
    return [...this.#issued];
  }

  /** `get.data.connected` of one device. */
  setConnected(deviceId: string, connected: number): void {
    this.#dev(deviceId).connected = connected;
  }

  /** Send a raw text frame to every logged-in client (malformed-frame tests). */
  broadcastRaw(text: string): void {
    for (const c of this.#conns) if (c.loggedIn && c.ws.readyState === WebSocket.OPEN) c.ws.send(text);
  }

  /** Resolve with the next received frame matching the predicate (already recorded ones included when `past`). */
  nextFrame(predicate: (f: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("frame", onFrame);
        reject(new Error(`no matching frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const onFrame = (f: ReceivedFrame): void => {
        if (f.frame && predicate(f.frame)) {
          clearTimeout(timer);
          this.off("frame", onFrame);
          resolve(f.frame);
        }
      };
      this.on("frame", onFrame);
    });
  }

  // ---- internals ------------------------------------------------------------------------------

  #dev(id: string): SimDevice {
    const dev = this.#devices.get(id);
    if (!dev) throw new Error(`simulator has no device ${id}`);
    return dev;
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #tokenState(token: unknown): "valid" | "expired" | "invalid" {
    if (typeof token !== "string") return "invalid";
    const payload = verifyJwt(token, this.#secret);
    if (!payload) return "invalid";
    if (this.#expiredTokens.has(token) || payload.exp * 1000 <= Date.now()) return "expired";
    return "valid";
  }

  #http(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0] ?? "";
      const method = req.method ?? "GET";
      const send = (status: number, body: unknown): void => {
        const text = typeof body === "string" ? body : JSON.stringify(body);
        res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
        res.end(text);
        const record = { method, path, status, headers: req.headers };
        this.httpRequests.push(record);
        this.emit("http", record);
      };
      if (this.#httpFault !== undefined) return send(this.#httpFault, { error: "fault injected" });
      if (path === "/api:1/session" && method === "OPTIONS") return send(200, "OK");
      if (path === "/api:1/session" && method === "POST") {
        let body: { email?: unknown; password?: unknown } | undefined;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
        } catch {
          body = undefined;
        }
        if (!body || body.email !== this.email || body.password !== this.password)
          return send(400, { message: "Bad Request" });
        const token = issueJwt(this.userId, this.#secret);
        this.#issued.add(token);
        this.tokensIssued++;
        return send(200, { id: String(this.userId), token });
      }
      if (path === "/api:1/session" && method === "GET") {
        const auth = req.headers.authorization ?? "";
        const token = auth.startsWith("Bearer ") ? auth.slice(7) : undefined;
        if (this.#tokenState(token) !== "valid") return send(401, { message: "Unauthorized" });
        return send(200, { id: String(this.userId), status: "valid" });
      }
      if (path === "/api:1/info-model" && method === "GET") return send(200, INFO_MODEL);
      return send(404, { message: "Not Found" });
    });
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    void req;
    const deflate = ws.extensions.includes("permessage-deflate");
    const conn: Conn = { index: ++this.#connCount, ws, loggedIn: false, deflate };
    this.#conns.add(conn);
    ws.on("ping", (data) => {
      if (!this.#silent && ws.readyState === WebSocket.OPEN) ws.pong(data);
    });
    ws.on("message", (data: RawData, isBinary) => this.#message(conn, data, isBinary));
    ws.on("close", () => {
      this.#conns.delete(conn);
      this.emit("disconnect", conn.index);
    });
    ws.on("error", () => undefined);
    this.emit("connection", conn.index, deflate);
    for (const g of this.greeting ?? []) ws.send(typeof g === "string" ? g : JSON.stringify(g));
  }

  #send(conn: Conn, frame: unknown, delayMs = 0): void {
    const go = (): void => {
      if (!this.#silent && conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(frame));
    };
    if (delayMs > 0) this.#later(delayMs, go);
    else go();
  }

  #message(conn: Conn, data: RawData, isBinary: boolean): void {
    const raw = Buffer.isBuffer(data)
      ? data.toString("utf8")
      : Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.from(data).toString("utf8");
    let frame: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) frame = parsed as Record<string, unknown>;
    } catch {
      frame = undefined;
    }
    const record: ReceivedFrame = { conn: conn.index, at: Date.now(), raw, frame };
    this.frames.push(record);
    this.emit("frame", record);
    if (this.#silent || isBinary || !frame) return;
    const id = frame.id;
    const name = frame.request;
    if (typeof name !== "string") return;
    const reply = (status: "ok" | "error", extra: Record<string, unknown> = {}, delayMs = 0): void =>
      this.#send(conn, { status, response: name, id, ...extra }, delayMs);

    if (name === "login") {
      if (this.#stall) return;
      if (this.#fail) {
        this.emit("login", conn.index, false);
        return this.#send(conn, { status: "error", response: "login", id, ...this.#fail });
      }
      const token = (frame.data as { token?: unknown } | undefined)?.token;
      const state = this.#tokenState(token);
      if (state !== "valid") {
        this.emit("login", conn.index, false);
        return reply("error", { data: { message: state === "expired" ? "token expired" : "invalid token" } });
      }
      conn.loggedIn = true;
      this.wsLogins++;
      this.emit("login", conn.index, true);
      return reply("ok");
    }
    if (!conn.loggedIn) return reply("error", { data: { message: "not logged in" } });
    const jitter = typeof id === "number" ? this.responseJitterMs * (Math.abs(id) % 3) : 0;

    switch (name) {
      case "lst_device":
        return reply("ok", { data: [...this.#devices.values()].map((d) => listEntry(d, this.email)) }, jitter);
      case "get": {
        const dev = typeof frame.device === "string" ? this.#devices.get(frame.device) : undefined;
        if (!dev) return reply("error", { data: { message: "unknown device" } }, jitter);
        return reply("ok", { data: getData(dev, this.email) }, this.getDelayMs + jitter);
      }
      case "set":
        return this.#set(conn, frame, reply);
      case "provision_token":
        return reply("ok", { data: provisionToken() });
      case "lst_group":
        return reply("ok", { data: [] });
      case "get_user_data":
        return reply("ok", { data: userData() });
      case "get_me":
        return reply("ok", { data: me(this.userId, this.email) });
      default:
        return reply("error", { data: { message: `unknown request ${name}` } });
    }
  }

  #set(
    _conn: Conn,
    frame: Record<string, unknown>,
    reply: (status: "ok" | "error", extra?: Record<string, unknown>, delayMs?: number) => void,
  ): void {
    const dev = typeof frame.device === "string" ? this.#devices.get(frame.device) : undefined;
    const data = frame.data;
    const valid =
      dev !== undefined &&
      data !== null &&
      typeof data === "object" &&
      !Array.isArray(data) &&
      Object.keys(data).length > 0 &&
      Object.entries(data).every(([k, v]) => REGISTER.test(k) && Number.isInteger(v));
    if (!valid || !dev || this.#failSets)
      return reply("error", { data: { message: this.#failSets ? "fault injected" : "bad set" } });
    const regs = data as Registers;
    reply("ok"); // answer 1: the cloud, at once, no data
    const unknown = Object.keys(regs).some((k) => !(k in dev.actual));
    const outcome = unknown
      ? { state: dev.actual, reports: [], ack: "error" as const }
      : applyWrite(dev.behaviour, dev.actual, regs);
    dev.actual = { ...outcome.state };
    const ack = this.#ackOverride ?? outcome.ack;
    if (ack !== "none") reply(ack, ack === "error" ? { code: 200 } : {}, this.deviceAckDelayMs); // answer 2: the device
    outcome.reports.forEach((snapshot, i) =>
      this.#later(this.pushDelayMs * (i + 1), () => this.#report(dev, snapshot, Object.keys(regs))),
    );
  }

  /** The device reports `snapshot`: it becomes what `get` answers, and every logged-in client gets a push. */
  #report(dev: SimDevice, snapshot: Registers, touched: string[]): void {
    const changed: Registers = {};
    for (const [k, v] of Object.entries(snapshot)) if (dev.reported[k] !== v || touched.includes(k)) changed[k] = v;
    dev.reported = { ...snapshot };
    const status = this.pushMode === "full" ? { ...snapshot } : changed;
    this.emit("push", dev.id, status);
    if (this.#silent || this.#dropPushes) return;
    const text = JSON.stringify({ event: "device_change", data: { device: dev.id, changes: { status } } });
    for (const c of this.#conns) if (c.loggedIn && c.ws.readyState === WebSocket.OPEN) c.ws.send(text);
  }
}
