// The FanSync device list (lst_device answers) and the device description the core gets for each fan
// (docs/protocols/fansync.md). Pure: bad entries are handed to `malformed`, which the driver rate-limits.
import { isUnsafeKey } from "../../core/safe-keys.ts";
import type { DeviceInfo } from "../../core/model.ts";
import type { Dev } from "./driver.ts";

export interface ListEntry {
  device: string;
  properties: Record<string, unknown>;
}

export type Malformed = (why: string, fields?: Record<string, unknown>) => void;

/** The entries of a lst_device answer that name a usable device. */
export function parseDeviceList(malformed: Malformed, data: unknown): ListEntry[] {
  if (!Array.isArray(data)) {
    malformed("lst_device data is not a list");
    return [];
  }
  const out: ListEntry[] = [];
  for (const item of data) {
    const e = item as { device?: unknown; properties?: unknown } | null;
    if (!e || typeof e !== "object" || typeof e.device !== "string" || !e.device) {
      malformed("malformed lst_device entry");
      continue;
    }
    // Device ids key plain objects (the assumed state): "__proto__" there would reach Object.prototype.
    if (isUnsafeKey(e.device)) {
      malformed("lst_device entry with an unusable device id", { device: e.device });
      continue;
    }
    const props =
      e.properties && typeof e.properties === "object" && !Array.isArray(e.properties)
        ? (e.properties as Record<string, unknown>)
        : {};
    out.push({ device: e.device, properties: props });
  }
  return out;
}

export function deviceInfo(dev: Dev, accountName: string): DeviceInfo {
  const name =
    typeof dev.properties.displayName === "string" && dev.properties.displayName.trim()
      ? dev.properties.displayName.trim()
      : dev.model;
  return {
    id: dev.id,
    vendor: "fansync",
    account: accountName,
    kind: dev.traits.lightOnly ? "light" : "ceiling-fan",
    name,
    manufacturer: "Fanimation",
    model: dev.model,
    serialNumber: dev.vid,
    ...(dev.firmware ? { firmware: dev.firmware } : {}),
    capabilities: dev.traits.capabilities,
  };
}
