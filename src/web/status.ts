// What the web page, /health and /metrics show, gathered from the registry and the two hosts. Only
// what a user may see: names, states, pairing codes (shown by design), never a vendor secret.
import type { MediaService } from "../media/index.ts";
import type { DeviceEntry, DeviceRegistry } from "../core/registry.ts";
import type { LinkState } from "../core/driver.ts";
import type { DeviceState } from "../core/model.ts";
import type { HomeKitHost } from "../homekit/host.ts";
import type { MatterHost } from "../matter/host.ts";

export interface WebSources {
  registry: DeviceRegistry;
  /** Every configured account (name and vendor only). */
  accounts: { name: string; vendor: string }[];
  homekit?: Pick<HomeKitHost, "pincode" | "setupURI" | "bridges" | "on" | "off">;
  matter?: Pick<MatterHost, "running" | "commissioned" | "fabricCount" | "pairingCodes">;
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
  available: boolean;
  /** One line in words, e.g. "fan on 65% forward · light off". */
  summary: string;
  state: DeviceState;
}

export interface PairingView {
  homekit?: {
    running: boolean;
    setupCode: string;
    setupURI?: string;
    bridges: { index: number; name: string; port?: number; accessories: number; pairedControllers: number }[];
  };
  matter?: { running: boolean; commissioned: boolean; fabrics: number; manualCode?: string; qrCode?: string };
}

export interface Health {
  status: "ok" | "degraded";
  uptimeS: number;
  homekit: { running: boolean; paired: boolean } | null;
  matter: { running: boolean; commissioned: boolean } | null;
  accounts: AccountView[];
  devices: { total: number; unavailable: number };
}

export function accountViews(s: WebSources): AccountView[] {
  return s.accounts.map((a) => ({ name: a.name, vendor: a.vendor, link: s.registry.linkState(a.name) ?? "unknown" }));
}

const onOff = (on: boolean | undefined) => (on ? "on" : "off");

/** The device's state in a few words; the page shows this (the client never formats state itself). */
export function summarize(state: DeviceState): string {
  const parts: string[] = [];
  if (state.fan) parts.push(`fan ${onOff(state.fan.on)} ${state.fan.speed}% ${state.fan.direction}${state.fan.breeze ? " breeze" : ""}`);
  if (state.light) parts.push(`light ${onOff(state.light.on)} ${state.light.brightness}%${state.light.colorTemperatureK ? ` ${state.light.colorTemperatureK} K` : ""}`);
  for (const [id, on] of Object.entries(state.switches ?? {})) parts.push(`${id} ${onOff(on)}`);
  const alarm = (label: string, a: { detected: boolean; muted?: boolean; testing?: boolean } | undefined, extra = "") =>
    a && parts.push(`${label} ${a.detected ? "ALARM" : "clear"}${a.muted ? " (muted)" : ""}${a.testing ? " (testing)" : ""}${extra}`);
  alarm("smoke", state.smokeAlarm);
  alarm("CO", state.coAlarm, state.coAlarm?.ppm !== undefined ? ` ${state.coAlarm.ppm} ppm` : "");
  alarm("heat", state.heatAlarm);
  if (state.temperature !== undefined) parts.push(`${state.temperature} °C`);
  if (state.humidity !== undefined) parts.push(`${state.humidity}% RH`);
  if (state.motion !== undefined) parts.push(`motion ${state.motion ? "yes" : "no"}`);
  if (state.sound !== undefined) parts.push(`sound ${state.sound ? "yes" : "no"}`);
  if (state.battery) parts.push(`battery ${state.battery.level !== undefined ? `${state.battery.level}%` : ""}${state.battery.low ? " low" : state.battery.level === undefined ? "ok" : ""}`.trim());
  if (state.endOfLife) parts.push("end of life: replace");
  if (state.fault) parts.push(`fault ${state.fault}`);
  return parts.join(" · ") || "no state reported";
}

export function deviceView(entry: DeviceEntry): DeviceView {
  const { info } = entry;
  return { id: info.id, name: info.name, vendor: info.vendor, account: info.account, model: info.model, available: entry.available, summary: summarize(entry.state), state: entry.state };
}

export function deviceViews(s: WebSources): DeviceView[] {
  return s.registry.devices.map(deviceView).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
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
      bridges: bridges.map((b) => ({ index: b.index, name: b.name, ...(b.port !== undefined ? { port: b.port } : {}), accessories: b.accessories, pairedControllers: b.pairedClients })),
    };
  }
  if (s.matter) {
    const codes = s.matter.running ? attempt(() => s.matter!.pairingCodes()) : undefined;
    view.matter = {
      running: s.matter.running,
      commissioned: s.matter.commissioned,
      fabrics: s.matter.fabricCount,
      ...(codes ? { manualCode: codes.manualPairingCode, qrCode: codes.qrPairingCode } : {}),
    };
  }
  return view;
}

export function health(s: WebSources, now = Date.now()): Health {
  const pairing = pairingView(s);
  const accounts = accountViews(s);
  const devices = s.registry.devices;
  const unavailable = devices.filter((d) => !d.available).length;
  const homekit = pairing.homekit ? { running: pairing.homekit.running, paired: pairing.homekit.bridges.some((b) => b.pairedControllers > 0) } : null;
  const matter = pairing.matter ? { running: pairing.matter.running, commissioned: pairing.matter.commissioned } : null;
  const ok = (homekit?.running ?? true) && (matter?.running ?? true) && accounts.every((a) => a.link === "connected") && unavailable === 0;
  return { status: ok ? "ok" : "degraded", uptimeS: Math.round((now - s.startedAt) / 1000), homekit, matter, accounts, devices: { total: devices.length, unavailable } };
}
