// Loopback X-Sense cloud simulator (see docs/protocols/xsense.md §8). One HTTP server on
// 127.0.0.1 serves the app API at /app, a Cognito endpoint at /cognito/ (SRP with SECRET_HASH
// checks, REFRESH_TOKEN_AUTH), the shadow REST API at /things/… (SigV4-verified) and an MQTT
// broker (aedes) over WebSocket at /mqtt (presigned-URL-verified). Test hooks raise and clear
// alarms, drain batteries, report end of life, answer self-tests, expire sessions and credentials,
// drop MQTT; an EventEmitter reports what happened so tests await events instead of sleeping.
// Made-up accounts and secrets only.
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { SimAppApi } from "./app-api.ts";
import { SimCognito } from "./cognito.ts";
import {
  type AppCall,
  CLIENTS,
  defaultHouses,
  defaultState,
  type Fields,
  hex32,
  roomIdFor,
  type SelfTestRequest,
  sendJson,
  type SimDevice,
  type SimEvents,
  type SimHouse,
  type SimShared,
  type SimStation,
  type SimUrls,
  simThingName,
  utcStamp,
  type XSenseSimulatorOptions,
} from "./model.ts";
import { SimMqtt } from "./mqtt.ts";
import { muteRoute, SimShadows, selfTestShadow } from "./shadows.ts";

export {
  type AppCall,
  type BadMacAnswer,
  defaultHouses,
  type Fields,
  type SelfTestRequest,
  type SimDeviceSpec,
  type SimEvents,
  type SimHouseSpec,
  type SimStationSpec,
  type SimUrls,
  simThingName,
  type XSenseSimulatorOptions,
} from "./model.ts";

export const DEMO_EMAIL = "demo@hearthbridge.invalid";
export const DEMO_PASSWORD = "Correct-Horse-Battery-1";

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
  #base = "";
  readonly #timers = new Set<NodeJS.Timeout>();
  #stallLogins = false;
  /** The state the protocol modules share: tokens, credentials, MQTT sessions, vended secrets. */
  readonly #st: SimShared = {
    sim: this,
    secrets: new Set<string>(),
    access: new Map(),
    refresh: new Map(),
    creds: new Map(),
    sockets: new Map(),
    generation: 0,
    failNext: [],
    refuseUpgrades: 0,
    later: (ms, fn) => this.#later(ms, fn),
    now: () => this.#now(),
  };
  readonly #app = new SimAppApi(this.#st);
  readonly #cognito = new SimCognito(this.#st);
  readonly #shadows = new SimShadows(this.#st);
  readonly #mqtt = new SimMqtt(this.#st);
  /** SBS50 local MQTT output per station serial (sim/xsense/local-publisher.ts attaches one). */
  readonly localPublishers = new Map<string, { deviceChanged(sn: string, type: string, state: Fields): void }>();

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
    await this.#mqtt.start();
    this.#server = createServer((req, res) => void this.#http(req, res));
    this.#server.on("upgrade", (req, socket, head) => this.#mqtt.upgrade(req, socket, head));
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
    await this.#mqtt.stop();
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
      if (url.pathname === "/app" && req.method === "POST") return this.#app.handle(req, res, body);
      if (url.pathname.startsWith("/cognito") && req.method === "POST") {
        if (this.#stallLogins) return; // no answer: the client's own timeout decides
        return this.#cognito.handle(req, res, body);
      }
      if (url.pathname.startsWith("/things/")) return this.#shadows.handle(req, res, url, body);
      sendJson(res, 404, { message: "Not Found" });
    } catch (error) {
      sendJson(res, 500, { message: (error as Error).message });
    }
  }

  // ---- shadows and MQTT (shadows.ts, mqtt.ts) ------------------------------------------------------

  /** The reported document of a named shadow, or undefined when that thing/shadow does not exist. */
  reported(thing: string, name: string): Fields | undefined {
    return this.#shadows.reported(thing, name);
  }

  /** Expected mute route per model (docs/protocols/xsense.md §6); undefined: no remote mute on that route. */
  static muteRoute(type: string): { topic: string; shadow: string; userParam: boolean } | undefined {
    return muteRoute(type);
  }

  /** Expected self-test `shadow` per model (docs/protocols/xsense.md §6, HA's APK-aligned table). */
  static selfTestShadow(type: string, station: string): string | undefined {
    return selfTestShadow(type, station);
  }

  /** Publish a raw payload (string or object) on a topic. */
  publishRaw(topic: string, payload: string | object): void {
    this.#mqtt.publishRaw(topic, payload);
  }

  /** A shadow update as AWS IoT sends it: `/update`, then the `/update/accepted` and `/update/documents` duplicates. */
  publishShadow(thing: string, name: string, reported: Fields): void {
    this.#mqtt.publishShadow(thing, name, reported);
  }

  /** Change a device's reported fields and publish the shadows that carry them. */
  #update(sn: string, fields: Fields, alarm?: { type?: string }): void {
    this.#shadows.update(sn, fields, alarm);
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
    for (const t of this.#st.access.values()) t.revoked = errCode;
  }

  /** Another login of the account (the app): every earlier session is displaced. */
  loginElsewhere(): void {
    this.#st.generation++;
  }

  /** Expire every credential vended so far (shadow calls get 403; MQTT connections using them are dropped). */
  expireCredentials(dropMqtt = this.options.dropMqttOnCredentialExpiry !== false): void {
    for (const c of this.#st.creds.values()) c.expiresAt = Date.now() - 1;
    if (dropMqtt) this.dropMqtt();
  }

  /** The service revokes every credential vended so far before its stated expiration: shadow calls get
   * 403, MQTT connections using them are dropped and upgrades presigned with them get HTTP 403. The
   * driver still believes them valid (their `expiration` lies ahead), so only the refusal can tell it. */
  revokeCredentials(): void {
    for (const c of this.#st.creds.values()) c.revoked = true;
    this.dropMqtt();
  }

  /** Refuse the next `count` MQTT upgrades with HTTP 403 even when their credentials are good (a
   * signature or policy the service rejects for its own reasons). */
  refuseUpgrades(count: number): void {
    this.#st.refuseUpgrades = count;
  }

  /** Whether the service still accepts a credential set it vended (tests). */
  credentialsValid(accessKeyId: string): boolean {
    const c = this.#st.creds.get(accessKeyId);
    return !!c && !c.revoked && c.expiresAt > Date.now();
  }

  /** Close every MQTT connection (as a network failure would). */
  dropMqtt(): void {
    for (const { ws } of this.#st.sockets.values()) ws.terminate();
    this.#st.sockets.clear();
  }

  /** The next authenticated /app call fails this way ("http500" is the "not authorised exception"
   * users see when the session is gone; "http503" a plain outage). */
  failNextApp(kind: "http500" | "http503" | "bizCodeEmpty"): void {
    this.#st.failNext.push(kind);
  }

  /** Cognito requests get no answer at all while on (a stalled login); the client's timeout ends them. */
  stallLogins(on: boolean): void {
    this.#stallLogins = on;
  }

  /** Every secret the simulator issued or verified so far: access/id/refresh tokens, AWS credentials,
   * the client secret, request MACs, SRP SECRET_HASH / claim signatures / sessions, SigV4 and
   * presigned-URL signatures (the account password is `password`). */
  get issuedSecrets(): string[] {
    return [...this.#st.secrets].filter((v) => v.length >= 8);
  }

  get mqttClients(): string[] {
    return [...this.#st.sockets.keys()];
  }

  /** Validity of an access token the driver holds (tests). */
  tokenState(token: string): "valid" | "unknown" | "revoked" | "displaced" | "expired" {
    const t = this.#st.access.get(token);
    if (!t) return "unknown";
    if (t.revoked) return "revoked";
    if (t.generation !== this.#st.generation) return "displaced";
    return t.exp * 1000 <= Date.now() ? "expired" : "valid";
  }
}
