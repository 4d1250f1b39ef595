// Prometheus metrics (prom-client, its own registry so nothing global leaks between instances).
// Gauges are computed at scrape time from the registry and the hosts; counters and histograms follow
// the registry's 'link' and 'command' events.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { LinkState } from "../core/driver.ts";
import type { DeviceEntry } from "../core/registry.ts";
import { accountViews, pairingView, type WebSources } from "./status.ts";

const LINK_STATES: LinkState[] = ["connecting", "connected", "disconnected", "needs-login"];

export class BridgeMetrics {
  readonly registry = new Registry();
  readonly #sources: WebSources;
  readonly #reconnects: Counter<"account">;
  readonly #commands: Histogram<"vendor" | "result">;
  /** Accounts that went down since they were last connected. */
  readonly #down = new Set<string>();
  readonly #onLink = (account: string, state: LinkState): void => {
    if (state === "disconnected" || state === "needs-login") this.#down.add(account);
    else if (state === "connected" && this.#down.delete(account)) this.#reconnects.inc({ account });
  };
  readonly #onCommand = (entry: DeviceEntry, durationMs: number, error?: Error): void => {
    this.#commands.observe({ vendor: entry.info.vendor, result: error ? "error" : "ok" }, durationMs / 1000);
  };

  constructor(sources: WebSources) {
    this.#sources = sources;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "hearthbridge_" });
    new Gauge({
      name: "hearthbridge_account_link",
      help: "Connection state of each vendor account: 1 for its current state, 0 for the others",
      labelNames: ["account", "vendor", "state"],
      registers,
      collect() {
        this.reset();
        for (const a of accountViews(sources)) for (const state of LINK_STATES) this.set({ account: a.name, vendor: a.vendor, state }, a.link === state ? 1 : 0);
      },
    });
    this.#reconnects = new Counter({ name: "hearthbridge_account_reconnects_total", help: "Times an account's link came back (connected after disconnected)", labelNames: ["account"], registers });
    for (const a of sources.accounts) this.#reconnects.inc({ account: a.name }, 0);
    this.#commands = new Histogram({
      name: "hearthbridge_command_duration_seconds",
      help: "Time from a HomeKit/Matter command to the vendor's acknowledgement",
      labelNames: ["vendor", "result"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: "hearthbridge_device_available",
      help: "1 when the device is reachable through its vendor cloud",
      labelNames: ["device", "vendor", "account"],
      registers,
      collect() {
        this.reset();
        for (const d of sources.registry.devices) this.set({ device: d.info.id, vendor: d.info.vendor, account: d.info.account }, d.available ? 1 : 0);
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
        for (const b of pairingView(sources).homekit?.bridges ?? []) this.set({ bridge: String(b.index) }, b.pairedControllers);
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
    // Placeholder until the camera streams exist: always 0 for now.
    new Gauge({ name: "hearthbridge_stream_sessions", help: "Live camera stream sessions", registers });
    sources.registry.on("link", this.#onLink);
    sources.registry.on("command", this.#onCommand);
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
    this.registry.clear();
  }
}
