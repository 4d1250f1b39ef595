// End to end: the bridge started from its CLI against the FanSync simulator, paired with
// hap-controller as Apple Home would and commissioned with matter.js's controller as Google Home
// would; both control the fans, both hear the wall remote, and a restart needs no re-pairing.
// Runs inside test/netns.sh (loopback-only namespace, mDNS on lo).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient, type HapCharacteristic } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const PIN = E2E_PIN;
const PASSCODE = E2E_PASSCODE;
const DISCRIMINATOR = 3840;

describe("FanSync fans in Apple Home and Matter at once", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-"));
  const dataDir = join(dir, "data");
  const pairingFile = join(dir, "hap-pairing.json");
  // Small vendor delays keep the test quick; the protocol's ordering (cloud ack, push, device ack) is kept.
  const sim = new FanSyncSimulator({
    devices: [
      { profile: "continuous", displayName: "Living Room" },
      { profile: "kute60", displayName: "Bedroom" },
    ],
    deviceAckDelayMs: 40,
    pushDelayMs: 15,
  });
  let bridge: BridgeProcess;
  let hap: HapClient;
  let matter: MatterTestClient | undefined;
  let living: string;
  let bedroom: string;
  let configFile: string;

  /** The `set` frames the simulator received for a device since `mark`. */
  const setsSince = (mark: number, device: string) =>
    sim
      .requests("set", device)
      .slice(mark)
      .map((f) => f.data);
  const setCount = (device: string) => sim.requests("set", device).length;

  /** Log lines of every bridge process this test started. */
  const allLines: LogLine[] = [];

  async function startBridge(): Promise<{ homekitPort: number }> {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    bridge.on("line", (line) => allLines.push(line));
    const ready = await bridge.ready(60_000);
    assert.equal(ready.devices, 2, "both fans were listed before the bridges were published");
    return { homekitPort: ready.homekitPort as number };
  }

  before(async () => {
    const urls = await sim.start();
    [living, bedroom] = sim.deviceIds as [string, string];
    configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "E2E Bridge",
      accounts: [
        {
          vendor: "fansync",
          name: "home",
          email: sim.email,
          password: "${E2E_FANSYNC_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
      logLevel: "debug",
    });
    process.env.E2E_FANSYNC_PASSWORD = sim.password;
    const { homekitPort } = await startBridge();
    hap = await HapClient.pair(homekitPort, PIN, { file: pairingFile });
  });

  after(async () => {
    // On failure, the bridge's own warnings explain most of it.
    const problems = allLines.filter((l) => l.level >= 40).map((l) => `${l.level} ${l.msg}`) ?? [];
    if (problems.length) process.stderr.write(`bridge warnings/errors:\n${problems.join("\n")}\n`);
    if (process.env.E2E_DUMP) writeFileSync(process.env.E2E_DUMP, allLines.map((l) => JSON.stringify(l)).join("\n"));
    await hap?.close();
    await matter?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const fan = (serial: string, characteristic: string): Promise<HapCharacteristic> =>
    hap.find({ service: Service.Fanv2.UUID, characteristic, accessory: { serial } });
  const bulb = (serial: string, characteristic: string): Promise<HapCharacteristic> =>
    hap.find({ service: Service.Lightbulb.UUID, characteristic, accessory: { serial } });

  it("shows one accessory per fan: a fan with a light, and a stepped fan whose phantom light is hidden", async () => {
    const accessories = await hap.accessories(true);
    const livingAcc = accessories.find((a) => a.serialNumber === living);
    const bedroomAcc = accessories.find((a) => a.serialNumber === bedroom);
    assert.ok(livingAcc && bedroomAcc, `accessories: ${accessories.map((a) => a.serialNumber).join(", ")}`);
    assert.ok(livingAcc.services.some((s) => s.type === Service.Fanv2.UUID));
    assert.ok(livingAcc.services.some((s) => s.type === Service.Lightbulb.UUID));
    assert.ok(
      !bedroomAcc.services.some((s) => s.type === Service.Lightbulb.UUID),
      "hideLightDimmer hides the Kute60's phantom light",
    );
  });

  it("HomeKit writes reach the cloud as exactly the right set frames", async () => {
    const mark = setCount(living);
    await hap.write([await fan(living, Characteristic.Active.UUID), 1]);
    await hap.write([await fan(living, Characteristic.RotationSpeed.UUID), 65]);
    await hap.write([await fan(living, Characteristic.RotationDirection.UUID), 1]);
    await hap.write([await bulb(living, Characteristic.On.UUID), true]);
    await hap.write([await bulb(living, Characteristic.Brightness.UUID), 40]);
    await hap.write([await fan(living, Characteristic.Active.UUID), 0]);
    assert.deepEqual(setsSince(mark, living), [
      { H00: 1, H02: 86 },
      { H02: 65 },
      { H06: 1 },
      { H0B: 1 },
      { H0C: 40 },
      { H00: 0 },
    ]);
    assert.deepEqual(sim.device(living), { ...sim.device(living), H00: 0, H02: 65, H06: 1, H0B: 1, H0C: 40 });
  });

  it("a stepped fan's speed snaps to the level it holds", async () => {
    const mark = setCount(bedroom);
    await hap.write([await fan(bedroom, Characteristic.RotationSpeed.UUID), 42]);
    assert.deepEqual(setsSince(mark, bedroom), [{ H02: 35 }]);
    assert.equal(sim.actual(bedroom).H02, 35);
  });

  it("the wall remote's change arrives as a HAP event", async () => {
    const speed = await fan(living, Characteristic.RotationSpeed.UUID);
    const active = await fan(living, Characteristic.Active.UUID);
    await hap.subscribe([speed, active]);
    const event = hap.waitForValue(speed, 30);
    await sim.remote(living, { H00: 1, H02: 30 });
    assert.equal((await event).value, 30);
  });

  it("commissions into Matter and writes percent, on/off and level", async () => {
    matter = await MatterTestClient.commission({
      port: Number(bridge.lines.find((l) => l.event === "ready")!.matterPort),
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
    const device = matter.bridged(`fansync:${living}`);
    const fanEp = matter.withCluster(device, "fanControl");
    const lightEp = matter.withCluster(device, "levelControl");
    assert.equal(
      (await matter.read(fanEp, "fanControl", ["percentCurrent"])).percentCurrent,
      30,
      "the live state is what Matter reads",
    );

    let mark = setCount(living);
    // A fan attribute write is answered before the command goes out (matter.js runs it after commit).
    const sent = sim.nextFrame((f) => f.request === "set" && f.device === living);
    await matter.write(fanEp, "fanControl", { percentSetting: 50 });
    await sent;
    assert.deepEqual(setsSince(mark, living), [{ H02: 50 }]);

    mark = setCount(living);
    const offReport = matter.nextReport(lightEp.number, "onOff", "onOff", (v) => v === false);
    await matter.invoke(lightEp, "onOff", "off");
    await offReport;
    await matter.invoke(lightEp, "levelControl", "moveToLevelWithOnOff", {
      level: 127,
      transitionTime: null,
      optionsMask: {},
      optionsOverride: {},
    });
    assert.deepEqual(setsSince(mark, living), [{ H0B: 0 }, { H0B: 1, H0C: 50 }]);
  });

  // Issue 17: one user action = one vendor command. The frames are checked up to a "barrier" write
  // made afterwards, so a late second frame of the same action would show before it.
  it("one user action is one set frame: HomeKit fan on at a speed, light on at a brightness", async () => {
    await hap.write([await fan(living, Characteristic.Active.UUID), 0]);
    await hap.write([await bulb(living, Characteristic.On.UUID), false]);
    const mark = setCount(living);
    // One PUT /characteristics, as Apple Home sends "fan on at 65 %" and "light on at 70 %".
    const speed = await fan(living, Characteristic.RotationSpeed.UUID);
    await hap.write([await fan(living, Characteristic.Active.UUID), 1], [speed, 65]);
    const brightness = await bulb(living, Characteristic.Brightness.UUID);
    await hap.write([await bulb(living, Characteristic.On.UUID), true], [brightness, 70]);
    await hap.write([await fan(living, Characteristic.RotationDirection.UUID), 0]);
    assert.deepEqual(setsSince(mark, living), [{ H00: 1, H02: 65 }, { H0B: 1, H0C: 70 }, { H06: 0 }]);
  });

  it("one user action is one set frame: Matter fanMode and percentSetting in one write", async () => {
    assert.ok(matter);
    const fanEp = matter.withCluster(matter.bridged(`fansync:${living}`), "fanControl");
    const off = sim.nextFrame((f) => f.request === "set" && f.device === living);
    await matter.write(fanEp, "fanControl", { fanMode: 0 });
    await off;
    const mark = setCount(living);
    const report = matter.nextReport(fanEp.number, "fanControl", "percentCurrent", (v) => v === 35);
    // FanMode On (the fan's last speed was 65) with the speed the user chose, in one interaction.
    await matter.write(fanEp, "fanControl", { fanMode: 4, percentSetting: 35 });
    await report;
    await hap.write([await fan(living, Characteristic.RotationDirection.UUID), 1]);
    assert.deepEqual(setsSince(mark, living), [{ H00: 1, H02: 35 }, { H06: 1 }]);
    const { fanMode } = await matter.read(fanEp, "fanControl", ["fanMode"]);
    assert.equal(fanMode, 2, "fanMode follows the speed (Medium)");
  });

  it("two controllers at once: both writes apply", async () => {
    assert.ok(matter);
    const fanEp = matter.withCluster(matter.bridged(`fansync:${living}`), "fanControl");
    const mark = setCount(living);
    const speed = matter.nextReport(fanEp.number, "fanControl", "percentCurrent", (v) => v === 50);
    await Promise.all([
      hap.write([await bulb(living, Characteristic.Brightness.UUID), 30]),
      matter.write(fanEp, "fanControl", { percentSetting: 50 }),
    ]);
    await speed;
    const frames = setsSince(mark, living);
    assert.equal(frames.length, 2, JSON.stringify(frames));
    const sorted = frames.map((f) => JSON.stringify(f)).sort();
    assert.deepEqual(sorted, [JSON.stringify({ H02: 50 }), JSON.stringify({ H0C: 30 })]);
    assert.deepEqual(sim.device(living), { ...sim.device(living), H00: 1, H02: 50, H0B: 1, H0C: 30 });
  });

  it("the wall remote's change arrives as a Matter subscription report", async () => {
    assert.ok(matter);
    const fanEp = matter.withCluster(matter.bridged(`fansync:${living}`), "fanControl");
    const report = matter.nextReport(fanEp.number, "fanControl", "percentCurrent", (v) => v === 80);
    await sim.remote(living, { H02: 80 });
    assert.equal((await report).value, 80);
  });

  it("a lost cloud link reads as No Response and reachable false, and comes back by itself", async () => {
    assert.ok(matter);
    const bridgedEp = matter.bridged(`fansync:${living}`);
    const speed = await fan(living, Characteristic.RotationSpeed.UUID);
    const unreachable = matter.nextReport(
      bridgedEp.number,
      "bridgedDeviceBasicInformation",
      "reachable",
      (v) => v === false,
      30_000,
    );
    sim.failLogins(true);
    sim.dropSockets();
    await unreachable;
    assert.equal(await hap.readStatus(speed), -70402, "HomeKit shows No Response (SERVICE_COMMUNICATION_FAILURE)");
    const reachable = matter.nextReport(
      bridgedEp.number,
      "bridgedDeviceBasicInformation",
      "reachable",
      (v) => v === true,
      30_000,
    );
    sim.failLogins(false);
    await reachable;
    assert.equal(await hap.readStatus(speed), 0);
  });

  it("restarting on the same data directory keeps both pairings", async () => {
    assert.ok(matter);
    const aidsBefore = (await hap.accessories(true)).map((a) => [a.serialNumber, a.aid]);
    await hap.close();
    assert.equal(await bridge.stop(), 0, "SIGTERM stops the bridge cleanly");
    const { homekitPort } = await startBridge();

    hap = HapClient.load(pairingFile, homekitPort);
    const aidsAfter = (await hap.accessories(true)).map((a) => [a.serialNumber, a.aid]);
    assert.deepEqual(aidsAfter, aidsBefore, "pair-verify works and no accessory was orphaned");
    const mark = setCount(bedroom);
    await hap.write([await fan(bedroom, Characteristic.RotationSpeed.UUID), 100]);
    assert.deepEqual(setsSince(mark, bedroom), [{ H02: 100 }]);

    await matter.reconnect();
    const fanEp = matter.withCluster(matter.bridged(`fansync:${bedroom}`), "fanControl");
    assert.equal((await matter.read(fanEp, "fanControl", ["percentCurrent"])).percentCurrent, 100);
  });

  it("keeps secrets out of the logs and the data directory private", () => {
    const all = allLines.map((l) => JSON.stringify(l)).join("\n") + bridge.stderr.join("\n");
    assert.ok(!all.includes(sim.password), "the password never reaches a log line");
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, "identity.json")).mode & 0o777, 0o600);
  });
});
