// The Matter host end to end: a real controller (matter.js) commissions the bridge over loopback and
// drives bridged devices; a tiny in-test driver records what reaches the vendor side.
// Run inside the loopback namespace: test/netns.sh node --test test/matter/host.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { Driver, DriverSink } from "../../src/core/driver.ts";
import type { Command, DeviceInfo, DeviceState } from "../../src/core/model.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { writeBehindCount } from "../../src/matter/file-storage.ts";
import { brightnessToLevel, levelToBrightness } from "../../accessories/light/matter.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run this test inside test/netns.sh (it commissions over mDNS)");

const PORT = 5591;
const PASSCODE = 20202021;
const DISCRIMINATOR = 3841;
const FanMode = { Off: 0, Low: 1, Medium: 2, High: 3, On: 4, Auto: 5 } as const;

/** A real Driver that accepts (or refuses) commands and records them. */
class RecordingDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName = "test";
  readonly commands: { id: string; command: Command }[] = [];
  refuse = false;
  async start(): Promise<void> {}
  async command(id: string, command: Command): Promise<void> {
    if (this.refuse) throw new Error("vendor refused");
    this.commands.push({ id, command });
  }
  async stop(): Promise<void> {}
}

function device(id: string, kind: string, name: string, capabilities: DeviceInfo["capabilities"]): DeviceInfo {
  return {
    id,
    vendor: "fansync",
    account: "test",
    kind,
    name,
    manufacturer: "Fanimation",
    model: "TestModel",
    serialNumber: `SN-${id}`,
    firmware: "1.2.3",
    capabilities,
  };
}

const STEPS = [20, 35, 50, 65, 80, 100];
const devices: [DeviceInfo, DeviceState][] = [
  [
    device("fansync:fan1", "ceiling-fan", "Living Room Fan", {
      fan: { speedSteps: STEPS, reversible: true, breeze: true },
      light: { dimmable: true, colorTemperatureK: [2700, 3000, 4000, 5000] },
    }),
    {
      fan: { on: true, speed: 50, direction: "forward", breeze: false },
      light: { on: false, brightness: 60, colorTemperatureK: 3000 },
    },
  ],
  [
    device("fansync:fan2", "ceiling-fan", "Patio Fan", { fan: { reversible: false, breeze: false } }),
    { fan: { on: false, speed: 40, direction: "forward", breeze: false } },
  ],
  [
    device("fansync:lamp", "light", "Desk Lamp", { light: { dimmable: true } }),
    { light: { on: false, brightness: 30 } },
  ],
];

describe("MatterHost with a commissioned controller", () => {
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info" | undefined) ?? "warn");
  const dataDir = mkdtempSync(join(tmpdir(), "hb-matter-host-"));
  const registry = new DeviceRegistry(log);
  const driver = new RecordingDriver();
  let sink: DriverSink;
  let host: MatterHost;
  let client: MatterTestClient;
  const newHost = () =>
    new MatterHost({
      registry,
      log,
      dataDir,
      name: "Test Bridge",
      port: PORT,
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
  const lastCommand = () => driver.commands.at(-1);

  before(async () => {
    sink = registry.sinkFor(driver);
    for (const [info, state] of devices) sink.deviceFound(info, state);
    host = newHost();
    await host.start();
    assert.equal(host.commissioned, false);
    assert.match(host.pairingCodes().manualPairingCode, /^\d{11}$/);
    client = await MatterTestClient.commission({ port: PORT, passcode: PASSCODE, discriminator: DISCRIMINATOR });
  });

  after(async () => {
    await client?.close();
    await host?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("is commissioned once, with storage private to the bridge", () => {
    assert.equal(host.commissioned, true);
    assert.equal(host.fabricCount, 1);
    assert.equal(statSync(join(dataDir, "matter")).mode & 0o777, 0o700);
    // matter.js must leave the signals to the embedding program (main.ts closes the host on SIGTERM).
    assert.equal(process.listenerCount("SIGTERM"), 0);
    assert.equal(process.listenerCount("SIGINT"), 0);
    // 1,000 events for re-subscribing controllers, not matter.js's 10,000 (platform.ts).
    assert.equal(host.eventBuffer?.maxEventAllowance, 1_100);
    assert.equal(host.eventBuffer?.minEventAllowance, 1_000);
  });

  it("exposes each device as a bridged endpoint with its identity and reachability", () => {
    for (const [info] of devices) {
      const ep = client.bridged(info.id);
      const basic = client.cached(ep, "bridgedDeviceBasicInformation");
      assert.equal(basic.nodeLabel, info.name);
      assert.equal(basic.reachable, true);
      assert.equal(basic.serialNumber, info.serialNumber);
      assert.equal(basic.softwareVersionString, "1.2.3");
    }
    // fan + light: a composed device (children carry the clusters); lone capabilities are flat.
    const fan1 = client.bridged("fansync:fan1");
    assert.equal(fan1.maybeStateOf("fanControl"), undefined);
    assert.notEqual(client.withCluster(fan1, "fanControl").number, client.withCluster(fan1, "colorControl").number);
    const lamp = client.bridged("fansync:lamp");
    assert.equal(client.withCluster(lamp, "levelControl").number, lamp.number);
  });

  it("pushes the live state at start (fan at 50 % -> Medium, speed 3 of 6)", async () => {
    const fan = client.withCluster(client.bridged("fansync:fan1"), "fanControl");
    const state = await client.read(fan, "fanControl", [
      "fanMode",
      "percentSetting",
      "percentCurrent",
      "speedMax",
      "speedSetting",
      "fanModeSequence",
    ]);
    assert.deepEqual(state, {
      fanMode: FanMode.Medium,
      percentSetting: 50,
      percentCurrent: 50,
      speedMax: 6,
      speedSetting: 3,
      fanModeSequence: 0,
    });
  });

  it("snaps a percentSetting write to the fan's steps and sets fanMode per the spec", async () => {
    const fan = client.withCluster(client.bridged("fansync:fan1"), "fanControl");
    const current = client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 35);
    await client.write(fan, "fanControl", { percentSetting: 40 });
    await current;
    assert.deepEqual(lastCommand(), { id: "fansync:fan1", command: { fan: { on: true, speed: 35 } } });
    const state = await client.read(fan, "fanControl", ["fanMode", "percentSetting", "speedSetting"]);
    assert.deepEqual(state, { fanMode: FanMode.Medium, percentSetting: 35, speedSetting: 2 });

    const high = client.nextReport(fan.number, "fanControl", "fanMode", (v) => v === FanMode.High);
    await client.write(fan, "fanControl", { percentSetting: 95 });
    await high;
    assert.deepEqual(lastCommand()?.command, { fan: { on: true, speed: 100 } });
  });

  it("turns the fan off for fanMode Off and percentSetting follows to 0", async () => {
    const fan = client.withCluster(client.bridged("fansync:fan1"), "fanControl");
    const zero = client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 0);
    await client.write(fan, "fanControl", { fanMode: FanMode.Off });
    await zero;
    assert.deepEqual(lastCommand(), { id: "fansync:fan1", command: { fan: { on: false } } });
    assert.equal((await client.read(fan, "fanControl", ["percentSetting"])).percentSetting, 0);
    assert.equal(registry.get("fansync:fan1")?.state.fan?.on, false);
  });

  it("maps fanMode Low on a continuous fan and refuses Auto", async () => {
    const fan = client.bridged("fansync:fan2");
    const low = client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 33);
    await client.write(fan, "fanControl", { fanMode: FanMode.Low });
    await low;
    assert.deepEqual(lastCommand(), { id: "fansync:fan2", command: { fan: { on: true, speed: 33 } } });
    const count = driver.commands.length;
    // matter.js refuses Auto itself (the Auto feature is off): CONSTRAINT_ERROR.
    await assert.rejects(
      client.write(fan, "fanControl", { fanMode: FanMode.Auto }),
      (e: Error & { code?: number }) => e.code === 0x87,
    );
    assert.equal(driver.commands.length, count);
    assert.equal((await client.read(fan, "fanControl", ["fanMode"])).fanMode, FanMode.Low);
  });

  it("reverses the fan through airflowDirection", async () => {
    const fan = client.withCluster(client.bridged("fansync:fan1"), "fanControl");
    const reversed = client.nextReport(fan.number, "fanControl", "airflowDirection", (v) => v === 1);
    await client.write(fan, "fanControl", { airflowDirection: 1 });
    await reversed;
    assert.deepEqual(lastCommand()?.command, { fan: { direction: "reverse" } });
  });

  it("turns a light on and off and sets its level through commands", async () => {
    const lamp = client.bridged("fansync:lamp");
    // Await each report before flipping back: reports carry the value at send time, so on-off-on reads as no change.
    const lampShows = (on: boolean) => client.nextReport(lamp.number, "onOff", "onOff", (v) => v === on);
    let shown = lampShows(true);
    await client.invoke(lamp, "onOff", "on");
    assert.deepEqual(lastCommand(), { id: "fansync:lamp", command: { light: { on: true } } });
    assert.equal((await client.read(lamp, "onOff", ["onOff"])).onOff, true);
    await shown;

    await client.invoke(lamp, "levelControl", "moveToLevel", {
      level: 127,
      transitionTime: 0,
      optionsMask: {},
      optionsOverride: {},
    });
    assert.deepEqual(lastCommand()?.command, { light: { brightness: levelToBrightness(127) } });
    assert.equal(levelToBrightness(127), 50);
    assert.equal((await client.read(lamp, "levelControl", ["currentLevel"])).currentLevel, 127);

    shown = lampShows(false);
    await client.invoke(lamp, "onOff", "off");
    assert.deepEqual(lastCommand()?.command, { light: { on: false } });
    await shown;

    shown = lampShows(true);
    await client.invoke(lamp, "levelControl", "moveToLevelWithOnOff", {
      level: 200,
      transitionTime: null,
      optionsMask: {},
      optionsOverride: {},
    });
    assert.deepEqual(lastCommand()?.command, { light: { on: true, brightness: levelToBrightness(200) } });
    assert.equal((await client.read(lamp, "onOff", ["onOff"])).onOff, true);
    await shown;
  });

  it("snaps a colour temperature to the nearest preset", async () => {
    const light = client.withCluster(client.bridged("fansync:fan1"), "colorControl");
    // Colour commands are ignored while the light is off (executeIfOff is false): switch it on first.
    await client.invoke(light, "onOff", "on");
    assert.deepEqual(lastCommand(), { id: "fansync:fan1", command: { light: { on: true } } });
    await client.invoke(light, "colorControl", "moveToColorTemperature", {
      colorTemperatureMireds: 260,
      transitionTime: 0,
      optionsMask: {},
      optionsOverride: {},
    });
    // 260 mireds ~ 3846 K: nearest preset 4000 K (250 mireds)
    assert.deepEqual(lastCommand(), { id: "fansync:fan1", command: { light: { colorTemperatureK: 4000 } } });
    assert.equal((await client.read(light, "colorControl", ["colorTemperatureMireds"])).colorTemperatureMireds, 250);
  });

  it("reports a failure to the controller when the vendor refuses, and changes nothing", async () => {
    const lamp = client.bridged("fansync:lamp");
    const count = driver.commands.length;
    driver.refuse = true;
    try {
      await assert.rejects(client.invoke(lamp, "onOff", "off"));
    } finally {
      driver.refuse = false;
    }
    assert.equal(driver.commands.length, count);
    assert.equal((await client.read(lamp, "onOff", ["onOff"])).onOff, true);
  });

  it("reports a device's own state change to the subscription without echoing it to the driver", async () => {
    const lamp = client.bridged("fansync:lamp");
    const count = driver.commands.length;
    const level = client.nextReport(lamp.number, "levelControl", "currentLevel", (v) => v === brightnessToLevel(20));
    const off = client.nextReport(lamp.number, "onOff", "onOff", (v) => v === false);
    sink.stateChanged("fansync:lamp", { light: { on: false, brightness: 20 } });
    await Promise.all([level, off]);
    const fan = client.withCluster(client.bridged("fansync:fan1"), "fanControl");
    const speed = client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 80);
    const behindBefore = writeBehindCount();
    sink.stateChanged("fansync:fan1", { fan: { on: true, speed: 80 } });
    const report = await speed;
    assert.equal(report.value, 80);
    assert.equal(client.cached(fan, "fanControl").fanMode, FanMode.High);
    assert.equal(driver.commands.length, count, "a vendor report must not become a command");
    // The stored speed and mode were written behind, not in the way of the report (src/matter/file-storage.ts).
    assert.ok(writeBehindCount() >= behindBefore + 2, `written behind: ${writeBehindCount() - behindBefore}`);
  });

  it("follows availability with reachable", async () => {
    const ep = client.bridged("fansync:fan2");
    const down = client.nextReport(ep.number, "bridgedDeviceBasicInformation", "reachable", (v) => v === false);
    sink.availabilityChanged("fansync:fan2", false);
    await down;
    const up = client.nextReport(ep.number, "bridgedDeviceBasicInformation", "reachable", (v) => v === true);
    sink.availabilityChanged("fansync:fan2", true);
    await up;
  });

  it("adds a device found while running to the aggregator", async () => {
    const [info, state] = [
      device("fansync:late", "light", "Late Lamp", { light: { dimmable: false } }),
      { light: { on: true, brightness: 100 } },
    ];
    const structure = new Promise<void>((resolve) => client.node.events.structureChanged.once(() => resolve()));
    sink.deviceFound(info, state);
    await structure;
    const ep = client.bridged("fansync:late");
    assert.equal(client.cached(ep, "onOff").onOff, true);
    assert.equal(ep.maybeStateOf("levelControl"), undefined);
  });

  it("keeps the fabric and endpoint numbers across a bridge restart", async () => {
    const numbers = Object.fromEntries(
      ["fansync:fan1", "fansync:fan2", "fansync:lamp", "fansync:late"].map((id) => [id, host.endpointNumber(id)]),
    );
    await host.stop();
    sink.stateChanged("fansync:fan2", { fan: { on: true, speed: 66 } }); // while the bridge is down
    host = newHost();
    await host.start();
    assert.equal(host.commissioned, true);
    assert.deepEqual(Object.fromEntries(Object.keys(numbers).map((id) => [id, host.endpointNumber(id)])), numbers);
    await client.reconnect();
    for (const [id, number] of Object.entries(numbers)) assert.equal(client.bridged(id).number, number);
    const fan2 = client.bridged("fansync:fan2");
    // The live state wins over the stored one.
    assert.deepEqual(await client.read(fan2, "fanControl", ["percentSetting", "fanMode"]), {
      percentSetting: 66,
      fanMode: FanMode.Medium,
    });
    await client.invoke(client.bridged("fansync:lamp"), "onOff", "on");
    assert.deepEqual(lastCommand(), { id: "fansync:lamp", command: { light: { on: true } } });
  });
});
