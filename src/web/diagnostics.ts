// The diagnostics bundle: one JSON file to attach to a bug report, from the web page's "Download
// diagnostics" link (GET /api/diagnostics) or `npm run doctor -- --bundle`. It holds the config with
// every secret-named value replaced by "(set)", versions, the accounts' link states with since when and
// their recent changes, the devices and their states, the recent log lines and a listing (names, modes,
// sizes; never contents) of the data directory. Then the whole text is scrubbed once more: the
// logger's registered vendor secrets, the pairing codes (HomeKit setup codes and X-HM:// payloads,
// Matter passcodes, manual codes and MT: payloads), the web page's setup token, and the values of the
// config's secrets, so a secret that reached a log line or a device name does not leave in the file.
//
// The CLI cannot read the running bridge's memory, so the web server writes <data>/diagnostics-access.json
// (0600: its port and a random key) while it runs; the CLI sends the key as a bearer token to the
// loopback address. Whoever can read the data directory can read the pairings anyway.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../core/config.ts";
import type { LinkState } from "../core/driver.ts";
import type { DeviceRegistry } from "../core/registry.ts";
import { scrub } from "../core/logger.ts";
import { readJson, writeFileAtomic } from "../core/storage.ts";
import { readWebStore, sameSecret } from "./auth.ts";
import type { LogEntry } from "./log-ring.ts";
import { accountViews, cameraViews, deviceViews, health, pairingView, type WebSources } from "./status.ts";
import { appPath } from "../core/app-root.ts";

export const DIAGNOSTICS_FORMAT = "hearthbridge-diagnostics/1";
/** In the data directory while the web server runs: { port, key } for the CLI. */
export const DIAGNOSTICS_ACCESS_FILE = "diagnostics-access.json";
/** Keys whose values never go into the bundle (their presence does, as "(set)"). */
const SECRET_KEY = /password|secret|token|pincode|passcode|hash|credential|apikey|privatekey/i;
const REDACTED = "[redacted]";
/** Link changes kept per account. */
const LINK_HISTORY = 20;
/** Files listed from the data directory, at most. */
const MAX_FILES = 500;

export interface LinkChange {
  at: string;
  state: LinkState;
  detail?: string;
}

/** Each account's link state, since when, and its last changes (the registry keeps only the state). */
export class LinkHistory {
  readonly #registry: DeviceRegistry;
  readonly #changes = new Map<string, LinkChange[]>();
  readonly #startedAt = new Date().toISOString();
  readonly #onLink = (account: string, state: LinkState, detail?: string): void => {
    const list = this.#changes.get(account) ?? [];
    list.push({ at: new Date().toISOString(), state, ...(detail ? { detail: scrub(detail) } : {}) });
    if (list.length > LINK_HISTORY) list.shift();
    this.#changes.set(account, list);
  };

  /** A renamed account keeps its history. */
  readonly #onRenamed = (from: string, to: string): void => {
    const list = this.#changes.get(from);
    this.#changes.delete(from);
    if (list) this.#changes.set(to, list);
  };

  constructor(registry: DeviceRegistry) {
    this.#registry = registry;
    registry.on("link", this.#onLink);
    registry.on("account-renamed", this.#onRenamed);
  }

  stop(): void {
    this.#registry.off("link", this.#onLink);
    this.#registry.off("account-renamed", this.#onRenamed);
  }

  /** `since`: the last change, or (no change seen) the time this history started. */
  view(
    accounts: WebSources["accounts"],
  ): { name: string; vendor: string; link: string; since: string; changes: LinkChange[] }[] {
    return accounts.map((a) => {
      const changes = this.#changes.get(a.name) ?? [];
      const link = this.#registry.linkState(a.name) ?? "unknown";
      return { name: a.name, vendor: a.vendor, link, since: changes.at(-1)?.at ?? this.#startedAt, changes };
    });
  }
}

/** The config with each secret-named value replaced by "(set)" and passwords in URLs hidden. */
export function redactConfig(value: unknown, depth = 0): unknown {
  if (depth > 20) return "(too deep)";
  if (typeof value === "string") return value.replace(/(\/\/[^/:@\s]*:)[^@/\s]*@/g, "$1(hidden)@");
  if (Array.isArray(value)) return value.map((v) => redactConfig(v, depth + 1));
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value))
    out[key] = SECRET_KEY.test(key) && v !== undefined ? "(set)" : redactConfig(v, depth + 1);
  return out;
}

/** String values under secret-named keys, at any depth: replaced wherever else they appear. */
function secretValues(value: unknown, out: string[] = [], depth = 0, secretKey = false): string[] {
  if (depth > 20) return out;
  if (typeof value === "string" || typeof value === "number") {
    if (secretKey && String(value).length >= 4) out.push(String(value));
  } else if (Array.isArray(value)) for (const v of value) secretValues(v, out, depth + 1, secretKey);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) secretValues(v, out, depth + 1, secretKey || SECRET_KEY.test(k));
  }
  return out;
}

/** The pairing secrets the bridge shows on its page and in its log: none goes into the bundle. */
function pairingSecrets(sources: WebSources | undefined): string[] {
  if (!sources) return [];
  const out: string[] = [];
  const pairing = pairingView(sources);
  if (pairing.homekit) out.push(pairing.homekit.setupCode, pairing.homekit.setupURI ?? "");
  if (pairing.matter) out.push(pairing.matter.manualCode ?? "", pairing.matter.qrCode ?? "");
  for (const c of cameraViews(sources)) out.push(c.setupCode, c.setupURI ?? "");
  return out;
}

/** Every form a known secret could take in the JSON text: as is, JSON-escaped, without dashes. */
function forms(secret: string): string[] {
  const out = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
  if (/^[\d-]+$/.test(secret)) out.add(secret.replaceAll("-", ""));
  return [...out].filter((f) => f.length >= 4);
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The bundle's text with every known secret and every pairing-code-shaped value replaced. */
export function scrubBundle(text: string, secrets: string[]): string {
  let out = scrub(text);
  const all = [...new Set(secrets.filter((s) => s && s.length >= 4).flatMap(forms))].sort(
    (a, b) => b.length - a.length,
  );
  if (all.length) {
    // Digits only: not inside a longer number.
    const alternatives = all.map((s) => (/^\d+$/.test(s) ? `(?<!\\d)${s}(?!\\d)` : escapeRe(s)));
    out = out.replace(new RegExp(alternatives.join("|"), "g"), REDACTED);
  }
  return out
    .replace(/X-HM:\/\/[0-9A-Z]+/gi, `X-HM://${REDACTED}`)
    .replace(/MT:[0-9A-Z.-]{8,}/g, `MT:${REDACTED}`)
    .replace(/([?&]token=)[A-Za-z0-9_-]+/g, `$1${REDACTED}`)
    .replace(/(?<!\d)\d{3}-\d{2}-\d{3}(?!\d)/g, REDACTED)
    .replace(/(?<!\d)\d{4}-\d{3}-\d{4}(?!\d)/g, REDACTED);
}

/** A package's version from its package.json, found from its entry point up (undefined: not installed). */
export function packageVersion(name: string): string | undefined {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (let i = 0; i < 6; i++, dir = dirname(dir)) {
      const pkg = readJson<{ name?: string; version?: string }>(join(dir, "package.json"));
      if (pkg?.name === name) return pkg.version;
    }
  } catch {
    // not installed
  }
  return undefined;
}

function ffmpegVersion(ffmpeg: string): Promise<string> {
  return new Promise((done) => {
    execFile(ffmpeg, ["-hide_banner", "-version"], { timeout: 5_000 }, (error, stdout) =>
      done(
        error && !stdout
          ? `not available (${(error as NodeJS.ErrnoException).code ?? error.message})`
          : String(stdout).split("\n")[0]!,
      ),
    );
  });
}

export async function versions(ffmpeg = process.env.HEARTHBRIDGE_FFMPEG ?? "ffmpeg"): Promise<Record<string, string>> {
  const own = readJson<{ version?: string }>(appPath("package.json"));
  return {
    hearthbridge: own?.version ?? "unknown",
    node: process.version,
    "matter.js": packageVersion("@matter/main") ?? "not installed",
    "hap-nodejs": packageVersion("@homebridge/hap-nodejs") ?? "not installed",
    ffmpeg: await ffmpegVersion(ffmpeg),
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Names, modes and sizes under the data directory; never a file's contents. */
export function dataDirListing(dataDir: string): {
  path: string;
  files: { name: string; mode: string; size: number }[];
  error?: string;
} {
  const files: { name: string; mode: string; size: number }[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (files.length >= MAX_FILES) return;
      const path = join(dir, name);
      const st = statSync(path);
      files.push({
        name: relative(dataDir, path) + (st.isDirectory() ? "/" : ""),
        mode: (st.mode & 0o777).toString(8).padStart(4, "0"),
        size: st.isDirectory() ? 0 : st.size,
      });
      if (st.isDirectory()) walk(path);
    }
  };
  try {
    walk(dataDir);
  } catch (error) {
    return { path: dataDir, files, error: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  }
  return { path: dataDir, files };
}

export interface BundleInput {
  dataDir: string;
  config?: Config | undefined;
  /** The running bridge's registry and hosts: absent from the CLI when no bridge runs. */
  sources?: WebSources | undefined;
  links?: LinkHistory | undefined;
  logs?: LogEntry[] | undefined;
  ffmpeg?: string | undefined;
  /** Further sections (the CLI adds its doctor checks). */
  extra?: Record<string, unknown>;
}

/** The bundle as JSON text, scrubbed. */
export async function diagnosticsBundle(input: BundleInput): Promise<string> {
  const { sources } = input;
  const memory = process.memoryUsage();
  const pairing = sources ? pairingView(sources) : undefined;
  const doc: Record<string, unknown> = {
    format: DIAGNOSTICS_FORMAT,
    createdAt: new Date().toISOString(),
    source: sources ? "running bridge" : "command line (no running bridge: no devices, links or logs)",
    versions: await versions(input.ffmpeg ?? input.config?.media?.ffmpeg),
    process: {
      pid: process.pid,
      uptimeS: Math.round(process.uptime()),
      rssMB: Math.round(memory.rss / 1e6),
      heapUsedMB: Math.round(memory.heapUsed / 1e6),
    },
    config: input.config ? redactConfig(input.config) : null,
    ...(sources
      ? {
          health: health(sources),
          pairing: {
            homekit: pairing?.homekit ? { running: pairing.homekit.running, bridges: pairing.homekit.bridges } : null,
            matter: pairing?.matter
              ? {
                  running: pairing.matter.running,
                  commissioned: pairing.matter.commissioned,
                  fabrics: pairing.matter.fabrics,
                }
              : null,
            cameras: cameraViews(sources).map((c) => ({ deviceId: c.deviceId, name: c.name, paired: c.paired })),
          },
          accounts: input.links?.view(sources.accounts) ?? accountViews(sources),
          devices: deviceViews(sources),
        }
      : {}),
    logs: input.logs ?? [],
    dataDir: dataDirListing(input.dataDir),
    ...input.extra,
  };
  const setupToken = readWebStore(input.dataDir).setupToken;
  const secrets = [...secretValues(input.config), ...pairingSecrets(sources), ...(setupToken ? [setupToken] : [])];
  return scrubBundle(JSON.stringify(doc, null, 2), secrets);
}

export const bundleFileName = (now = new Date()) =>
  `hearthbridge-diagnostics-${now.toISOString().replace(/[:.]/g, "-")}.json`;

export type DiagnosticsOptions = Omit<BundleInput, "logs"> & { sources: WebSources; logs: () => LogEntry[] };

/** The web server's side: the link history, the access file for the CLI, the bundle. */
export class DiagnosticsService {
  readonly #input: DiagnosticsOptions;
  readonly #links: LinkHistory;
  /** The history was made here (not handed in from the bridge's start): stop() ends it. */
  readonly #ownLinks: boolean;
  readonly #key = randomBytes(24).toString("base64url");
  #accessWritten = false;

  constructor(input: DiagnosticsOptions) {
    this.#input = input;
    this.#ownLinks = input.links === undefined;
    this.#links = input.links ?? new LinkHistory(input.sources.registry);
  }

  get #accessFile(): string {
    return join(this.#input.dataDir, DIAGNOSTICS_ACCESS_FILE);
  }

  /** Write the CLI's access file (0600). A failure only costs the CLI its live bundle. */
  listening(port: number): void {
    try {
      writeFileAtomic(this.#accessFile, `${JSON.stringify({ pid: process.pid, port, key: this.#key })}\n`, 0o600);
      this.#accessWritten = true;
    } catch {
      this.#accessWritten = false;
    }
  }

  stop(): void {
    if (this.#ownLinks) this.#links.stop();
    if (this.#accessWritten) rmSync(this.#accessFile, { force: true });
  }

  /** The CLI's bearer key (from the access file). */
  allows(req: IncomingMessage): boolean {
    const auth = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ""));
    return auth !== null && sameSecret(auth[1]!, this.#key);
  }

  bundle(): Promise<string> {
    const { logs, links: _links, ...rest } = this.#input;
    return diagnosticsBundle({ ...rest, logs: logs(), links: this.#links });
  }
}

/** The CLI's side: the running bridge's bundle, or undefined (not running, no access file, refused). It
 * asks the loopback addresses, or web.host when the page listens on one address only. */
export async function fetchBridgeBundle(
  dataDir: string,
  webHost = "0.0.0.0",
  timeoutMs = 15_000,
): Promise<string | undefined> {
  let access: { port?: unknown; key?: unknown } | undefined;
  try {
    access = JSON.parse(readFileSync(join(dataDir, DIAGNOSTICS_ACCESS_FILE), "utf8")) as typeof access;
  } catch {
    return undefined;
  }
  if (typeof access?.port !== "number" || typeof access.key !== "string") return undefined;
  const wildcard = webHost === "0.0.0.0" || webHost === "::";
  const hosts = wildcard ? ["127.0.0.1", "[::1]"] : [webHost.includes(":") ? `[${webHost}]` : webHost];
  for (const host of hosts) {
    try {
      const response = await fetch(`http://${host}:${access.port}/api/diagnostics`, {
        headers: { Authorization: `Bearer ${access.key}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.ok) return await response.text();
    } catch {
      // not listening on this address: try the next
    }
  }
  return undefined;
}
