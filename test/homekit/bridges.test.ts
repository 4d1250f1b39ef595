// Past 149 bridged accessories the host opens another bridge, with its own port and username, the
// same setup code, and keeps every device on the bridge it was first placed on.
// Run inside the loopback-only namespace: test/netns.sh node --test test/homekit/bridges.test.ts
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { JsonStore } from "../../src/core/storage.ts";
import type { Driver, DriverContext, DriverSink } from "../../src/core/driver.ts";
import type { Command, DeviceInfo } from "../../src/core/model.ts";
import { HomeKitHost, MAX_BRIDGED_ACCESSORIES } from "../../src/homekit/index.ts";
import { HapClient } from "../helpers/hap-client.ts";

const PIN = "031-45-154";
const log = pino({ level: "silent" });

class RecordingDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName = "many";
  readonly commands: { id: string; command: Command }[] = [];
  sink!: DriverSink;
  async start(ctx: DriverContext): Promise<void> {
    this.sink = ctx.sink;
  }
  async command(id: string, command: Command): Promise<void> {
    this.commands.push({ id, command });
  }
  async stop(): Promise<void> {}
}

function lamp(n: number): DeviceInfo {
  const serial = `L-${String(n).padStart(3, "0")}`;
  return {
    id: `fansync:${serial}`,
    vendor: "fansync",
    account: "many",
    kind: "light",
    name: `Lamp ${n}`,
    manufacturer: "Test",
    model: "Lamp",
    serialNumber: serial,
    capabilities: { light: { dimmable: true } },
  };
}

describe("HomeKitHost past 149 accessories", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "hearthbridge-bridges-"));
  const registry = new DeviceRegistry(log);
  const driver = new RecordingDriver();
  const hosts: HomeKitHost[] = [];
  const clients: HapClient[] = [];
  const start = async (reg = registry) => {
    const host = new HomeKitHost({
      registry: reg,
      log,
      dataDir,
      name: "Many",
      port: 0,
      pincode: PIN,
      advertiser: "none",
    });
    hosts.push(host);
    await host.start();
    return host;
  };

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(hosts.map((h) => h.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("puts the overflow on a second bridge with its own port and username", async () => {
    await driver.start({ sink: registry.sinkFor(driver), log, store: JsonStore.in(dataDir, "account") });
    for (let n = 1; n <= 160; n++) driver.sink.deviceFound(lamp(n), { light: { on: false, brightness: 50 } });
    const host = await start();

    const [main, second] = host.bridges;
    assert.equal(host.bridges.length, 2);
    assert.equal(main!.accessories, MAX_BRIDGED_ACCESSORIES);
    assert.equal(second!.accessories, 160 - MAX_BRIDGED_ACCESSORIES);
    assert.ok(main!.port && second!.port && main!.port !== second!.port, `ports ${main!.port} and ${second!.port}`);
    assert.notEqual(main!.username, second!.username);
    assert.equal(second!.name, "Many 2");
    assert.match(host.setupURI(1), /^X-HM:\/\//);

    // Pair with the second bridge using the same setup code; it serves exactly the overflow.
    const client = await HapClient.pair(second!.port!, PIN);
    clients.push(client);
    const accessories = await client.accessories();
    const serials = accessories.map((a) => a.serialNumber).filter((s) => s?.startsWith("L-"));
    assert.equal(accessories.length, 1 + 160 - MAX_BRIDGED_ACCESSORIES);
    assert.deepEqual(new Set(serials), new Set(Array.from({ length: 11 }, (_, i) => lamp(150 + i).serialNumber)));

    // And it works: a write on bridge 2 reaches the registry.
    const brightness = await client.find({
      service: Service.Lightbulb.UUID,
      characteristic: Characteristic.Brightness.UUID,
      accessory: { serial: "L-155" },
    });
    await client.write([brightness, 30]);
    assert.deepEqual(driver.commands.at(-1), { id: "fansync:L-155", command: { light: { brightness: 30 } } });
  });

  it("keeps every device on its bridge after a restart, and places newcomers where there is room", async () => {
    const first = hosts[0]!;
    const pairing = clients[0]!.pairingData;
    const usernames = first.bridges.map((b) => b.username);
    await clients[0]!.close();
    await first.stop();

    // After the restart the vendor lists the devices in the opposite order, plus a new one: a fresh
    // placement would put lamps 161..13 on the main bridge. The saved placement must win.
    const registry2 = new DeviceRegistry(log);
    const driver2 = new RecordingDriver();
    await driver2.start({ sink: registry2.sinkFor(driver2), log, store: JsonStore.in(dataDir, "account") });
    for (let n = 161; n >= 1; n--) driver2.sink.deviceFound(lamp(n), { light: { on: false, brightness: 10 } });
    const host = await start(registry2);
    assert.deepEqual(
      host.bridges.map((b) => b.username),
      usernames,
    );
    assert.deepEqual(
      host.bridges.map((b) => b.accessories),
      [MAX_BRIDGED_ACCESSORIES, 12],
    );

    const client = new HapClient(host.bridges[1]!.port!, pairing);
    clients.push(client);
    const serials = (await client.accessories()).map((a) => a.serialNumber).filter((s) => s?.startsWith("L-"));
    assert.deepEqual(new Set(serials), new Set(Array.from({ length: 12 }, (_, i) => lamp(150 + i).serialNumber)));

    // Found while running: still bridge 2, added to the published bridge.
    driver2.sink.deviceFound(lamp(162), { light: { on: false, brightness: 10 } });
    assert.deepEqual(
      host.bridges.map((b) => b.accessories),
      [MAX_BRIDGED_ACCESSORIES, 13],
    );
    assert.ok((await client.accessories(true)).some((a) => a.serialNumber === "L-162"));
  });
});
