// End to end: the bridge started from its CLI against the X-Sense cloud simulator, paired with
// hap-controller (Apple Home) and commissioned with matter.js's controller. The safety path: an alarm
// raised in the simulator reaches HomeKit as an event and Matter as a report (and event), clearing it
// clears both; a self-test asked for from Matter reaches the simulator and its result comes back;
// battery, end of life and heat alarms show in both. Runs inside test/netns.sh.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { deviceId } from "../../src/core/model.ts";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { type SelfTestRequest, XSenseSimulator } from "../../sim/xsense/index.ts";
import { utcStamp } from "../../sim/xsense/model.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient, type HapCharacteristic } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const PIN = E2E_PIN;
const PASSCODE = E2E_PASSCODE;
const DISCRIMINATOR = 3840;
// Cluster ids as the test client names clusters it has no name for.
const SMOKE_CO_ALARM = "0x5c";
const POWER_SOURCE = "0x2f";
const SMOKE_CO_ALARM_ID = 0x5c;
// SmokeCoAlarm enums (Matter 1.3 §2.11.5): AlarmState, ExpressedState, EndOfService.
const NORMAL = 0;
const WARNING = 1;
const CRITICAL = 2;
const EXPRESSED_SMOKE = 1;
const EXPRESSED_CO = 2;
const EXPIRED = 1;

const SMOKE = "00000001"; // XS01-M: smoke, remote self-test
const CO = "00000002"; // XC01-M: CO with ppm
const COMBO = "00000003"; // SC07-MR: smoke + CO
const HEAT = "00000004"; // XH02-M: heat

interface SeenEvent {
  endpointId: number;
  clusterId: number;
  name: string;
  data: unknown;
}

describe("X-Sense detectors in Apple Home and Matter at once", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-xsense-"));
  const dataDir = join(dir, "data");
  const sim = new XSenseSimulator({
    houses: [
      {
        name: "Home",
        region: "eu-central-1",
        stations: [
          {
            sn: "13B96457",
            category: "SBS50",
            name: "Hall base",
            devices: [
              { sn: SMOKE, type: "XS01-M", name: "Kitchen smoke" },
              { sn: CO, type: "XC01-M", name: "Boiler CO" },
              { sn: COMBO, type: "SC07-MR", name: "Bedroom combo" },
              { sn: HEAT, type: "XH02-M", name: "Garage heat" },
            ],
          },
        ],
      },
    ],
  });
  let bridge: BridgeProcess;
  let hap: HapClient;
  let matter: MatterTestClient;
  const allLines: LogLine[] = [];
  /** Every HAP event, in arrival order. */
  const hapEvents: { id: string; value: unknown }[] = [];
  const hapWaiters = new Set<() => void>();
  /** Every Matter event, in arrival order. */
  const matterEvents: SeenEvent[] = [];
  const matterWaiters = new Set<() => void>();

  /** A HAP event for `c` with `value` seen after index `from` of hapEvents. */
  function hapEvent(c: HapCharacteristic, value: unknown, from = hapEvents.length, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!hapEvents.slice(from).some((e) => e.id === c.id && e.value === value)) return;
        clearTimeout(timer);
        hapWaiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        hapWaiters.delete(check);
        reject(new Error(`no HAP event ${c.id} = ${String(value)}; saw ${JSON.stringify(hapEvents.slice(from))}`));
      }, timeoutMs);
      hapWaiters.add(check);
      check();
    });
  }

  /** A Matter event of the Smoke CO Alarm cluster on `endpointId` seen after index `from`. */
  function matterEvent(
    endpointId: number,
    name: string,
    from = matterEvents.length,
    timeoutMs = 5000,
  ): Promise<SeenEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = matterEvents
          .slice(from)
          .find((e) => e.endpointId === endpointId && e.clusterId === SMOKE_CO_ALARM_ID && e.name === name);
        if (!found) return;
        clearTimeout(timer);
        matterWaiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        matterWaiters.delete(check);
        reject(
          new Error(
            `no Matter event ${name} on endpoint ${endpointId}; saw ` +
              `${JSON.stringify(matterEvents.slice(from).map((e) => `${e.endpointId}/${e.name}`))}`,
          ),
        );
      }, timeoutMs);
      matterWaiters.add(check);
      check();
    });
  }

  const id = (sn: string) => deviceId("xsense", sim.vendorId(sn));
  const alarmEndpoint = (sn: string) => matter.withCluster(matter.bridged(uniqueIdFor(id(sn))), "smokeCoAlarm");
  const hapChar = (sn: string, service: string, characteristic: string, index = 0) =>
    hap.find({ service, characteristic, accessory: { serial: sn }, index });

  before(async () => {
    const urls = await sim.start();
    const configFile = join(dir, "config.yaml");
    const { matterPort } = await writeE2EConfig(configFile, {
      name: "E2E X-Sense Bridge",
      accounts: [
        {
          vendor: "xsense",
          name: "home",
          email: sim.email,
          password: "${E2E_XSENSE_PASSWORD}",
          endpoints: { api: urls.api, cognito: urls.cognito, iotData: urls.iotData, mqtt: urls.mqtt },
        },
      ],
      logLevel: "debug",
    });
    process.env.E2E_XSENSE_PASSWORD = sim.password;
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    bridge.on("line", (line) => allLines.push(line));
    const ready = await bridge.ready(60_000);
    assert.equal(
      ready.devices,
      4,
      "the four detectors (and no base station) were listed before the bridges were published",
    );
    hap = await HapClient.pair(ready.homekitPort as number, PIN);
    // Our own event log (the helper's waiters consume events; this test waits for several at once).
    hap.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
      for (const c of event.characteristics ?? []) hapEvents.push({ id: `${c.aid}.${c.iid}`, value: c.value });
      for (const wake of [...hapWaiters]) wake();
    });
    await hap.subscribe();
    matter = await MatterTestClient.commission({ port: matterPort, passcode: PASSCODE, discriminator: DISCRIMINATOR });
    matter.node.events.eventTriggered.on(({ path, events }) => {
      for (const e of events)
        matterEvents.push({
          endpointId: path.endpointId,
          clusterId: path.clusterId,
          name: path.eventName,
          data: e.data,
        });
      for (const wake of [...matterWaiters]) wake();
    });
  });

  after(async () => {
    const problems = allLines.filter((l) => l.level >= 40).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge warnings/errors:\n${problems.join("\n")}\n`);
    if (process.env.E2E_DUMP) writeFileSync(process.env.E2E_DUMP, allLines.map((l) => JSON.stringify(l)).join("\n"));
    await hap?.close();
    await matter?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows each model with the services and clusters it has", async () => {
    const accessories = await hap.accessories(true);
    const types = (sn: string) => accessories.find((a) => a.serialNumber === sn)?.services.map((s) => s.type) ?? [];
    const smoke = Service.SmokeSensor.UUID,
      co = Service.CarbonMonoxideSensor.UUID,
      battery = Service.Battery.UUID;
    assert.deepEqual(
      [smoke, battery].filter((t) => types(SMOKE).includes(t)),
      [smoke, battery],
    );
    assert.ok(!types(SMOKE).includes(co));
    assert.ok(types(CO).includes(co) && !types(CO).includes(smoke));
    assert.ok(types(COMBO).includes(co) && types(COMBO).includes(smoke));
    assert.ok(types(HEAT).includes(smoke), "a heat alarm is a HomeKit smoke sensor");
    await hapChar(CO, co, Characteristic.CarbonMonoxideLevel.UUID);
    assert.equal((await hap.read(await hapChar(SMOKE, smoke, Characteristic.StatusActive.UUID)))[0], 1);

    // Matter: one Smoke CO Alarm endpoint per detector, with the features of the model.
    const features = (sn: string) => {
      const map = matter.cached(alarmEndpoint(sn), "smokeCoAlarm").featureMap as Record<string, boolean>;
      return { smokeAlarm: map.smokeAlarm, coAlarm: map.coAlarm };
    };
    assert.deepEqual(features(SMOKE), { smokeAlarm: true, coAlarm: false });
    assert.deepEqual(features(CO), { smokeAlarm: false, coAlarm: true });
    assert.deepEqual(
      features(COMBO),
      { smokeAlarm: true, coAlarm: true },
      "a combo detector is one endpoint with both features",
    );
    assert.deepEqual(features(HEAT), { smokeAlarm: true, coAlarm: false }, "a heat alarm is expressed as smokeState");
    const coEp = alarmEndpoint(CO);
    assert.equal(
      (await matter.read(coEp, "carbonMonoxideConcentrationMeasurement", ["measuredValue"])).measuredValue,
      0,
    );
    assert.equal(
      (await matter.read(alarmEndpoint(SMOKE), "powerSource", ["batPercentRemaining"])).batPercentRemaining,
      200,
    );
  });

  it("a smoke alarm reaches HomeKit as an event and Matter as a report and event; clearing clears both", async () => {
    const detected = await hapChar(SMOKE, Service.SmokeSensor.UUID, Characteristic.SmokeDetected.UUID);
    const ep = alarmEndpoint(SMOKE).number!;
    let mark = hapEvents.length;
    let eventMark = matterEvents.length;
    const raised = matter.nextReport(ep, SMOKE_CO_ALARM, "smokeState", (v) => v === CRITICAL);
    const expressed = matter.nextReport(ep, SMOKE_CO_ALARM, "expressedState", (v) => v === EXPRESSED_SMOKE);
    sim.raiseSmoke(SMOKE);
    await hapEvent(detected, Characteristic.SmokeDetected.SMOKE_DETECTED, mark);
    await raised;
    await expressed;
    assert.deepEqual((await matterEvent(ep, "smokeAlarm", eventMark)).data, { alarmSeverityLevel: CRITICAL });

    mark = hapEvents.length;
    eventMark = matterEvents.length;
    const cleared = matter.nextReport(ep, SMOKE_CO_ALARM, "smokeState", (v) => v === NORMAL);
    sim.clearSmoke(SMOKE);
    await hapEvent(detected, Characteristic.SmokeDetected.SMOKE_NOT_DETECTED, mark);
    await cleared;
    await matterEvent(ep, "allClear", eventMark);
    assert.equal((await hap.read(detected))[0], 0);
  });

  it("a CO alarm carries its ppm to both; clearing clears both", async () => {
    const detected = await hapChar(CO, Service.CarbonMonoxideSensor.UUID, Characteristic.CarbonMonoxideDetected.UUID);
    const level = await hapChar(CO, Service.CarbonMonoxideSensor.UUID, Characteristic.CarbonMonoxideLevel.UUID);
    const ep = alarmEndpoint(CO);
    let mark = hapEvents.length;
    const eventMark = matterEvents.length;
    const raised = matter.nextReport(ep.number, SMOKE_CO_ALARM, "coState", (v) => v === CRITICAL);
    const expressed = matter.nextReport(ep.number, SMOKE_CO_ALARM, "expressedState", (v) => v === EXPRESSED_CO);
    sim.raiseCo(CO, 300);
    await hapEvent(detected, Characteristic.CarbonMonoxideDetected.CO_LEVELS_ABNORMAL, mark);
    await hapEvent(level, 300, mark);
    await raised;
    await expressed;
    await matterEvent(ep.number!, "coAlarm", eventMark);
    assert.equal(
      (await matter.read(ep, "carbonMonoxideConcentrationMeasurement", ["measuredValue"])).measuredValue,
      300,
    );

    mark = hapEvents.length;
    const cleared = matter.nextReport(ep.number, SMOKE_CO_ALARM, "coState", (v) => v === NORMAL);
    sim.clearCo(CO);
    await hapEvent(detected, Characteristic.CarbonMonoxideDetected.CO_LEVELS_NORMAL, mark);
    await cleared;
  });

  it("a heat alarm shows as smoke detected in HomeKit and smokeState in Matter", async () => {
    const detected = await hapChar(HEAT, Service.SmokeSensor.UUID, Characteristic.SmokeDetected.UUID);
    const ep = alarmEndpoint(HEAT).number!;
    let mark = hapEvents.length;
    let report = matter.nextReport(ep, SMOKE_CO_ALARM, "smokeState", (v) => v === CRITICAL);
    sim.raiseSmoke(HEAT); // the alarm flag of a heat-only detector is its heat alarm
    await hapEvent(detected, Characteristic.SmokeDetected.SMOKE_DETECTED, mark);
    await report;
    mark = hapEvents.length;
    report = matter.nextReport(ep, SMOKE_CO_ALARM, "smokeState", (v) => v === NORMAL);
    sim.clearSmoke(HEAT);
    await hapEvent(detected, Characteristic.SmokeDetected.SMOKE_NOT_DETECTED, mark);
    await report;
  });

  it("a self-test asked for in Matter reaches the simulator and its result comes back", async () => {
    const ep = alarmEndpoint(SMOKE);
    const eventMark = matterEvents.length;
    // The result is held until Matter showed the test running: within one report window of the start, true then
    // false reaches the controller as no change at all, and neither report comes.
    sim.selfTestOutcome = { result: "no-answer" };
    try {
      const requested = new Promise<SelfTestRequest>((resolve) => sim.once("selfTest", resolve));
      const started = matter.nextReport(ep.number, SMOKE_CO_ALARM, "testInProgress", (v) => v === true);
      await matter.invoke(ep, "smokeCoAlarm", "selfTestRequest");
      const { thing, shadow, desired } = await requested;
      assert.equal(shadow, `2nd_selftest_${SMOKE}`);
      await started;
      const finished = matter.nextReport(ep.number, SMOKE_CO_ALARM, "testInProgress", (v) => v === false);
      // The detector's passed test, as the simulator reports it after its delay (sim/xsense/shadows.ts).
      sim.publishShadow(thing, "2nd_selftestup", {
        stationSN: desired.stationSN,
        deviceSN: desired.deviceSN,
        lastSelfTest: "success",
        time: utcStamp(Date.now()),
      });
      await finished;
    } finally {
      sim.selfTestOutcome = { result: "success" };
    }
    await matterEvent(ep.number!, "selfTestComplete", eventMark);
    assert.equal((await matter.read(ep, "smokeCoAlarm", ["expressedState"])).expressedState, NORMAL);
  });

  it("a low battery shows in HomeKit's Battery service and Matter's batteryAlert and PowerSource", async () => {
    const low = await hapChar(SMOKE, Service.Battery.UUID, Characteristic.StatusLowBattery.UUID);
    const level = await hapChar(SMOKE, Service.Battery.UUID, Characteristic.BatteryLevel.UUID);
    const ep = alarmEndpoint(SMOKE);
    const mark = hapEvents.length;
    const eventMark = matterEvents.length;
    const alert = matter.nextReport(ep.number, SMOKE_CO_ALARM, "batteryAlert", (v) => v === WARNING);
    const charge = matter.nextReport(ep.number, POWER_SOURCE, "batChargeLevel", (v) => v === WARNING);
    sim.setBattery(SMOKE, 1); // batInfo 1 of 3: low
    await hapEvent(low, Characteristic.StatusLowBattery.BATTERY_LEVEL_LOW, mark);
    await hapEvent(level, 33, mark);
    await alert;
    await charge;
    assert.deepEqual((await matterEvent(ep.number!, "lowBattery", eventMark)).data, { alarmSeverityLevel: WARNING });
    assert.equal((await matter.read(ep, "powerSource", ["batPercentRemaining"])).batPercentRemaining, 66);
  });

  it("end of life shows as StatusFault in HomeKit and endOfServiceAlert in Matter", async () => {
    const fault = await hapChar(CO, Service.CarbonMonoxideSensor.UUID, Characteristic.StatusFault.UUID);
    const ep = alarmEndpoint(CO).number!;
    const mark = hapEvents.length;
    const eventMark = matterEvents.length;
    const expired = matter.nextReport(ep, SMOKE_CO_ALARM, "endOfServiceAlert", (v) => v === EXPIRED);
    sim.endOfLife(CO);
    await hapEvent(fault, Characteristic.StatusFault.GENERAL_FAULT, mark);
    await expired;
    await matterEvent(ep, "endOfService", eventMark);
  });
});
