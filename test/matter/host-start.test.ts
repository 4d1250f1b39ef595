// Devices that change while the Matter bridge is starting: the node takes seconds to start, and the
// registry does not wait. A camera's sound machine tracks arrive in that window on a fresh install, and the
// bridge used to keep the camera's first shape (no sound machine) until the next restart.
// Run inside the loopback namespace: test/netns.sh node --test test/matter/host-start.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { Driver, DriverSink } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { brightnessToLevel } from "../../accessories/light/matter.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run this test inside test/netns.sh (it commissions over mDNS)");

const PORT = 5596;
const PASSCODE = 20202021;
const DISCRIMINATOR = 3846;

class IdleDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName: string;
  constructor(accountName: string) {
    this.accountName = accountName;
  }
  async start(): Promise<void> {}
  async command(): Promise<void> {}
  async stop(): Promise<void> {}
}

function device(id: string, name: string, capabilities: DeviceInfo["capabilities"], account = "test"): DeviceInfo {
  return {
    id,
    vendor: "fansync",
    account,
    kind: "ceiling-fan",
    name,
    manufacturer: "Fanimation",
    model: "TestModel",
    serialNumber: `SN-${id}`,
    capabilities,
  };
}

describe("a Matter bridge that is starting", () => {
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info" | undefined) ?? "warn");
  const dataDir = mkdtempSync(join(tmpdir(), "hb-matter-start-"));
  const registry = new DeviceRegistry(log);
  let sink: DriverSink;
  let host: MatterHost;
  let client: MatterTestClient;
  let changedDuringStart = false;

  before(async () => {
    sink = registry.sinkFor(new IdleDriver("test"));
    registry
      .sinkFor(new IdleDriver("other"))
      .deviceFound(device("fansync:gone", "Gone", { light: { dimmable: false } }, "other"), {
        light: { on: false, brightness: 100 },
      });
    sink.deviceFound(device("fansync:grows", "Grows", { fan: { reversible: false, breeze: false } }), {
      fan: { on: false, speed: 40, direction: "forward", breeze: false },
    });
    sink.deviceFound(device("fansync:leaves", "Leaves", { fan: { reversible: false, breeze: false } }), {
      fan: { on: false, speed: 40, direction: "forward", breeze: false },
    });
    host = new MatterHost({
      registry,
      log,
      dataDir,
      name: "Start Bridge",
      port: PORT,
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
    // The host reads the registry, then starts its node; the changes below land on the first turn of the
    // event loop after that read, while the node is still starting.
    const devices = Object.getOwnPropertyDescriptor(DeviceRegistry.prototype, "devices")!.get!;
    let first = true;
    Object.defineProperty(registry, "devices", {
      get() {
        if (first) {
          first = false;
          setImmediate(() => {
            changedDuringStart = !host.running;
            sink.deviceFound(
              device("fansync:grows", "Grows", {
                fan: { reversible: false, breeze: false },
                light: { dimmable: true },
              }),
              {
                fan: { on: false, speed: 40, direction: "forward", breeze: false },
                light: { on: true, brightness: 70 },
              },
            );
            sink.deviceFound(device("fansync:new", "Newcomer", { light: { dimmable: false } }), {
              light: { on: true, brightness: 100 },
            });
            registry.removeAccount("other");
            sink.stateChanged("fansync:leaves", { fan: { on: true, speed: 80 } });
          });
        }
        return devices.call(registry);
      },
    });
    await host.start();
    client = await MatterTestClient.commission({ port: PORT, passcode: PASSCODE, discriminator: DISCRIMINATOR });
  });

  after(async () => {
    await client?.close();
    await host?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("the changes really came while the node was starting", () => {
    assert.equal(changedDuringStart, true);
  });

  it("a device whose capabilities changed meanwhile is built in its new shape", async () => {
    const grows = client.bridged("fansync:grows");
    const light = client.withCluster(grows, "onOff");
    const level = await client.read(light, "levelControl", ["currentLevel"]);
    assert.equal(level.currentLevel, brightnessToLevel(70));
  });

  it("a device removed meanwhile is gone", () => {
    assert.throws(() => client.bridged("fansync:gone"), /no bridged endpoint/);
  });

  it("a device found meanwhile is on the bridge, and a state change meanwhile is shown", async () => {
    const newcomer = client.bridged("fansync:new");
    assert.equal((await client.read(client.withCluster(newcomer, "onOff"), "onOff", ["onOff"])).onOff, true);
    const leaves = client.withCluster(client.bridged("fansync:leaves"), "fanControl");
    assert.equal((await client.read(leaves, "fanControl", ["percentSetting"])).percentSetting, 80);
  });
});
