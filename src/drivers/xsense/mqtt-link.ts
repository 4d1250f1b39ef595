// The alarm link (docs/protocols/xsense.md §4): MQTT over a SigV4-presigned WebSocket per endpoint and
// region. A dropped connection is re-made at once, then with a back-off capped at a few seconds; a
// refused one condemns the credentials (and, refused again, the tokens) it was presigned with; the
// detectors it serves read unavailable only once it stays down past a grace period. Alarm messages
// reach the sink synchronously from the message handler.
import { randomUUID } from "node:crypto";
import { connect as mqttConnect, type MqttClient } from "mqtt";
import WebSocket from "ws";
import type { DriverSink } from "../../core/driver.ts";
import type { BackoffPolicy, DriverRuntime, Timer } from "../../core/driver-runtime.ts";
import type { Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import type { XSenseCredentials } from "./credentials.ts";
import type { Inventory } from "./inventory.ts";
import { CLOSED_WITHOUT_ANSWER, errorFailure, upgradeFailure, type LinkFailure } from "./link-failure.ts";
import { isObject } from "./parse.ts";
import type { XSenseSession } from "./session.ts";
import type { House, ShadowClient } from "./shadows.ts";
import { presignUrl } from "./sigv4.ts";

export const DEFAULT_MQTT = "wss://{server}/mqtt";
export const MQTT_USERNAME = "?SDK=iOS&Version=2.26.5";

interface Link {
  key: string;
  base: string;
  region: string;
  houses: Set<string>;
  client: MqttClient | undefined;
  pending: MqttClient | undefined;
  connected: boolean;
  everConnected: boolean;
  /** Detectors were marked unavailable because of this link. */
  down: boolean;
  attempt: number;
  /** Connection attempts refused in a row (HTTP 401/403, CONNACK 4/5, TLS); reset by a CONNACK. */
  refusals: number;
  /** Since when the link has been down (performance-free wall clock, for logs and the web page). */
  downSince: number | undefined;
  graceTimer: Timer | undefined;
  retryTimer: Timer | undefined;
}

const SHADOW_RE = /^\$aws\/things\/([^/]+)\/shadow\/name\/([^/]+)\/update(?:\/(accepted|documents|rejected))?$/;
const PRESENCE_RE = /^\$aws\/events\/presence\/(connected|disconnected)\/(.+)$/;

/** Largest MQTT-over-WebSocket frame accepted (a shadow document is a few KB; AWS IoT's cap is 128 KB). */
const MQTT_MAX_PAYLOAD = 256 * 1024;

export interface MqttLinkOptions {
  inventory: Inventory;
  session: XSenseSession;
  credentials: XSenseCredentials;
  shadows: ShadowClient;
  rt: DriverRuntime;
  log: Logger;
  sink: DriverSink;
  /** MQTT WebSocket URL; `{server}`/`{region}` are replaced per house. */
  mqtt: string | undefined;
  /** CONNACK wait. */
  connectMs: number;
  keepaliveSec: number;
  /** Down longer than this: the detectors the link serves read unavailable. */
  graceMs: number;
  /** Reconnect back-off (attempt 0 at once). */
  retry: BackoffPolicy;
}

export class MqttLinks {
  readonly #o: MqttLinkOptions;
  readonly #inv: Inventory;
  readonly #links = new Map<string, Link>();
  /** House re-reads in flight (by house id); `again`: another event came in meanwhile. */
  /** Shadow re-reads in flight, by link or house event (`again`: asked for again meanwhile). */
  readonly #rereads = new Map<string, { again: boolean; done: Promise<void> }>();
  /** Start-up finished: link state changes are reported from now on. */
  #ready = false;
  #linkState: "connected" | "disconnected" | undefined;

  constructor(options: MqttLinkOptions) {
    this.#o = options;
    this.#inv = options.inventory;
  }

  /** Start-up is over: report the link state from now on. */
  ready(): void {
    this.#ready = true;
    if (!this.#o.rt.stopping) this.#reportLink();
  }

  /** The link serving `house` has been down past its grace. */
  isDown(house: House): boolean {
    for (const link of this.#links.values()) if (link.houses.has(house.id)) return link.down;
    return false;
  }

  /** New credentials: re-make every connection (each old one serves until its successor is up). */
  renewAll(): void {
    for (const link of this.#links.values()) void this.#connectLink(link, "renew");
  }

  /** Stop: end every connection and wait for them to close. */
  async endAll(): Promise<void> {
    const ends: Promise<void>[] = [];
    for (const link of this.#links.values()) {
      for (const c of [link.client, link.pending]) {
        if (c) ends.push(new Promise((resolve) => c.end(true, {}, () => resolve())));
      }
      link.client = link.pending = undefined;
    }
    await Promise.all(ends);
  }

  /** The account's link state: connected when every link is (reported once start-up is over). */
  #reportLink(): void {
    if (!this.#ready) return;
    const links = [...this.#links.values()];
    const state = links.every((l) => l.connected) ? "connected" : "disconnected";
    if (state === this.#linkState) return;
    this.#linkState = state;
    if (state === "connected") this.#o.sink.linkStateChanged("connected");
    else this.#o.sink.linkStateChanged("disconnected", "MQTT reconnecting");
  }

  #mqttBase(house: House): string {
    return (this.#o.mqtt ?? DEFAULT_MQTT).replaceAll("{server}", house.server).replaceAll("{region}", house.region);
  }

  /** A link per MQTT endpoint and region serving the account's houses; new houses join their link. */
  async open(): Promise<void> {
    const opened: Promise<void>[] = [];
    for (const house of this.#inv.houses.values()) {
      const base = this.#mqttBase(house);
      const key = `${base}|${house.region}`;
      let link = this.#links.get(key);
      if (!link) {
        link = {
          key,
          base,
          region: house.region,
          houses: new Set(),
          client: undefined,
          pending: undefined,
          connected: false,
          everConnected: false,
          down: false,
          attempt: 0,
          refusals: 0,
          downSince: undefined,
          graceTimer: undefined,
          retryTimer: undefined,
        };
        this.#links.set(key, link);
      }
      const fresh = !link.houses.has(house.id);
      link.houses.add(house.id);
      if (!link.client && !link.pending) opened.push(this.#connectLink(link, "start"));
      else if (fresh && link.connected && link.client) this.#subscribe(link, link.client, [house.id]);
    }
    await Promise.all(opened);
  }

  #topics(link: Link, houseIds?: string[]): string[] {
    const ids = houseIds ?? [...link.houses];
    const topics: string[] = [];
    for (const id of ids) {
      topics.push(`@xsense/events/+/${id}`, `$aws/things/${id}/shadow/name/+/update`);
      for (const st of this.#inv.stations.values()) {
        if (st.house.id !== id) continue;
        topics.push(`$aws/things/${st.thing}/shadow/name/+/update`, `$aws/events/presence/+/${st.thing}`);
      }
    }
    return [...new Set(topics)];
  }

  #subscribe(link: Link, client: MqttClient, houseIds?: string[]): Promise<void> {
    const topics = this.#topics(link, houseIds);
    const batches: string[][] = [];
    for (let i = 0; i < topics.length; i += 8) batches.push(topics.slice(i, i + 8)); // ≤ 8 topics per SUBSCRIBE
    return batches.reduce<Promise<void>>(
      (prev, batch) =>
        prev.then(
          () =>
            new Promise<void>((resolve) => {
              client.subscribe(batch, { qos: 0 }, (error, granted) => {
                // A refused subscription (SUBACK 0x80, e.g. AWS "Quota exceeded") comes back as an error.
                const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
                if (error || refused.length) {
                  const fields = { topics: refused.length ? refused : batch, why: error?.message };
                  this.#o.log.warn(fields, "xsense: MQTT subscriptions refused by the broker (quota exceeded?)");
                }
                resolve();
              });
            }),
        ),
      Promise.resolve(),
    );
  }

  /** (Re)connect a link with a freshly presigned URL. `renew`: keep the old connection until the new one is up. */
  #connectLink(link: Link, why: "start" | "reconnect" | "renew"): Promise<void> {
    const creds = this.#o.credentials.current;
    if (this.#o.rt.stopping || !creds) return Promise.resolve();
    if (link.pending) {
      link.pending.end(true);
      link.pending = undefined;
    }
    const url = presignUrl(link.base, link.region, creds, this.#o.shadows.now());
    const presignedWith = creds.accessKeyId;
    /** Why this attempt failed, when it says: the upgrade's HTTP status, a CONNACK code, a TLS error. */
    let failure: LinkFailure | undefined;
    const client = mqttConnect(url, {
      clientId: randomUUID(),
      username: MQTT_USERNAME,
      password: "",
      keepalive: this.#o.keepaliveSec,
      reconnectPeriod: 0,
      connectTimeout: this.#o.connectMs,
      protocolVersion: 4,
      clean: true,
      // Without this mqtt-packet pre-builds 65,536 two-byte Buffers (about 7 MB of heap) for a few numbers a minute.
      writeCache: false,
      // Our own socket, because mqtt.js drops a refused upgrade's status without a word (no error event,
      // just a close): a 403 here means these credentials are dead, and only the status can say so.
      createWebsocket: (wsUrl: string, protocols: string[]) => {
        const socket = new WebSocket(wsUrl, protocols, { maxPayload: MQTT_MAX_PAYLOAD });
        socket.on("unexpected-response", (_req, res) => {
          const errorType = res.headers["x-amzn-errortype"];
          const type = typeof errorType === "string" ? errorType.slice(0, 80) : undefined;
          failure = upgradeFailure(res.statusCode ?? 0, res.statusMessage ?? "", type);
          res.resume();
          socket.terminate();
        });
        socket.on("error", (error: Error & { code?: unknown }) => (failure ??= errorFailure(error)));
        return socket;
      },
    });
    link.pending = client;
    return new Promise<void>((resolve) => {
      let settled = false;
      const settle = (): void => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      client.on("connect", () => {
        if (link.pending !== client) return;
        link.pending = undefined;
        const old = link.client;
        link.client = client;
        if (old && old !== client) old.end(true);
        const wasDown = link.down;
        const resync = link.everConnected;
        link.connected = true;
        link.everConnected = true;
        link.attempt = 0;
        link.refusals = 0;
        if (link.downSince !== undefined) {
          this.#o.log.info({ downS: Math.round((Date.now() - link.downSince) / 1000) }, "xsense: alarm link back");
        }
        link.downSince = undefined;
        link.graceTimer = this.#o.rt.cancel(link.graceTimer);
        link.retryTimer = this.#o.rt.cancel(link.retryTimer);
        this.#o.log.info(`xsense: MQTT connected (${why})`);
        void this.#subscribe(link, client).then(() => {
          settle();
          if (this.#o.rt.stopping || link.client !== client) return;
          if (wasDown) {
            link.down = false;
            this.#updateDevicesOf(link);
          }
          this.#reportLink();
          // Anything may have happened while we were away: read the shadows again.
          if (resync && why !== "renew") this.#resyncHouses(link);
        });
      });
      client.on("message", (topic, payload) => {
        if (link.client === client || link.pending === client) this.#onMessage(topic, payload);
      });
      client.on("error", (error) => {
        failure ??= errorFailure(error as Error & { code?: unknown });
        if (link.client === client) {
          this.#o.log.warn({ code: (error as { code?: unknown }).code }, `xsense: MQTT error: ${error.message}`);
        }
      });
      client.on("close", () => {
        settle();
        if (link.pending === client) {
          link.pending = undefined;
          this.#attemptFailed(link, failure ?? CLOSED_WITHOUT_ANSWER, presignedWith);
          if (link.client) return; // a renewal failed; the old connection still serves
          this.#linkDropped(link, client, "connection attempt failed");
          return;
        }
        if (link.client !== client) return;
        this.#linkDropped(link, client, "connection closed");
      });
    });
  }

  /** A connection attempt that never got its CONNACK. A refusal condemns the credentials it was
   * presigned with (and, refused again with fresh ones, the tokens that fetched them): the next attempt
   * never presents what was just refused. Each cause is logged, at most once a minute. */
  #attemptFailed(link: Link, failure: LinkFailure, presignedWith: string): void {
    if (this.#o.rt.stopping) return;
    const refused = failure.kind === "refused";
    if (refused) link.refusals++;
    const what = `xsense: MQTT connection ${refused ? "refused" : "failed"}: ${failure.reason}`;
    rateLimitedLog(this.#o.log).warn(`mqtt-${failure.cause}`, what, {
      ...(failure.status ? { status: failure.status } : {}),
      ...(refused ? { refusedInARow: link.refusals } : {}),
    });
    if (!refused) return;
    this.#o.credentials.condemn(presignedWith); // fetched anew before the next try
    if (link.refusals >= 2) this.#o.session.condemnTokens(); // refreshed (or a new login) first
  }

  #linkDropped(link: Link, client: MqttClient, reason: string): void {
    if (this.#o.rt.stopping) return;
    client.removeAllListeners("message");
    if (link.client === client) link.client = undefined;
    const wasConnected = link.connected;
    link.connected = false;
    link.downSince ??= Date.now();
    if (wasConnected) {
      this.#o.log.warn(`xsense: MQTT ${reason}; reconnecting`);
      this.#reportLink();
    }
    if (!link.graceTimer && !link.down) {
      const grace = this.#o.graceMs;
      link.graceTimer = this.#o.rt.later(grace, () => {
        link.graceTimer = undefined;
        if (link.connected) return;
        const downS = Math.round(grace / 1000);
        const what = `the alarm link (MQTT) has been down for ${downS} s; marking its detectors unavailable`;
        this.#o.log.warn(`xsense: ${what}`);
        link.down = true;
        this.#updateDevicesOf(link);
      });
    }
    // At once, then exponential with jitter (links of many bridges must not retry in step), capped
    // low enough that the alarm link is back within seconds of the cloud answering again.
    const delay = this.#o.rt.backoff(link.attempt++, this.#o.retry);
    this.#o.rt.cancel(link.retryTimer);
    link.retryTimer = this.#o.rt.later(delay, () => {
      link.retryTimer = undefined;
      void this.#o.credentials
        .ensure()
        .then(() => this.#connectLink(link, "reconnect"))
        .catch((error: Error) => {
          this.#o.log.warn(`xsense: cannot reconnect MQTT: ${error.message}`);
          this.#linkDropped(link, client, "reconnect failed");
        });
    });
  }

  #updateDevicesOf(link: Link): void {
    for (const dev of this.#inv.devices.values()) {
      if (link.houses.has(dev.station.house.id)) this.#inv.updateAvailability(dev);
    }
  }

  /** After a reconnect, read the link's houses again: anything may have happened while it was down.
   * Reconnects in quick succession cause one more read, not one each (they would pile up). */
  #resyncHouses(link: Link): void {
    this.#reread(`link ${link.key}`, async () => {
      try {
        await this.#inv.readShadows([...this.#inv.houses.values()].filter((h) => link.houses.has(h.id)));
      } catch (error) {
        this.#o.log.warn(`xsense: re-reading shadows failed: ${(error as Error).message}`);
      }
    });
  }

  /** Resolves once no shadow re-read is in flight (tests, diagnostics). */
  async settled(): Promise<void> {
    while (this.#rereads.size) await Promise.all([...this.#rereads.values()].map((r) => r.done));
  }

  /** Every MQTT message. Alarm reports reach the sink synchronously from here. */
  #onMessage(topic: string, payload: Buffer): void {
    if (this.#o.rt.stopping) return;
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString("utf8"));
    } catch {
      return this.#inv.malformed(topic, "not JSON");
    }
    if (!isObject(doc)) return this.#inv.malformed(topic, "not a JSON object");
    const presence = PRESENCE_RE.exec(topic);
    if (presence) {
      const station = this.#inv.things.get(presence[2]!);
      if (station) this.#inv.presence(station, presence[1] === "connected");
      return;
    }
    const shadow = SHADOW_RE.exec(topic);
    if (shadow) {
      if (shadow[3]) return; // /accepted, /documents, /rejected duplicate /update
      const state = doc.state;
      if (!isObject(state) || !isObject(state.reported)) {
        // Someone's command, not a report.
        if (isObject(state) && isObject(state.desired) && state.reported === undefined) return;
        return this.#inv.malformed(topic, "no state.reported object");
      }
      const thing = shadow[1]!;
      const name = shadow[2]!;
      const station = this.#inv.things.get(thing);
      if (station) return this.#inv.applyShadow(station, name, state.reported, topic);
      const house = this.#inv.houses.get(thing);
      if (house) return this.#inv.applyHouseShadow(house, name, state.reported, topic);
      this.#o.log.debug({ topic }, "xsense: message for an unknown thing");
      return;
    }
    if (topic.startsWith("@xsense/events/")) {
      // No captured payload of this topic exists (docs/protocols/xsense.md §4.4, §9): log it and
      // re-read the house's shadows.
      this.#o.log.debug({ topic, eventType: doc.eventType }, "xsense: house event");
      const houseId = topic.split("/").pop() ?? "";
      const house = this.#inv.houses.get(houseId);
      if (house) this.#rereadHouse(house);
      return;
    }
    this.#o.log.debug({ topic }, "xsense: message on an unexpected topic");
  }

  /** Re-read a house's shadows after a house event. Events that come in meanwhile cause one more read,
   * not one each: a burst of events must not become a burst of shadow requests. */
  #rereadHouse(house: House): void {
    this.#reread(`house ${house.id}`, () => this.#inv.readShadows([house]).catch(() => undefined));
  }

  /** Run `read` for `key` unless one is running; asked again meanwhile, it runs once more after it. */
  #reread(key: string, read: () => Promise<void>): void {
    const running = this.#rereads.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false, done: Promise.resolve() };
    this.#rereads.set(key, state);
    state.done = (async () => {
      do {
        state.again = false;
        await read();
      } while (state.again && !this.#o.rt.stopping);
      this.#rereads.delete(key);
    })();
  }
}
