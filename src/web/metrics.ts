// Prometheus metrics (prom-client, its own registry so nothing global leaks between instances).
// Gauges are computed at scrape time from the registry and the hosts; counters and histograms follow
// the registry's 'link' and 'command' events and its deliveryObserver (vendor report → host update).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { LinkState } from "../core/driver.ts";
import type { DeviceEntry, Ecosystem } from "../core/registry.ts";
import { accountLabels, accountViews, pairingView, type WebSources } from "./status.ts";

const LINK_STATES: LinkState[] = ["connecting", "connected", "disconnected", "needs-login"];

/** Latencies wait here until a scrape (or a full buffer) hands them to prom-client, whose observe()
 * allocates per call: the report path only stores a number. */
class SampleBuffer {
  readonly #values = new Float64Array(1024);
  readonly #observe: (seconds: number) => void;
  #count = 0;

  constructor(observe: (seconds: number) => void) {
    this.#observe = observe;
  }

  add(seconds: number): void {
    this.#values[this.#count++] = seconds;
    if (this.#count === this.#values.length) this.flush();
  }

  flush(): void {
    for (let i = 0; i < this.#count; i++) this.#observe(this.#values[i]!);
    this.#count = 0;
  }
}

export class BridgeMetrics {
  readonly registry = new Registry();
  readonly #sources: WebSources;
  readonly #reconnects: Counter<"account">;
  readonly #commands: Histogram<"vendor" | "result">;
  readonly #onDelivered: (ecosystem: Ecosystem, ms: number) => void;
  /** Accounts that went down since they were last connected. */
  readonly #down = new Set<string>();
  /** Account names as /metrics shows them (no e-mail address: status.ts accountLabels). */
  readonly #label: (name: string) => string;
  readonly #onLink = (account: string, state: LinkState): void => {
    if (state === "disconnected" || state === "needs-login") this.#down.add(account);
    else if (state === "connected" && this.#down.delete(account)) {
      this.#reconnects.inc({ account: this.#label(account) });
    }
  };
  readonly #onCommand = (entry: DeviceEntry, durationMs: number, error?: Error): void => {
    this.#commands.observe({ vendor: entry.info.vendor, result: error ? "error" : "ok" }, durationMs / 1000);
  };

  constructor(sources: WebSources) {
    this.#sources = sources;
    const label = (this.#label = accountLabels(sources.accounts));
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "hearthbridge_" });
    new Gauge({
      name: "hearthbridge_account_link",
      help: "Connection state of each vendor account: 1 for its current state, 0 for the others",
      labelNames: ["account", "vendor", "state"],
      registers,
      collect() {
        this.reset();
        for (const a of accountViews(sources)) {
          const account = label(a.name);
          for (const state of LINK_STATES) this.set({ account, vendor: a.vendor, state }, a.link === state ? 1 : 0);
        }
      },
    });
    this.#reconnects = new Counter({
      name: "hearthbridge_account_reconnects_total",
      help: "Times an account's link came back (connected after disconnected)",
      labelNames: ["account"],
      registers,
    });
    for (const a of sources.accounts) this.#reconnects.inc({ account: label(a.name) }, 0);
    this.#commands = new Histogram({
      name: "hearthbridge_command_duration_seconds",
      help: "Time from a HomeKit/Matter command to the vendor's acknowledgement",
      labelNames: ["vendor", "result"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    let pending: SampleBuffer[] = [];
    const events = new Histogram({
      name: "hearthbridge_event_duration_seconds",
      help:
        "Time from a vendor's state report reaching the bridge to the HomeKit/Matter host having applied it " +
        "(HAP updateValue done, Matter attributes set)",
      labelNames: ["ecosystem"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
      collect() {
        for (const buffer of pending) buffer.flush();
      },
    });
    if (sources.homekit) events.zero({ ecosystem: "homekit" });
    if (sources.matter) events.zero({ ecosystem: "matter" });
    const homekitEvents = new SampleBuffer(events.labels({ ecosystem: "homekit" }).observe);
    const matterEvents = new SampleBuffer(events.labels({ ecosystem: "matter" }).observe);
    pending = [homekitEvents, matterEvents];
    this.#onDelivered = (ecosystem, ms) => (ecosystem === "homekit" ? homekitEvents : matterEvents).add(ms / 1000);
    new Gauge({
      name: "hearthbridge_device_available",
      help: "1 when the device is reachable through its vendor cloud",
      labelNames: ["device", "vendor", "account"],
      registers,
      collect() {
        this.reset();
        for (const d of sources.registry.devices) {
          this.set({ device: d.info.id, vendor: d.info.vendor, account: label(d.info.account) }, d.available ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "hearthbridge_devices",
      help: "Devices the bridge knows",
      registers,
      collect() {
        this.set(sources.registry.devices.length);
      },
    });
    new Gauge({
      name: "hearthbridge_homekit_paired_controllers",
      help: "HomeKit controllers paired with each bridge",
      labelNames: ["bridge"],
      registers,
      collect() {
        this.reset();
        for (const b of pairingView(sources).homekit?.bridges ?? [])
          this.set({ bridge: String(b.index) }, b.pairedControllers);
      },
    });
    new Gauge({
      name: "hearthbridge_matter_fabrics",
      help: "Matter fabrics (controllers) the bridge is commissioned into",
      registers,
      collect() {
        this.set(sources.matter?.fabricCount ?? 0);
      },
    });
    new Gauge({
      name: "hearthbridge_stream_sessions",
      help: "Live camera stream sessions",
      registers,
      collect() {
        this.set(sources.media?.liveSessions ?? 0);
      },
    });
    sources.registry.on("link", this.#onLink);
    sources.registry.on("command", this.#onCommand);
    sources.registry.deliveryObserver = this.#onDelivered;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.#sources.registry.off("link", this.#onLink);
    this.#sources.registry.off("command", this.#onCommand);
    if (this.#sources.registry.deliveryObserver === this.#onDelivered)
      this.#sources.registry.deliveryObserver = undefined;
    this.registry.clear();
  }
}
