// Advertising choices: "none" must never build an mDNS responder, and must leave HAP-NodeJS's
// ciao advertiser intact for other bridges. Run inside test/netns.sh (the ciao case advertises on lo).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge, uuid, type Categories } from "@homebridge/hap-nodejs";
import { NoopAdvertiser, publishBridge } from "../../src/homekit/advertiser.ts";
import { useHapStorage } from "../../src/homekit/storage.ts";
import { randomUsername } from "../../src/core/identity.ts";
import { HapClient } from "../helpers/hap-client.ts";

const require = createRequire(import.meta.url);
const advertiserModule = require("@homebridge/hap-nodejs/dist/lib/Advertiser.js") as { CiaoAdvertiser: unknown };
const PIN = "031-45-154";
const BRIDGE = 2 as Categories;

describe("bridge advertisers", () => {
  const dir = mkdtempSync(join(tmpdir(), "hearthbridge-adv-"));
  const bridges: Bridge[] = [];
  before(() => useHapStorage(join(dir, "hap")));
  after(async () => {
    await Promise.all(bridges.map((b) => b.unpublish()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function publish(advertiser: "none" | "ciao"): Promise<{ bridge: Bridge; port: number }> {
    const bridge = new Bridge(`Adv ${advertiser}`, uuid.generate(`test:${advertiser}`));
    bridges.push(bridge);
    const listening = once(bridge, "listening");
    await publishBridge(bridge, { username: randomUsername(), pincode: PIN, category: BRIDGE, port: 0 }, advertiser);
    const [port] = (await listening) as [number];
    return { bridge, port };
  }

  it('"none" publishes with a no-op advertiser and restores HAP-NodeJS\'s ciao advertiser', async () => {
    const ciao = advertiserModule.CiaoAdvertiser;
    const { bridge, port } = await publish("none");
    assert.ok(bridge._advertiser instanceof NoopAdvertiser);
    assert.equal((bridge._advertiser as NoopAdvertiser).port, port, "initPort was called with the bound port");
    assert.equal(advertiserModule.CiaoAdvertiser, ciao);

    // Pairing by address works without any advertisement.
    const client = await HapClient.pair(port, PIN);
    assert.equal((await client.accessories()).length, 1);
    await client.close();
  });

  it('"none" replaces (and destroys) a real advertiser assigned later', async () => {
    const { bridge } = await publish("none");
    let destroyed = false;
    const fake = Object.assign(new NoopAdvertiser(), { destroy: async () => void (destroyed = true) });
    Object.setPrototypeOf(fake, Object.prototype); // no longer a NoopAdvertiser
    bridge._advertiser = fake as unknown as NoopAdvertiser;
    assert.ok(bridge._advertiser instanceof NoopAdvertiser);
    assert.notEqual(bridge._advertiser, fake);
    await Promise.resolve();
    assert.ok(destroyed);
  });

  it("ciao still advertises for bridges that ask for it", {
    skip: process.env.HEARTHBRIDGE_NETNS !== "1" && "needs test/netns.sh",
  }, async () => {
    const { bridge } = await publish("ciao");
    assert.equal(bridge._advertiser?.constructor, advertiserModule.CiaoAdvertiser);
    await once(bridge, "advertised");
  });
});
