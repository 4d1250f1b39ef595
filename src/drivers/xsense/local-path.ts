// The X-Sense local path (README "Alarms without the internet"; docs/protocols/xsense.md §4.5): the
// SBS50 publishes Home Assistant MQTT discovery to a broker on the LAN, so its detectors' alarms, battery,
// end of life and connectivity arrive with the internet down. LocalPath owns the broker (embedded) or the
// client (external), reads the messages with DiscoveryTracker, and reports per detector:
// - typed events (alarm, clear, battery, endOfLife, fault, online; liveness per station; link), and
// - when given a resolver and a LocalSink (FusedSink.local), state patches and availability for the
//   core, fused there with the cloud's reports.
// Everything runs synchronously in the message handler: an alarm is never batched or delayed.
import { EventEmitter } from "node:events";
import type { Logger } from "../../core/logger.ts";
import { RateLimitedLog } from "../../core/rate-limited-log.ts";
import type { StatePatch } from "../../core/model.ts";
import type { LocalSink } from "./alarm-fusion.ts";
import { EmbeddedBroker, ExternalBroker, type LocalTransport } from "./local-broker.ts";
import { DiscoveryTracker, type LocalAttr, type LocalEntity, type LocalState } from "./local-discovery.ts";
import type { LocalSettings } from "./local-config.ts";

export type LocalAlarmKind = "smoke" | "co" | "heat";

/** Which detector an event is about; `id` is the core device id when the resolver knew the serials. */
export interface LocalDetector {
  stationSn: string;
  deviceSn: string;
  id: string | undefined;
}

export interface LocalPathEvents {
  entity: [LocalDetector & { attr: LocalAttr; model: string | undefined; name: string | undefined }];
  alarm: [LocalDetector & { kind: LocalAlarmKind }];
  clear: [LocalDetector & { kind: LocalAlarmKind }];
  battery: [LocalDetector & { low: boolean; status: string }];
  endOfLife: [LocalDetector & { endOfLife: boolean }];
  fault: [LocalDetector & { kind: LocalAlarmKind; fault: boolean }];
  online: [LocalDetector & { online: boolean }];
  /** A station's local link: up once it publishes, down when its connection ends (embedded) or the
   * broker link is lost (external). */
  liveness: [{ stationSn: string; up: boolean }];
  /** The broker (embedded: listening; external: connected). */
  link: [{ up: boolean; reason?: string }];
}

export interface LocalPathOptions {
  settings: LocalSettings;
  log: Logger;
  /** The core device id of a detector, by station and device serial; undefined = not known. */
  resolve?: (stationSn: string, deviceSn: string) => string | undefined;
  /** Where state and availability go (FusedSink.local). */
  sink?: LocalSink;
  /** Detectors tracked at once (default 1024); messages about more are dropped and logged. */
  maxDetectors?: number;
  /** Tests: a transport of their own. */
  transport?: LocalTransport;
}

const ALARM_OF: Partial<Record<LocalAttr, LocalAlarmKind>> = { smokealarm: "smoke", coalarm: "co", heatalarm: "heat" };
const FAULT_OF: Partial<Record<LocalAttr, LocalAlarmKind>> = { smokefault: "smoke", cofault: "co", heatfault: "heat" };
const PART_OF = { smoke: "smokeAlarm", co: "coAlarm", heat: "heatAlarm" } as const;

/** The core patch one local state message stands for (online is availability, not state). */
export function patchOf(state: LocalState): StatePatch | undefined {
  const alarm = ALARM_OF[state.attr];
  if (alarm) return { [PART_OF[alarm]]: { detected: state.on } };
  const fault = FAULT_OF[state.attr];
  if (fault) return { fault: state.on ? `${fault} sensor fault` : null };
  if (state.attr === "battery") return { battery: { low: state.on } };
  if (state.attr === "lifeend") return { endOfLife: state.on };
  return undefined;
}

interface Detector {
  stationSn: string;
  deviceSn: string;
  id: string | undefined;
  online: boolean | undefined;
  values: Map<LocalAttr, boolean>;
  /** What the sink was told last about availability. */
  shown: boolean | undefined;
  /** An unknown serial is logged once. */
  warned: boolean;
}

interface Station {
  live: boolean;
  /** Embedded broker: the client id that publishes for it. */
  publisher: string | undefined;
}

export class LocalPath extends EventEmitter<LocalPathEvents> {
  readonly transport: LocalTransport;
  readonly #o: LocalPathOptions;
  readonly #log: Logger;
  readonly #limiter: RateLimitedLog;
  readonly #tracker: DiscoveryTracker;
  readonly #detectors = new Map<string, Detector>();
  readonly #stations = new Map<string, Station>();
  readonly #max: number;
  #up = false;

  constructor(options: LocalPathOptions) {
    super();
    this.#o = options;
    this.#log = options.log;
    this.#limiter = new RateLimitedLog(options.log);
    this.#max = options.maxDetectors ?? 1024;
    const { settings } = options;
    this.#tracker = new DiscoveryTracker(options.log, { prefix: settings.prefix, limiter: this.#limiter });
    this.transport =
      options.transport ??
      (settings.mode === "embedded"
        ? new EmbeddedBroker({ ...settings, log: options.log })
        : new ExternalBroker({ ...settings, log: options.log }));
    this.transport.on("message", (topic, payload, publisher) => this.#message(topic, payload, publisher));
    this.transport.on("publisherDown", (publisher) => {
      for (const [sn, station] of this.#stations)
        if (station.publisher === publisher) this.#setLive(sn, station, false);
    });
    this.transport.on("up", () => {
      this.#up = true;
      this.emit("link", { up: true });
    });
    this.transport.on("down", (reason) => {
      this.#up = false;
      for (const [sn, station] of this.#stations) this.#setLive(sn, station, false);
      this.emit("link", { up: false, reason });
    });
  }

  /** Whether the broker is listening (embedded) or connected (external). */
  get up(): boolean {
    return this.#up;
  }

  /** Whether a station's local link is up. */
  stationLive(stationSn: string): boolean {
    return this.#stations.get(stationSn)?.live ?? false;
  }

  /** Whether the local path vouches for a detector now (its station is live and it is not offline). */
  detectorLive(stationSn: string, deviceSn: string): boolean {
    const d = this.#detectors.get(`${stationSn}/${deviceSn}`);
    return d !== undefined && this.stationLive(stationSn) && d.online !== false;
  }

  /** Start listening or connecting. Rejects only when the embedded broker cannot listen (port taken). */
  async start(): Promise<void> {
    await this.transport.start();
    this.#log.info(`xsense local: reading SBS50 alarms from the ${this.transport.description}`);
  }

  async stop(): Promise<void> {
    await this.transport.stop();
    this.#limiter.flush();
  }

  /** The resolver learned new detectors (after an inventory): re-resolve and re-send state and
   * availability of every detector heard on the local path. */
  resync(): void {
    for (const d of this.#detectors.values()) {
      const id = this.#o.resolve?.(d.stationSn, d.deviceSn);
      if (!id || id === d.id) continue;
      d.id = id;
      d.shown = undefined;
      for (const [attr, on] of d.values) {
        const patch = patchOf({ kind: "state", stationSn: d.stationSn, deviceSn: d.deviceSn, attr, on, status: "" });
        if (patch) this.#o.sink?.stateChanged(id, patch);
      }
      this.#showAvailability(d);
    }
  }

  #message(topic: string, payload: Buffer, publisher: string): void {
    const message = this.#tracker.handle(topic, payload);
    if (!message) return;
    const station = this.#station(message.stationSn);
    if (!station) return;
    if (this.transport.seesPublishers) station.publisher = publisher;
    if (!station.live) this.#setLive(message.stationSn, station, true);
    const detector = this.#detector(message);
    if (!detector) return;
    if (message.kind === "config") return this.#entity(detector, message);
    this.#state(detector, message);
  }

  #entity(d: Detector, entity: LocalEntity): void {
    this.emit("entity", { ...this.#who(d), attr: entity.attr, model: entity.model, name: entity.name });
  }

  #state(d: Detector, state: LocalState): void {
    const changed = d.values.get(state.attr) !== state.on;
    d.values.set(state.attr, state.on);
    if (state.attr === "online") {
      d.online = state.on;
      if (changed) this.emit("online", { ...this.#who(d), online: state.on });
      this.#showAvailability(d);
      return;
    }
    // The core first (the safety path), then the events.
    const patch = patchOf(state);
    if (patch && d.id) this.#o.sink?.stateChanged(d.id, patch);
    if (!changed) return;
    const who = this.#who(d);
    const alarm = ALARM_OF[state.attr];
    const fault = FAULT_OF[state.attr];
    if (alarm) this.emit(state.on ? "alarm" : "clear", { ...who, kind: alarm });
    else if (fault) this.emit("fault", { ...who, kind: fault, fault: state.on });
    else if (state.attr === "battery") this.emit("battery", { ...who, low: state.on, status: state.status });
    else if (state.attr === "lifeend") this.emit("endOfLife", { ...who, endOfLife: state.on });
  }

  #who(d: Detector): LocalDetector {
    return { stationSn: d.stationSn, deviceSn: d.deviceSn, id: d.id };
  }

  #station(sn: string): Station | undefined {
    let station = this.#stations.get(sn);
    if (station) return station;
    if (this.#stations.size >= this.#max) {
      this.#limiter.warn("too many stations", "xsense local: ignoring a message", { station: sn, limit: this.#max });
      return undefined;
    }
    station = { live: false, publisher: undefined };
    this.#stations.set(sn, station);
    return station;
  }

  #detector(message: { stationSn: string; deviceSn: string }): Detector | undefined {
    const key = `${message.stationSn}/${message.deviceSn}`;
    let d = this.#detectors.get(key);
    if (!d) {
      if (this.#detectors.size >= this.#max) {
        this.#limiter.warn("too many detectors", "xsense local: ignoring a message", {
          station: message.stationSn,
          limit: this.#max,
        });
        return undefined;
      }
      d = {
        stationSn: message.stationSn,
        deviceSn: message.deviceSn,
        id: undefined,
        online: undefined,
        values: new Map(),
        shown: undefined,
        warned: false,
      };
      this.#detectors.set(key, d);
    }
    if (!d.id && this.#o.resolve) {
      d.id = this.#o.resolve(d.stationSn, d.deviceSn);
      if (!d.id && !d.warned) {
        d.warned = true;
        this.#limiter.warn(
          "unknown detector",
          "xsense local: a detector the X-Sense account does not list; ignored until it does",
          {
            station: d.stationSn,
            device: d.deviceSn,
          },
        );
      } else if (d.id) this.#showAvailability(d);
    }
    return d;
  }

  #setLive(sn: string, station: Station, live: boolean): void {
    if (station.live === live) return;
    station.live = live;
    this.#log.info(
      { station: sn },
      `xsense local: station ${sn} ${live ? "publishes on the local path" : "left the local path"}`,
    );
    this.emit("liveness", { stationSn: sn, up: live });
    for (const d of this.#detectors.values()) if (d.stationSn === sn) this.#showAvailability(d);
  }

  #showAvailability(d: Detector): void {
    if (!d.id || !this.#o.sink) return;
    const live = this.detectorLive(d.stationSn, d.deviceSn);
    if (d.shown === live) return;
    d.shown = live;
    this.#o.sink.availabilityChanged(d.id, live);
  }
}
