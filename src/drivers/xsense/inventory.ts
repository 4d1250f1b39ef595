// What the X-Sense account holds (docs/protocols/xsense.md §3.6, §5): houses, stations and devices from
// 102007/103007, their state from the named shadows (read, or pushed over MQTT), turned into devices
// and state changes for the core. Alarm reports reach the sink synchronously from applyShadow.
import type { DriverSink } from "../../core/driver.ts";
import type { DriverRuntime, Timer } from "../../core/driver-runtime.ts";
import type { Logger } from "../../core/logger.ts";
import { applyPatch, deviceId, type DeviceInfo, type DeviceState, type StatePatch } from "../../core/model.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import { checkInFresh, parseStamp, staleAt } from "./check-in.ts";
import { controlsRefusal, unknownSerials } from "./controls.ts";
import {
  capabilitiesOf,
  inferSpec,
  modelSpec,
  thingName,
  wantedFor,
  type ModelSpec,
  type XSenseControls,
} from "./models.ts";
import { childSn, fieldsToPatch, flag, flatten, isObject, remember, selfTestResult, type Fields } from "./parse.ts";
import { fetchRooms, roomOf } from "./rooms.ts";
import type { XSenseSession } from "./session.ts";
import type { House, ShadowClient } from "./shadows.ts";

export interface Station {
  id: string;
  sn: string;
  name: string;
  model: string;
  house: House;
  thing: string;
  /** A base station (SBS50/SBS10) rather than a standalone Wi-Fi detector. */
  bridge: boolean;
  /** Last known link status (103007 onLine, shadows, presence). */
  online: boolean;
  presenceTimer: Timer | undefined;
  firmware: string | undefined;
}

export interface Dev {
  /** Vendor id (deviceId, or stationId for Wi-Fi detectors). */
  vid: string;
  id: string;
  sn: string;
  name: string;
  model: string;
  station: Station;
  /** The room the app puts it in (102008 by its roomId). */
  room: string | undefined;
  spec: ModelSpec | undefined;
  known: boolean;
  fields: Fields;
  info: DeviceInfo | undefined;
  /** The device's own online flag (undefined: not reported). */
  online: boolean | undefined;
  available: boolean;
  testTimer: Timer | undefined;
  /** Combo detectors: which alarm is sounding (reports do not always say, docs/protocols/xsense.md §5.4). */
  comboActive?: "smoke" | "co" | undefined;
  /** Which of its alarms the detector last reported sounding (a hush goes to the detectors that sound). */
  sounding?: Partial<Record<"smokeAlarm" | "coAlarm" | "heatAlarm", boolean>>;
  /** Sleeping Wi-Fi detectors: the last check-in (epoch ms), when one was reported. */
  checkIn?: number | undefined;
  /** Fires when that check-in stops vouching for the detector. */
  staleTimer?: Timer | undefined;
}

function noteSounding(dev: Dev, patch: StatePatch): void {
  for (const key of ["smokeAlarm", "coAlarm", "heatAlarm"] as const) {
    const detected = patch[key]?.detected;
    if (detected !== undefined) dev.sounding = { ...dev.sounding, [key]: detected };
  }
}

/** The detector reported one of its alarms sounding. */
export function isSounding(dev: Dev): boolean {
  return Object.values(dev.sounding ?? {}).some(Boolean);
}

export interface InventoryOptions {
  session: XSenseSession;
  shadows: ShadowClient;
  rt: DriverRuntime;
  log: Logger;
  sink: DriverSink;
  accountName: string;
  /** The alarm link serving this house has been down past its grace. */
  linkDown: (house: House) => boolean;
  /** A station's presence "disconnected" counts only after this long. */
  presenceGraceMs: number;
  /** Opt-in hush and self-test switches. */
  controls: XSenseControls;
}

export class Inventory {
  readonly #o: InventoryOptions;
  readonly houses = new Map<string, House>();
  readonly stations = new Map<string, Station>(); // by sn
  readonly things = new Map<string, Station>(); // by thing name
  readonly devices = new Map<string, Dev>(); // by `${stationSn}/${sn}`
  readonly byId = new Map<string, Dev>();
  /** Room id → name, by house id (102008); kept when a re-read fails. */
  readonly #rooms = new Map<string, Map<string, string>>();
  readonly #reportedUnknown = new Set<string>();
  #syncFlight: Promise<void> | undefined;

  constructor(options: InventoryOptions) {
    this.#o = options;
  }

  /** Houses, stations and devices (102007, 103007), then their shadows; one run at a time. */
  sync(): Promise<void> {
    this.#syncFlight ??= this.#doSync().finally(() => (this.#syncFlight = undefined));
    return this.#syncFlight;
  }

  async #doSync(): Promise<void> {
    const houses = await this.#o.session.call("102007", { utctimestamp: "0" });
    const list = Array.isArray(houses) ? houses : isObject(houses) && Array.isArray(houses.houses) ? houses.houses : [];
    const seen = new Set<Dev>();
    for (const raw of list) {
      if (!isObject(raw) || typeof raw.houseId !== "string") {
        rateLimitedLog(this.#o.log).warn("malformed house entry", "xsense: ignoring a malformed house entry");
        continue;
      }
      const region = typeof raw.mqttRegion === "string" && raw.mqttRegion ? raw.mqttRegion : "us-east-1";
      const house: House = {
        id: raw.houseId,
        name: typeof raw.houseName === "string" ? raw.houseName : raw.houseId,
        region,
        server: typeof raw.mqttServer === "string" && raw.mqttServer ? raw.mqttServer : `${region}.x-sense-iot.com`,
      };
      const existing = this.houses.get(house.id);
      if (existing) Object.assign(existing, house);
      this.houses.set(house.id, existing ?? house);
      const rooms = await fetchRooms(this.#o.session, house.id, this.#o.log);
      if (rooms) this.#rooms.set(house.id, rooms);
      const detail = await this.#o.session.call("103007", { houseId: house.id, utctimestamp: "0" });
      const stations = isObject(detail) && Array.isArray(detail.stations) ? detail.stations : [];
      for (const rawStation of stations) this.#learnStation(existing ?? house, rawStation, seen);
    }
    await this.readShadows([...this.houses.values()]);
    for (const dev of seen) this.#announce(dev);
    this.#unknownControlSerials();
  }

  /** A serial listed for a hush or self-test switch that no detector of the account has (a typo). */
  #unknownControlSerials(): void {
    const serials = new Set([...this.devices.values()].map((d) => d.sn));
    for (const [key, sn] of unknownSerials(this.#o.controls, serials)) {
      if (this.#reportedUnknown.has(`serial ${sn}`)) continue;
      this.#reportedUnknown.add(`serial ${sn}`);
      this.#o.log.warn({ serial: sn }, `xsense: ${key}Switch lists ${sn}, which no detector of this account has`);
    }
  }

  #learnStation(house: House, raw: unknown, seen: Set<Dev>): void {
    if (!isObject(raw) || typeof raw.stationSn !== "string" || !raw.stationSn) {
      rateLimitedLog(this.#o.log).warn("malformed station entry", "xsense: ignoring a malformed station entry");
      return;
    }
    const model = typeof raw.category === "string" ? raw.category : "";
    const spec = modelSpec(model);
    const devices = Array.isArray(raw.devices) ? raw.devices : [];
    const bridge = spec ? spec.kind === "station" : devices.length > 0 || /^SBS/.test(model);
    const naming = spec?.thing ?? (bridge ? (model === "SBS10" ? "bare" : "sbs50") : "plain");
    const sn = raw.stationSn;
    const rooms = this.#rooms.get(house.id);
    const station: Station = this.stations.get(sn) ?? {
      id: typeof raw.stationId === "string" ? raw.stationId : sn,
      sn,
      name: "",
      model,
      house,
      thing: thingName(naming, model, sn),
      bridge,
      online: true,
      presenceTimer: undefined,
      firmware: undefined,
    };
    const stationName = typeof raw.stationName === "string" ? raw.stationName.trim() : "";
    station.name = stationName || `${model} ${sn}`;
    station.model = model;
    station.house = house;
    station.bridge = bridge;
    station.thing = thingName(naming, model, sn);
    const online = flag(raw.onLine);
    if (typeof online === "boolean") station.online = online;
    if (typeof raw.sbs50Sw === "string") station.firmware = raw.sbs50Sw;
    this.stations.set(sn, station);
    this.things.set(station.thing, station);
    if (bridge) {
      for (const d of devices) {
        if (!isObject(d)) {
          rateLimitedLog(this.#o.log).warn("malformed device entry", "xsense: ignoring a malformed device entry");
          continue;
        }
        const dsn = childSn(d);
        const type = typeof d.deviceType === "string" ? d.deviceType : typeof d.category === "string" ? d.category : "";
        if (!dsn) {
          const why = "device entry without a serial";
          rateLimitedLog(this.#o.log).warn(why, "xsense: ignoring a device entry without a serial", { station: sn });
          continue;
        }
        const vid = typeof d.deviceId === "string" && d.deviceId ? d.deviceId : `${sn}_${dsn}`;
        const name = typeof d.deviceName === "string" ? d.deviceName : "";
        seen.add(this.#learnDevice(station, vid, dsn, type, name, roomOf(rooms, d.roomId)));
      }
    } else {
      seen.add(this.#learnDevice(station, station.id, sn, model, station.name, roomOf(rooms, raw.roomId)));
    }
  }

  #learnDevice(station: Station, vid: string, sn: string, model: string, name: string, room?: string): Dev {
    const key = `${station.sn}/${sn}`;
    const dev: Dev = this.devices.get(key) ?? {
      vid,
      id: deviceId("xsense", vid),
      sn,
      name: "",
      model,
      station,
      room: undefined,
      spec: undefined,
      known: false,
      fields: {},
      info: undefined,
      online: undefined,
      available: false,
      testTimer: undefined,
    };
    dev.name = name.trim() || `${model || "X-Sense"} ${sn}`;
    dev.model = model;
    dev.station = station;
    dev.room = room;
    this.devices.set(key, dev);
    return dev;
  }

  /** Read the shadows that hold the current state of every device of these houses. */
  async readShadows(houses: House[]): Promise<void> {
    const ids = new Set(houses.map((h) => h.id));
    const jobs: Promise<void>[] = [];
    for (const station of this.stations.values()) {
      if (!ids.has(station.house.id)) continue;
      if (station.bridge) {
        const main = station.model === "SBS10" ? "mainpage" : "2nd_mainpage";
        jobs.push(
          (async () => {
            const reported = await this.#o.shadows.reported(station.house, station.thing, main);
            if (reported) this.applyShadow(station, main, reported, "read");
            if (station.model === "SBS10") return;
            await Promise.all(
              [...this.devices.values()]
                .filter((d) => d.station === station)
                .map(async (d) => {
                  const info = await this.#o.shadows.reported(station.house, station.thing, `2nd_info_${d.sn}`);
                  if (info) this.applyShadow(station, `2nd_info_${d.sn}`, info, "read");
                }),
            );
          })(),
        );
      } else {
        jobs.push(
          (async () => {
            const info = await this.#o.shadows.reported(station.house, station.thing, `2nd_info_${station.sn}`);
            if (info) this.applyShadow(station, `2nd_info_${station.sn}`, info, "read");
          })(),
        );
      }
    }
    for (const house of houses) {
      if (![...this.stations.values()].some((s) => s.house.id === house.id && !s.bridge)) continue;
      for (const name of ["mainpage", "2nd_mainpage"]) {
        jobs.push(
          (async () => {
            const reported = await this.#o.shadows.reported(house, house.id, name);
            if (reported) this.applyHouseShadow(house, name, reported, "read");
          })(),
        );
      }
    }
    await Promise.all(jobs);
  }

  /** Announce a device (first time, or again with its current state). */
  #announce(dev: Dev): void {
    let spec = modelSpec(dev.model);
    let known = spec !== undefined;
    if (spec?.kind === "station") spec = undefined;
    if (!spec || spec.kind === "ignored") {
      if (spec?.kind === "ignored") {
        if (!this.#reportedUnknown.has(dev.model)) {
          const what = `${dev.name} (${dev.model}, ${spec.note ?? "not an alarm"})`;
          this.#o.log.info({ model: dev.model }, `xsense: ${what} is not exposed`);
        }
        this.#reportedUnknown.add(dev.model);
        return;
      }
      known = false;
      spec = inferSpec(dev.model, dev.fields, !dev.station.bridge);
      if (!this.#reportedUnknown.has(dev.model)) {
        this.#reportedUnknown.add(dev.model);
        this.#o.log.warn(
          { model: dev.model, fields: Object.keys(dev.fields) },
          `xsense: unknown model ${dev.model || "(none)"}${
            spec ? ` shown as a ${spec.kind} from what it reports` : " not shown (no alarm in what it reports)"
          }; please report this model to the hearthbridge project`,
        );
      }
      if (!spec) return;
    }
    dev.spec = spec;
    dev.known = known;
    const info: DeviceInfo = {
      id: dev.id,
      vendor: "xsense",
      account: this.#o.accountName,
      kind: spec.kind,
      name: dev.name,
      manufacturer: "X-Sense",
      model: dev.model || "unknown",
      serialNumber: dev.sn,
      ...(dev.room ? { room: dev.room } : {}),
      ...(dev.station.bridge ? {} : dev.station.firmware ? { firmware: dev.station.firmware } : {}),
      capabilities: capabilitiesOf(spec, wantedFor(this.#o.controls, dev.sn)),
    };
    this.#refuseControls(dev, spec);
    const unchanged = dev.info !== undefined && JSON.stringify(dev.info) === JSON.stringify(info);
    dev.info = info;
    this.byId.set(dev.id, dev);
    const result = fieldsToPatch(spec, dev.fields, dev.comboActive ? { active: dev.comboActive } : {});
    noteSounding(dev, result.patch);
    if (result.online !== undefined) dev.online = result.online;
    if (result.patch.coAlarm?.detected === true) dev.comboActive = "co";
    else if (result.patch.smokeAlarm?.detected === true) dev.comboActive = "smoke";
    if (unchanged) {
      // A re-sync of a device the core already knows: state only (deviceFound would flip it available).
      if (Object.keys(result.patch).length) this.#o.sink.stateChanged(dev.id, result.patch);
    } else {
      this.#o.sink.deviceFound(info, this.#initialState(dev, result.patch));
      dev.available = true;
    }
    this.updateAvailability(dev);
  }

  /** A control asked for that the model cannot do is refused in the log, once per detector. */
  #refuseControls(dev: Dev, spec: ModelSpec): void {
    const refusal = controlsRefusal(this.#o.controls, dev.sn, spec);
    if (!refusal || this.#reportedUnknown.has(`controls ${dev.sn}`)) return;
    this.#reportedUnknown.add(`controls ${dev.sn}`);
    const what = `xsense: no ${refusal.refused.join(" and no ")} for ${dev.name} (${dev.model})`;
    this.#o.log[refusal.listed ? "warn" : "info"]({ device: dev.id, model: dev.model }, what);
  }

  #initialState(dev: Dev, patch: StatePatch): DeviceState {
    const caps = dev.info!.capabilities;
    const base: DeviceState = {};
    if (caps.smokeAlarm) base.smokeAlarm = { detected: false };
    if (caps.coAlarm) base.coAlarm = { detected: false };
    if (caps.heatAlarm) base.heatAlarm = { detected: false };
    if (caps.leak) base.leak = false;
    if (caps.battery) base.battery = { low: false };
    return applyPatch(base, patch);
  }

  // ---- shadow reports (read or pushed) ----------------------------------------------------------------

  #devBySn(stationSn: string | undefined, sn: string | undefined): Dev | undefined {
    if (stationSn && sn) {
      const d = this.devices.get(`${stationSn}/${sn}`);
      if (d) return d;
    }
    if (sn) {
      const wifi = this.devices.get(`${sn}/${sn}`);
      if (wifi) return wifi;
      if (!stationSn) for (const d of this.devices.values()) if (d.sn === sn) return d;
    }
    if (stationSn && !sn) return this.devices.get(`${stationSn}/${stationSn}`);
    return undefined;
  }

  /** `why` is a fixed reason (the rate-limit key); details go in `fields`. */
  malformed(topic: string, why: string, fields: Record<string, unknown> = {}): void {
    rateLimitedLog(this.#o.log).warn(why, "xsense: ignoring a malformed message", { topic, ...fields });
  }

  /** Apply one device's fields. Pushes reach the sink at once. */
  #applyFields(dev: Dev, fields: Fields, origin: string): void {
    const known = { ...dev.fields };
    remember(dev.fields, flatten(fields));
    const checkedIn = this.#noteCheckIn(dev, flatten(fields));
    if (!dev.spec || !dev.info) return; // not announced yet: the announcement carries the fields
    const result = fieldsToPatch(dev.spec, fields, { known, ...(dev.comboActive ? { active: dev.comboActive } : {}) });
    if (result.patch.coAlarm?.detected === true) dev.comboActive = "co";
    else if (result.patch.smokeAlarm?.detected === true) dev.comboActive = "smoke";
    else if (result.patch.smokeAlarm?.detected === false && result.patch.coAlarm?.detected === false) {
      dev.comboActive = undefined;
    }
    if (result.problems.length) {
      this.malformed(origin, "bad fields", { device: dev.sn, problems: result.problems.join(", ").slice(0, 300) });
    }
    noteSounding(dev, result.patch);
    if (Object.keys(result.patch).length) this.#o.sink.stateChanged(dev.id, result.patch);
    if ((result.online !== undefined && result.online !== dev.online) || checkedIn) {
      if (result.online !== undefined) dev.online = result.online;
      this.updateAvailability(dev);
    }
  }

  /** Remember a sleeping detector's newest check-in (`onlineTime`, or an `online` flag saying it is awake now).
   * True when it moved forward. */
  #noteCheckIn(dev: Dev, fields: Fields): boolean {
    const spec = dev.spec ?? modelSpec(dev.model);
    if (!spec?.checkInHours) return false;
    let at = parseStamp(fields.onlineTime);
    if (flag(fields.online ?? fields.onLine) === true) at = Math.max(at ?? 0, Date.now());
    if (at === undefined || at <= (dev.checkIn ?? Number.NEGATIVE_INFINITY)) return false;
    dev.checkIn = at;
    return true;
  }

  /** A shadow of a station thing (SBS50/SBS10) or a Wi-Fi detector's own thing. */
  applyShadow(station: Station, shadow: string, reported: Fields, origin: string): void {
    const stationSn = typeof reported.stationSN === "string" ? reported.stationSN : station.sn;
    if (shadow === "2nd_alarm" || shadow === "alarm") {
      const sn = childSn(reported) ?? (station.bridge ? undefined : station.sn);
      const dev = this.#devBySn(stationSn, sn);
      if (!dev) return this.#unknownTarget(origin, stationSn, sn);
      if (reported.isAlarm === undefined && reported.alarmStatus === undefined) {
        return this.malformed(origin, "alarm report without isAlarm");
      }
      return this.#applyFields(dev, reported, origin);
    }
    if (/testup/.test(shadow)) {
      const sn = childSn(reported) ?? (station.bridge ? undefined : station.sn);
      const dev = this.#devBySn(stationSn, sn);
      if (!dev) return this.#unknownTarget(origin, stationSn, sn);
      if (!dev.spec || !dev.info) return;
      const result = selfTestResult(dev.spec, reported);
      if (!result) return this.malformed(origin, "self-test report without a result");
      dev.testTimer = this.#o.rt.cancel(dev.testTimer);
      const outcome = result.success ? "passed" : "failed";
      this.#o.log.info({ device: dev.id, success: result.success }, `xsense: self-test of ${dev.name} ${outcome}`);
      this.#o.sink.stateChanged(dev.id, result.patch);
      return;
    }
    const info = /^(?:2nd_)?info_(.+)$/.exec(shadow);
    if (info) {
      const sn = info[1]!;
      if (station.bridge && sn === station.sn) return this.#applyStationFields(station, reported);
      const dev = this.#devBySn(station.sn, sn);
      if (!dev) return this.#unknownTarget(origin, station.sn, sn);
      if (!station.bridge) this.#applyStationFields(station, reported);
      return this.#applyFields(dev, reported, origin);
    }
    if (shadow === "2nd_mainpage" || shadow === "mainpage") {
      this.#applyStationFields(station, reported);
      for (const [sn, fields] of this.#children(reported, origin)) {
        const dev = this.#devBySn(station.bridge ? stationSn : station.sn, station.bridge ? sn : station.sn);
        if (!dev) {
          this.#unknownTarget(origin, stationSn, sn);
          continue;
        }
        this.#applyFields(dev, fields, origin);
      }
      return;
    }
    this.#o.log.debug({ thing: station.thing, shadow }, "xsense: shadow report not used");
  }

  /** Children of a mainpage report: `devs` map (or list) or one child at top level. */
  #children(reported: Fields, origin: string): Array<[string, Fields]> {
    const out: Array<[string, Fields]> = [];
    const devs = reported.devs;
    if (isObject(devs)) {
      for (const [sn, fields] of Object.entries(devs)) {
        if (isObject(fields)) out.push([childSn(fields) ?? sn, fields]);
        else this.malformed(origin, "a devs entry is not an object", { sn });
      }
    } else if (Array.isArray(devs)) {
      for (const fields of devs) {
        const sn = isObject(fields) ? childSn(fields) : undefined;
        if (isObject(fields) && sn) out.push([sn, fields]);
        else this.malformed(origin, "a devs entry has no serial");
      }
    } else if (devs !== undefined) this.malformed(origin, "devs is neither a map nor a list");
    else {
      const sn = childSn(reported);
      if (sn) out.push([sn, reported]);
    }
    return out;
  }

  #applyStationFields(station: Station, fields: Fields): void {
    const key = fields.online !== undefined ? "online" : fields.onLine !== undefined ? "onLine" : undefined;
    if (!key) return;
    const online = flag(fields[key]);
    if (typeof online === "boolean") this.#setStationOnline(station, online);
  }

  /** House-level shadows: `reported` maps a Wi-Fi detector's SN to its state. */
  applyHouseShadow(house: House, shadow: string, reported: Fields, origin: string): void {
    if (shadow !== "mainpage" && shadow !== "2nd_mainpage") {
      if (shadow === "2nd_alarm" || /testup/.test(shadow)) {
        const sn = typeof reported.stationSN === "string" ? reported.stationSN : childSn(reported);
        const station = sn ? this.stations.get(sn) : undefined;
        if (station) return this.applyShadow(station, shadow, reported, origin);
        return this.#unknownTarget(origin, sn, undefined);
      }
      this.#o.log.debug({ house: house.id, shadow }, "xsense: house shadow report not used");
      return;
    }
    for (const [sn, fields] of Object.entries(reported)) {
      if (!isObject(fields)) continue; // scalars (e.g. time) sit beside the device map
      const dev = this.#devBySn(sn, undefined) ?? this.#devBySn(sn, sn);
      if (!dev) {
        this.#o.log.debug({ house: house.id, sn }, "xsense: house shadow entry for an unknown device");
        continue;
      }
      this.#applyStationFields(dev.station, fields);
      this.#applyFields(dev, fields, origin);
    }
  }

  #unknownTarget(origin: string, stationSn: string | undefined, sn: string | undefined): void {
    const what = "xsense: report for a device we do not know; the next sync will pick it up";
    this.#o.log.debug({ origin, stationSn, sn }, what);
  }

  // ---- availability -------------------------------------------------------------------------------------

  updateAvailability(dev: Dev): void {
    if (!dev.info) return;
    const available = !this.#o.linkDown(dev.station.house) && this.#reachable(dev);
    if (available === dev.available) return;
    dev.available = available;
    this.#o.sink.availabilityChanged(dev.id, available);
  }

  /** A sleeping Wi-Fi detector with a known check-in is reachable while that check-in is fresh, whatever its
   * presence and online flags say between check-ins (docs/protocols/xsense.md §5.6); others by their flags. */
  #reachable(dev: Dev): boolean {
    const hours = dev.spec?.checkInHours;
    if (!hours || dev.checkIn === undefined) return dev.station.online && dev.online !== false;
    const now = Date.now();
    const fresh = checkInFresh(dev.checkIn, hours, now);
    dev.staleTimer = this.#o.rt.cancel(dev.staleTimer);
    if (fresh) {
      const due = staleAt(Math.min(dev.checkIn, now), hours) - now;
      dev.staleTimer = this.#o.rt.later(due, () => {
        dev.staleTimer = undefined;
        const at = new Date(dev.checkIn ?? 0).toISOString();
        this.#o.log.info({ device: dev.id }, `xsense: ${dev.name} has not checked in since ${at}`);
        this.updateAvailability(dev);
      });
    }
    return fresh;
  }

  #setStationOnline(station: Station, online: boolean): void {
    station.presenceTimer = this.#o.rt.cancel(station.presenceTimer);
    if (station.online === online) return;
    station.online = online;
    this.#o.log.info({ station: station.sn }, `xsense: ${station.name} is ${online ? "online" : "offline"}`);
    for (const dev of this.devices.values()) if (dev.station === station) this.updateAvailability(dev);
  }

  /** Presence flaps while hubs are stable (#102): "disconnected" counts only if it lasts the grace period. */
  presence(station: Station, connected: boolean): void {
    if (connected) return this.#setStationOnline(station, true);
    if (station.presenceTimer || !station.online) return;
    station.presenceTimer = this.#o.rt.later(this.#o.presenceGraceMs, () => {
      station.presenceTimer = undefined;
      this.#setStationOnline(station, false);
    });
  }
}
