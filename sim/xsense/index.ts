// Loopback X-Sense cloud simulator (see docs/protocols/xsense.md §8). One HTTP server on
// 127.0.0.1 serves the app API at /app, a Cognito endpoint at /cognito/ (SRP with SECRET_HASH
// checks, REFRESH_TOKEN_AUTH), the shadow REST API at /things/… (SigV4-verified) and an MQTT
// broker (aedes) over WebSocket at /mqtt (presigned-URL-verified). Test hooks raise and clear
// alarms, drain batteries, report end of life, answer self-tests, expire sessions and credentials,
// drop MQTT; an EventEmitter reports what happened so tests await events instead of sleeping.
// Made-up accounts and secrets only.
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { Aedes, type Client as AedesClient } from "aedes";
import { WebSocketServer, createWebSocketStream, type WebSocket } from "ws";
import { encodeClientSecret, requestMac, secretHash, UNAUTH_MAC } from "../../src/drivers/xsense/mac.ts";
import { canonicalRequest, EMPTY_SHA256, sha256Hex, signature as sigV4 } from "../../src/drivers/xsense/sigv4.ts";
import {
  claimSignature,
  makeVerifier,
  safeEqual,
  serverChallenge,
  serverKey,
  TIMESTAMP_RE,
  type ServerChallenge,
  type Verifier,
} from "./srp.ts";

export const DEMO_EMAIL = "demo@hearthbridge.invalid";
export const DEMO_PASSWORD = "Correct-Horse-Battery-1";

export type Fields = Record<string, unknown>;

export interface SimDeviceSpec {
  sn: string;
  type: string;
  name?: string;
  id?: string;
  /** The room the app puts it in (by name; the simulator gives each name a room id). */
  room?: string;
  /** Initial reported fields (strings, as the cloud sends them). */
  state?: Fields;
}

export interface SimStationSpec {
  sn: string;
  /** SBS50, SBS10 or a standalone Wi-Fi model. */
  category: string;
  name?: string;
  id?: string;
  online?: boolean;
  /** The room the app puts it in (for a Wi-Fi detector: the detector's room). */
  room?: string;
  devices?: SimDeviceSpec[];
  /** Wi-Fi detectors: their own state. */
  state?: Fields;
}

export interface SimHouseSpec {
  id?: string;
  name?: string;
  region: string;
  stations: SimStationSpec[];
}

export interface BadMacAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface XSenseSimulatorOptions {
  email?: string;
  password?: string;
  houses?: SimHouseSpec[];
  /** Access token ExpiresIn in seconds (default 3600). */
  accessTokenTtlS?: number;
  /** 101003 credential lifetime in seconds (default 3600). */
  credentialTtlS?: number;
  /** Which REFRESH_TOKEN_AUTH SECRET_HASH form is accepted (default "hmac"); "none" refuses every refresh. */
  refreshSecretHash?: "hmac" | "raw" | "any" | "none";
  /** Tokens refreshed from a session that another login displaced stay displaced (default false: a
   * refresh revives the session). Whether X-Sense does either is not known; the driver must cope with both. */
  refreshKeepsDisplacement?: boolean;
  /** errCode for a token displaced by a newer login (default 10000020) and for an expired one (10000008). */
  kickedErrCode?: string;
  expiredErrCode?: string;
  /** The answer to a bad MAC (undocumented for the real service; default HTTP 200, reCode 400, errCode 10000004). */
  badMac?: BadMacAnswer;
  /**
   * Presigned MQTT URLs older than this are refused (default 300 s) and SigV4 dates further off than this
   * (default 300 s).
   */
  urlMaxAgeS?: number;
  clockToleranceS?: number;
  /** The simulator's clock runs this far ahead of the host's (clock-skew tests). */
  clockOffsetMs?: number;
  /** Close MQTT connections whose credentials expired (default true; the real behaviour is an open question). */
  dropMqttOnCredentialExpiry?: boolean;
  /** Subscriptions allowed per MQTT client (AWS quota; default 50). */
  subscriptionQuota?: number;
  /** How a presigned MQTT URL with bad or revoked credentials is refused: "http" (default) answers the
   * WebSocket upgrade with HTTP 403, as AWS IoT does; "connack" accepts the upgrade and refuses the MQTT
   * CONNECT with return code 5 (not authorized). */
  mqttRefusal?: "http" | "connack";
  /** Delay between a desired write and the device's report (no synchronous read-back). Default 20 ms. */
  reportDelayMs?: number;
  port?: number;
}

export interface SimUrls {
  api: string;
  cognito: string;
  iotData: string;
  mqtt: string;
}

interface SimDevice {
  id: string;
  sn: string;
  type: string;
  name: string;
  roomId: string | undefined;
  state: Fields;
}

interface SimStation {
  id: string;
  sn: string;
  category: string;
  name: string;
  online: boolean;
  roomId: string | undefined;
  house: SimHouse;
  devices: SimDevice[];
  /** Wi-Fi detectors: the detector itself. */
  self: SimDevice | undefined;
  thing: string;
}

interface SimHouse {
  id: string;
  name: string;
  region: string;
  server: string;
  /** Room id → name (102008). */
  rooms: Map<string, string>;
  stations: SimStation[];
}

interface AccessToken {
  sub: string;
  exp: number;
  generation: number;
  revoked?: string;
}

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiresAt: number;
  /** Revoked by the service before its stated expiration. */
  revoked?: boolean;
}

/** The broker's view of a presigned MQTT URL. */
interface Verdict {
  ok: boolean;
  reason: string;
  accessKeyId: string;
  region: string;
}

interface SrpSession {
  sub: string;
  clientType: string;
  challenge: ServerChallenge;
  A: bigint;
  secretBlock: string;
  expiresAt: number;
}

export interface SelfTestRequest {
  thing: string;
  shadow: string;
  desired: Fields;
}

export interface AppCall {
  bizCode: string;
  body: Record<string, unknown>;
  authorization: string | undefined;
  ok: boolean;
  errCode?: string;
}

export interface SimEvents {
  app: [AppCall];
  badMac: [AppCall];
  login: [{ sub: string; clientType: string }];
  loginFailed: [{ reason: string }];
  refresh: [{ ok: boolean; reason?: string }];
  credentials: [{ accessKeyId: string; expiresAt: number }];
  shadowGet: [{ thing: string; name: string; status: number }];
  shadowPost: [{ thing: string; name: string; desired: Fields; status: number }];
  shadowRejected: [{ reason: string; status: number }];
  selfTest: [SelfTestRequest];
  mute: [SelfTestRequest];
  /** A live temperature/humidity read was asked for (`2nd_apptempdata`). */
  liveRead: [SelfTestRequest];
  mqttConnected: [{ clientId: string; accessKeyId: string }];
  /** A refused MQTT connection: at the WebSocket upgrade (status 403) or at CONNECT (CONNACK 5). */
  mqttRejected: [{ reason: string; accessKeyId: string; region: string; status?: number }];
  mqttClosed: [{ clientId: string }];
  /** An upgrade answered 503 while `mqttAvailable` is false. */
  mqttUnavailable: [{ at: number }];
  subscribed: [{ clientId: string; topics: string[] }];
  quotaExceeded: [{ clientId: string; topic: string }];
  published: [{ topic: string; payload: string }];
}

const POOL_ID = "us-east-1_SimPool42";
const POOL_NAME = POOL_ID.split("_")[1]!;
/** One Cognito app client per clientType, each with its own secret (docs/protocols/xsense.md §2.1). */
const CLIENTS: Record<string, { clientId: string; secret: string; name: string }> = {
  "1": {
    clientId: "simiosclient0000000000000a",
    secret: "simIosSecretForTestsOnly0123456789abcdefghijklmnopqr",
    name: "iOS",
  },
  "2": {
    clientId: "simandroidclient00000000b",
    secret: "simAndroidSecretForTestsOnly0123456789abcdefghijklmn",
    name: "Android",
  },
};
const COMMON = ["clientType", "mac", "appVersion", "bizCode", "appCode"];

/** Thing naming as the APK does it (docs/protocols/xsense.md §5.2). */
export function simThingName(category: string, sn: string): string {
  if (category === "SBS50") return `SBS50${sn}`;
  if (category === "SBS10") return sn;
  if (category === "XS01-WX") return /EN|UL/.test(sn) ? `XS01-WX-${sn}` : `XS01-WX${sn}`;
  const dashed = [
    "SC06-WX",
    "SC07-WX",
    "SC07-iA",
    "XC04-WX",
    "XC0C-iA",
    "XC0C-iR",
    "XC0M-iR",
    "XP0A-iR",
    "XP0H-iR",
    "XS0B-iR",
    "XS0AA-iA",
    "XS0AB-iA",
    "XS0R-iA",
  ];
  if (dashed.includes(category) || /^XP0[JSTVW]-iA$/.test(category)) return `${category}-${sn}`;
  return `${category}${sn}`;
}

/** Default account: two houses in two regions; an SBS50 with smoke, CO, combo and heat detectors and a
 * sensor; an SBS10 with a smoke detector; Wi-Fi smoke and CO detectors; one unknown model. The detectors sit
 * in the app's rooms (one in none); each house has its own rooms, and both have a "Kitchen". */
export function defaultHouses(): SimHouseSpec[] {
  return [
    {
      name: "Home",
      region: "eu-central-1",
      stations: [
        {
          sn: "13B96457",
          category: "SBS50",
          name: "Hall base",
          room: "Hall",
          devices: [
            { sn: "00000001", type: "XS01-M", name: "Kitchen smoke", room: "Kitchen" },
            { sn: "00000002", type: "XC01-M", name: "Boiler CO", room: "Utility room" },
            { sn: "00000003", type: "SC07-MR", name: "Bedroom combo", room: "Bedroom" },
            { sn: "00000004", type: "XH02-M", name: "Garage heat", room: "Garage" },
            { sn: "00000005", type: "STH51", name: "Cellar climate", room: "Cellar" },
            { sn: "00000006", type: "XS99-ZZ", name: "Prototype" },
          ],
        },
        {
          sn: "SBS10A01",
          category: "SBS10",
          name: "Old base",
          devices: [{ sn: "00000011", type: "XS01-M", name: "Attic smoke", room: "Attic" }],
        },
      ],
    },
    {
      name: "Cabin",
      region: "us-east-1",
      stations: [
        { sn: "EN7000AB", category: "XS01-WX", name: "Cabin smoke", room: "Living room" },
        { sn: "C0400001", category: "XC04-WX", name: "Cabin CO", room: "Kitchen" },
      ],
    },
  ];
}

/** The id of the house's room with this name, made up the first time the name is used. */
function roomIdFor(house: SimHouse, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  for (const [id, n] of house.rooms) if (n === name) return id;
  const id = hex32();
  house.rooms.set(id, name);
  return id;
}

function hex32(): string {
  return randomBytes(16).toString("hex").toUpperCase();
}

function defaultState(type: string): Fields {
  const co = /^(XC|SC|XP0[AHP])/.test(type);
  const base: Fields = { muteStatus: "0", online: "1", batInfo: "3", isLifeEnd: "0", sensorStatus: "0" };
  // Thermo-hygrometers send compact keys: a = threshold alarm, b = °C, c = % (docs/protocols/xsense.md §5.4).
  if (isClimate(type)) return { ...base, a: "0", b: "21.5", c: "45" };
  // The Wi-Fi water sensor names its flag waterAlarmStatus; the RF ones use alarmStatus.
  if (type === "SWS0B") return { ...base, waterAlarmStatus: "0" };
  return {
    alarmStatus: "0",
    ...base,
    ...(co ? { coPpm: "0", coLevel: "0", standard: "0", coPpmPeak: "0" } : {}),
  };
}

function isClimate(type: string): boolean {
  return /^STH/.test(type);
}

/** What a child record of a station's mainpage carries, nested under `status`. */
function childStatus(d: { type: string; state: Fields }): Fields {
  const s = d.state;
  const keys = isClimate(d.type)
    ? ["a", "b", "c", "muteStatus", "online", "batInfo"]
    : ["alarmStatus", "muteStatus", "online", "batInfo"];
  return Object.fromEntries(keys.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
}

/** `YYYY-MM-DD HH:MM:SS+00:00` */
function expirationText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}+00:00`;
}

function utcStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

/** Milliseconds of an X-Amz-Date (`YYYYMMDDTHHMMSSZ`, already checked by the caller). */
function amzDateMs(when: string): number {
  return Date.parse(
    `${when.slice(0, 4)}-${when.slice(4, 6)}-${when.slice(6, 8)}` +
      `T${when.slice(9, 11)}:${when.slice(11, 13)}:${when.slice(13, 15)}Z`,
  );
}

/** The Authorization header of a header-signed (SigV4) request. */
const SIGV4_AUTHORIZATION = new RegExp(
  "^AWS4-HMAC-SHA256 Credential=([^/]+)/(\\d{8})/([^/]+)/([^/]+)/aws4_request, ?" +
    "SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$",
);

export class XSenseSimulator extends EventEmitter<SimEvents> {
  readonly email: string;
  readonly password: string;
  readonly sub = randomUUID();
  readonly userIdCode = String(100000 + Math.floor(Math.random() * 800000));
  readonly houses: SimHouse[] = [];
  readonly calls: AppCall[] = [];
  readonly selfTests: SelfTestRequest[] = [];
  /** Every accepted mute (hush) write, in order. */
  readonly mutes: SelfTestRequest[] = [];
  readonly options: XSenseSimulatorOptions;
  /** The self-test outcome the next tests report. */
  selfTestOutcome: { result: "success" | "fail" | "no-answer"; smokeFault?: boolean; coFault?: boolean } = {
    result: "success",
  };
  /** Replaces 102008's reData for a house (malformed-answer tests); undefined: the house's real rooms. */
  roomsAnswer: ((houseId: string) => unknown) | undefined;
  /** When false, WebSocket upgrades at /mqtt are refused (the broker is unreachable). */
  mqttAvailable = true;
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #broker: Aedes | undefined;
  #base = "";
  readonly #verifiers = new Map<string, Verifier>();
  readonly #srp = new Map<string, SrpSession>();
  readonly #access = new Map<string, AccessToken>();
  readonly #refresh = new Map<string, { sub: string; clientType: string; generation: number }>();
  readonly #creds = new Map<string, Creds>();
  readonly #verdicts = new WeakMap<Duplex, Verdict>();
  readonly #sockets = new Map<string, { ws: WebSocket; accessKeyId: string }>();
  readonly #subscriptions = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #generation = 0;
  #failNext: Array<"http500" | "http503" | "bizCodeEmpty"> = [];
  /** WebSocket upgrades still to refuse with 403 whatever their credentials (refuseUpgrades). */
  #refuseUpgrades = 0;
  #stallLogins = false;
  /**
   * Every secret value issued or checked (tokens, AWS credentials, MACs, SRP proofs, signatures): secrets tests
   * grep for them.
   */
  readonly #secrets = new Set<string>();
  #jwtKey = randomBytes(32);

  constructor(options: XSenseSimulatorOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.options = options;
    this.email = options.email ?? DEMO_EMAIL;
    this.password = options.password ?? DEMO_PASSWORD;
    for (const spec of options.houses ?? defaultHouses()) {
      const house: SimHouse = {
        id: spec.id ?? hex32(),
        name: spec.name ?? "House",
        region: spec.region,
        server: `${spec.region}.x-sense-iot.com`,
        rooms: new Map(),
        stations: [],
      };
      for (const s of spec.stations) {
        const wifi = s.category !== "SBS50" && s.category !== "SBS10";
        const station: SimStation = {
          id: s.id ?? hex32(),
          sn: s.sn,
          category: s.category,
          name: s.name ?? `${s.category} ${s.sn}`,
          online: s.online ?? true,
          roomId: roomIdFor(house, s.room),
          house,
          devices: (s.devices ?? []).map((d) => ({
            id: d.id ?? hex32(),
            sn: d.sn,
            type: d.type,
            name: d.name ?? d.type,
            roomId: roomIdFor(house, d.room),
            state: { ...defaultState(d.type), ...d.state },
          })),
          self: undefined,
          thing: simThingName(s.category, s.sn),
        };
        if (wifi)
          station.self = {
            id: station.id,
            sn: s.sn,
            type: s.category,
            name: station.name,
            roomId: station.roomId,
            state: { ...defaultState(s.category), ...s.state },
          };
        house.stations.push(station);
      }
      this.houses.push(house);
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async start(): Promise<SimUrls> {
    this.#broker = await Aedes.createBroker({
      authenticate: (client, _username, _password, done) => {
        const verdict = this.#verdicts.get(client.conn as Duplex);
        if (verdict?.ok) return done(null, true);
        const error = Object.assign(new Error(`not authorized: ${verdict?.reason ?? "no presigned URL"}`), {
          returnCode: 5 as const,
        });
        this.emit("mqttRejected", {
          reason: verdict?.reason ?? "no presigned URL",
          accessKeyId: verdict?.accessKeyId ?? "",
          region: verdict?.region ?? "",
        });
        done(error, false);
      },
      authorizeSubscribe: (client, sub, done) => {
        const count = (this.#subscriptions.get(client.id) ?? 0) + 1;
        if (count > (this.options.subscriptionQuota ?? 50)) {
          // "Quota exceeded": the subscription is negated (SUBACK 0x80).
          this.emit("quotaExceeded", { clientId: client.id, topic: sub.topic });
          return done(null, null);
        }
        this.#subscriptions.set(client.id, count);
        done(null, sub);
      },
    });
    this.#broker.on("client", (client: AedesClient) => {
      const verdict = this.#verdicts.get(client.conn as Duplex);
      const ws = [...this.#pendingWs].find((p) => p.stream === client.conn);
      if (ws) {
        this.#pendingWs.delete(ws);
        this.#sockets.set(client.id, { ws: ws.ws, accessKeyId: verdict?.accessKeyId ?? "" });
      }
      this.emit("mqttConnected", { clientId: client.id, accessKeyId: verdict?.accessKeyId ?? "" });
    });
    this.#broker.on("clientDisconnect", (client: AedesClient) => {
      this.#sockets.delete(client.id);
      this.#subscriptions.delete(client.id);
      this.emit("mqttClosed", { clientId: client.id });
    });
    this.#broker.on("subscribe", (subs, client) =>
      this.emit("subscribed", { clientId: client.id, topics: subs.map((s) => s.topic) }),
    );

    this.#server = createServer((req, res) => void this.#http(req, res));
    this.#wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : false),
    });
    this.#server.on("upgrade", (req, socket, head) => {
      // Node's HTTP server drops its error listener from an upgrade's socket: a client that resets the
      // connection after a refusal (ECONNRESET) would otherwise be thrown from the event loop.
      socket.on("error", () => undefined);
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname !== "/mqtt" || !this.mqttAvailable) {
        this.emit("mqttUnavailable", { at: Date.now() });
        socket.end("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        return;
      }
      const verdict = this.#verifyPresigned(req);
      if (this.#refuseUpgrades > 0) {
        this.#refuseUpgrades--;
        Object.assign(verdict, { ok: false, reason: "refused by fault hook" });
      }
      if (!verdict.ok && this.options.mqttRefusal !== "connack") {
        // AWS IoT refuses a presigned upgrade with bad, expired or revoked credentials before any MQTT.
        this.emit("mqttRejected", {
          reason: verdict.reason,
          accessKeyId: verdict.accessKeyId,
          region: verdict.region,
          status: 403,
        });
        const body = JSON.stringify({ message: "Forbidden", traceId: randomUUID() });
        socket.end(
          "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n" +
            `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        );
        return;
      }
      this.#wss!.handleUpgrade(req, socket, head, (ws) => this.#mqttSocket(ws, req, verdict));
    });
    await new Promise<void>((resolve) => this.#server!.listen(this.options.port ?? 0, "127.0.0.1", resolve));
    const port = (this.#server.address() as AddressInfo).port;
    this.#base = `127.0.0.1:${port}`;
    return this.urls;
  }

  get urls(): SimUrls {
    return {
      api: `http://${this.#base}`,
      cognito: `http://${this.#base}/cognito/`,
      iotData: `http://${this.#base}`,
      mqtt: `ws://${this.#base}/mqtt`,
    };
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const { ws } of this.#sockets.values()) ws.terminate();
    for (const p of this.#pendingWs) p.ws.terminate();
    this.#wss?.close();
    if (this.#broker) await new Promise<void>((resolve) => this.#broker!.close(() => resolve()));
    if (this.#server) {
      this.#server.closeAllConnections();
      await new Promise<void>((resolve) => this.#server!.close(() => resolve()));
    }
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #now(): number {
    return Date.now() + (this.options.clockOffsetMs ?? 0);
  }

  // ---- lookup helpers ----------------------------------------------------------------------------

  station(sn: string): SimStation {
    for (const h of this.houses) for (const s of h.stations) if (s.sn === sn) return s;
    throw new Error(`no station ${sn}`);
  }

  /** A detector by serial (Wi-Fi detectors by their station serial). */
  device(sn: string): { device: SimDevice; station: SimStation } {
    for (const h of this.houses)
      for (const s of h.stations) {
        if (s.self?.sn === sn) return { device: s.self, station: s };
        for (const d of s.devices) if (d.sn === sn) return { device: d, station: s };
      }
    throw new Error(`no device ${sn}`);
  }

  /** The vendor id the driver uses for a detector (deviceId, or stationId for Wi-Fi). */
  vendorId(sn: string): string {
    return this.device(sn).device.id;
  }

  get clientSecrets(): Record<string, string> {
    return Object.fromEntries(Object.entries(CLIENTS).map(([k, v]) => [k, v.secret]));
  }

  // ---- HTTP dispatch -------------------------------------------------------------------------------

  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://x");
    try {
      if (url.pathname === "/app" && req.method === "POST") return this.#app(req, res, body);
      if (url.pathname.startsWith("/cognito") && req.method === "POST") {
        if (this.#stallLogins) return; // no answer: the client's own timeout decides
        return this.#cognito(req, res, body);
      }
      if (url.pathname.startsWith("/things/")) return this.#shadowHttp(req, res, url, body);
      this.#json(res, 404, { message: "Not Found" });
    } catch (error) {
      this.#json(res, 500, { message: (error as Error).message });
    }
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  // ---- /app ------------------------------------------------------------------------------------------

  #envelope(reData: unknown): Record<string, unknown> {
    return {
      reCode: 200,
      reMsg: "success !",
      cntVersion: "5",
      zoneVersion: "20250714001",
      cfgVersion: { identityEnable: "1", deviceControl: "18", alertSwitchSkill: "0", isAllowRating: "0" },
      reData,
    };
  }

  #app(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    let body: Record<string, unknown>;
    try {
      const parsed = JSON.parse(raw.toString("utf8")) as unknown;
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      body = parsed as Record<string, unknown>;
    } catch {
      return this.#json(res, 400, { message: "Bad Request" });
    }
    const bizCode = typeof body.bizCode === "string" ? body.bizCode : "";
    const authorization = req.headers.authorization;
    const call: AppCall = { bizCode, body, authorization, ok: false };
    const fail = (errCode: string, reMsg: string, reCode = 400): void => {
      call.errCode = errCode;
      this.calls.push(call);
      this.emit("app", call);
      this.#json(res, 200, { reCode, reMsg, errCode });
    };
    const failing = this.#failNext.shift();
    if (failing === "http500" || failing === "http503") {
      this.calls.push(call);
      this.emit("app", call);
      return failing === "http500"
        ? this.#json(res, 500, { message: "not authorised exception" })
        : this.#json(res, 503, { message: "Service Unavailable" });
    }
    if (!bizCode || failing === "bizCodeEmpty") return fail("10000001", "bizCode cannot be empty");
    const client = CLIENTS[String(body.clientType)];
    if (!client || typeof body.appVersion !== "string" || typeof body.appCode !== "string")
      return fail("10000002", "missing clientType/appVersion/appCode");

    if (bizCode === "101001") {
      if (body.mac !== UNAUTH_MAC) return fail("10000004", "mac check failed");
      call.ok = true;
      this.calls.push(call);
      this.emit("app", call);
      const clientSecret = encodeClientSecret(client.secret, body.appCode);
      this.#secrets.add(client.secret).add(clientSecret);
      return this.#json(
        res,
        200,
        this.#envelope({
          clientName: client.name,
          cgtRegion: "us-east-1",
          userPoolId: POOL_ID,
          clientId: client.clientId,
          clientSecret,
        }),
      );
    }

    // Authenticated calls: raw JWT, no "Bearer".
    const token = authorization ? this.#access.get(authorization) : undefined;
    if (!token) return fail(this.options.expiredErrCode ?? "10000008", "token invalid");
    if (token.revoked) return fail(token.revoked, "session expired");
    if (token.generation !== this.#generation)
      return fail(this.options.kickedErrCode ?? "10000020", "logged in on another device");
    if (token.exp * 1000 <= Date.now()) return fail(this.options.expiredErrCode ?? "10000008", "token expired");

    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) if (!COMMON.includes(k)) params[k] = v;
    const expected = requestMac(params, Buffer.from(client.secret, "utf8"));
    this.#secrets.add(expected);
    if (body.mac !== expected) {
      call.errCode = "badMac";
      this.calls.push(call);
      this.emit("badMac", call);
      const answer = this.options.badMac ?? {
        status: 200,
        body: { reCode: 400, errCode: "10000004", reMsg: "mac check failed" },
      };
      return this.#json(res, answer.status, answer.body);
    }
    let reData: unknown;
    switch (bizCode) {
      case "101003":
        if (typeof params.userName !== "string") return fail("10000003", "userName required");
        reData = this.#issueCreds();
        break;
      case "102007":
        reData = this.houses.map((h) => ({
          houseId: h.id,
          houseName: h.name,
          houseRegion: "Germany",
          mqttRegion: h.region,
          mqttServer: h.server,
          loraBand: "868",
          houseOrigin: 0,
          createTime: "20240101120000",
        }));
        break;
      case "102008": {
        // The app sends utctimestamp "0" after houseId (docs/protocols/xsense.md §3.5); anything else is refused.
        const house = this.houses.find((h) => h.id === params.houseId);
        if (params.utctimestamp !== "0") return fail("10000003", "utctimestamp required");
        if (!house) return fail("10000005", "house not found");
        reData = this.roomsAnswer?.(house.id) ?? {
          houseId: house.id,
          houseRooms: Object.fromEntries(
            [...house.rooms].map(([roomId, roomName]) => [
              roomId,
              { houseId: house.id, roomId, roomName, createTime: "20240101120000" },
            ]),
          ),
          roomSort: [...house.rooms.keys()],
        };
        break;
      }
      case "103007": {
        const house = this.houses.find((h) => h.id === params.houseId);
        if (!house) return fail("10000005", "house not found");
        reData = {
          houseId: house.id,
          stations: house.stations.map((s) => ({
            stationId: s.id,
            stationSn: s.sn,
            stationName: s.name,
            category: s.category,
            ...(s.roomId ? { roomId: s.roomId } : {}),
            safeMode: "Disarmed",
            onLine: s.online ? 1 : 0,
            onLineTime: Date.now(),
            userId: this.sub,
            userName: this.email,
            groupList: [],
            zoneName: "Europe/Paris",
            sbs50Sw: "v1.6.9",
            devices: s.devices.map((d) => ({
              deviceId: d.id,
              deviceSn: d.sn,
              deviceName: d.name,
              deviceType: d.type,
              ...(d.roomId ? { roomId: d.roomId } : {}),
            })),
            deviceSort: s.devices.map((d) => d.id),
          })),
          stationSort: house.stations.map((s) => s.id),
          ownStations: house.stations.map((s) => s.id),
          cameras: [],
        };
        break;
      }
      default:
        return fail("10000006", `unknown bizCode ${bizCode}`);
    }
    call.ok = true;
    this.calls.push(call);
    this.emit("app", call);
    this.#json(res, 200, this.#envelope(reData));
  }

  #issueCreds(): Record<string, string> {
    const ttl = (this.options.credentialTtlS ?? 3600) * 1000;
    const creds: Creds = {
      accessKeyId: `ASIASIM${randomBytes(6).toString("hex").toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString("base64"),
      sessionToken: `IQoJsim//${randomBytes(48).toString("base64")}`,
      expiresAt: Date.now() + ttl,
    };
    this.#creds.set(creds.accessKeyId, creds);
    this.#secrets.add(creds.secretAccessKey).add(creds.sessionToken);
    this.emit("credentials", { accessKeyId: creds.accessKeyId, expiresAt: creds.expiresAt });
    this.#later(ttl, () => {
      if (this.options.dropMqttOnCredentialExpiry === false) return;
      for (const [clientId, s] of this.#sockets)
        if (s.accessKeyId === creds.accessKeyId) {
          s.ws.terminate();
          this.#sockets.delete(clientId);
        }
    });
    return {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      sessionToken: creds.sessionToken,
      expiration: expirationText(creds.expiresAt),
    };
  }

  // ---- Cognito ---------------------------------------------------------------------------------------

  #cognitoError(res: ServerResponse, type: string, message: string, status = 400): void {
    const text = JSON.stringify({ __type: type, message });
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-errortype": `${type}:`,
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  #clientById(clientId: unknown): [string, (typeof CLIENTS)[string]] | undefined {
    return Object.entries(CLIENTS).find(([, c]) => c.clientId === clientId);
  }

  #verifier(): Verifier {
    // The account's password as the app stored it at sign-up: trimmed, at most 50 characters.
    const stored = this.password.trim().slice(0, 50);
    let v = this.#verifiers.get(stored);
    if (!v) {
      v = makeVerifier(POOL_NAME, this.sub, stored);
      this.#verifiers.set(stored, v);
    }
    return v;
  }

  #jwt(claims: Record<string, unknown>): string {
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = `${enc({ alg: "HS256", kid: "sim" })}.${enc(claims)}`;
    return `${head}.${createHmac("sha256", this.#jwtKey).update(head).digest("base64url")}`;
  }

  #issueTokens(
    sub: string,
    clientType: string,
    withRefresh: boolean,
    generation = this.#generation,
  ): Record<string, unknown> {
    const ttl = this.options.accessTokenTtlS ?? 3600;
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + ttl;
    const common = { sub, iat, exp, jti: randomUUID(), "cognito:username": sub, user_id_code: this.userIdCode };
    const access = this.#jwt({
      ...common,
      token_use: "access",
      username: sub,
      client_id: CLIENTS[clientType]!.clientId,
    });
    const id = this.#jwt({ ...common, token_use: "id", email: this.email, aud: CLIENTS[clientType]!.clientId });
    this.#access.set(access, { sub, exp, generation });
    this.#secrets.add(access).add(id);
    const result: Record<string, unknown> = { AccessToken: access, IdToken: id, ExpiresIn: ttl, TokenType: "Bearer" };
    if (withRefresh) {
      const refresh = `simrefresh.${randomBytes(48).toString("base64url")}`;
      this.#refresh.set(refresh, { sub, clientType, generation });
      this.#secrets.add(refresh);
      result.RefreshToken = refresh;
    }
    return result;
  }

  #cognito(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const target = String(req.headers["x-amz-target"] ?? "");
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    } catch {
      return this.#cognitoError(res, "SerializationException", "bad JSON");
    }
    const found = this.#clientById(body.ClientId);
    if (!found) return this.#cognitoError(res, "ResourceNotFoundException", "User pool client does not exist.");
    const [clientType, client] = found;
    const secret = Buffer.from(client.secret, "utf8");
    for (const params of [body.AuthParameters, body.ChallengeResponses]) {
      if (!params || typeof params !== "object") continue;
      for (const [k, v] of Object.entries(params as Record<string, unknown>))
        if (/SECRET_HASH|SIGNATURE|REFRESH_TOKEN/.test(k) && typeof v === "string") this.#secrets.add(v);
    }
    if (typeof body.Session === "string") this.#secrets.add(body.Session);
    const failLogin = (type: string, message: string, status = 400): void => {
      this.emit("loginFailed", { reason: message });
      this.#cognitoError(res, type, message, status);
    };

    if (target === "AWSCognitoIdentityProviderService.InitiateAuth" && body.AuthFlow === "USER_SRP_AUTH") {
      const p = (body.AuthParameters ?? {}) as Record<string, string>;
      if (typeof p.USERNAME !== "string" || p.USERNAME.toLowerCase() !== this.email.toLowerCase())
        return failLogin("UserNotFoundException", "User does not exist.");
      if (p.SECRET_HASH !== secretHash(secret, p.USERNAME, client.clientId))
        return failLogin("NotAuthorizedException", `SecretHash does not match for the client: ${client.clientId}`);
      if (typeof p.SRP_A !== "string" || !/^[0-9a-f]+$/i.test(p.SRP_A))
        return failLogin("InvalidParameterException", "SRP_A missing");
      const A = BigInt(`0x${p.SRP_A}`);
      const verifier = this.#verifier();
      const challenge = serverChallenge(verifier);
      const session = randomBytes(64).toString("base64url");
      const secretBlock = randomBytes(64).toString("base64");
      this.#secrets.add(session);
      this.#srp.set(session, { sub: this.sub, clientType, challenge, A, secretBlock, expiresAt: Date.now() + 180_000 });
      const text = JSON.stringify({
        ChallengeName: "PASSWORD_VERIFIER",
        Session: session,
        ChallengeParameters: {
          SALT: verifier.saltHex,
          SECRET_BLOCK: secretBlock,
          SRP_B: challenge.B.toString(16),
          USERNAME: this.sub,
          USER_ID_FOR_SRP: this.sub,
        },
      });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      return void res.end(text);
    }
    if (
      target === "AWSCognitoIdentityProviderService.RespondToAuthChallenge" &&
      body.ChallengeName === "PASSWORD_VERIFIER"
    ) {
      const r = (body.ChallengeResponses ?? {}) as Record<string, string>;
      const session = typeof body.Session === "string" ? this.#srp.get(body.Session) : undefined;
      if (!session || session.expiresAt < Date.now())
        return failLogin("NotAuthorizedException", "Invalid session for the user, session is expired.");
      this.#srp.delete(body.Session as string);
      if (r.USERNAME !== session.sub) return failLogin("NotAuthorizedException", "Incorrect username or password.");
      if (r.SECRET_HASH !== secretHash(secret, session.sub, client.clientId))
        return failLogin("NotAuthorizedException", `SecretHash does not match for the client: ${client.clientId}`);
      if (typeof r.TIMESTAMP !== "string" || !TIMESTAMP_RE.test(r.TIMESTAMP))
        return failLogin("InvalidParameterException", "TIMESTAMP format");
      if (r.PASSWORD_CLAIM_SECRET_BLOCK !== session.secretBlock)
        return failLogin("NotAuthorizedException", "Incorrect username or password.");
      const key = serverKey(this.#verifier(), session.challenge, session.A);
      const expected = key ? claimSignature(key, POOL_NAME, session.sub, session.secretBlock, r.TIMESTAMP) : "";
      if (!key || typeof r.PASSWORD_CLAIM_SIGNATURE !== "string" || !safeEqual(expected, r.PASSWORD_CLAIM_SIGNATURE))
        return failLogin("NotAuthorizedException", "Incorrect username or password.");
      // One login per account: a new login displaces every earlier session.
      this.#generation++;
      const result = this.#issueTokens(session.sub, session.clientType, true);
      this.emit("login", { sub: session.sub, clientType: session.clientType });
      const text = JSON.stringify({ ChallengeParameters: {}, AuthenticationResult: result });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      return void res.end(text);
    }
    if (target === "AWSCognitoIdentityProviderService.InitiateAuth" && body.AuthFlow === "REFRESH_TOKEN_AUTH") {
      const p = (body.AuthParameters ?? {}) as Record<string, string>;
      const refresh = typeof p.REFRESH_TOKEN === "string" ? this.#refresh.get(p.REFRESH_TOKEN) : undefined;
      const refuse = (why: string): void => {
        this.emit("refresh", { ok: false, reason: why });
        this.#cognitoError(res, "NotAuthorizedException", why);
      };
      if (!refresh) return refuse("Invalid Refresh Token");
      const mode = this.options.refreshSecretHash ?? "hmac";
      const hmacOk = p.SECRET_HASH === secretHash(secret, refresh.sub, client.clientId);
      const rawOk = p.SECRET_HASH === client.secret;
      const ok = mode === "any" ? hmacOk || rawOk : mode === "hmac" ? hmacOk : mode === "raw" ? rawOk : false;
      if (!ok) return refuse(`SecretHash does not match for the client: ${client.clientId}`);
      // A displaced session stays displaced through a refresh when the option says so (real behaviour unknown).
      const generation = this.options.refreshKeepsDisplacement ? refresh.generation : this.#generation;
      const result = this.#issueTokens(refresh.sub, refresh.clientType, false, generation);
      this.emit("refresh", { ok: true });
      const text = JSON.stringify({ ChallengeParameters: {}, AuthenticationResult: result });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      return void res.end(text);
    }
    this.#cognitoError(
      res,
      "InvalidParameterException",
      `unsupported ${target} ${String(body.AuthFlow ?? body.ChallengeName ?? "")}`,
    );
  }

  // ---- SigV4 verification -------------------------------------------------------------------------------

  #regions(): Set<string> {
    return new Set(this.houses.map((h) => h.region));
  }

  /** Verify a header-signed request; returns an error text or the credentials. */
  #verifyHeaders(req: IncomingMessage, url: URL, body: Buffer): { error: string; status: number } | { creds: Creds } {
    const auth = String(req.headers.authorization ?? "");
    const m = SIGV4_AUTHORIZATION.exec(auth);
    if (!m) return { error: "Missing Authentication Token", status: 403 };
    const [, akid, day, region, service, signedList, sig] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const creds = this.#creds.get(akid);
    if (!creds || creds.revoked)
      return { error: "The security token included in the request is invalid.", status: 403 };
    if (creds.expiresAt <= Date.now())
      return { error: "The security token included in the request is expired", status: 403 };
    if (service !== "iotdata")
      return { error: `Credential should be scoped to correct service: 'iotdata'.`, status: 403 };
    if (!this.#regions().has(region)) return { error: `Credential should be scoped to a valid region.`, status: 403 };
    if (req.headers["x-amz-security-token"] !== creds.sessionToken)
      return { error: "The security token included in the request is invalid.", status: 403 };
    const signed = signedList.split(";");
    for (const required of ["host", "x-amz-date", "x-amz-security-token", "content-type", "user-agent"])
      if (!signed.includes(required)) return { error: `${required} must be signed`, status: 403 };
    const when = String(req.headers["x-amz-date"] ?? "");
    if (!/^\d{8}T\d{6}Z$/.test(when) || when.slice(0, 8) !== day) return { error: "bad X-Amz-Date", status: 403 };
    const t = amzDateMs(when);
    if (Math.abs(t - this.#now()) > (this.options.clockToleranceS ?? 300) * 1000)
      return { error: "Signature expired: the request time is too far from the server time", status: 403 };
    const headers: Record<string, string> = {};
    for (const h of signed) {
      const v = req.headers[h];
      if (v === undefined) return { error: `signed header ${h} missing`, status: 403 };
      headers[h] = Array.isArray(v) ? v.join(",") : v;
    }
    const canonical = canonicalRequest({
      method: req.method ?? "GET",
      path: url.pathname,
      query: [...url.searchParams.entries()],
      headers,
      signedHeaders: signed,
      payloadHash: sha256Hex(body),
    });
    const expected = sigV4(creds.secretAccessKey, when, region, service, canonical);
    this.#secrets.add(sig);
    if (!safeEqual(expected, sig))
      return { error: "The request signature we calculated does not match the signature you provided.", status: 403 };
    return { creds };
  }

  // ---- shadows -------------------------------------------------------------------------------------------

  #thing(thing: string): { station?: SimStation; house?: SimHouse } {
    for (const h of this.houses) {
      if (h.id === thing) return { house: h };
      for (const s of h.stations) if (s.thing === thing) return { station: s };
    }
    return {};
  }

  /** The reported document of a named shadow, or undefined when that thing/shadow does not exist. */
  reported(thing: string, name: string): Fields | undefined {
    const { station, house } = this.#thing(thing);
    if (house) {
      if (name !== "2nd_mainpage" && name !== "mainpage") return undefined;
      const out: Fields = {};
      for (const s of house.stations) if (s.self) out[s.sn] = { ...s.self.state, type: s.category };
      return out;
    }
    if (!station) return undefined;
    if (!station.self) {
      const main = station.category === "SBS10" ? "mainpage" : "2nd_mainpage";
      if (name === main) {
        const devs: Fields = {};
        // Children nest their fields under `status` (flattened by the clients).
        for (const d of station.devices) devs[d.sn] = { type: d.type, status: childStatus(d) };
        return { stationSN: station.sn, online: station.online ? "1" : "0", devs };
      }
      const info = /^2nd_info_(.+)$/.exec(name);
      if (info && station.category === "SBS50") {
        if (info[1] === station.sn)
          return { stationSN: station.sn, online: station.online ? "1" : "0", sw: "v1.6.9", wifiRssi: "-50" };
        const d = station.devices.find((x) => x.sn === info[1]);
        if (!d) return undefined;
        return this.#infoOf(station, d);
      }
      return undefined;
    }
    if (name === `2nd_info_${station.sn}`)
      return { ...this.#infoOf(station, station.self), sw: "v2.1.0", wifiRssi: "-61" };
    return undefined;
  }

  #infoOf(station: SimStation, d: SimDevice): Fields {
    const s = d.state as Record<string, string>;
    const out: Fields = {
      stationSN: station.sn,
      deviceSN: d.sn,
      batInfo: s.batInfo,
      isLifeEnd: s.isLifeEnd,
      muteStatus: s.muteStatus,
      sensorStatus: s.sensorStatus,
    };
    if (s.coPpm !== undefined) {
      out.coPpm = s.coPpm;
      out.coLevel = s.coLevel;
      out.standard = s.standard;
      const peak = Math.max(Number(s.coPpmPeak ?? 0), Number(s.coPpm ?? 0)); // never below the reading
      out.peak = { coPpmPeak: String(peak), time: s.coPpmPeakTime ?? utcStamp(Date.now()) };
    }
    for (const k of ["a", "b", "c", "waterAlarmStatus", "onlineTime"]) if (s[k] !== undefined) out[k] = s[k];
    return out;
  }

  #shadowHttp(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const m = /^\/things\/([^/]+)\/shadow$/.exec(url.pathname);
    const name = url.searchParams.get("name");
    if (!m || !name) return this.#json(res, 404, { message: "Not Found" });
    const verdict = this.#verifyHeaders(req, url, body);
    if ("error" in verdict) {
      this.emit("shadowRejected", { reason: verdict.error, status: verdict.status });
      return this.#json(
        res,
        verdict.status,
        { message: verdict.error, traceId: randomUUID() },
        { date: new Date(this.#now()).toUTCString() },
      );
    }
    const thing = decodeURIComponent(m[1]!);
    if (req.method === "GET") {
      const reported = this.reported(thing, name);
      if (!reported) {
        this.emit("shadowGet", { thing, name, status: 404 });
        return this.#json(res, 404, {
          message: `No shadow exists with name: '${thing}~${name}'`,
          traceId: randomUUID(),
        });
      }
      this.emit("shadowGet", { thing, name, status: 200 });
      return this.#json(res, 200, {
        state: { reported },
        metadata: {},
        version: 7,
        timestamp: Math.floor(Date.now() / 1000),
      });
    }
    if (req.method !== "POST") return this.#json(res, 405, { message: "Method Not Allowed" });
    let doc: { state?: { desired?: Fields } };
    try {
      doc = JSON.parse(body.toString("utf8")) as typeof doc;
    } catch {
      return this.#json(res, 400, { message: "Payload contains invalid json" });
    }
    const desired = doc.state?.desired;
    if (!desired || typeof desired !== "object")
      return this.#json(res, 400, { message: "State contains an invalid node" });
    const status = this.#command(thing, name, desired);
    this.emit("shadowPost", { thing, name, desired, status });
    if (status === 404)
      return this.#json(res, 404, { message: `No shadow exists with name: '${thing}~${name}'`, traceId: randomUUID() });
    if (status !== 200) return this.#json(res, status, { message: "desired state rejected" });
    // Accepted without synchronous read-back: the device reports later.
    this.#json(res, 200, { state: { desired }, metadata: {}, version: 8, timestamp: Math.floor(Date.now() / 1000) });
  }

  /** Expected mute route per model (docs/protocols/xsense.md §6); undefined: no remote mute on that route. */
  static muteRoute(type: string): { topic: string; shadow: string; userParam: boolean } | undefined {
    if (type === "SC06-WX" || /^(STH|SWS)/.test(type)) return undefined; // water/climate mute elsewhere
    if (type === "XS01-WX") return { topic: "appmute", shadow: "appMute", userParam: false };
    if (/-(WX|iR|iA)$/.test(type)) return { topic: "2nd_appmute", shadow: "appMute", userParam: false };
    const own: Record<string, string> = {
      "XS01-M": "appMute",
      "XS03-iWX": "appMute",
      "XS0D-MR": "appMute",
      "XP02S-MR": "appMute",
      "SD11-MR": "appMute",
      "XC01-M": "appCoMute",
      "XH02-M": "appXh02mMute",
      "XP0A-MR": "appXp0amrMute",
      "SC07-MR": "appSc07mrMute",
      "SC01-MR": "appSc07mrMute",
      "XP0H-MR": "appSc07mrMute",
      "XP0P-MR": "appSc07mrMute",
      SAL51: "appListener",
      SAL100: "appListener",
    };
    const shadow = Object.hasOwn(own, type) ? own[type] : undefined;
    if (shadow) return { topic: "2nd_appmute", shadow, userParam: false };
    return { topic: "2nd_appmute", shadow: "app2ndMute", userParam: true };
  }

  /** Expected self-test `shadow` per model (docs/protocols/xsense.md §6, HA's APK-aligned table). */
  static selfTestShadow(type: string, station: string): string | undefined {
    if (station === "SBS10") return "appSelfTest";
    if (["XS01-WX", "SC06-WX", "XS0B-iR"].includes(type)) return undefined;
    if (type === "XS01-M" || type === "XS03-iWX") return "appSelfTest";
    if (type === "XC01-M") return "appCoSelfTest";
    if (type === "XH02-M") return "appXh02mSelfTest";
    if (type === "SAL51" || type === "SAL100") return "listenerSelfTest";
    if (type === "SWS51" || type === "SWS0A") return "waterSelfTest";
    if (type === "STH51" || type === "STH0A" || type === "STH0B") return "thSelfTest";
    if (type === "SWS0B" || type === "STH0C") return undefined;
    if (/-(WX|iR|iA)$/.test(type)) return "appSelfTest";
    return "app2ndSelfTest";
  }

  #command(thing: string, name: string, desired: Fields): number {
    const { station } = this.#thing(thing);
    if (!station) return 404;
    const test = /^(2nd_selftest_|appselftest_)(.+)$/.exec(name);
    if (test) {
      const sn = test[2]!;
      const d = station.self?.sn === sn ? station.self : station.devices.find((x) => x.sn === sn);
      if (!d) return 404;
      const route = station.category === "SBS10" ? "appselftest_" : "2nd_selftest_";
      const shadow = XSenseSimulator.selfTestShadow(d.type, station.category);
      if (test[1] !== route || !shadow || desired.shadow !== shadow) return 400;
      if (desired.deviceSN !== sn || desired.stationSN !== station.sn || desired.userId !== this.sub) return 400;
      const request = { thing, shadow: name, desired };
      this.selfTests.push(request);
      this.emit("selfTest", request);
      const outcome = { ...this.selfTestOutcome };
      if (outcome.result === "no-answer") return 200; // a detector that never reports back
      this.#later(this.options.reportDelayMs ?? 20, () => {
        const reported: Fields = {
          stationSN: station.sn,
          deviceSN: sn,
          lastSelfTest: outcome.result,
          time: utcStamp(Date.now()),
        };
        if (outcome.smokeFault) reported.selfTestSmokeFault = "1";
        if (outcome.coFault) reported.selfTestCoFault = "1";
        this.publishShadow(thing, "2nd_selftestup", reported);
      });
      return 200;
    }
    if (name === "2nd_apptempdata") return this.#liveRead(thing, station, desired);
    if (name === "2nd_appmute" || name === "appmute") {
      const sn = String(desired.deviceSN ?? "");
      const d = station.self?.sn === sn ? station.self : station.devices.find((x) => x.sn === sn);
      if (!d || desired.userId !== this.sub || typeof desired.shadow !== "string") return 400;
      const route = XSenseSimulator.muteRoute(d.type);
      if (!route || route.topic !== name || route.shadow !== desired.shadow) return 400;
      if (
        (desired.userParam !== undefined) !== route.userParam ||
        (route.userParam && desired.userParam !== "source=1")
      )
        return 400;
      if (desired.muteType !== "0" && desired.muteType !== "1") return 400;
      if (desired.stationSN !== station.sn || !/^\d{14}$/.test(String(desired.time))) return 400;
      const request = { thing, shadow: name, desired };
      this.mutes.push(request);
      this.emit("mute", request);
      this.#later(this.options.reportDelayMs ?? 20, () => this.#update(sn, { muteStatus: "1" }));
      return 200;
    }
    return 404;
  }

  /** `appTempData` (docs/protocols/xsense.md §6): the station's thermo-hygrometers report their readings now. */
  #liveRead(thing: string, station: SimStation, desired: Fields): number {
    const sns = desired.deviceSN;
    if (desired.shadow !== "appTempData" || desired.stationSN !== station.sn || desired.userId !== this.sub) return 400;
    if (!Array.isArray(sns) || !sns.length || typeof desired.time !== "string") return 400;
    for (const key of ["source", "report", "reportDst"]) if (desired[key] !== "1") return 400;
    const devices = sns.map((sn) => station.devices.find((d) => d.sn === sn && /^STH(51|0A|0B)$/.test(d.type)));
    if (devices.some((d) => !d)) return 400;
    this.emit("liveRead", { thing, shadow: "2nd_apptempdata", desired });
    this.#later(this.options.reportDelayMs ?? 20, () => {
      for (const d of devices) this.#update(d!.sn, {});
    });
    return 200;
  }

  // ---- MQTT --------------------------------------------------------------------------------------------------

  readonly #pendingWs = new Set<{ ws: WebSocket; stream: Duplex }>();

  #mqttSocket(ws: WebSocket, req: IncomingMessage, verdict: Verdict): void {
    const stream = createWebSocketStream(ws);
    stream.on("error", () => undefined);
    this.#verdicts.set(stream, verdict);
    this.#pendingWs.add({ ws, stream });
    ws.on("close", () => {
      for (const p of this.#pendingWs) if (p.ws === ws) this.#pendingWs.delete(p);
    });
    this.#broker!.handle(stream, req);
  }

  #verifyPresigned(req: IncomingMessage): Verdict {
    const raw = req.url ?? "";
    const url = new URL(raw, "http://x");
    const q = url.searchParams;
    const scope = /^[^/]+\/\d{8}\/([^/]+)\//.exec(q.get("X-Amz-Credential") ?? "");
    const no = (reason: string, accessKeyId = ""): Verdict => ({
      ok: false,
      reason,
      accessKeyId,
      region: scope?.[1] ?? "",
    });
    if (q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") return no("algorithm");
    const credential = q.get("X-Amz-Credential") ?? "";
    const cm = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(credential);
    if (!cm) return no("credential");
    const [, akid, day, region, service] = cm as unknown as [string, string, string, string, string];
    const creds = this.#creds.get(akid);
    if (!creds) return no("unknown access key", akid);
    if (creds.revoked) return no("credentials revoked", akid);
    if (creds.expiresAt <= Date.now()) return no("credentials expired", akid);
    if (service !== "iotdata" || !this.#regions().has(region)) return no("scope", akid);
    if (q.get("X-Amz-SignedHeaders") !== "host") return no("signed headers", akid);
    const when = q.get("X-Amz-Date") ?? "";
    if (!/^\d{8}T\d{6}Z$/.test(when) || when.slice(0, 8) !== day) return no("date", akid);
    const t = amzDateMs(when);
    const age = this.#now() - t;
    if (age > (this.options.urlMaxAgeS ?? 300) * 1000 || age < -(this.options.clockToleranceS ?? 300) * 1000)
      return no("URL too old or from the future", akid);
    if (q.get("X-Amz-Security-Token") !== creds.sessionToken) return no("security token", akid);
    // The token and the signature are outside the signed query.
    const signedQuery: Array<[string, string]> = [...q.entries()].filter(
      ([k]) => k !== "X-Amz-Security-Token" && k !== "X-Amz-Signature",
    );
    const canonical = canonicalRequest({
      method: "GET",
      path: url.pathname,
      query: signedQuery,
      headers: { host: String(req.headers.host ?? "") },
      signedHeaders: ["host"],
      payloadHash: EMPTY_SHA256,
    });
    const expected = sigV4(creds.secretAccessKey, when, region, service, canonical);
    this.#secrets.add(q.get("X-Amz-Signature") ?? "");
    if (!safeEqual(expected, q.get("X-Amz-Signature") ?? "")) return no("signature", akid);
    return { ok: true, reason: "", accessKeyId: akid, region };
  }

  /** Publish a raw payload (string or object) on a topic. */
  publishRaw(topic: string, payload: string | object): void {
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    this.#broker?.publish(
      { cmd: "publish", topic, payload: Buffer.from(text), qos: 0, dup: false, retain: false },
      () => undefined,
    );
    this.emit("published", { topic, payload: text });
  }

  /** A shadow update as AWS IoT sends it: `/update`, then the `/update/accepted` and `/update/documents` duplicates. */
  publishShadow(thing: string, name: string, reported: Fields): void {
    const base = `$aws/things/${thing}/shadow/name/${name}/update`;
    this.publishRaw(base, { state: { reported } });
    this.publishRaw(`${base}/accepted`, {
      state: { reported },
      metadata: {},
      version: 9,
      timestamp: Math.floor(Date.now() / 1000),
    });
    this.publishRaw(`${base}/documents`, { previous: null, current: { state: { reported } } });
  }

  /** SBS50 local MQTT output per station serial (sim/xsense/local-publisher.ts attaches one). */
  readonly localPublishers = new Map<string, { deviceChanged(sn: string, type: string, state: Fields): void }>();

  #publishLocal(station: SimStation, device: SimDevice): void {
    this.localPublishers.get(station.sn)?.deviceChanged(device.sn, device.type, device.state);
  }

  /** Change a device's reported fields and publish the shadows that carry them. */
  #update(sn: string, fields: Fields, alarm?: { type?: string }): void {
    const { device, station } = this.device(sn);
    Object.assign(device.state, fields);
    this.#publishLocal(station, device);
    const now = utcStamp(Date.now());
    if (alarm) {
      const isAlarm = fields.alarmStatus ?? fields.waterAlarmStatus;
      const reported: Fields = { stationSN: station.sn, type: device.type, isAlarm, time: now };
      if (!station.self) reported.deviceSN = sn;
      if (alarm.type) reported.alarmType = alarm.type;
      this.publishShadow(station.thing, "2nd_alarm", reported);
    }
    if (station.self) {
      this.publishShadow(station.house.id, "2nd_mainpage", { [station.sn]: { ...device.state, type: device.type } });
    } else {
      const main = station.category === "SBS10" ? "mainpage" : "2nd_mainpage";
      this.publishShadow(station.thing, main, {
        stationSN: station.sn,
        devs: { [sn]: { type: device.type, status: childStatus(device) } },
      });
      if (station.category === "SBS50")
        this.publishShadow(station.thing, `2nd_info_${sn}`, this.#infoOf(station, device));
    }
  }

  // ---- test hooks ------------------------------------------------------------------------------------------------

  raiseSmoke(sn: string): void {
    this.#update(sn, { alarmStatus: "1" }, { type: "1" });
  }

  clearSmoke(sn: string): void {
    this.#update(sn, { alarmStatus: "0", muteStatus: "0" }, {});
  }

  raiseCo(sn: string, ppm = 300): void {
    // The detector remembers its highest reading (`peak`, docs/protocols/xsense.md §5.4).
    const peak = Math.max(ppm, Number(this.device(sn).device.state.coPpmPeak ?? 0));
    const peakFields = { coPpmPeak: String(peak), coPpmPeakTime: utcStamp(Date.now()) };
    this.#update(sn, { alarmStatus: "1", coPpm: String(ppm), coLevel: "3", ...peakFields }, { type: "2" });
  }

  clearCo(sn: string): void {
    this.#update(sn, { alarmStatus: "0", coPpm: "0", coLevel: "0", muteStatus: "0" }, {});
  }

  /** The user hushes a sounding detector at the detector (its button): muteStatus 1, reported as any change. */
  hushAtDetector(sn: string): void {
    this.#update(sn, { muteStatus: "1" });
  }

  /** A water leak sensor detects water (SWS0B names its flag waterAlarmStatus) or dries up. */
  raiseLeak(sn: string): void {
    const key = this.device(sn).device.type === "SWS0B" ? "waterAlarmStatus" : "alarmStatus";
    this.#update(sn, { [key]: "1" }, {});
  }

  clearLeak(sn: string): void {
    const key = this.device(sn).device.type === "SWS0B" ? "waterAlarmStatus" : "alarmStatus";
    this.#update(sn, { [key]: "0", muteStatus: "0" }, {});
  }

  /** A listener hears a smoke (T3) or CO (T4) alarm sound: `alarmType` as the fire drill encodes it. */
  listenerHears(sn: string, what: "smoke" | "co"): void {
    this.#update(sn, { alarmStatus: "1" }, { type: what === "smoke" ? "1" : "2" });
  }

  listenerQuiet(sn: string): void {
    this.#update(sn, { alarmStatus: "0", muteStatus: "0" }, {});
  }

  /** A thermo-hygrometer's reading (compact keys b/c), pushed as its station pushes it. */
  setClimate(sn: string, celsius: number, humidity: number): void {
    this.#update(sn, { b: celsius.toFixed(1), c: String(humidity) });
  }

  /** A sleeping Wi-Fi detector (docs/protocols/xsense.md §5.6) after a check-in at `lastCheckInMs`: its module is
   * off, so its thing's presence reads disconnected, the station list's onLine 0 and its record online "0";
   * only `onlineTime` tells when it last checked in. */
  sleepWifi(sn: string, lastCheckInMs: number): void {
    this.setStationOnline(sn, false);
    this.#update(sn, { online: "0", onlineTime: utcStamp(lastCheckInMs) });
  }

  /** The sleeping detector checks in now (and reports itself online until it sleeps again). */
  checkInWifi(sn: string): void {
    this.setStationOnline(sn, true);
    this.#update(sn, { online: "1", onlineTime: utcStamp(Date.now()) });
  }

  /** batInfo 0-3 (0 empty, 3 full). */
  setBattery(sn: string, batInfo: number): void {
    this.#update(sn, { batInfo: String(batInfo) });
  }

  endOfLife(sn: string): void {
    this.#update(sn, { isLifeEnd: "1" });
  }

  /** The user renames a room in the app (seen at the next 102008; the app pushes nothing). */
  renameRoom(from: string, to: string): void {
    for (const house of this.houses) {
      for (const [id, name] of house.rooms) if (name === from) house.rooms.set(id, to);
    }
  }

  /** The user moves a detector (or a Wi-Fi detector) to another room, undefined: to no room. */
  moveToRoom(sn: string, room: string | undefined): void {
    const { device, station } = this.device(sn);
    device.roomId = roomIdFor(station.house, room);
    if (station.self === device) station.roomId = device.roomId;
  }

  /** Change fields silently (no push): what a missed MQTT message would leave behind. */
  setSilently(sn: string, fields: Fields): void {
    Object.assign(this.device(sn).device.state, fields);
  }

  /** A base station's link: the flag in 103007/shadows, and a presence event. */
  setStationOnline(sn: string, online: boolean, publish = true): void {
    const station = this.station(sn);
    station.online = online;
    if (publish)
      this.publishRaw(`$aws/events/presence/${online ? "connected" : "disconnected"}/${station.thing}`, {
        clientId: station.thing,
        eventType: online ? "connected" : "disconnected",
        timestamp: Date.now(),
      });
  }

  /** Invalidate every access token now (errCode 10000008 by default). */
  expireSessions(errCode = this.options.expiredErrCode ?? "10000008"): void {
    for (const t of this.#access.values()) t.revoked = errCode;
  }

  /** Another login of the account (the app): every earlier session is displaced. */
  loginElsewhere(): void {
    this.#generation++;
  }

  /** Expire every credential vended so far (shadow calls get 403; MQTT connections using them are dropped). */
  expireCredentials(dropMqtt = this.options.dropMqttOnCredentialExpiry !== false): void {
    for (const c of this.#creds.values()) c.expiresAt = Date.now() - 1;
    if (dropMqtt) this.dropMqtt();
  }

  /** The service revokes every credential vended so far before its stated expiration: shadow calls get
   * 403, MQTT connections using them are dropped and upgrades presigned with them get HTTP 403. The
   * driver still believes them valid (their `expiration` lies ahead), so only the refusal can tell it. */
  revokeCredentials(): void {
    for (const c of this.#creds.values()) c.revoked = true;
    this.dropMqtt();
  }

  /** Refuse the next `count` MQTT upgrades with HTTP 403 even when their credentials are good (a
   * signature or policy the service rejects for its own reasons). */
  refuseUpgrades(count: number): void {
    this.#refuseUpgrades = count;
  }

  /** Whether the service still accepts a credential set it vended (tests). */
  credentialsValid(accessKeyId: string): boolean {
    const c = this.#creds.get(accessKeyId);
    return !!c && !c.revoked && c.expiresAt > Date.now();
  }

  /** Close every MQTT connection (as a network failure would). */
  dropMqtt(): void {
    for (const { ws } of this.#sockets.values()) ws.terminate();
    this.#sockets.clear();
  }

  /** The next authenticated /app call fails this way ("http500" is the "not authorised exception"
   * users see when the session is gone; "http503" a plain outage). */
  failNextApp(kind: "http500" | "http503" | "bizCodeEmpty"): void {
    this.#failNext.push(kind);
  }

  /** Cognito requests get no answer at all while on (a stalled login); the client's timeout ends them. */
  stallLogins(on: boolean): void {
    this.#stallLogins = on;
  }

  /** Every secret the simulator issued or verified so far: access/id/refresh tokens, AWS credentials,
   * the client secret, request MACs, SRP SECRET_HASH / claim signatures / sessions, SigV4 and
   * presigned-URL signatures (the account password is `password`). */
  get issuedSecrets(): string[] {
    return [...this.#secrets].filter((v) => v.length >= 8);
  }

  get mqttClients(): string[] {
    return [...this.#sockets.keys()];
  }

  /** Validity of an access token the driver holds (tests). */
  tokenState(token: string): "valid" | "unknown" | "revoked" | "displaced" | "expired" {
    const t = this.#access.get(token);
    if (!t) return "unknown";
    if (t.revoked) return "revoked";
    if (t.generation !== this.#generation) return "displaced";
    return t.exp * 1000 <= Date.now() ? "expired" : "valid";
  }
}
