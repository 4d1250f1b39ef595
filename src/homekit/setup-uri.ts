// The HomeKit setup URI (the X-HM:// payload of the pairing QR code) as a pure function, so it can be
// shown without publishing a bridge (the `pairing` command). Same encoding as HAP-NodeJS's
// Accessory.setupURI(): 8-digit setup code, IP flag, category, then the 4-character setup id that
// HAP-NodeJS keeps in its AccessoryInfo file.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Category 2: a bridge (HAP-NodeJS's Categories.BRIDGE, a const enum in its typings). */
export const BRIDGE_CATEGORY = 2;

export function homekitSetupURI(pincode: string, setupID: string, category = BRIDGE_CATEGORY): string {
  if (!/^\d{3}-\d{2}-\d{3}$/.test(pincode))
    throw new Error(`HomeKit setup code must look like 031-45-154 (got ${pincode})`);
  if (!/^[0-9A-Z]{4}$/.test(setupID)) throw new Error(`HomeKit setup id must be 4 characters 0-9A-Z (got ${setupID})`);
  // 45 bits: version 0 (3) | reserved (4) | category (8) | flags (4; 0x1 = IP) | setup code (27).
  const payload = BigInt(category) * 2n ** 31n + (1n << 28n) + BigInt(Number(pincode.replaceAll("-", "")));
  return `X-HM://${payload.toString(36).toUpperCase().padStart(9, "0")}${setupID}`;
}

/** What HAP-NodeJS stored for a bridge: its setup id and paired controllers. */
export interface StoredAccessoryInfo {
  setupID: string | undefined;
  pairedClients: number;
  /** The accessory's name as published. */
  displayName: string | undefined;
}

/**
 * The AccessoryInfo file HAP-NodeJS keeps for `username` under <dataDir>/homekit/hap; undefined before the
 * first start.
 */
export function readAccessoryInfo(dataDir: string, username: string): StoredAccessoryInfo | undefined {
  const file = join(dataDir, "homekit", "hap", `AccessoryInfo.${username.replaceAll(":", "").toUpperCase()}.json`);
  let raw: { setupID?: unknown; pairedClients?: unknown; displayName?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, "utf8")) as typeof raw;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`${file} is not readable (${(error as Error).message})`);
  }
  return {
    setupID: typeof raw.setupID === "string" && raw.setupID ? raw.setupID : undefined,
    pairedClients:
      raw.pairedClients && typeof raw.pairedClients === "object" ? Object.keys(raw.pairedClients).length : 0,
    displayName: typeof raw.displayName === "string" && raw.displayName ? raw.displayName : undefined,
  };
}

/** Category 17: an IP camera (HAP-NodeJS's Categories.IP_CAMERA). */
export const IP_CAMERA_CATEGORY = 17;

export interface StoredCameraPairing {
  deviceId: string;
  pincode: string;
  username: string;
  port: number | undefined;
  /** Known once the camera has been published (HAP keeps the setup id in its storage). */
  setupURI: string | undefined;
  pairedControllers: number;
}

/** The standalone cameras' pairing details as stored under <dataDir>/homekit (read-only, for the `pairing` command). */
export function readCameraPairings(dataDir: string): StoredCameraPairing[] {
  const file = join(dataDir, "homekit", "bridges.json");
  let cameras: Record<string, { username?: unknown; pincode?: unknown; port?: unknown }>;
  try {
    cameras = (JSON.parse(readFileSync(file, "utf8")) as { cameras?: typeof cameras }).cameras ?? {};
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new Error(`${file} is not readable (${(error as Error).message})`);
  }
  return Object.entries(cameras).flatMap(([deviceId, c]) => {
    if (typeof c.username !== "string" || typeof c.pincode !== "string") return [];
    const info = readAccessoryInfo(dataDir, c.username);
    return [
      {
        deviceId,
        pincode: c.pincode,
        username: c.username,
        port: typeof c.port === "number" ? c.port : undefined,
        setupURI: info?.setupID ? homekitSetupURI(c.pincode, info.setupID, IP_CAMERA_CATEGORY) : undefined,
        pairedControllers: info?.pairedClients ?? 0,
      },
    ];
  });
}
