// Advertising choices for a published bridge, including "none" (users with their own mDNS, tests).
//
// HAP-NodeJS 2.2.3 has no switch to turn advertising off: Accessory.publish() always builds one of
// its four advertisers (ciao, bonjour-hap, avahi, resolved) from `info.advertiser`, stores it in the
// public `_advertiser` field, and calls initPort()/startAdvertising() on it once the HAP server
// listens. For "none" we therefore:
//   1. swap the CiaoAdvertiser export of HAP-NodeJS's Advertiser module for NoopAdvertiser during the
//      synchronous part of publish() (it constructs the advertiser before its first await), so no
//      mDNS responder, socket or interface-polling timer is ever created; and
//   2. pin `_advertiser` on that bridge instance to a NoopAdvertiser with an accessor, so that even a
//      future HAP-NodeJS that constructs the advertiser later gets its real advertiser destroyed at
//      once and never advertises.
import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import type { Accessory, MDNSAdvertiser, PublishInfo } from "@homebridge/hap-nodejs";

/** HAP-NodeJS's Advertiser interface (not exported from its index). */
type Advertiser = NonNullable<Accessory["_advertiser"]>;

export type AdvertiserChoice = "ciao" | "avahi" | "resolved" | "none";

/** An Advertiser that advertises nothing. The HAP server still listens and pairs by address. */
export class NoopAdvertiser extends EventEmitter implements Advertiser {
  port: number | undefined;
  initPort(port: number): void {
    this.port = port;
  }
  async startAdvertising(): Promise<void> {}
  updateAdvertisement(): void {}
  async destroy(): Promise<void> {
    this.removeAllListeners();
  }
}

interface AdvertiserModule {
  CiaoAdvertiser: { protocolVersion: string; protocolVersionService: string };
}

const require = createRequire(import.meta.url);

/**
 * Publish a bridge (or a standalone accessory) with the chosen advertiser; resolves when publish() returned
 * (not yet listening).
 */
export async function publishBridge(
  bridge: Accessory,
  info: Omit<PublishInfo, "advertiser">,
  advertiser: AdvertiserChoice,
): Promise<void> {
  if (advertiser !== "none") {
    await bridge.publish({ ...info, advertiser: advertiser as MDNSAdvertiser });
    return;
  }
  pinNoopAdvertiser(bridge);
  // The same CommonJS module instance Accessory.js required as "./Advertiser".
  const module = require("@homebridge/hap-nodejs/dist/lib/Advertiser.js") as AdvertiserModule;
  const real = module.CiaoAdvertiser;
  const standIn = class extends NoopAdvertiser {
    static protocolVersion = real.protocolVersion;
    static protocolVersionService = real.protocolVersionService;
  };
  let published: Promise<void>;
  module.CiaoAdvertiser = standIn;
  try {
    published = bridge.publish({ ...info, advertiser: "ciao" as MDNSAdvertiser });
  } finally {
    module.CiaoAdvertiser = real;
  }
  await published;
}

/** Make `bridge._advertiser` always a NoopAdvertiser (or undefined after unpublish). */
function pinNoopAdvertiser(bridge: Accessory): void {
  let current: Advertiser | undefined;
  Object.defineProperty(bridge, "_advertiser", {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (value: Advertiser | undefined) => {
      if (value === undefined || value instanceof NoopAdvertiser) {
        current = value;
        return;
      }
      // A real advertiser slipped through (see the note at the top): stop it before it starts.
      void Promise.resolve(value.destroy()).catch(() => undefined);
      current = new NoopAdvertiser();
    },
  });
}
