// The simulated X-Sense app API (docs/protocols/xsense.md §3): POST /app with a bizCode — the Cognito
// client details (101001), AWS credentials for the shadows and MQTT (101003), houses (102007), rooms
// (102008) and stations with their detectors (103007) — behind the access token and the request MAC.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { encodeClientSecret, requestMac, UNAUTH_MAC } from "../../src/drivers/xsense/mac.ts";
import {
  type AppCall,
  CLIENTS,
  COMMON,
  type Creds,
  expirationText,
  POOL_ID,
  sendJson,
  type SimShared,
} from "./model.ts";

export class SimAppApi {
  readonly #st: SimShared;

  constructor(shared: SimShared) {
    this.#st = shared;
  }

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

  /** One POST /app call, checked as the service checks it (client, token, session, request MAC). */
  handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    let body: Record<string, unknown>;
    try {
      const parsed = JSON.parse(raw.toString("utf8")) as unknown;
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      body = parsed as Record<string, unknown>;
    } catch {
      return sendJson(res, 400, { message: "Bad Request" });
    }
    const bizCode = typeof body.bizCode === "string" ? body.bizCode : "";
    const authorization = req.headers.authorization;
    const call: AppCall = { bizCode, body, authorization, ok: false };
    const fail = (errCode: string, reMsg: string, reCode = 400): void => {
      call.errCode = errCode;
      this.#st.sim.calls.push(call);
      this.#st.sim.emit("app", call);
      sendJson(res, 200, { reCode, reMsg, errCode });
    };
    const failing = this.#st.failNext.shift();
    if (failing === "http500" || failing === "http503") {
      this.#st.sim.calls.push(call);
      this.#st.sim.emit("app", call);
      return failing === "http500"
        ? sendJson(res, 500, { message: "not authorised exception" })
        : sendJson(res, 503, { message: "Service Unavailable" });
    }
    if (!bizCode || failing === "bizCodeEmpty") return fail("10000001", "bizCode cannot be empty");
    const client = CLIENTS[String(body.clientType)];
    if (!client || typeof body.appVersion !== "string" || typeof body.appCode !== "string")
      return fail("10000002", "missing clientType/appVersion/appCode");

    if (bizCode === "101001") {
      if (body.mac !== UNAUTH_MAC) return fail("10000004", "mac check failed");
      call.ok = true;
      this.#st.sim.calls.push(call);
      this.#st.sim.emit("app", call);
      const clientSecret = encodeClientSecret(client.secret, body.appCode);
      this.#st.secrets.add(client.secret).add(clientSecret);
      return sendJson(
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
    const token = authorization ? this.#st.access.get(authorization) : undefined;
    if (!token) return fail(this.#st.sim.options.expiredErrCode ?? "10000008", "token invalid");
    if (token.revoked) return fail(token.revoked, "session expired");
    if (token.generation !== this.#st.generation)
      return fail(this.#st.sim.options.kickedErrCode ?? "10000020", "logged in on another device");
    if (token.exp * 1000 <= Date.now()) return fail(this.#st.sim.options.expiredErrCode ?? "10000008", "token expired");

    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) if (!COMMON.includes(k)) params[k] = v;
    const expected = requestMac(params, Buffer.from(client.secret, "utf8"));
    this.#st.secrets.add(expected);
    if (body.mac !== expected) {
      call.errCode = "badMac";
      this.#st.sim.calls.push(call);
      this.#st.sim.emit("badMac", call);
      const answer = this.#st.sim.options.badMac ?? {
        status: 200,
        body: { reCode: 400, errCode: "10000004", reMsg: "mac check failed" },
      };
      return sendJson(res, answer.status, answer.body);
    }
    let reData: unknown;
    switch (bizCode) {
      case "101003":
        if (typeof params.userName !== "string") return fail("10000003", "userName required");
        reData = this.#issueCreds();
        break;
      case "102007":
        reData = this.#st.sim.houses.map((h) => ({
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
        const house = this.#st.sim.houses.find((h) => h.id === params.houseId);
        if (params.utctimestamp !== "0") return fail("10000003", "utctimestamp required");
        if (!house) return fail("10000005", "house not found");
        reData = this.#st.sim.roomsAnswer?.(house.id) ?? {
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
        const house = this.#st.sim.houses.find((h) => h.id === params.houseId);
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
            userId: this.#st.sim.sub,
            userName: this.#st.sim.email,
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
    this.#st.sim.calls.push(call);
    this.#st.sim.emit("app", call);
    sendJson(res, 200, this.#envelope(reData));
  }

  #issueCreds(): Record<string, string> {
    const ttl = (this.#st.sim.options.credentialTtlS ?? 3600) * 1000;
    const creds: Creds = {
      accessKeyId: `ASIASIM${randomBytes(6).toString("hex").toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString("base64"),
      sessionToken: `IQoJsim//${randomBytes(48).toString("base64")}`,
      expiresAt: Date.now() + ttl,
    };
    this.#st.creds.set(creds.accessKeyId, creds);
    this.#st.secrets.add(creds.secretAccessKey).add(creds.sessionToken);
    this.#st.sim.emit("credentials", { accessKeyId: creds.accessKeyId, expiresAt: creds.expiresAt });
    this.#st.later(ttl, () => {
      if (this.#st.sim.options.dropMqttOnCredentialExpiry === false) return;
      for (const [clientId, s] of this.#st.sockets)
        if (s.accessKeyId === creds.accessKeyId) {
          s.ws.terminate();
          this.#st.sockets.delete(clientId);
        }
    });
    return {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      sessionToken: creds.sessionToken,
      expiration: expirationText(creds.expiresAt),
    };
  }
}
