// The simulated Nanit control sockets (docs/protocols/nanit.md §4-§6): the cloud relay
// (/focus/cameras/{uid}/user_connect, and /speakers/{uid}/user_connect/ for the Sound & Light Machine)
// and each camera's local socket, with their limits; the camera's answers to requests, its sensor and
// alert pushes, and PUT_STREAMING, which starts the camera's push (stream.ts).
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import {
  decodeMessage,
  encodeMessage,
  type NanitMessage,
  type RequestMsg,
  type ResponseMsg,
  type RequestPayload,
  type SettingsMsg,
} from "../../src/drivers/nanit/proto.ts";
import { sendAlert, type SimAlertKind } from "./alerts.ts";
import type { NanitSimulator } from "./index.ts";
import type { SimRest } from "./rest.ts";
import type { SimSoundLight } from "./sound-light.ts";
import type { Answer } from "./sound-machine.ts";
import type { CameraPusher } from "./stream.ts";
import type { Conn, ConnInfo, Flavour, ReceivedRequest, SimCamera } from "./types.ts";

export const CONNECTION_LIMIT_MESSAGE = "Forbidden: Number of Mobile App connections above limit, declining connection";

/** What the sockets read on the simulator (tests change some of it between sessions). */
export type SocketHost = Pick<
  NanitSimulator,
  | "cloudConnectionLimit"
  | "localConnectionLimit"
  | "localAuth"
  | "sensorPushMs"
  | "echoControl"
  | "localCloseAfterMs"
  | "loopbackPushOnly"
  | "received"
  | "emit"
>;

export interface CameraSocketParts {
  cameras: ReadonlyMap<string, SimCamera>;
  speakers: ReadonlyMap<string, SimSoundLight>;
  rest: SimRest;
  pusher: CameraPusher;
  /** Injected PUT_STREAMING outcomes, used one per request. */
  streamFaults: Array<{ status: number; message: string } | "no-answer">;
}

export class CameraSockets {
  readonly #sim: SocketHost;
  readonly #cameras: ReadonlyMap<string, SimCamera>;
  readonly #speakers: ReadonlyMap<string, SimSoundLight>;
  readonly #rest: SimRest;
  readonly #pusher: CameraPusher;
  readonly #streamFaults: CameraSocketParts["streamFaults"];
  readonly #conns = new Set<Conn>();
  readonly #cloudWss = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false });
  #connCount = 0;
  #cameraRequestId = 112_000;

  constructor(sim: SocketHost, parts: CameraSocketParts) {
    this.#sim = sim;
    this.#cameras = parts.cameras;
    this.#speakers = parts.speakers;
    this.#rest = parts.rest;
    this.#pusher = parts.pusher;
    this.#streamFaults = parts.streamFaults;
  }

  /** Ends every session at once (no close frame) and forgets it. */
  terminateAll(): void {
    for (const c of this.#conns) {
      clearTimeout(c.pushTimer);
      c.ws.terminate();
    }
    this.#conns.clear();
  }

  close(): void {
    this.#cloudWss.close();
  }

  /** A motion / sound / cry alert to every session of the camera that enabled that kind (alerts.ts). */
  alert(cameraUid: string, kind: SimAlertKind, at: number): number {
    return sendAlert([...this.#conns], cameraUid, kind, at, (conn, payload) =>
      this.cameraRequest(conn, "PUT_SENSOR_DATA", payload),
    );
  }

  /** Existing sessions stop answering requests and pings (socket open, TCP alive). New sessions work. */
  goSilent(flavour?: Flavour): number {
    let n = 0;
    for (const c of this.#conns) {
      if (flavour && c.flavour !== flavour) continue;
      c.silent = true;
      n++;
    }
    return n;
  }

  dropSockets(flavour?: Flavour): void {
    for (const c of this.#conns) if (!flavour || c.flavour === flavour) c.ws.terminate();
  }

  /** Send raw bytes (e.g. a malformed frame) to every session. */
  sendRaw(bytes: Uint8Array, flavour?: Flavour): void {
    for (const c of this.#conns) if (!flavour || c.flavour === flavour) c.ws.send(bytes, { binary: true });
  }

  /** Open sessions, by flavour. */
  connections(flavour?: Flavour): ConnInfo[] {
    return [...this.#conns]
      .filter((c) => !flavour || c.flavour === flavour)
      .map(({ conn, flavour: f, cameraUid }) => ({ conn, flavour: f, cameraUid }));
  }

  #reject(socket: Duplex, status: number, flavour: Flavour, cameraUid: string): void {
    const text = status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : "Not Found";
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    this.#sim.emit("rejected", { flavour, cameraUid, status });
  }

  cloudUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const speaker = /^\/speakers\/([^/]+)\/user_connect\/?$/.exec(new URL(req.url ?? "/", "http://sim").pathname);
    if (speaker) return this.#speakerUpgrade(decodeURIComponent(speaker[1]!), req, socket, head);
    const m = /^\/focus\/cameras\/([^/]+)\/user_connect$/.exec(new URL(req.url ?? "/", "http://sim").pathname);
    const cameraUid = m ? decodeURIComponent(m[1]!) : "";
    const cam = this.#cameras.get(cameraUid);
    if (!cam) return this.#reject(socket, 404, "cloud", cameraUid);
    if (!this.#rest.accessValid(this.#rest.tokenFrom(req.headers.authorization, true)))
      return this.#reject(socket, 401, "cloud", cameraUid);
    const overLimit =
      [...this.#conns].filter((c) => c.flavour === "cloud" && c.cameraUid === cameraUid).length >=
      this.#sim.cloudConnectionLimit;
    this.#cloudWss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, "cloud", cam, overLimit));
  }

  /** The Sound & Light relay: `token <access token>` (not Bearer; docs/protocols/nanit.md §4.7). */
  #speakerUpgrade(uid: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const sl = this.#speakers.get(uid);
    if (!sl) return this.#reject(socket, 404, "cloud", uid);
    const m = /^token (.+)$/.exec(req.headers.authorization ?? "");
    if (!m || !this.#rest.accessValid(m[1])) return this.#reject(socket, 401, "cloud", uid);
    this.#cloudWss.handleUpgrade(req, socket, head, (ws) => sl.accept(ws));
  }

  localUpgrade(cam: SimCamera, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const auth = req.headers.authorization ?? "";
    const m = /^token (.+)$/.exec(auth);
    const ok =
      !!m && (this.#sim.localAuth === "uc_token" ? this.#rest.ucTokenValid(m[1]!) : this.#rest.accessValid(m[1]));
    if (!ok) return this.#reject(socket, 401, "local", cam.uid);
    if (
      [...this.#conns].filter((c) => c.flavour === "local" && c.cameraUid === cam.uid).length >=
      this.#sim.localConnectionLimit
    )
      return this.#reject(socket, 403, "local", cam.uid);
    wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, "local", cam, false));
  }

  #accept(ws: WebSocket, flavour: Flavour, cam: SimCamera, overLimit: boolean): void {
    const conn: Conn = {
      conn: ++this.#connCount,
      flavour,
      cameraUid: cam.uid,
      ws,
      silent: false,
      sensorTransfer: false,
      transfer: {},
      pushTimer: undefined,
      overLimit,
    };
    this.#conns.add(conn);
    const info: ConnInfo = { conn: conn.conn, flavour, cameraUid: cam.uid };
    ws.on("ping", (data) => {
      if (!conn.silent) ws.pong(data);
    });
    ws.on("message", (data, isBinary) => this.#onFrame(conn, cam, data, isBinary));
    ws.on("error", () => undefined);
    ws.on("close", () => {
      clearTimeout(conn.pushTimer);
      this.#conns.delete(conn);
      // The push dies with the control session that requested it (docs/protocols/nanit.md §6.2).
      this.#pusher.stopOwnedBy(conn.conn, "control-closed");
      this.#sim.emit("disconnect", info);
    });
    this.#sim.emit("connection", info);
    // The quirk: a state burst, then an abnormal close (no close frame: the client sees 1006).
    if (flavour === "local" && this.#sim.localCloseAfterMs !== undefined) {
      this.cameraRequest(conn, "PUT_STATUS", { status: { connection_to_server: "CONNECTED" } });
      setTimeout(() => ws.terminate(), this.#sim.localCloseAfterMs).unref();
    }
  }

  #send(conn: Conn, message: NanitMessage): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(encodeMessage(message), { binary: true });
  }

  #onFrame(conn: Conn, cam: SimCamera, data: RawData, isBinary: boolean): void {
    const info: ConnInfo = { conn: conn.conn, flavour: conn.flavour, cameraUid: cam.uid };
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    let message: NanitMessage;
    try {
      if (!isBinary) throw new Error("text frame");
      message = decodeMessage(bytes);
    } catch (error) {
      this.#sim.emit("malformed", { ...info, bytes: bytes.length, error: (error as Error).message });
      return;
    }
    if (message.type === "KEEPALIVE") return void this.#sim.emit("keepalive", info); // never answered
    if (message.type !== "REQUEST" || !message.request) return;
    const request = message.request;
    const record: ReceivedRequest = { ...info, at: Date.now(), request };
    this.#sim.received.push(record);
    this.#sim.emit("request", record);
    if (conn.silent) return;
    const respond = (status: number, extra: Partial<ResponseMsg> = {}, statusMessage?: string): void =>
      this.#send(conn, {
        type: "RESPONSE",
        response: {
          request_id: request.id,
          request_type: request.type,
          status_code: status,
          ...(statusMessage ? { status_message: statusMessage } : {}),
          ...extra,
        },
      });
    const answer = (a: Answer): void => (a === "no-answer" ? undefined : respond(a.status, a.extra, a.message));
    if (conn.overLimit) return respond(403, {}, CONNECTION_LIMIT_MESSAGE);
    switch (request.type) {
      case "GET_SENSOR_DATA":
        return respond(200, { sensor_data: this.#sensorData(cam, ["TEMPERATURE", "HUMIDITY", "LIGHT", "NIGHT"]) });
      case "PUT_CONTROL": {
        const c = request.control ?? {};
        if (c.sensor_data_transfer) {
          conn.sensorTransfer = Object.values(c.sensor_data_transfer).some(Boolean);
          conn.transfer = { ...c.sensor_data_transfer };
          this.#schedulePush(conn, cam);
        }
        if (c.night_light !== undefined) {
          cam.nightLight = c.night_light === "LIGHT_ON";
          this.pushAll(cam, "PUT_CONTROL", { control: { night_light: c.night_light } }, conn);
        }
        if (c.night_light_timeout !== undefined) {
          cam.nightLightTimeoutS = c.night_light_timeout;
          this.pushAll(cam, "PUT_CONTROL", { control: { night_light_timeout: c.night_light_timeout } }, conn);
        }
        return respond(
          200,
          this.#sim.echoControl && c.night_light !== undefined ? { control: { night_light: c.night_light } } : {},
        );
      }
      case "GET_CONTROL": {
        // The timer only when asked for (EM's GetControl adds night_light_timeout) and ever set.
        const timeout = request.get_control?.night_light_timeout ? cam.nightLightTimeoutS : undefined;
        return respond(200, {
          control: {
            night_light: cam.nightLight ? "LIGHT_ON" : "LIGHT_OFF",
            ...(timeout !== undefined ? { night_light_timeout: timeout } : {}),
          },
        });
      }
      case "GET_SETTINGS":
        return respond(200, { settings: this.#settings(cam) });
      case "PUT_SETTINGS": {
        const delta: SettingsMsg = {};
        for (const [k, v] of Object.entries(request.settings ?? {})) {
          if (k in cam.settings && v !== undefined) {
            (cam.settings as Record<string, unknown>)[k] = v;
            (delta as Record<string, unknown>)[k] = v;
          }
        }
        if (Object.keys(delta).length) this.pushAll(cam, "PUT_SETTINGS", { settings: delta }, conn);
        if (delta.sleep_mode) this.#pusher.stop(cam.uid, "standby");
        return respond(200);
      }
      case "GET_STATUS":
        return respond(200, {
          status: {
            connection_to_server: "CONNECTED",
            current_version: cam.firmware,
            hardware_version: "gen_2",
            mode: "STAND",
          },
        });
      case "PUT_STREAMING":
        return this.#streaming(conn, cam, request, respond);
      case "GET_SOUNDTRACKS":
        return answer(cam.soundMachine.getSoundtracks());
      case "GET_PLAYBACK": {
        const playback = cam.soundMachine.getPlayback();
        if (!cam.soundMachine.holdNextGet) return answer(playback);
        cam.soundMachine.holdNextGet = false;
        conn.heldPlayback = () => answer(playback);
        return;
      }
      case "PUT_PLAYBACK": {
        answer(cam.soundMachine.put(request.playback));
        const held = conn.heldPlayback;
        conn.heldPlayback = undefined;
        return held?.();
      }
      default:
        return respond(501, {}, "Not implemented");
    }
  }

  #streaming(
    conn: Conn,
    cam: SimCamera,
    request: RequestMsg,
    respond: (status: number, extra?: Partial<ResponseMsg>, statusMessage?: string) => void,
  ): void {
    const s = request.streaming ?? {};
    const fault = this.#streamFaults.shift();
    if (fault && fault !== "no-answer") return respond(fault.status, {}, fault.message);
    // "no-answer": the camera acts on the request but its answer never comes.
    const reply = fault === "no-answer" ? (): void => undefined : respond;
    if (cam.settings.sleep_mode) return reply(409, {}, "camera is sleeping");
    // proto2 default: an absent status is STARTED (0).
    if (s.status === "STOPPED") {
      this.#pusher.stop(cam.uid, "stopped");
      return reply(200);
    }
    if (s.status === "PAUSED") return reply(501, {}, "Not implemented");
    const url = s.rtmp_url ?? "";
    let target: URL | undefined;
    try {
      target = new URL(url);
    } catch {
      target = undefined;
    }
    if (!target || (target.protocol !== "rtmp:" && target.protocol !== "rtmps:"))
      return reply(400, {}, "invalid rtmp_url");
    // Loopback only (the project's network rule); a real camera would answer 200 and fail to connect.
    if (this.#sim.loopbackPushOnly && !["127.0.0.1", "[::1]", "localhost"].includes(target.hostname))
      return reply(400, {}, "simulator pushes to loopback only");
    this.#pusher.start(cam.uid, url, conn.conn, cam.streamProfile);
    reply(200);
  }

  /** proto2 style: false booleans are omitted from a full GET_SETTINGS (HN PR #96). */
  #settings(cam: SimCamera): SettingsMsg {
    const out: SettingsMsg = {};
    for (const [k, v] of Object.entries(cam.settings)) if (v !== false) (out as Record<string, unknown>)[k] = v;
    return out;
  }

  #sensorData(cam: SimCamera, types: string[]): NonNullable<RequestPayload["sensor_data"]> {
    const out: NonNullable<RequestPayload["sensor_data"]> = [];
    const now = Date.now();
    if (types.includes("TEMPERATURE"))
      out.push({
        sensor_type: "TEMPERATURE",
        value: Math.round(cam.temperatureMilli / 1000),
        value_milli: cam.temperatureMilli,
        timestamp_real: now,
      });
    if (types.includes("HUMIDITY"))
      out.push({
        sensor_type: "HUMIDITY",
        value: Math.round(cam.humidityMilli / 1000),
        value_milli: cam.humidityMilli,
        timestamp_real: now,
      });
    if (types.includes("LIGHT")) out.push({ sensor_type: "LIGHT", value: cam.lux });
    if (types.includes("NIGHT")) out.push({ sensor_type: "NIGHT", value: cam.night ? 1 : 0 });
    return out;
  }

  /** Irregular cadence (IF#35): each push is followed by another after a random delay. LIGHT never pushed. */
  #schedulePush(conn: Conn, cam: SimCamera): void {
    clearTimeout(conn.pushTimer);
    conn.pushTimer = undefined;
    if (!conn.sensorTransfer) return;
    const [min, max] = this.#sim.sensorPushMs;
    conn.pushTimer = setTimeout(
      () => {
        if (!conn.silent)
          this.cameraRequest(conn, "PUT_SENSOR_DATA", {
            sensor_data: this.#sensorData(cam, ["TEMPERATURE", "HUMIDITY"]),
          });
        this.#schedulePush(conn, cam);
      },
      min + Math.random() * (max - min),
    );
  }

  pushSensors(cam: SimCamera, types: string[]): void {
    for (const c of this.#conns)
      if (c.cameraUid === cam.uid && c.sensorTransfer && !c.silent)
        this.cameraRequest(c, "PUT_SENSOR_DATA", { sensor_data: this.#sensorData(cam, types) });
  }

  pushAll(cam: SimCamera, type: "PUT_CONTROL" | "PUT_SETTINGS", payload: RequestPayload, except?: Conn): void {
    for (const c of this.#conns)
      if (c.cameraUid === cam.uid && c !== except && !c.silent) this.cameraRequest(c, type, payload);
  }

  cameraRequest(conn: Conn, type: string, payload: RequestPayload): void {
    const request: RequestMsg = { id: ++this.#cameraRequestId, type, ...payload };
    this.#send(conn, { type: "REQUEST", request });
    this.#sim.emit("push", { conn: conn.conn, flavour: conn.flavour, cameraUid: conn.cameraUid, request });
  }
}
