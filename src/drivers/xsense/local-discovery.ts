// The SBS50's local MQTT output: Home Assistant MQTT discovery (docs/protocols/xsense.md §4.5). Pure
// parsing of the discovery `config` and `state` topics into reports for one detector attribute. The
// tracker is bounded (entities, custom state topics) and every rejected message goes through the rate
// limited log: a broken or hostile publisher costs a few log lines, never memory or a crash.
import type { Logger } from "../../core/logger.ts";
import { RateLimitedLog } from "../../core/rate-limited-log.ts";
import { isObject } from "./parse.ts";

/** The attributes the SBS50 publishes per detector. */
export const LOCAL_ATTRS = [
  "battery",
  "online",
  "lifeend",
  "smokealarm",
  "heatalarm",
  "coalarm",
  "smokefault",
  "heatfault",
  "cofault",
] as const;
export type LocalAttr = (typeof LOCAL_ATTRS)[number];
const ATTRS = new Set<string>(LOCAL_ATTRS);

/** The status that means "on" when the discovery config gave no payload_on. */
const DEFAULT_ON: Record<LocalAttr, readonly string[]> = {
  battery: ["Low", "Critical"],
  online: ["Online"],
  lifeend: ["EOL"],
  smokealarm: ["Detected"],
  heatalarm: ["Detected"],
  coalarm: ["Detected"],
  smokefault: ["Detected", "Fault"],
  heatfault: ["Detected", "Fault"],
  cofault: ["Detected", "Fault"],
};
/** Battery levels the station reports beside payload_on/off (no percentage on this path). */
const BATTERY_LEVELS: Record<string, boolean> = { Normal: false, Low: true, Critical: true };

/** One detector attribute as the station reported it. `on`: alarm detected, battery low, end of
 * life reached, fault present, online. */
export interface LocalState {
  kind: "state";
  stationSn: string;
  deviceSn: string;
  attr: LocalAttr;
  on: boolean;
  /** The station's own word ("Detected", "Low", "Critical", "EOL", "Online"...). */
  status: string;
}

/** A discovery config: the station announced (or re-announced) one detector attribute. */
export interface LocalEntity {
  kind: "config";
  stationSn: string;
  deviceSn: string;
  attr: LocalAttr;
  /** From the config's `device` block, when given. */
  model: string | undefined;
  name: string | undefined;
  firmware: string | undefined;
}

export type LocalMessage = LocalState | LocalEntity;

export interface TopicParts {
  kind: "state" | "config";
  stationSn: string;
  deviceSn: string;
  attr: LocalAttr;
}

export interface DiscoveryOptions {
  /** Discovery prefix (default "homeassistant", as Home Assistant's own). */
  prefix?: string;
  /** Entities (detector attributes) remembered at once; configs beyond are ignored (default 4096). */
  maxEntities?: number;
  /** Largest payload accepted (default 16 KiB; a real config is well under 2 KiB). */
  maxPayloadBytes?: number;
  /** Rate-limited warn lines (default: one limiter of its own on `log`). */
  limiter?: RateLimitedLog;
}

const SERIAL = "[A-Za-z0-9]{1,40}";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `<prefix>/<component>/SBS50<station>_<device>/SBS50<station>_<device>_<attr>/(state|config)`. */
export function topicPattern(prefix = "homeassistant"): RegExp {
  const node = `SBS50(${SERIAL})_(${SERIAL})`;
  return new RegExp(`^${escapeRegExp(prefix)}/[a-z_]{1,40}/${node}/SBS50\\1_\\2_([a-z]{1,20})/(state|config)$`);
}

/** The parts of a discovery topic, or undefined when it is not one of the SBS50's. */
export function parseTopic(topic: string, pattern = topicPattern()): TopicParts | undefined {
  const m = pattern.exec(topic);
  if (!m || !ATTRS.has(m[3]!)) return undefined;
  return { stationSn: m[1]!, deviceSn: m[2]!, attr: m[3] as LocalAttr, kind: m[4] as "state" | "config" };
}

interface Entity {
  payloadOn: string | undefined;
  payloadOff: string | undefined;
}

type Rejection = { why: string; fields?: Record<string, unknown> };

/** The status a state payload carries: `{"status":"..."}` (value_template `{{ value_json.status }}`)
 * or a bare word. */
export function statusOf(payload: string): string | Rejection {
  const text = payload.trim();
  if (text.startsWith("{")) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { why: "state is not valid JSON" };
    }
    if (!isObject(value) || typeof value.status !== "string") return { why: "state has no status string" };
    return value.status.length <= 64 ? value.status : { why: "status too long" };
  }
  return /^[A-Za-z0-9 _-]{1,64}$/.test(text) ? text : { why: "state is neither JSON nor a word" };
}

/** Whether a status means "on" for the attribute (with the entity's payload_on/off when known). */
export function decide(attr: LocalAttr, status: string, entity?: Entity): boolean | Rejection {
  if (attr === "battery" && status in BATTERY_LEVELS) return BATTERY_LEVELS[status]!;
  if (entity?.payloadOn !== undefined || entity?.payloadOff !== undefined) {
    if (status === entity.payloadOn) return true;
    if (status === entity.payloadOff) return false;
    // A word the config did not announce: on if it is a known "on" word, else leave the state alone.
    if (DEFAULT_ON[attr].includes(status)) return true;
    return { why: "status is neither payload_on nor payload_off", fields: { attr, status } };
  }
  return DEFAULT_ON[attr].includes(status);
}

function text(value: unknown, max = 64): string | undefined {
  return typeof value === "string" && value.length <= max ? value : undefined;
}

/**
 * Reads discovery and state messages. `handle` returns what a message said, or undefined when it was
 * not for us or was rejected (logged, rate limited). Entities are keyed by station, device and
 * attribute; their payload_on/payload_off decide later states.
 */
export class DiscoveryTracker {
  readonly #pattern: RegExp;
  readonly #prefix: string;
  readonly #maxEntities: number;
  readonly #maxPayload: number;
  readonly #limiter: RateLimitedLog;
  readonly #entities = new Map<string, Entity>();
  /** A config's state_topic that is not the usual `<...>/state` next to it -> entity key. */
  readonly #customTopics = new Map<string, TopicParts>();

  constructor(log: Logger, options: DiscoveryOptions = {}) {
    this.#prefix = options.prefix ?? "homeassistant";
    this.#pattern = topicPattern(this.#prefix);
    this.#maxEntities = options.maxEntities ?? 4096;
    this.#maxPayload = options.maxPayloadBytes ?? 16 * 1024;
    this.#limiter = options.limiter ?? new RateLimitedLog(log);
  }

  /** The topic filter that covers every message this tracker reads. */
  get subscription(): string {
    return `${this.#prefix}/#`;
  }

  get entityCount(): number {
    return this.#entities.size;
  }

  /** Entities known for one detector (attributes announced by config). */
  attributesOf(stationSn: string, deviceSn: string): LocalAttr[] {
    return LOCAL_ATTRS.filter((a) => this.#entities.has(`${stationSn}/${deviceSn}/${a}`));
  }

  /** Forget everything (the publisher is a different station, or the broker restarted). */
  clear(): void {
    this.#entities.clear();
    this.#customTopics.clear();
  }

  handle(topic: string, payload: Buffer | string): LocalMessage | undefined {
    const size = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
    const parts = parseTopic(topic, this.#pattern) ?? this.#customTopics.get(topic);
    if (!parts) {
      // Other discovery traffic (the broker may be shared with Home Assistant) is none of our business.
      if (topic.startsWith(`${this.#prefix}/`) && /\/SBS50[^/]*\//.test(topic)) {
        this.#reject({ why: "unknown SBS50 topic", fields: { topic: topic.slice(0, 200) } });
      }
      return undefined;
    }
    if (size > this.#maxPayload) return this.#reject({ why: "payload too large", fields: { topic, bytes: size } });
    const body = typeof payload === "string" ? payload : payload.toString("utf8");
    return parts.kind === "config" ? this.#config(topic, parts, body) : this.#state(topic, parts, body);
  }

  #config(topic: string, parts: TopicParts, body: string): LocalEntity | undefined {
    const key = `${parts.stationSn}/${parts.deviceSn}/${parts.attr}`;
    // An empty retained config is Home Assistant's way to remove an entity.
    if (body.trim() === "") {
      this.#entities.delete(key);
      return undefined;
    }
    let config: unknown;
    try {
      config = JSON.parse(body);
    } catch {
      return this.#reject({ why: "config is not valid JSON", fields: { topic } });
    }
    if (!isObject(config)) return this.#reject({ why: "config is not an object", fields: { topic } });
    if (!this.#entities.has(key) && this.#entities.size >= this.#maxEntities) {
      return this.#reject({ why: "too many entities", fields: { topic, limit: this.#maxEntities } });
    }
    this.#entities.set(key, { payloadOn: text(config.payload_on), payloadOff: text(config.payload_off) });
    const stateTopic = text(config.state_topic, 512);
    const usual = topic.replace(/\/config$/, "/state");
    if (stateTopic && stateTopic !== usual) {
      if (this.#customTopics.has(stateTopic) || this.#customTopics.size < this.#maxEntities) {
        this.#customTopics.set(stateTopic, { ...parts, kind: "state" });
      }
    }
    const device = isObject(config.device) ? config.device : {};
    return {
      kind: "config",
      stationSn: parts.stationSn,
      deviceSn: parts.deviceSn,
      attr: parts.attr,
      model: text(device.model),
      name: text(device.name, 128),
      firmware: text(device.sw_version),
    };
  }

  #state(topic: string, parts: TopicParts, body: string): LocalState | undefined {
    const status = statusOf(body);
    if (typeof status !== "string") return this.#reject({ why: status.why, fields: { topic } });
    const on = decide(parts.attr, status, this.#entities.get(`${parts.stationSn}/${parts.deviceSn}/${parts.attr}`));
    if (typeof on !== "boolean") return this.#reject({ why: on.why, fields: { topic, ...on.fields } });
    return { kind: "state", stationSn: parts.stationSn, deviceSn: parts.deviceSn, attr: parts.attr, on, status };
  }

  #reject(rejection: Rejection): undefined {
    this.#limiter.warn(rejection.why, "xsense local: ignoring a message", rejection.fields);
    return undefined;
  }
}
