// Issue 17 §3 end to end: the bridge started from its CLI against the FanSync simulator, paired with
// hap-controller and commissioned with matter.js's controller. A light-only module is a light in
// both; a fan's H0E fault shows as StatusFault and as Operational State Error; the config's
// per-device overrides shape what both ecosystems see; an unknown model's learned speed steps
// reach both and survive a restart. Runs inside test/netns.sh (loopback-only namespace, mDNS on lo).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess } from "../helpers/bridge-process.ts";
import { HapClient, type HapAccessory } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const DISCRIMINATOR = 3841;
const DIMMABLE_LIGHT = 0x0101;
const FAN = 0x2b;
/** Operational State (Matter 1.3 §1.14): cluster 0x60, Stopped 0, Running 1, Error 3. */
const OPERATIONAL_STATE = "0x60";
const ERROR = 3;

describe("FanSync completeness in Apple Home and Matter", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-complete-"));
  const dataDir = join(dir, "data");
  const pairingFile = join(dir, "hap-pairing.json");
  const sim = new FanSyncSimulator({
    devices: [
      { profile: "lightOnly", displayName: "Hallway" },
      { profile: "continuous", displayName: "Porch" },
      { profile: "oddSteps", displayName: "Attic" },
    ],
    deviceAckDelayMs: 40,
    pushDelayMs: 15,
  });
  let bridge: BridgeProcess;
  let hap: HapClient;
  let matter: MatterTestClient;
  let hallway: string;
  let porch: string;
  let attic: string;
  let configFile: string;
  let matterPort: number;

  const setsSince = (mark: number, device: string) =>
    sim
      .requests("set", device)
      .slice(mark)
      .map((f) => f.data);

  async function startBridge(): Promise<number> {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    const ready = await bridge.ready(60_000);
    assert.equal(ready.devices, 3);
    return ready.homekitPort as number;
  }

  before(async () => {
    const urls = await sim.start();
    [hallway, porch, attic] = sim.deviceIds as [string, string, string];
    configFile = join(dir, "config.yaml");
    ({ matterPort } = await writeE2EConfig(configFile, {
      name: "E2E Complete",
      discriminator: DISCRIMINATOR,
      accounts: [
        {
          vendor: "fansync",
          name: "home",
          email: sim.email,
          password: "${E2E_FANSYNC_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
          // Porch "reports wrongly": no light kit, not reversible, and it holds three speeds.
          devices: { Porch: { light: false, direction: false, speedSteps: [10, 40, 100] } },
        },
      ],
    }));
    process.env.E2E_FANSYNC_PASSWORD = sim.password;
    hap = await HapClient.pair(await startBridge(), E2E_PIN, { file: pairingFile });
    matter = await MatterTestClient.commission({
      port: matterPort,
      passcode: E2E_PASSCODE,
      discriminator: DISCRIMINATOR,
    });
  });

  after(async () => {
    const problems = bridge?.lines.filter((l) => l.level >= 40).map((l) => `${l.level} ${l.msg}`) ?? [];
    if (problems.length) process.stderr.write(`bridge warnings/errors:\n${problems.join("\n")}\n`);
    await hap?.close();
    await matter?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const accessoryOf = async (serial: string, refresh = true): Promise<HapAccessory> => {
    const found = (await hap.accessories(refresh)).find((a) => a.serialNumber === serial);
    assert.ok(found, `no accessory ${serial}`);
    return found;
  };
  const hasService = (acc: HapAccessory, type: string) => acc.services.some((s) => s.type === type);
  const deviceTypes = (vid: string, cluster: string): number[] => {
    const ep = matter.withCluster(matter.bridged(`fansync:${vid}`), cluster);
    return (matter.cached(ep, "descriptor").deviceTypeList as { deviceType: number }[]).map((t) => t.deviceType);
  };
  /** RotationSpeed's minStep as the controller sees it now (the accessory database read afresh). */
  const speedStep = async (serial: string): Promise<number | undefined> => {
    await hap.accessories(true);
    const query = { service: Service.Fanv2.UUID, characteristic: Characteristic.RotationSpeed.UUID };
    return (await hap.find({ ...query, accessory: { serial } })).minStep;
  };

  it("a light-only module is a dimmable light in both, never a fan, and its writes use H00/H02", async () => {
    const acc = await accessoryOf(hallway);
    assert.ok(hasService(acc, Service.Lightbulb.UUID));
    assert.ok(!hasService(acc, Service.Fanv2.UUID));
    const device = matter.bridged(`fansync:${hallway}`);
    assert.ok(deviceTypes(hallway, "levelControl").includes(DIMMABLE_LIGHT));
    assert.throws(() => matter.withCluster(device, "fanControl"), /no fanControl/);

    const lightEp = matter.withCluster(device, "onOff");
    const on = matter.nextReport(lightEp.number, "onOff", "onOff", (v) => v === true, 30_000);
    const mark = sim.requests("set", hallway).length;
    const bulb = (c: string) =>
      hap.find({ service: Service.Lightbulb.UUID, characteristic: c, accessory: { serial: hallway } });
    await hap.write([await bulb(Characteristic.On.UUID), true], [await bulb(Characteristic.Brightness.UUID), 40]);
    await on;
    const off = matter.nextReport(lightEp.number, "onOff", "onOff", (v) => v === false, 30_000);
    await matter.invoke(lightEp, "onOff", "off");
    await off;
    assert.deepEqual(setsSince(mark, hallway), [{ H00: 1, H02: 40 }, { H00: 0 }]);
  });

  it("config overrides: no light, no direction, the configured steps in both ecosystems", async () => {
    const acc = await accessoryOf(porch);
    assert.ok(!hasService(acc, Service.Lightbulb.UUID), "light: false");
    const fanService = acc.services.find((s) => s.type === Service.Fanv2.UUID)!;
    assert.ok(!fanService.characteristics.some((c) => c.type === Characteristic.RotationDirection.UUID));
    assert.equal(await speedStep(porch), 10, "slider granularity reaches 10/40/100");
    const fanEp = matter.withCluster(matter.bridged(`fansync:${porch}`), "fanControl");
    assert.throws(() => matter.withCluster(matter.bridged(`fansync:${porch}`), "levelControl"));
    const control = matter.cached(fanEp, "fanControl");
    const features = control.featureMap as Record<string, boolean>;
    assert.equal(features.multiSpeed, true);
    assert.equal(features.airflowDirection, false);
    assert.equal(control.speedMax, 3);
  });

  it("an H0E fault is StatusFault in HomeKit and Operational State Error in Matter, and clears", async () => {
    const fault = await hap.find({
      service: Service.Fanv2.UUID,
      characteristic: Characteristic.StatusFault.UUID,
      accessory: { serial: porch },
    });
    assert.deepEqual(await hap.read(fault), [0]);
    await hap.subscribe([fault]);
    const fanEp = matter.withCluster(matter.bridged(`fansync:${porch}`), "fanControl");
    const isError = (v: unknown) => v === ERROR;
    const matterError = matter.nextReport(fanEp.number, OPERATIONAL_STATE, "operationalState", isError, 30_000);
    const hapFault = hap.waitForValue(fault, 1, 30_000);
    await sim.remote(porch, { H0E: 262 });
    await hapFault;
    await matterError;
    const { operationalError } = await matter.read(fanEp, "operationalState", ["operationalError"]);
    // UnableToCompleteOperation (2), with the fan's own words as the details.
    assert.deepEqual(operationalError, { errorStateId: 2, errorStateDetails: "Stalled fault (code 262)" });

    const cleared = matter.nextReport(fanEp.number, OPERATIONAL_STATE, "operationalState", (v) => v !== ERROR, 30_000);
    const hapClear = hap.waitForValue(fault, 0, 30_000);
    await sim.remote(porch, { H0E: 0 });
    await hapClear;
    await cleared;
  });

  it("learned steps reach both ecosystems and survive a restart; a fault present at start shows at once", async () => {
    assert.equal(await speedStep(attic), 1, "continuous until the fan shows otherwise");
    const speed = await hap.find({
      service: Service.Fanv2.UUID,
      characteristic: Characteristic.RotationSpeed.UUID,
      accessory: { serial: attic },
    });
    // In Matter the fan is rebuilt with the ladder under the same endpoint number (controllers key on it).
    const atticFan = matter.withCluster(matter.bridged(`fansync:${attic}`), "fanControl").number!;
    assert.equal(matter.clientFeatures(atticFan, "fanControl").multiSpeed, false);
    const matterLadder = matter.serversChanged(
      atticFan,
      () => matter.clientFeatures(atticFan, "fanControl").multiSpeed === true,
      60_000,
    );
    const mark = sim.requests("set", attic).length;
    const learned = bridge.waitForLine((l) => String(l.msg).includes("holds the speeds 45/70/100"), 30_000);
    await hap.write([speed, 60]); // the fan holds 45
    await hap.write([speed, 90]); // the fan holds 70
    assert.deepEqual(setsSince(mark, attic), [{ H02: 60 }, { H02: 90 }]);
    await learned;
    // The accessory is re-rendered with the learned ladder 45/70/100: the slider moves in fives.
    const deadline = Date.now() + 30_000;
    while ((await speedStep(attic)) !== 5) {
      assert.ok(Date.now() < deadline, "the accessory was not re-rendered with the learned steps");
      await new Promise((resolve) => setImmediate(resolve));
    }
    await matterLadder;

    // Porch goes into a fault while the bridge is down: it must start in that state (and start at all).
    await hap.close();
    assert.equal(await bridge.stop(), 0);
    await sim.remote(porch, { H0E: 265 });
    hap = HapClient.load(pairingFile, await startBridge());
    assert.equal(await speedStep(attic), 5, "learned steps come back from the data directory");
    const fault = await hap.find({
      service: Service.Fanv2.UUID,
      characteristic: Characteristic.StatusFault.UUID,
      accessory: { serial: porch },
    });
    assert.deepEqual(await hap.read(fault), [1]);
    await matter.reconnect();
    const porchFan = matter.withCluster(matter.bridged(`fansync:${porch}`), "fanControl");
    assert.deepEqual(await matter.read(porchFan, "operationalState", ["operationalState", "operationalError"]), {
      operationalState: ERROR,
      operationalError: { errorStateId: 2, errorStateDetails: "Over temperature (code 265)" },
    });
    const fanEp = matter.withCluster(matter.bridged(`fansync:${attic}`), "fanControl");
    assert.equal(fanEp.number, atticFan, "the same endpoint number after the rebuild and the restart");
    assert.ok(deviceTypes(attic, "fanControl").includes(FAN));
    const control = await matter.read(fanEp, "fanControl", ["featureMap", "speedMax"]);
    assert.equal((control.featureMap as Record<string, boolean>).multiSpeed, true);
    assert.equal(control.speedMax, 3);
  });
});
