// `pairing`: print the HomeKit and Matter pairing codes and QR codes from <data>/identity.json and
// the config, each standalone camera's own HomeKit code from <data>/homekit, each Matter camera node's
// codes from <data>/matter-cameras.json (matter.cameras), and while the web page has
// no password its one-time setup link (<data>/web.json), without starting the bridge (no port is
// opened, nothing is written).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import qrcode from "qrcode-terminal";
import type { Config } from "../core/config.ts";
import type { PairingIdentity } from "../core/identity.ts";
import { readJson } from "../core/storage.ts";
import { homekitSetupURI, readAccessoryInfo, readCameraPairings } from "../homekit/setup-uri.ts";
import { CAMERA_PRODUCT_ID, cameraNodeId, matterPairingCodes } from "../matter/setup-codes.ts";
import { isLoopbackHost, readWebStore } from "../web/auth.ts";
import { loadConfigOrReport, withCommonOptions, type CommonOptions } from "./common.ts";
import { webUrl } from "./first-run.ts";

export interface PairingReport {
  dataDir: string;
  homekit?: {
    pincode?: string;
    username?: string;
    /** Known once the bridge has published once (HAP keeps the setup id in its storage). */
    setupURI?: string;
    pairedControllers: number;
    port: number;
  };
  matter?: {
    passcode?: number;
    discriminator?: number;
    manualPairingCode?: string;
    qrPairingCode?: string;
    port: number;
    commissioned: boolean;
  };
  /** Standalone cameras (homekit.cameras: standalone), each paired in Apple Home with its own code. */
  cameras?: CameraPairingReport[];
  /** Why the cameras could not be read (a damaged bridges.json); the other codes still print. */
  camerasProblem?: string;
  /** Matter camera nodes (matter.cameras: true), each commissioned with its own code. */
  matterCameras?: MatterCameraPairingReport[];
  /** Why the Matter cameras could not be read (a damaged matter-cameras.json). */
  matterCamerasProblem?: string;
  /** The web page has no password yet: the one-time link that lets it be chosen (absent before the
   * bridge's first start made the token). */
  webSetup?: { token?: string; url?: string };
}

export interface CameraPairingReport {
  deviceId: string;
  /** As last published; absent before the camera's first start. */
  name?: string;
  pincode: string;
  /** Known once the camera has been published (HAP keeps the setup id in its storage). */
  setupURI?: string;
  port?: number;
  pairedControllers: number;
}

export interface MatterCameraPairingReport {
  deviceId: string;
  /** As when its node last started. */
  name?: string;
  manualPairingCode: string;
  qrPairingCode: string;
  port: number;
  commissioned: boolean;
}

interface SavedIdentity {
  homekit?: Partial<PairingIdentity["homekit"]>;
  matter?: Partial<PairingIdentity["matter"]>;
}

/** Pairing codes as the bridge would use them for this config and data directory (read-only). */
export function pairingReport(config: Config, dataDir: string): PairingReport {
  const dir = resolve(dataDir);
  const saved = readJson<SavedIdentity>(join(dir, "identity.json")) ?? {};
  const report: PairingReport = { dataDir: dir };
  if (config.homekit.enabled) {
    const pincode = config.homekit.pincode ?? saved.homekit?.pincode;
    const username = saved.homekit?.username;
    const info = username ? readAccessoryInfo(dir, username) : undefined;
    report.homekit = {
      ...(pincode ? { pincode } : {}),
      ...(username ? { username } : {}),
      ...(pincode && info?.setupID ? { setupURI: homekitSetupURI(pincode, info.setupID) } : {}),
      pairedControllers: info?.pairedClients ?? 0,
      port: config.homekit.port,
    };
    // Bridged cameras are on the bridge's code; identities left from a standalone past are not shown.
    if (config.homekit.cameras === "standalone") {
      try {
        report.cameras = cameraReports(dir);
      } catch (error) {
        report.camerasProblem = (error as Error).message;
      }
    }
  }
  if (config.matter.enabled) {
    const passcode = config.matter.passcode ?? saved.matter?.passcode;
    const discriminator = config.matter.discriminator ?? saved.matter?.discriminator;
    report.matter = {
      ...(passcode !== undefined ? { passcode } : {}),
      ...(discriminator !== undefined ? { discriminator } : {}),
      ...(passcode !== undefined && discriminator !== undefined ? matterPairingCodes({ passcode, discriminator }) : {}),
      port: config.matter.port,
      commissioned: existsSync(join(dir, "matter")) && matterHasFabrics(join(dir, "matter")),
    };
  }
  if (config.matter.enabled && config.matter.cameras) {
    try {
      report.matterCameras = matterCameraReports(dir);
    } catch (error) {
      report.matterCamerasProblem = (error as Error).message;
    }
  }
  const webSetup = webSetupReport(config, dir);
  if (webSetup) report.webSetup = webSetup;
  return report;
}

/** Only while a password is needed and none is configured or chosen (src/web/auth.ts). */
function webSetupReport(config: Config, dir: string): PairingReport["webSetup"] {
  const web = config.web;
  if (!web.enabled || web.passwordHash !== undefined || isLoopbackHost(web.host)) return undefined;
  const stored = readWebStore(dir);
  if (stored.passwordSet) return undefined;
  if (!stored.setupToken) return {};
  const base = web.publicOrigin ? `${web.publicOrigin}/` : webUrl(config);
  return { token: stored.setupToken, ...(base ? { url: `${base}setup?token=${stored.setupToken}` } : {}) };
}

function cameraReports(dir: string): CameraPairingReport[] {
  return readCameraPairings(dir)
    .map((c) => {
      const name = readAccessoryInfo(dir, c.username)?.displayName;
      return {
        deviceId: c.deviceId,
        ...(name ? { name } : {}),
        pincode: c.pincode,
        ...(c.setupURI ? { setupURI: c.setupURI } : {}),
        ...(c.port !== undefined ? { port: c.port } : {}),
        pairedControllers: c.pairedControllers,
      };
    })
    .sort((a, b) => (a.name ?? a.deviceId).localeCompare(b.name ?? b.deviceId));
}

interface StoredCameraIdentity {
  port: number;
  passcode: number;
  discriminator: number;
  name?: string;
}

/** The camera nodes' identities (src/matter/camera/host.ts), each node's fabrics in its own storage. */
function matterCameraReports(dir: string): MatterCameraPairingReport[] {
  const stored = readJson<{ cameras?: Record<string, StoredCameraIdentity> }>(join(dir, "matter-cameras.json"));
  return Object.entries(stored?.cameras ?? {})
    .map(([deviceId, c]) => ({
      deviceId,
      ...(c.name ? { name: c.name } : {}),
      ...matterPairingCodes({ passcode: c.passcode, discriminator: c.discriminator, productId: CAMERA_PRODUCT_ID }),
      port: c.port,
      commissioned: matterHasFabrics(join(dir, "matter-cameras", cameraNodeId(deviceId))),
    }))
    .sort((a, b) => (a.name ?? a.deviceId).localeCompare(b.name ?? b.deviceId));
}

/** matter.js keeps fabrics in <data>/matter/fabrics.* (one file per key); any entry there means commissioned. */
function matterHasFabrics(dir: string): boolean {
  const fabrics = readJsonSafe(join(dir, "fabrics.fabrics"));
  return Array.isArray(fabrics) ? fabrics.length > 0 : false;
}

function readJsonSafe(path: string): unknown {
  try {
    return readJson<unknown>(path);
  } catch {
    return undefined;
  }
}

function qr(text: string): string {
  let out = "";
  qrcode.generate(text, { small: true }, (rendered: string) => (out = rendered));
  return out;
}

const paired = (n: number) => (n ? `paired with ${n} controller${n === 1 ? "" : "s"}` : "not paired yet");

export function formatPairingReport(report: PairingReport, withQr = true): string {
  const out: string[] = [];
  const notStarted = "not generated yet: start the bridge once (npm start) on this data directory";
  if (report.homekit) {
    const h = report.homekit;
    out.push(`HomeKit (Apple Home): setup code ${h.pincode ?? notStarted}`);
    if (h.setupURI) {
      out.push(`  QR payload ${h.setupURI}  (${paired(h.pairedControllers)})`);
      if (withQr) out.push(qr(h.setupURI));
    } else if (h.pincode)
      out.push("  QR code: shown after the bridge has started once (type the setup code meanwhile)");
    if (report.camerasProblem) out.push(`HomeKit cameras: ${report.camerasProblem}`);
    for (const c of report.cameras ?? []) {
      // Each standalone camera is its own accessory: the bridge's code does not add it.
      out.push(
        `HomeKit camera ${c.name ? `${c.name} (${c.deviceId})` : c.deviceId}: setup code ${c.pincode}  ` +
          `(${paired(c.pairedControllers)}; add it in the Home app on its own)`,
      );
      if (c.setupURI) {
        out.push(`  QR payload ${c.setupURI}`);
        if (withQr) out.push(qr(c.setupURI));
      } else
        out.push("  QR code: shown after the bridge has published the camera once (type the setup code meanwhile)");
    }
  } else out.push("HomeKit: disabled in the config");
  if (report.matter) {
    const m = report.matter;
    if (m.manualPairingCode && m.qrPairingCode) {
      out.push(
        `Matter: manual pairing code ${m.manualPairingCode}, QR payload ${m.qrPairingCode}` +
          (m.commissioned ? "  (commissioned; share it from your controller to add another)" : ""),
      );
      if (withQr) out.push(qr(m.qrPairingCode));
    } else out.push(`Matter: pairing code ${notStarted}`);
    if (report.matterCamerasProblem) out.push(`Matter cameras: ${report.matterCamerasProblem}`);
    for (const c of report.matterCameras ?? []) {
      // Each camera is a Matter node of its own: the bridge's code does not add it.
      out.push(
        `Matter camera ${c.name ? `${c.name} (${c.deviceId})` : c.deviceId}: manual pairing code ` +
          `${c.manualPairingCode}, QR payload ${c.qrPairingCode}  (port ${c.port}; ` +
          `${c.commissioned ? "commissioned" : "not commissioned yet: add it in your controller on its own"})`,
      );
      if (withQr) out.push(qr(c.qrPairingCode));
    }
  } else out.push("Matter: disabled in the config");
  if (report.webSetup) {
    const { token, url } = report.webSetup;
    out.push(
      token
        ? `Web page: no password yet; choose it at ${url ?? `/setup with the setup token ${token}`} (a one-time link)`
        : "Web page: no password yet; the setup link is made at the bridge's first start (or set web.password)",
    );
  }
  return out.join("\n");
}

export async function pairingCommand(argv: string[]): Promise<number> {
  const program = withCommonOptions(
    new Command("pairing").description(
      "print the HomeKit (bridge and standalone cameras) and Matter pairing codes without starting the bridge",
    ),
  )
    .option("--json", "print JSON")
    .option("--no-qr", "leave out the QR drawings")
    .showHelpAfterError()
    .parse(argv, { from: "user" });
  const opts = program.opts<CommonOptions & { json?: boolean; qr: boolean }>();
  const loaded = loadConfigOrReport(opts.config, undefined, opts.data);
  if (!loaded) return 2;
  if (!existsSync(resolve(opts.data))) {
    console.error(`pairing: no data directory at ${resolve(opts.data)}: start the bridge once (or pass --data)`);
    return 1;
  }
  const report = pairingReport(loaded.config, opts.data);
  console.log(opts.json ? JSON.stringify(report, null, 2) : formatPairingReport(report, opts.qr));
  return 0;
}

if (import.meta.main) process.exitCode = await pairingCommand(process.argv.slice(2));
