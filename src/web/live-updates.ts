// What the open pages are told as it happens, over /events (Server-Sent Events, event-streams.ts): the
// page's snapshot when a stream opens, then devices, accounts' links, log lines, the pairing code and the
// cameras' pairing cards and stream lines as they change. The registry and HomeKit host emit most of it;
// what emits nothing (pairing, Matter cameras, the stream hubs) is polled and sent only when it changed.
import type { ServerResponse } from "node:http";
import type { LinkState } from "../core/driver.ts";
import type { Logger } from "../core/logger.ts";
import type { DeviceEntry } from "../core/registry.ts";
import type { DiagnosticsOptions } from "./diagnostics.ts";
import { EventStreams, type StreamOwner } from "./event-streams.ts";
import type { LogEntry, LogRing } from "./log-ring.ts";
import { cameraEvent, matterCameraEvent, pairingText } from "./page.ts";
import {
  accountViews,
  cameraViews,
  deviceView,
  deviceViews,
  matterCameraViews,
  pairingView,
  type Reachability,
  streamStates,
  type WebSources,
} from "./status.ts";

/** The page and the diagnostics bundle show this many recent log lines; the download has all the ring holds. */
export const PAGE_LOG_LINES = 200;
const KEEPALIVE_MS = 25_000;
const PAIRING_POLL_MS = 5_000;
/** The stream hubs emit nothing: their state (watching, pushing, last error) is looked at this often. */
const STREAM_POLL_MS = 1_000;
const MAX_EVENT_CLIENTS = 50;
/** A page that stops reading its event stream is dropped past this much unsent data. */
const MAX_EVENT_BUFFER = 1024 * 1024;

const CAMERA_EVENTS = ["camera-listening", "camera-paired", "camera-unpaired"] as const;

export interface LiveUpdateOptions {
  sources: WebSources;
  log: Logger;
  logs: LogRing;
  /** The diagnostics' link history: when each account's link last changed, as of start. */
  links?: DiagnosticsOptions["links"] | undefined;
}

export class LiveUpdates {
  readonly #o: LiveUpdateOptions;
  readonly #log: Logger;
  readonly #logs: LogRing;
  readonly #streams: EventStreams;
  #timers: NodeJS.Timeout[] = [];
  #lastPairing = "";
  /** What the pages were last told per camera: its pairing card, its stream line. */
  readonly #lastCamera = new Map<string, string>();
  readonly #lastStream = new Map<string, string>();
  #cameraPush: Promise<void> = Promise.resolve();

  /** When each device was seen going unreachable (for "unreachable since" on the page). */
  readonly #downSince = new Map<string, number>();
  /** When each account's link last changed (seeded at start from the diagnostics' link history). */
  readonly #linkSince = new Map<string, number>();
  readonly reach: Reachability = {
    link: (account) => this.#o.sources.registry.linkState(account),
    downSince: (id) => this.#downSince.get(id),
    linkSince: (account) => this.#linkSince.get(account),
  };

  readonly #onAvailability = (entry: DeviceEntry): void => {
    if (entry.available) this.#downSince.delete(entry.info.id);
    else if (!this.#downSince.has(entry.info.id)) this.#downSince.set(entry.info.id, Date.now());
    this.#onDevice(entry);
  };
  readonly #onDevice = (entry: DeviceEntry): void => {
    const view = deviceView(entry, streamStates(this.#o.sources), this.reach);
    if (view.stream) this.#lastStream.set(view.id, view.stream.text);
    this.broadcast("device", view);
  };
  readonly #onRenamed = (from: string, to: string): void => {
    const since = this.#linkSince.get(from);
    this.#linkSince.delete(from);
    if (since !== undefined) this.#linkSince.set(to, since);
  };
  readonly #onLink = (account: string, link: LinkState): void => {
    this.#linkSince.set(account, Date.now());
    const vendor = this.#o.sources.accounts.find((a) => a.name === account)?.vendor ?? "unknown";
    this.broadcast("account", { name: account, vendor, link });
    // Its unreachable devices say why in words that name the link.
    for (const entry of this.#o.sources.registry.devices) {
      if (entry.info.account === account && !entry.available) this.#onDevice(entry);
    }
  };
  readonly #onLog = (line: LogEntry): void => this.broadcast("log", line);
  readonly #onRemoved = (entry: DeviceEntry): void => {
    this.#downSince.delete(entry.info.id);
    this.broadcast("device-removed", { id: entry.info.id });
  };
  readonly #onPairing = (): void => this.pushPairing();
  readonly #onCamera = (): void => void this.#pushCameras();

  constructor(options: LiveUpdateOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#logs = options.logs;
    this.#streams = new EventStreams({
      log: options.log,
      maxClients: MAX_EVENT_CLIENTS,
      maxBufferedBytes: MAX_EVENT_BUFFER,
    });
  }

  /** Listens to the registry, the log and the HomeKit host, and starts the polls and the keepalive. */
  start(): void {
    const { registry } = this.#o.sources;
    registry.on("device", this.#onDevice);
    registry.on("state", this.#onDevice);
    registry.on("availability", this.#onAvailability);
    registry.on("link", this.#onLink);
    registry.on("removed", this.#onRemoved);
    registry.on("account-renamed", this.#onRenamed);
    this.#logs.on("line", this.#onLog);
    this.#o.sources.homekit?.on("paired", this.#onPairing);
    this.#o.sources.homekit?.on("unpaired", this.#onPairing);
    for (const event of CAMERA_EVENTS) this.#o.sources.homekit?.on(event, this.#onCamera);
    this.#lastPairing = JSON.stringify(pairingText(pairingView(this.#o.sources)));
    for (const c of cameraViews(this.#o.sources)) this.#lastCamera.set(c.deviceId, JSON.stringify(c));
    for (const c of matterCameraViews(this.#o.sources)) this.#lastCamera.set(`matter:${c.deviceId}`, JSON.stringify(c));
    for (const entry of registry.devices) if (!entry.available) this.#downSince.set(entry.info.id, Date.now());
    for (const a of this.#o.links?.view(this.#o.sources.accounts) ?? [])
      this.#linkSince.set(a.name, Date.parse(a.since));
    for (const d of deviceViews(this.#o.sources)) if (d.stream) this.#lastStream.set(d.id, d.stream.text);
    this.#timers = [
      setInterval(() => {
        this.pushPairing();
        void this.#pushCameras();
      }, PAIRING_POLL_MS).unref(),
      setInterval(() => this.#comment("keepalive"), KEEPALIVE_MS).unref(),
    ];
    // Always: the media layer may start later (the first account with cameras added on the page).
    this.#timers.push(setInterval(() => this.#pushStreams(), STREAM_POLL_MS).unref());
  }

  /** Stops listening and polling; the open streams stay until closeAll. */
  stop(): void {
    const { registry } = this.#o.sources;
    registry.off("device", this.#onDevice);
    registry.off("state", this.#onDevice);
    registry.off("availability", this.#onAvailability);
    registry.off("link", this.#onLink);
    registry.off("removed", this.#onRemoved);
    registry.off("account-renamed", this.#onRenamed);
    this.#logs.off("line", this.#onLog);
    this.#o.sources.homekit?.off("paired", this.#onPairing);
    this.#o.sources.homekit?.off("unpaired", this.#onPairing);
    for (const event of CAMERA_EVENTS) this.#o.sources.homekit?.off(event, this.#onCamera);
    for (const t of this.#timers) clearInterval(t);
  }

  closeAll(): void {
    this.#streams.closeAll();
  }

  /** Logging out ends the session's streams. */
  endSession(session: string | undefined): void {
    this.#streams.endSession(session);
  }

  snapshot() {
    const s = this.#o.sources;
    return {
      pairing: pairingView(s),
      cameras: cameraViews(s),
      matterCameras: matterCameraViews(s),
      accounts: accountViews(s),
      devices: deviceViews(s, this.reach),
      logs: this.#logs.recent(PAGE_LOG_LINES),
    };
  }

  /** Too many open pages: /events answers 503 instead of opening one more stream. */
  get full(): boolean {
    return this.#streams.full;
  }

  /** Opens one page's stream with its snapshot. `owner` is asked once the headers are sent. */
  async events(res: ServerResponse, owner: () => StreamOwner): Promise<void> {
    const snapshot = this.snapshot();
    // Cameras go with their QR as SVG: one may have appeared since the page was rendered.
    const cameras = await Promise.all(snapshot.cameras.map(cameraEvent));
    const matterCameras = await Promise.all(snapshot.matterCameras.map(matterCameraEvent));
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    this.#streams.add(res, owner());
    // The page formats nothing itself: pairing goes as text, the bridge's QR payloads stay in the HTML.
    this.#streams.send(res, "snapshot", {
      ...snapshot,
      pairing: pairingText(snapshot.pairing),
      cameras,
      matterCameras,
    });
  }

  broadcast(event: string, data: unknown): void {
    this.#streams.broadcast(event, data);
  }

  #comment(text: string): void {
    this.#streams.comment(text);
  }

  /** A camera appeared, was published, paired or unpaired, or renamed: its card is sent again. One
   * run at a time, so an older card (its QR still being drawn) never overtakes a newer one. */
  #pushCameras(): Promise<void> {
    this.#cameraPush = this.#cameraPush.then(() => this.#sendCameras());
    return this.#cameraPush;
  }

  async #sendCameras(): Promise<void> {
    try {
      for (const camera of cameraViews(this.#o.sources)) {
        const key = JSON.stringify(camera);
        if (this.#lastCamera.get(camera.deviceId) === key) continue;
        this.#lastCamera.set(camera.deviceId, key);
        this.broadcast("camera", await cameraEvent(camera));
      }
      // A Matter camera node started (found after start) or was commissioned: polled, as it emits nothing.
      for (const camera of matterCameraViews(this.#o.sources)) {
        const key = JSON.stringify(camera);
        if (this.#lastCamera.get(`matter:${camera.deviceId}`) === key) continue;
        this.#lastCamera.set(`matter:${camera.deviceId}`, key);
        this.broadcast("matter-camera", await matterCameraEvent(camera));
      }
    } catch (error) {
      this.#log.warn({ err: error }, "web page: camera pairing update failed");
    }
  }

  /** A camera's stream line changed (a viewer came or went, the push started or failed): its row is sent again. */
  #pushStreams(): void {
    if (!this.#o.sources.media) return;
    const streams = streamStates(this.#o.sources);
    for (const entry of this.#o.sources.registry.devices) {
      if (!entry.info.capabilities.camera) continue;
      const view = deviceView(entry, streams, this.reach);
      if (!view.stream || this.#lastStream.get(view.id) === view.stream.text) continue;
      this.#lastStream.set(view.id, view.stream.text);
      this.broadcast("device", view);
    }
  }

  pushPairing(): void {
    const text = pairingText(pairingView(this.#o.sources));
    const key = JSON.stringify(text);
    if (key === this.#lastPairing) return;
    this.#lastPairing = key;
    this.broadcast("pairing", text);
  }
}
