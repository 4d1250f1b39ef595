// Every vendor module (src/core/vendor.ts), in the order the config's messages and the example list
// them. Adding a vendor: its folder under src/drivers/ and one entry here (README "Adding a vendor").
import type { Driver } from "../core/driver.ts";
import type { Logger } from "../core/logger.ts";
import type { VendorAccount, VendorModule } from "../core/vendor.ts";
import { fansync } from "./fansync/index.ts";
import { nanit } from "./nanit/index.ts";
import { xsense } from "./xsense/index.ts";

export const vendors = [fansync, xsense, nanit] as const;

/** The id of every vendor, e.g. for a config's `vendor` key. */
export type VendorId = (typeof vendors)[number]["id"];

const byId: ReadonlyMap<string, VendorModule> = new Map(vendors.map((v) => [v.id, v as unknown as VendorModule]));

/** The vendor module of an id; undefined for a vendor this version does not know. */
export function vendorOf(id: string): VendorModule | undefined {
  return byId.get(id);
}

export class UnsupportedVendorError extends Error {
  override name = "UnsupportedVendorError";
}

/** Build the driver of a configured account (an account's keys were checked by its vendor's schema). */
export function createDriver(account: VendorAccount, log: Logger): Driver {
  const vendor = vendorOf(account.vendor);
  if (!vendor) {
    throw new UnsupportedVendorError(
      `vendor ${account.vendor} is not supported by this version; account "${account.name}" is skipped`,
    );
  }
  return vendor.create(account, { log });
}
