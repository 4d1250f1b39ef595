// Builds the driver for each configured account. The only place that knows every vendor.
import type { AccountConfig } from "../core/config.ts";
import type { Driver } from "../core/driver.ts";
import type { Logger } from "../core/logger.ts";
import { FanSyncDriver } from "./fansync/index.ts";
import { NanitDriver } from "./nanit/index.ts";
import { XSenseDriver } from "./xsense/index.ts";

export class UnsupportedVendorError extends Error {
  override name = "UnsupportedVendorError";
}

export function createDriver(account: AccountConfig, log: Logger): Driver {
  switch (account.vendor) {
    case "fansync":
      return new FanSyncDriver({
        accountName: account.name,
        email: account.email,
        password: account.password ?? "",
        endpoints: { api: account.endpoints?.api, websocket: account.endpoints?.websocket },
        log,
      });
    case "xsense":
      return new XSenseDriver({
        accountName: account.name,
        email: account.email,
        password: account.password ?? "",
        endpoints: { ...account.endpoints },
        ...(account.alarmLinkGraceS === undefined ? {} : { mqttGraceMs: account.alarmLinkGraceS * 1000 }),
        log,
      });
    case "nanit":
      return new NanitDriver({
        accountName: account.name,
        email: account.email,
        password: account.password,
        endpoints: { api: account.endpoints?.api, websocket: account.endpoints?.websocket, local: account.endpoints?.local },
        log,
      });
    default: {
      const unknown: { vendor: string; name: string } = account;
      throw new UnsupportedVendorError(`vendor ${unknown.vendor} is not supported by this version; account "${unknown.name}" is skipped`);
    }
  }
}
