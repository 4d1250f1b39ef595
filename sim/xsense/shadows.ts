// The simulated X-Sense shadow REST API (docs/protocols/xsense.md §3, §5-§6): GET and POST
// /things/{thing}/shadow?name=…, verified as AWS IoT verifies a header-signed SigV4 request; the reported
// documents of houses, stations and detectors; self-tests, mutes and live reads as the APK routes them per
// model; and a detector's change published on the shadows that carry it.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { canonicalRequest, sha256Hex, signature as sigV4 } from "../../src/drivers/xsense/sigv4.ts";
import {
  amzDateMs,
  childStatus,
  type Creds,
  type Fields,
  regionsOf,
  sendJson,
  SIGV4_AUTHORIZATION,
  type SimDevice,
  type SimHouse,
  type SimShared,
  type SimStation,
  utcStamp,
} from "./model.ts";
import { safeEqual } from "./srp.ts";

/** Expected mute route per model (docs/protocols/xsense.md §6); undefined: no remote mute on that route. */
export function muteRoute(type: string): { topic: string; shadow: string; userParam: boolean } | undefined {
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
export function selfTestShadow(type: string, station: string): string | undefined {
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

export class SimShadows {
  readonly #st: SimShared;

  constructor(shared: SimShared) {
    this.#st = shared;
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
    const creds = this.#st.creds.get(akid);
    if (!creds || creds.revoked)
      return { error: "The security token included in the request is invalid.", status: 403 };
    if (creds.expiresAt <= Date.now())
      return { error: "The security token included in the request is expired", status: 403 };
    if (service !== "iotdata")
      return { error: `Credential should be scoped to correct service: 'iotdata'.`, status: 403 };
    if (!regionsOf(this.#st.sim.houses).has(region))
      return { error: `Credential should be scoped to a valid region.`, status: 403 };
    if (req.headers["x-amz-security-token"] !== creds.sessionToken)
      return { error: "The security token included in the request is invalid.", status: 403 };
    const signed = signedList.split(";");
    for (const required of ["host", "x-amz-date", "x-amz-security-token", "content-type", "user-agent"])
      if (!signed.includes(required)) return { error: `${required} must be signed`, status: 403 };
    const when = String(req.headers["x-amz-date"] ?? "");
    if (!/^\d{8}T\d{6}Z$/.test(when) || when.slice(0, 8) !== day) return { error: "bad X-Amz-Date", status: 403 };
    const t = amzDateMs(when);
    if (Math.abs(t - this.#st.now()) > (this.#st.sim.options.clockToleranceS ?? 300) * 1000)
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
    this.#st.secrets.add(sig);
    if (!safeEqual(expected, sig))
      return { error: "The request signature we calculated does not match the signature you provided.", status: 403 };
    return { creds };
  }

  #thing(thing: string): { station?: SimStation; house?: SimHouse } {
    for (const h of this.#st.sim.houses) {
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

  /** GET and POST /things/{thing}/shadow?name=…, SigV4-verified. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const m = /^\/things\/([^/]+)\/shadow$/.exec(url.pathname);
    const name = url.searchParams.get("name");
    if (!m || !name) return sendJson(res, 404, { message: "Not Found" });
    const verdict = this.#verifyHeaders(req, url, body);
    if ("error" in verdict) {
      this.#st.sim.emit("shadowRejected", { reason: verdict.error, status: verdict.status });
      return sendJson(
        res,
        verdict.status,
        { message: verdict.error, traceId: randomUUID() },
        { date: new Date(this.#st.now()).toUTCString() },
      );
    }
    const thing = decodeURIComponent(m[1]!);
    if (req.method === "GET") {
      const reported = this.reported(thing, name);
      if (!reported) {
        this.#st.sim.emit("shadowGet", { thing, name, status: 404 });
        return sendJson(res, 404, {
          message: `No shadow exists with name: '${thing}~${name}'`,
          traceId: randomUUID(),
        });
      }
      this.#st.sim.emit("shadowGet", { thing, name, status: 200 });
      return sendJson(res, 200, {
        state: { reported },
        metadata: {},
        version: 7,
        timestamp: Math.floor(Date.now() / 1000),
      });
    }
    if (req.method !== "POST") return sendJson(res, 405, { message: "Method Not Allowed" });
    let doc: { state?: { desired?: Fields } };
    try {
      doc = JSON.parse(body.toString("utf8")) as typeof doc;
    } catch {
      return sendJson(res, 400, { message: "Payload contains invalid json" });
    }
    const desired = doc.state?.desired;
    if (!desired || typeof desired !== "object")
      return sendJson(res, 400, { message: "State contains an invalid node" });
    const status = this.#command(thing, name, desired);
    this.#st.sim.emit("shadowPost", { thing, name, desired, status });
    if (status === 404)
      return sendJson(res, 404, { message: `No shadow exists with name: '${thing}~${name}'`, traceId: randomUUID() });
    if (status !== 200) return sendJson(res, status, { message: "desired state rejected" });
    // Accepted without synchronous read-back: the device reports later.
    sendJson(res, 200, { state: { desired }, metadata: {}, version: 8, timestamp: Math.floor(Date.now() / 1000) });
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
      const shadow = selfTestShadow(d.type, station.category);
      if (test[1] !== route || !shadow || desired.shadow !== shadow) return 400;
      if (desired.deviceSN !== sn || desired.stationSN !== station.sn || desired.userId !== this.#st.sim.sub)
        return 400;
      const request = { thing, shadow: name, desired };
      this.#st.sim.selfTests.push(request);
      this.#st.sim.emit("selfTest", request);
      const outcome = { ...this.#st.sim.selfTestOutcome };
      if (outcome.result === "no-answer") return 200; // a detector that never reports back
      this.#st.later(this.#st.sim.options.reportDelayMs ?? 20, () => {
        const reported: Fields = {
          stationSN: station.sn,
          deviceSN: sn,
          lastSelfTest: outcome.result,
          time: utcStamp(Date.now()),
        };
        if (outcome.smokeFault) reported.selfTestSmokeFault = "1";
        if (outcome.coFault) reported.selfTestCoFault = "1";
        this.#st.sim.publishShadow(thing, "2nd_selftestup", reported);
      });
      return 200;
    }
    if (name === "2nd_apptempdata") return this.#liveRead(thing, station, desired);
    if (name === "2nd_appmute" || name === "appmute") {
      const sn = String(desired.deviceSN ?? "");
      const d = station.self?.sn === sn ? station.self : station.devices.find((x) => x.sn === sn);
      if (!d || desired.userId !== this.#st.sim.sub || typeof desired.shadow !== "string") return 400;
      const route = muteRoute(d.type);
      if (!route || route.topic !== name || route.shadow !== desired.shadow) return 400;
      if (
        (desired.userParam !== undefined) !== route.userParam ||
        (route.userParam && desired.userParam !== "source=1")
      )
        return 400;
      if (desired.muteType !== "0" && desired.muteType !== "1") return 400;
      if (desired.stationSN !== station.sn || !/^\d{14}$/.test(String(desired.time))) return 400;
      const request = { thing, shadow: name, desired };
      this.#st.sim.mutes.push(request);
      this.#st.sim.emit("mute", request);
      this.#st.later(this.#st.sim.options.reportDelayMs ?? 20, () => this.update(sn, { muteStatus: "1" }));
      return 200;
    }
    return 404;
  }

  /** `appTempData` (docs/protocols/xsense.md §6): the station's thermo-hygrometers report their readings now. */
  #liveRead(thing: string, station: SimStation, desired: Fields): number {
    const sns = desired.deviceSN;
    if (desired.shadow !== "appTempData" || desired.stationSN !== station.sn || desired.userId !== this.#st.sim.sub)
      return 400;
    if (!Array.isArray(sns) || !sns.length || typeof desired.time !== "string") return 400;
    for (const key of ["source", "report", "reportDst"]) if (desired[key] !== "1") return 400;
    const devices = sns.map((sn) => station.devices.find((d) => d.sn === sn && /^STH(51|0A|0B)$/.test(d.type)));
    if (devices.some((d) => !d)) return 400;
    this.#st.sim.emit("liveRead", { thing, shadow: "2nd_apptempdata", desired });
    this.#st.later(this.#st.sim.options.reportDelayMs ?? 20, () => {
      for (const d of devices) this.update(d!.sn, {});
    });
    return 200;
  }

  #publishLocal(station: SimStation, device: SimDevice): void {
    this.#st.sim.localPublishers.get(station.sn)?.deviceChanged(device.sn, device.type, device.state);
  }

  /** Change a device's reported fields and publish the shadows that carry them. */
  update(sn: string, fields: Fields, alarm?: { type?: string }): void {
    const { device, station } = this.#st.sim.device(sn);
    Object.assign(device.state, fields);
    this.#publishLocal(station, device);
    const now = utcStamp(Date.now());
    if (alarm) {
      const isAlarm = fields.alarmStatus ?? fields.waterAlarmStatus;
      const reported: Fields = { stationSN: station.sn, type: device.type, isAlarm, time: now };
      if (!station.self) reported.deviceSN = sn;
      if (alarm.type) reported.alarmType = alarm.type;
      this.#st.sim.publishShadow(station.thing, "2nd_alarm", reported);
    }
    if (station.self) {
      this.#st.sim.publishShadow(station.house.id, "2nd_mainpage", {
        [station.sn]: { ...device.state, type: device.type },
      });
    } else {
      const main = station.category === "SBS10" ? "mainpage" : "2nd_mainpage";
      this.#st.sim.publishShadow(station.thing, main, {
        stationSN: station.sn,
        devs: { [sn]: { type: device.type, status: childStatus(device) } },
      });
      if (station.category === "SBS50")
        this.#st.sim.publishShadow(station.thing, `2nd_info_${sn}`, this.#infoOf(station, device));
    }
  }
}
