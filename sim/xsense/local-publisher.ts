// The SBS50's local MQTT output as the simulator plays it (docs/protocols/xsense.md §4.5): an MQTT client
// that logs in to a broker with the username and password "typed into the app", publishes a Home
// Assistant discovery config (retained) for every attribute of every detector of its station, then the
// state of each, and afterwards the state of every attribute that changes. Topic shapes follow the real
// log (XH02-M); payload_on/payload_off words other than the documented ones are the simulator's guess.
import { connect, type MqttClient } from "mqtt";
import { inferSpec, modelSpec } from "../../src/drivers/xsense/models.ts";
import type { Fields, XSenseSimulator } from "./index.ts";

export interface LocalPublisherOptions {
  url: string;
  username?: string;
  password?: string;
  prefix?: string;
}

interface Attr {
  name: string;
  on: string;
  off: string;
  deviceClass: string;
  /** The status word for the device's fields. */
  status(state: Fields): string;
}

const isOn = (value: unknown) => value === "1" || value === 1;

function attrsOf(type: string): Attr[] {
  const spec = modelSpec(type) ?? inferSpec(type, {}, false);
  const smoke = spec?.smoke === true;
  const co = spec?.co === true;
  const heat = spec?.heat === true;
  // A combo detector's alarm is CO while its CO reading is up, smoke otherwise.
  const coActive = (s: Fields) => co && (!smoke || Number(s.coLevel ?? 0) > 0 || Number(s.coPpm ?? 0) > 0);
  const alarm = (name: string, active: (s: Fields) => boolean): Attr => ({
    name,
    on: "Detected",
    off: "Cleared",
    deviceClass: name === "coalarm" ? "carbon_monoxide" : name === "heatalarm" ? "heat" : "smoke",
    status: (s) => (isOn(s.alarmStatus) && active(s) ? "Detected" : "Cleared"),
  });
  const fault = (name: string): Attr => ({
    name,
    on: "Fault",
    off: "Normal",
    deviceClass: "problem",
    status: (s) => (isOn(s.sensorStatus) ? "Fault" : "Normal"),
  });
  const out: Attr[] = [
    {
      name: "battery",
      on: "Low",
      off: "Normal",
      deviceClass: "battery",
      status: (s) => (s.batInfo === "0" ? "Critical" : s.batInfo === "1" ? "Low" : "Normal"),
    },
    {
      name: "online",
      on: "Online",
      off: "Offline",
      deviceClass: "connectivity",
      status: (s) => (s.online === "0" ? "Offline" : "Online"),
    },
    {
      name: "lifeend",
      on: "EOL",
      off: "Normal",
      deviceClass: "problem",
      status: (s) => (isOn(s.isLifeEnd) ? "EOL" : "Normal"),
    },
  ];
  if (smoke)
    out.push(
      alarm("smokealarm", (s) => !coActive(s)),
      fault("smokefault"),
    );
  if (co) out.push(alarm("coalarm", coActive), fault("cofault"));
  if (heat)
    out.push(
      alarm("heatalarm", () => true),
      fault("heatfault"),
    );
  return out;
}

export class Sbs50LocalPublisher {
  readonly stationSn: string;
  readonly #o: LocalPublisherOptions;
  readonly #prefix: string;
  #client: MqttClient | undefined;
  /** Last status published per `<deviceSn>/<attr>`. */
  readonly #published = new Map<string, string>();

  constructor(stationSn: string, options: LocalPublisherOptions) {
    this.stationSn = stationSn;
    this.#o = options;
    this.#prefix = options.prefix ?? "homeassistant";
  }

  /** Connect a publisher for one SBS50 of the simulator, announce its detectors and follow their changes. */
  static async attach(
    sim: XSenseSimulator,
    stationSn: string,
    options: LocalPublisherOptions,
  ): Promise<Sbs50LocalPublisher> {
    const publisher = new Sbs50LocalPublisher(stationSn, options);
    await publisher.connect();
    for (const d of sim.station(stationSn).devices) await publisher.announce(d.sn, d.type, d.name, d.state);
    sim.localPublishers.set(stationSn, publisher);
    return publisher;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  async connect(): Promise<void> {
    const client = connect(this.#o.url, {
      clientId: `SBS50${this.stationSn}`,
      ...(this.#o.username === undefined ? {} : { username: this.#o.username }),
      ...(this.#o.password === undefined ? {} : { password: this.#o.password }),
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    this.#client = client;
    // mqtt.js re-emits a socket error (ECONNRESET when the broker drops the station) as the client's
    // `error` event; unheard, it is thrown from the event loop and takes the whole process down. The
    // listener goes on before the first packet can arrive.
    client.on("error", (error) => {
      this.lastError = error;
    });
    await new Promise<void>((resolve, reject) => {
      const closed = (): void => reject(this.lastError ?? new Error("the broker closed the connection"));
      client.once("close", closed);
      client.once("connect", () => {
        client.off("close", closed);
        resolve();
      });
    });
  }

  /** The last connection error the station saw (a dropped or refused connection), for tests. */
  lastError: Error | undefined;

  #node(deviceSn: string): string {
    return `SBS50${this.stationSn}_${deviceSn}`;
  }

  /** `<prefix>/binary_sensor/SBS50<station>_<device>/SBS50<station>_<device>_<attr>/<leaf>` */
  topic(deviceSn: string, attr: string, leaf: "state" | "config"): string {
    const node = this.#node(deviceSn);
    return `${this.#prefix}/binary_sensor/${node}/${node}_${attr}/${leaf}`;
  }

  /** Discovery configs (retained, QoS 1) and the current state of one detector. QoS 1 because aedes 1.2
   * held back retained QoS 0 JSON publishes from subscribers already connected (seen while writing the
   * external-broker test; the late subscriber got them). */
  async announce(deviceSn: string, type: string, name: string, state: Fields): Promise<void> {
    for (const attr of attrsOf(type)) {
      const config = {
        name: `${name} ${attr.name}`,
        unique_id: `${this.#node(deviceSn)}_${attr.name}`,
        state_topic: this.topic(deviceSn, attr.name, "state"),
        value_template: "{{ value_json.status }}",
        payload_on: attr.on,
        payload_off: attr.off,
        device_class: attr.deviceClass,
        device: {
          identifiers: [this.#node(deviceSn)],
          name,
          model: type,
          manufacturer: "X-Sense",
          sw_version: "v1.7.0",
        },
      };
      await this.#client?.publishAsync(this.topic(deviceSn, attr.name, "config"), JSON.stringify(config), {
        qos: 1,
        retain: true,
      });
    }
    this.#publishChanges(deviceSn, type, state, true);
  }

  /** The simulator changed a detector's fields: publish the attributes whose status changed. */
  deviceChanged(deviceSn: string, type: string, state: Fields): void {
    this.#publishChanges(deviceSn, type, state, false);
  }

  #publishChanges(deviceSn: string, type: string, state: Fields, all: boolean): void {
    for (const attr of attrsOf(type)) {
      const status = attr.status(state);
      const key = `${deviceSn}/${attr.name}`;
      if (!all && this.#published.get(key) === status) continue;
      this.#published.set(key, status);
      this.publishRaw(this.topic(deviceSn, attr.name, "state"), JSON.stringify({ status }));
    }
  }

  /** Any payload on any topic (malformed-input tests). */
  publishRaw(topic: string, payload: string | Buffer, retain = false): void {
    this.#client?.publish(topic, payload, { qos: 0, retain });
  }

  /** Wait until everything published so far has left (a PINGREQ round trip follows the publishes). */
  async flush(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    await client.publishAsync(`${this.#prefix}/hearthbridge-sim/flush`, "", { qos: 1 });
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.endAsync(true);
  }
}
