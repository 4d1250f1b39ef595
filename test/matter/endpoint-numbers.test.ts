// Matter endpoint numbers stay with their devices: a device rebuilt because its capabilities changed,
// a device whose account left and came back, and both across restarts keep the numbers controllers
// know them by, and a subscribed controller sees the new structure at the old number.
// Run inside the loopback namespace: test/netns.sh node --test test/matter/endpoint-numbers.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { Driver, DriverSink } from "../../src/core/driver.ts";
import type { DeviceInfo, DeviceState } from "../../src/core/model.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run this test inside test/netns.sh (it commissions over mDNS)");

const PORT = 5593;
const PASSCODE = 20202021;
const DISCRIMINATOR = 3842;

class QuietDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName: string;
  constructor(accountName: string) {
    this.accountName = accountName;
  }
  async start(): Promise<void> {}
  async command(): Promise<void> {}
  async stop(): Promise<void> {}
}

function device(id: string, account: string, kind: string, capabilities: DeviceInfo["capabilities"]): DeviceInfo {
  return {
    id,
    vendor: "fansync",
    account,
    kind,
    name: id.slice(8),
    manufacturer: "Fanimation",
    model: "TestModel",
    serialNumber: `SN-${id.slice(8)}`,
    capabilities,
  };
}

const FAN_ON: DeviceState = { fan: { on: true, speed: 70, direction: "forward", breeze: false } };
const LIGHT_ON: DeviceState = { light: { on: true, brightness: 50 } };
/** A fan that has not shown its steps yet (continuous) and later holds 45/70/100. */
const continuous = device("fansync:attic", "home", "ceiling-fan", { fan: { reversible: false, breeze: false } });
const stepped = device("fansync:attic", "home", "ceiling-fan", {
  fan: { reversible: false, breeze: false, speedSteps: [45, 70, 100] },
});
/** A fan with a light kit (a composed device: parent + fan + light children). */
const withLight = device("fansync:porch", "home", "ceiling-fan", {
  fan: { reversible: false, breeze: false },
  light: { dimmable: true },
});
const lamp = device("fansync:lamp", "guest", "light", { light: { dimmable: true } });

type Struct = Record<string, unknown>;

describe("Matter endpoint numbers across rebuilds, removals and restarts", () => {
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info" | undefined) ?? "warn");
  const dataDir = mkdtempSync(join(tmpdir(), "hb-matter-numbers-"));
  const registry = new DeviceRegistry(log);
  let home: DriverSink;
  let host: MatterHost;
  let client: MatterTestClient;
  const newHost = () =>
    new MatterHost({
      registry,
      log,
      dataDir,
      name: "Numbers",
      port: PORT,
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
  /** The numbers of a device's endpoint and its children, as the controller's structure holds them. */
  const numbersSeen = (id: string): number[] => {
    const ep = client.bridged(id);
    return [ep.number!, ...[...ep.parts.values()].map((p) => p.number!)].sort((a, b) => a - b);
  };
  /** Resolves once the controller rebuilt its endpoint structure and `check` holds on it (matter.js's controller
   * does so 5 s after a parts list or device type changed; a feature change alone is no structure change). */
  const structure = (what: string, check: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the controller did not see ${what} within 60 s`)), 60_000);
      const onChange = () => {
        let ok = false;
        try {
          ok = check();
        } catch {
          // the endpoint is not (yet) in the controller's structure
        }
        if (!ok) return;
        clearTimeout(timer);
        client.node.events.structureChanged.off(onChange);
        resolve();
      };
      client.node.events.structureChanged.on(onChange);
    });
  const features = (id: string): Struct => {
    const fan = client.withCluster(client.bridged(id), "fanControl");
    return client.cached(fan, "fanControl").featureMap as Struct;
  };

  before(async () => {
    home = registry.sinkFor(new QuietDriver("home"));
    home.deviceFound(continuous, FAN_ON);
    home.deviceFound(withLight, { ...FAN_ON, ...LIGHT_ON });
    registry.sinkFor(new QuietDriver("guest")).deviceFound(lamp, LIGHT_ON);
    host = newHost();
    await host.start();
    client = await MatterTestClient.commission({ port: PORT, passcode: PASSCODE, discriminator: DISCRIMINATOR });
  });

  after(async () => {
    await client?.close();
    await host?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a fan that learned its steps is rebuilt at the same number; the controller reads its new features", async () => {
    const number = host.endpointNumber(continuous.id)!;
    assert.equal(client.bridged(continuous.id).number, number);
    assert.equal(features(continuous.id).multiSpeed, false);
    // The controller replaces its fan cluster at the same endpoint number with the new features.
    const rebuilt = client.serversChanged(
      number,
      () => client.clientFeatures(number, "fanControl").multiSpeed === true,
    );
    home.deviceFound(stepped, FAN_ON);
    await rebuilt;
    assert.equal(host.endpointNumber(stepped.id), number);
    const fan = client.bridged(stepped.id);
    assert.equal(fan.number, number);
    const read = await client.read(fan, "fanControl", ["featureMap", "speedMax", "speedSetting"]);
    assert.equal((read.featureMap as Struct).multiSpeed, true);
    assert.equal(read.speedMax, 3);
    assert.equal(read.speedSetting, 2, "70 % is the second of 45/70/100");
  });

  it("a composed device that loses and regains its light keeps its own and its children's numbers", async () => {
    const before = numbersSeen(withLight.id);
    assert.equal(before.length, 3, "parent, fan and light");
    const parent = host.endpointNumber(withLight.id)!;
    const noLight = device(withLight.id, "home", "ceiling-fan", { fan: { reversible: false, breeze: false } });
    const flat = structure("the porch without its light", () => client.bridged(withLight.id).parts.size === 0);
    home.deviceFound(noLight, FAN_ON);
    await flat;
    assert.equal(client.bridged(withLight.id).number, parent);
    assert.equal(features(withLight.id).multiSpeed, false);

    const composed = structure("the porch with its light", () => client.bridged(withLight.id).parts.size === 2);
    home.deviceFound(withLight, { ...FAN_ON, ...LIGHT_ON });
    await composed;
    assert.deepEqual(numbersSeen(withLight.id), before);
    const light = client.withCluster(client.bridged(withLight.id), "onOff");
    assert.equal((await client.read(light, "onOff", ["onOff"])).onOff, true);
  });

  it("a device whose account left comes back at its number, after a restart too", async () => {
    const number = host.endpointNumber(lamp.id)!;
    const others = [stepped.id, withLight.id].map((id) => host.endpointNumber(id));
    const lampGone = () =>
      structure("the lamp leave", () => {
        assert.throws(() => client.bridged(lamp.id));
        return true;
      });
    const gone = lampGone();
    registry.removeAccount("guest");
    await gone;

    const back = structure("the lamp back", () => client.bridged(lamp.id).number === number);
    registry.sinkFor(new QuietDriver("guest")).deviceFound(lamp, LIGHT_ON);
    await back;
    assert.equal(host.endpointNumber(lamp.id), number);

    // Removed while running, the bridge restarts, then the account comes back: the number still holds.
    const goneAgain = lampGone();
    registry.removeAccount("guest");
    await goneAgain;
    await host.stop();
    host = newHost();
    await host.start();
    assert.equal(host.endpointNumber(lamp.id), undefined);
    await client.reconnect();
    const again = structure("the lamp back after the restart", () => client.bridged(lamp.id).number === number);
    registry.sinkFor(new QuietDriver("guest")).deviceFound(lamp, LIGHT_ON);
    await again;
    assert.equal(host.endpointNumber(lamp.id), number);
    assert.deepEqual(
      [stepped.id, withLight.id].map((id) => host.endpointNumber(id)),
      others,
    );
    assert.equal((await client.read(client.bridged(lamp.id), "onOff", ["onOff"])).onOff, true);
  });

  it("a rebuilt device keeps its number across a restart, and a rebuild after the restart keeps it too", async () => {
    const number = host.endpointNumber(stepped.id)!;
    await host.stop();
    host = newHost();
    await host.start();
    assert.equal(host.endpointNumber(stepped.id), number);
    await client.reconnect();
    assert.equal(client.bridged(stepped.id).number, number);
    assert.equal(features(stepped.id).multiSpeed, true);

    const fourSteps = device(stepped.id, "home", "ceiling-fan", {
      fan: { reversible: false, breeze: false, speedSteps: [25, 50, 75, 100] },
    });
    const speedMax = client.nextReport(number, "fanControl", "speedMax", (v) => v === 4, 60_000);
    home.deviceFound(fourSteps, FAN_ON);
    await speedMax;
    assert.equal(host.endpointNumber(stepped.id), number);
    assert.equal(client.bridged(stepped.id).number, number);
    assert.equal((await client.read(client.bridged(stepped.id), "fanControl", ["speedSetting"])).speedSetting, 3);
  });
});
