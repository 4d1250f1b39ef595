// The X-Sense simulator's model: its options and house specs, the houses, stations and detectors it
// holds, the tokens and credentials it vends, the events it emits, the Cognito app clients, and the
// small helpers the protocol modules (app-api.ts, cognito.ts, shadows.ts, mqtt.ts) share; SimShared is
// the state they share with index.ts.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { WebSocket } from "ws";
import type { ServerChallenge } from "./srp.ts";
import type { XSenseSimulator } from "./index.ts";

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

export interface SimDevice {
  id: string;
  sn: string;
  type: string;
  name: string;
  roomId: string | undefined;
  state: Fields;
}

export interface SimStation {
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

export interface SimHouse {
  id: string;
  name: string;
  region: string;
  server: string;
  /** Room id → name (102008). */
  rooms: Map<string, string>;
  stations: SimStation[];
}

export interface AccessToken {
  sub: string;
  exp: number;
  generation: number;
  revoked?: string;
}

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiresAt: number;
  /** Revoked by the service before its stated expiration. */
  revoked?: boolean;
}

/** The broker's view of a presigned MQTT URL. */
export interface Verdict {
  ok: boolean;
  reason: string;
  accessKeyId: string;
  region: string;
}

export interface SrpSession {
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

export const POOL_ID = "us-east-1_SimPool42";
export const POOL_NAME = POOL_ID.split("_")[1]!;
/** One Cognito app client per clientType, each with its own secret (docs/protocols/xsense.md §2.1). */
export const CLIENTS: Record<string, { clientId: string; secret: string; name: string }> = {
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
export const COMMON = ["clientType", "mac", "appVersion", "bizCode", "appCode"];

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
export function roomIdFor(house: SimHouse, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  for (const [id, n] of house.rooms) if (n === name) return id;
  const id = hex32();
  house.rooms.set(id, name);
  return id;
}

export function hex32(): string {
  return randomBytes(16).toString("hex").toUpperCase();
}

export function defaultState(type: string): Fields {
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

export function isClimate(type: string): boolean {
  return /^STH/.test(type);
}

/** What a child record of a station's mainpage carries, nested under `status`. */
export function childStatus(d: { type: string; state: Fields }): Fields {
  const s = d.state;
  const keys = isClimate(d.type)
    ? ["a", "b", "c", "muteStatus", "online", "batInfo"]
    : ["alarmStatus", "muteStatus", "online", "batInfo"];
  return Object.fromEntries(keys.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
}

/** `YYYY-MM-DD HH:MM:SS+00:00` */
export function expirationText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")}+00:00`;
}

export function utcStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

/** Milliseconds of an X-Amz-Date (`YYYYMMDDTHHMMSSZ`, already checked by the caller). */
export function amzDateMs(when: string): number {
  return Date.parse(
    `${when.slice(0, 4)}-${when.slice(4, 6)}-${when.slice(6, 8)}` +
      `T${when.slice(9, 11)}:${when.slice(11, 13)}:${when.slice(13, 15)}Z`,
  );
}

/** The Authorization header of a header-signed (SigV4) request. */
export const SIGV4_AUTHORIZATION = new RegExp(
  "^AWS4-HMAC-SHA256 Credential=([^/]+)/(\\d{8})/([^/]+)/([^/]+)/aws4_request, ?" +
    "SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$",
);

/** What the protocol modules share with the simulator (index.ts owns it). */
export interface SimShared {
  readonly sim: XSenseSimulator;
  /** Every secret value issued or checked: secrets tests grep for them (issuedSecrets). */
  readonly secrets: Set<string>;
  readonly access: Map<string, AccessToken>;
  readonly refresh: Map<string, { sub: string; clientType: string; generation: number }>;
  readonly creds: Map<string, Creds>;
  /** Open MQTT connections by client id. */
  readonly sockets: Map<string, { ws: WebSocket; accessKeyId: string }>;
  /** Bumped by each login: tokens of an older generation are displaced. */
  generation: number;
  failNext: Array<"http500" | "http503" | "bizCodeEmpty">;
  /** WebSocket upgrades still to refuse with 403 whatever their credentials (refuseUpgrades). */
  refuseUpgrades: number;
  /** A timer the simulator clears at stop. */
  later(ms: number, fn: () => void): void;
  /** The service's clock (options.clockOffsetMs). */
  now(): number;
}

/** The regions the account's houses are in: the credential scopes the service accepts. */
export function regionsOf(houses: SimHouse[]): Set<string> {
  return new Set(houses.map((h) => h.region));
}

/** A JSON answer. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
