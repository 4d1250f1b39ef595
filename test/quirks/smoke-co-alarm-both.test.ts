// Quirk: a smoke + CO detector shown by a controller as a smoke alarm only, or a smoke detector
// exported as a plain contact sensor, so the alarm never reads as one.
//   https://github.com/home-assistant/core/issues/159117 (Smoke CO Alarm with featureMap 3: smoke only)
//   https://github.com/home-assistant/core/pull/162627 (Home Assistant then maps coState when present)
//   https://github.com/t0bst4r/home-assistant-matter-hub/issues/49 (smoke sensors exported as contact sensors)
// Choice (accessories/smoke-co-alarm/matter.ts): one Smoke CO Alarm endpoint (0x0076) per detector
// with BOTH features and both state attributes (smokeState, coState), plus the CO concentration
// measurement when the CO alarm reports ppm; never a Contact Sensor / BooleanState. In HomeKit a
// SmokeSensor and a CarbonMonoxideSensor on the one accessory, never a ContactSensor. Asserted from
// each controller's view (the descriptor it reads), not from our own objects.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Service } from "@homebridge/hap-nodejs";
import { createLogger } from "../../src/core/logger.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { Driver } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { HomeKitHost } from "../../src/homekit/index.ts";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { E2E_PIN } from "../helpers/e2e-config.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: quirk tests commission over mDNS");

const SMOKE_CO_ALARM = 0x0076;
const CONTACT_SENSOR = 0x0015;
const BOOLEAN_STATE_CLUSTER = "booleanState";

const driver: Driver = {
  vendor: "test",
  accountName: "alarms",
  start: async () => {},
  command: async () => {},
  stop: async () => {},
};

const combo: DeviceInfo = {
  id: "test:combo-1",
  vendor: "test",
  account: "alarms",
  kind: "combo-alarm",
  name: "Hall Detector",
  manufacturer: "Test",
  model: "Combo",
  serialNumber: "combo-1",
  capabilities: { smokeAlarm: { selfTest: true }, coAlarm: { ppm: true }, battery: { level: true } },
};

describe("a smoke + CO detector shows both alarms in Matter and HomeKit", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-smoke-co-"));
  const log = createLogger("error");
  const registry = new DeviceRegistry(log);
  let matterHost: MatterHost;
  let homekit: HomeKitHost;
  let matter: MatterTestClient;
  let hap: HapClient;

  before(async () => {
    registry.sinkFor(driver).deviceFound(combo, {
      smokeAlarm: { detected: false },
      coAlarm: { detected: false, ppm: 0 },
      battery: { level: 90, low: false },
    });
    matterHost = new MatterHost({
      registry,
      log,
      dataDir: dir,
      name: "Alarm Quirk",
      port: 5627,
      passcode: 20202021,
      discriminator: 3857,
    });
    await matterHost.start();
    homekit = new HomeKitHost({
      registry,
      log,
      dataDir: dir,
      name: "Alarm Quirk",
      port: 0,
      pincode: E2E_PIN,
      advertiser: "none",
    });
    await homekit.start();
    matter = await MatterTestClient.commission({ port: 5627, passcode: 20202021, discriminator: 3857 });
    hap = await HapClient.pair(homekit.port, E2E_PIN);
  });
  after(async () => {
    await hap?.close();
    await matter?.close();
    await homekit?.stop();
    await matterHost?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("Matter: one Smoke CO Alarm endpoint with both features and both states, no contact sensor", () => {
    const device = matter.bridged(uniqueIdFor(combo.id));
    const alarm = matter.withCluster(device, "smokeCoAlarm");
    const types = (matter.cached(alarm, "descriptor").deviceTypeList as { deviceType: number }[]).map(
      (t) => t.deviceType,
    );
    assert.ok(types.includes(SMOKE_CO_ALARM), `device types ${types}`);
    assert.ok(!types.includes(CONTACT_SENSOR));
    const cluster = matter.cached(alarm, "smokeCoAlarm");
    const features = cluster.featureMap as Record<string, boolean>;
    assert.equal(features.smokeAlarm, true);
    assert.equal(features.coAlarm, true);
    assert.equal(cluster.smokeState, 0, "smokeState present (Normal)");
    assert.equal(cluster.coState, 0, "coState present (Normal): what Home Assistant maps to a CO sensor");
    assert.ok(alarm.maybeStateOf("carbonMonoxideConcentrationMeasurement") !== undefined, "the ppm reading");
    const all = [device, ...matter.endpoints().filter((ep) => ep !== device)];
    assert.ok(
      all.every((ep) => ep.maybeStateOf(BOOLEAN_STATE_CLUSTER) === undefined),
      "no BooleanState anywhere",
    );
  });

  it("HomeKit: a SmokeSensor and a CarbonMonoxideSensor, no ContactSensor", async () => {
    const accessory = await hap.accessory({ serial: combo.serialNumber });
    const types = accessory.services.map((s) => s.type);
    assert.ok(types.includes(Service.SmokeSensor.UUID));
    assert.ok(types.includes(Service.CarbonMonoxideSensor.UUID));
    assert.ok(!types.includes(Service.ContactSensor.UUID));
  });
});
