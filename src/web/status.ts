// What the web page, /health and /metrics show, gathered from the registry and the two hosts. Only
// what a user may see: names, states, pairing codes (shown by design), never a vendor secret.
import type { MediaService } from "../media/index.ts";
import type { StreamHubState } from "../media/hub.ts";
import { scrub } from "../core/logger.ts";
import type { DeviceEntry, DeviceRegistry } from "../core/registry.ts";
import type { LinkState } from "../core/driver.ts";
import type { BatteryState, DeviceState } from "../core/model.ts";
import type { HomeKitHost } from "../homekit/host.ts";
import type { MatterCameraHost } from "../matter/camera/host.ts";
import type { MatterHost } from "../matter/host.ts";
import { controlsOf, type DeviceControls } from "./device-commands.ts";

export interface WebSources {
  registry: DeviceRegistry;
  /** Every configured account (name and vendor only). */
  accounts: { name: string; vendor: string }[];
  homekit?: Pick<HomeKitHost, "pincode" | "setupURI" | "bridges" | "cameraPairings" | "on" | "off">;
  matter?: Pick<MatterHost, "running" | "commissioned" | "fabricCount" | "pairingCodes" | "warnings">;
  /** The cameras' own Matter nodes (matter.cameras). */
  matterCameras?: Pick<MatterCameraHost, "cameraPairings">;
  /** Camera video, when an account has cameras. */
  media?: Pick<MediaService, "liveSessions" | "state">;
  /** Epoch ms when the process started. */
  startedAt: number;
}

export interface AccountView {
  name: string;
  vendor: string;
  link: LinkState | "unknown";
}

export interface DeviceView {
  id: string;
  name: string;
  vendor: string;
  account: string;
  model: string;
  /** The vendor's room name, when it has rooms. */
  room?: string;
  available: boolean;
  /** One line in words, e.g. "fan on 65% forward · light off". */
  summary: string;
  state: DeviceState;
  /** What the page lets the user change (from the capabilities). */
  controls: DeviceControls;
  /** Why an unreachable device is: its account's link, and since when (epoch ms, when known). */
  unreachable?: { link: LinkState | "unknown"; since?: number; linkSince?: number; text: string };
  /** Cameras only: the live-view stream in words. */
  stream?: StreamView;
}

/** A camera's stream as the page and /health show it. Never an RTMP URL with its key. */
export interface StreamView {
  /** Viewers holding the stream (live views, snapshots; keep warm counts as one). */
  watching: number;
  keepWarm: boolean;
  /** The camera is pushing to the ingest now. */
  pushing: boolean;
  /** While pushing: which way the video comes (the camera's own push, or read from the vendor's cloud). */
  path?: "local" | "cloud";
  standby: boolean;
  /** The last problem, in words (e.g. the camera is in standby, did not push to rtmp://host:port). */
  error?: string;
  /** All of it in one line. */
  text: string;
}

/** A standalone camera's own HomeKit pairing (cameras are not on the bridge's code). */
export interface CameraView {
  deviceId: string;
  name: string;
  setupCode: string;
  /** The X-HM:// QR payload; absent until the camera's accessory is published. */
  setupURI?: string;
  paired: boolean;
}

/** A camera's own Matter node (matter.cameras): commissioned with its own code, not the bridge's. */
export interface MatterCameraView {
  deviceId: string;
  name: string;
  manualCode: string;
  /** The MT: QR payload. */
  qrCode: string;
  commissioned: boolean;
}

export interface PairingView {
  homekit?: {
    running: boolean;
    setupCode: string;
    setupURI?: string;
    bridges: { index: number; name: string; port?: number; accessories: number; pairedControllers: number }[];
  };
  matter?: {
    running: boolean;
    commissioned: boolean;
    fabrics: number;
    manualCode?: string;
    qrCode?: string;
    /** Controller limits the bridge breaks now (Alexa's port and device count: README "Matter and Alexa"). */
    warnings: { key: string; message: string }[];
  };
}

export interface Health {
  status: "ok" | "degraded";
  uptimeS: number;
  homekit: { running: boolean; paired: boolean } | null;
  matter: { running: boolean; commissioned: boolean } | null;
  accounts: AccountView[];
  devices: { total: number; unavailable: number };
  /** Present when the bridge serves camera video or publishes standalone cameras. */
  cameras?: { deviceId: string; name: string; paired?: boolean; watching: number; pushing: boolean; error?: string }[];
}

export function accountViews(s: WebSources): AccountView[] {
  return s.accounts.map((a) => ({ name: a.name, vendor: a.vendor, link: s.registry.linkState(a.name) ?? "unknown" }));
}

/** An account the config did not name is called `<vendor>:<e-mail>` (config.ts). */
const isDefaultName = (name: string, vendor: string) => name.startsWith(`${vendor}:`) && name.includes("@");

/**
 * What /health and /metrics call each account (they may be open to anyone who reaches the port). A
 * default name holds the e-mail address; it also names the account's session file, so it cannot change
 * without breaking existing data directories. Only what those endpoints show changes: `<vendor>-<n>`,
 * n counting that vendor's accounts in config order. Names the user chose are shown as they are.
 */
export function accountLabels(accounts: WebSources["accounts"]): (name: string) => string {
  const labels = new Map<string, string>();
  const taken = new Set(accounts.map((a) => a.name));
  const counts = new Map<string, number>();
  for (const a of accounts) {
    const n = (counts.get(a.vendor) ?? 0) + 1;
    counts.set(a.vendor, n);
    if (!isDefaultName(a.name, a.vendor)) continue;
    let k = n;
    while (taken.has(`${a.vendor}-${k}`)) k++;
    taken.add(`${a.vendor}-${k}`);
    labels.set(a.name, `${a.vendor}-${k}`);
  }
  // A name not in the list (a device of an account that was removed) still loses its e-mail address.
  return (name) => labels.get(name) ?? (name.includes("@") ? `${name.slice(0, name.indexOf(":") + 1)}(unnamed)` : name);
}

const onOff = (on: boolean | undefined) => (on ? "on" : "off");

/** "battery 80%", "battery 15% low", "battery low" or "battery ok". */
function batteryWords(battery: BatteryState): string {
  const level = battery.level !== undefined ? `${battery.level}%` : "";
  const word = battery.low ? " low" : battery.level === undefined ? "ok" : "";
  return `battery ${level}${word}`.trim();
}

/** The device's state in a few words; the page shows this (the client never formats state itself). */
export function summarize(state: DeviceState): string {
  const parts: string[] = [];
  if (state.fan)
    parts.push(
      `fan ${onOff(state.fan.on)} ${state.fan.speed}% ${state.fan.direction}${state.fan.breeze ? " breeze" : ""}`,
    );
  if (state.light)
    parts.push(
      `light ${onOff(state.light.on)} ${state.light.brightness}%` +
        (state.light.colorTemperatureK ? ` ${state.light.colorTemperatureK} K` : ""),
    );
  for (const [id, on] of Object.entries(state.switches ?? {})) parts.push(`${id} ${onOff(on)}`);
  // A hushed alarm still detects: "Hushed" says the sounder was silenced, not that the danger is gone.
  const alarm = (label: string, a: { detected: boolean; muted?: boolean; testing?: boolean } | undefined, extra = "") =>
    a &&
    parts.push(
      `${label} ${a.detected ? "ALARM" : "clear"}${extra}${a.muted ? " (Hushed)" : ""}${a.testing ? " (testing)" : ""}`,
    );
  alarm("smoke", state.smokeAlarm);
  const co = state.coAlarm;
  const ppm = co?.ppm !== undefined ? ` ${co.ppm} ppm` : "";
  alarm("CO", co, `${ppm}${co?.peakPpm !== undefined ? `${ppm ? "," : ""} peak ${co.peakPpm} ppm` : ""}`);
  alarm("heat", state.heatAlarm);
  if (state.leak !== undefined) parts.push(state.leak ? "Leak!" : "no leak");
  if (state.temperature !== undefined) parts.push(`${state.temperature} °C`);
  if (state.humidity !== undefined) parts.push(`${state.humidity}% RH`);
  if (state.motion !== undefined) parts.push(`motion ${state.motion ? "yes" : "no"}`);
  if (state.sound !== undefined) parts.push(`sound ${state.sound ? "yes" : "no"}`);
  if (state.cry !== undefined) parts.push(`cry ${state.cry ? "yes" : "no"}`);
  if (state.battery) parts.push(batteryWords(state.battery));
  if (state.endOfLife) parts.push("end of life: replace");
  if (state.fault) parts.push(`fault ${state.fault}`);
  return parts.join(" · ") || "no state reported";
}

/** The hub's last error for a browser: scrubbed of secrets, and any rtmp:// URL cut to host:port
 * (the path holds the camera's stream key). "no push to X" is the hub's word for a camera that was
 * asked and acknowledged but never connected: say what to check. */
export function streamError(message: string): string {
  const text = scrub(message).replace(/(rtmps?:\/\/[^\s/]+)\/[^\s"'()<>]*/gi, "$1");
  const noPush = /^no push to (\S+)$/.exec(text);
  return noPush ? `the camera did not push to ${noPush[1]}: is media.rtmpHost reachable from the camera?` : text;
}

const NO_VIDEO = "no video: the RTMP ingest is not running (see the log)";

/** `hub` undefined: the bridge has no stream for this camera (media did not start). */
export function streamView(hub: StreamHubState | undefined): StreamView {
  if (!hub) return { watching: 0, keepWarm: false, pushing: false, standby: false, error: NO_VIDEO, text: NO_VIDEO };
  // A problem is history once the camera pushes again.
  const error = hub.lastError && !hub.publishing ? streamError(hub.lastError) : undefined;
  const watching = hub.keepWarm ? `${hub.watching} watching (kept warm)` : `${hub.watching} watching`;
  const text = hub.publishing
    ? `video: ${hub.path === "cloud" ? "via the cloud" : "pushing"}, ${watching}`
    : hub.active
      ? `video: not pushing, ${watching}${error ? `: ${error}` : " (waiting for the camera)"}`
      : `video: idle${error ? ` (last problem: ${error})` : ""}`;
  return {
    watching: hub.watching,
    keepWarm: hub.keepWarm,
    pushing: hub.publishing,
    ...(hub.publishing && hub.path ? { path: hub.path } : {}),
    standby: hub.standby,
    ...(error ? { error } : {}),
    text,
  };
}

/** Stream state per camera device id (empty without media). */
export function streamStates(s: WebSources): Map<string, StreamHubState> {
  return new Map((s.media?.state() ?? []).map((h) => [h.deviceId, h]));
}

/** What the page knows about why devices are unreachable: the account links and when each device went. */
export interface Reachability {
  link(account: string): LinkState | undefined;
  /** Epoch ms when the device was last seen going unreachable (undefined: before the page started). */
  downSince(id: string): number | undefined;
  /** Epoch ms of the account link's last change (undefined: not known). */
  linkSince?(account: string): number | undefined;
}

const LINK_WORDS: Record<LinkState | "unknown", string> = {
  connected: "the account is connected, but the vendor reports the device offline",
  connecting: "the account is connecting to the vendor",
  disconnected: "the account's connection to the vendor is down",
  "needs-login": "the account needs its password or a new log-in",
  unknown: "the account has not reported yet",
};

const utc = (ms: number) => `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`;

/** Why a device is unreachable: which link, since when the device is, and since when a down link is. */
export function unreachableView(
  link: LinkState | "unknown",
  since: number | undefined,
  linkSince?: number,
): DeviceView["unreachable"] {
  const when = since === undefined ? "" : ` (since ${utc(since)})`;
  const linkWhen = link !== "connected" && linkSince !== undefined ? ` (since ${utc(linkSince)})` : "";
  const text = `Unreachable${when}: ${LINK_WORDS[link]}${linkWhen}.`;
  return { link, ...(since !== undefined ? { since } : {}), ...(linkWhen ? { linkSince } : {}), text };
}

export function deviceView(
  entry: DeviceEntry,
  streams?: Map<string, StreamHubState>,
  reach?: Reachability,
): DeviceView {
  const { info } = entry;
  const view: DeviceView = {
    id: info.id,
    name: info.name,
    vendor: info.vendor,
    account: info.account,
    model: info.model,
    available: entry.available,
    summary: summarize(entry.state),
    state: entry.state,
    controls: controlsOf(info.capabilities),
  };
  if (info.room) view.room = info.room;
  if (!entry.available && reach)
    view.unreachable = unreachableView(
      reach.link(info.account) ?? "unknown",
      reach.downSince(info.id),
      reach.linkSince?.(info.account),
    );
  if (info.capabilities.camera) view.stream = streamView(streams?.get(info.id));
  return view;
}

export function deviceViews(s: WebSources, reach?: Reachability): DeviceView[] {
  const streams = streamStates(s);
  return s.registry.devices
    .map((e) => deviceView(e, streams, reach))
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

/** Standalone cameras' pairing (none when cameras are bridged or HomeKit is off). */
export function cameraViews(s: WebSources): CameraView[] {
  const pairings = s.homekit ? (attempt(() => s.homekit!.cameraPairings()) ?? []) : [];
  return pairings
    .map((c) => ({
      deviceId: c.deviceId,
      name: c.name,
      setupCode: c.pincode,
      ...(c.setupURI ? { setupURI: c.setupURI } : {}),
      paired: c.paired,
    }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.deviceId.localeCompare(b.deviceId));
}

/** The Matter camera nodes' codes (none unless matter.cameras is on). */
export function matterCameraViews(s: WebSources): MatterCameraView[] {
  return (attempt(() => s.matterCameras?.cameraPairings()) ?? []).map((c) => ({
    deviceId: c.deviceId,
    name: c.name,
    manualCode: c.manualPairingCode,
    qrCode: c.qrPairingCode,
    commissioned: c.commissioned,
  }));
}

function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined; // not started yet
  }
}

export function pairingView(s: WebSources): PairingView {
  const view: PairingView = {};
  if (s.homekit) {
    const bridges = s.homekit.bridges;
    const setupURI = attempt(() => s.homekit!.setupURI());
    view.homekit = {
      running: bridges[0]?.port !== undefined,
      setupCode: s.homekit.pincode,
      ...(setupURI ? { setupURI } : {}),
      bridges: bridges.map((b) => ({
        index: b.index,
        name: b.name,
        ...(b.port !== undefined ? { port: b.port } : {}),
        accessories: b.accessories,
        pairedControllers: b.pairedClients,
      })),
    };
  }
  if (s.matter) {
    const codes = s.matter.running ? attempt(() => s.matter!.pairingCodes()) : undefined;
    view.matter = {
      running: s.matter.running,
      commissioned: s.matter.commissioned,
      fabrics: s.matter.fabricCount,
      ...(codes ? { manualCode: codes.manualPairingCode, qrCode: codes.qrPairingCode } : {}),
      warnings: s.matter.warnings.map((w) => ({ key: w.key, message: w.message })),
    };
  }
  return view;
}

export function health(s: WebSources, now = Date.now()): Health {
  const pairing = pairingView(s);
  const label = accountLabels(s.accounts);
  const accounts = accountViews(s).map((a) => ({ ...a, name: label(a.name) }));
  const devices = s.registry.devices;
  const unavailable = devices.filter((d) => !d.available).length;
  const homekit = pairing.homekit
    ? { running: pairing.homekit.running, paired: pairing.homekit.bridges.some((b) => b.pairedControllers > 0) }
    : null;
  const matter = pairing.matter ? { running: pairing.matter.running, commissioned: pairing.matter.commissioned } : null;
  const ok =
    (homekit?.running ?? true) &&
    (matter?.running ?? true) &&
    accounts.every((a) => a.link === "connected") &&
    unavailable === 0;
  const result: Health = {
    status: ok ? "ok" : "degraded",
    uptimeS: Math.round((now - s.startedAt) / 1000),
    homekit,
    matter,
    accounts,
    devices: { total: devices.length, unavailable },
  };
  const cameras = cameraHealth(s);
  if (cameras) result.cameras = cameras;
  return result;
}

/** Every camera device with its stream and (standalone) pairing; undefined when the bridge has neither media
 * nor cameras. */
function cameraHealth(s: WebSources): Health["cameras"] {
  const pairings = new Map(cameraViews(s).map((c) => [c.deviceId, c]));
  const cameras = s.registry.devices.filter((d) => d.info.capabilities.camera);
  if (!s.media && cameras.length === 0) return undefined;
  const streams = streamStates(s);
  return cameras
    .map((d) => {
      const stream = streamView(streams.get(d.info.id));
      const pairing = pairings.get(d.info.id);
      return {
        deviceId: d.info.id,
        name: d.info.name,
        ...(pairing ? { paired: pairing.paired } : {}),
        watching: stream.watching,
        pushing: stream.pushing,
        ...(stream.error ? { error: stream.error } : {}),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.deviceId.localeCompare(b.deviceId));
}
