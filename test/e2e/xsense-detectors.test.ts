// End to end: every X-Sense detector the app shows beyond the smoke, CO and heat alarms, through the real
// bridge (its CLI) against the simulator's household (sim/xsense/households.ts), paired with hap-controller
// and commissioned with matter.js's controller: thermo-hygrometers as Temperature + Humidity sensors, water
// leak sensors as LeakSensor / Water Leak Detector (BooleanState) pushed as alarms are, alarm listeners as
// the alarm they hear, the CO peak, and the opt-in Hush / Self-Test switches (with the exact shadow writes the
// simulator received, and Matter's deviceMuted). Runs inside test/netns.sh.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { deviceId } from "../../src/core/model.ts";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { XSenseSimulator, type SelfTestRequest } from "../../sim/xsense/index.ts";
import { everyDetectorHouses, HOUSEHOLD as H } from "../../sim/xsense/households.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient, type HapCharacteristic } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const DISCRIMINATOR = 3841;
// Cluster ids as the test client names clusters it has no name for.
const BOOLEAN_STATE = "0x45";
const TEMPERATURE = "0x402";
const HUMIDITY = "0x405";
const SMOKE_CO_ALARM = "0x5c";
const CO_CONCENTRATION = "0x40c";
const BOOLEAN_STATE_ID = 0x45;
const CRITICAL = 2;
const MUTED = 1;
const NOT_MUTED = 0;

describe("X-Sense sensors, leak detectors and listeners in Apple Home and Matter", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-xdet-"));
  const dataDir = join(dir, "data");
  const sim = new XSenseSimulator({ reportDelayMs: 50, houses: everyDetectorHouses() });
  let bridge: BridgeProcess;
  let hap: HapClient;
  let matter: MatterTestClient;
  const allLines: LogLine[] = [];
  const hapEvents: { id: string; value: unknown }[] = [];
  const hapWaiters = new Set<() => void>();
  const matterEvents: { endpointId: number; clusterId: number; name: string; data: unknown }[] = [];
  const matterWaiters = new Set<() => void>();

  /** A HAP event for `c` with `value` seen after index `from` of hapEvents. */
  function hapEvent(c: HapCharacteristic, value: unknown, from: number, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        // HAP sends booleans as 1/0.
        const same = (v: unknown) => v === value || (typeof value === "boolean" && v === Number(value));
        if (!hapEvents.slice(from).some((e) => e.id === c.id && same(e.value))) return;
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

  /** A Matter event `name` of `clusterId` on `endpointId` seen after index `from` of matterEvents. */
  function matterEvent(endpointId: number, clusterId: number, name: string, from: number, timeoutMs = 5000) {
    const find = () =>
      matterEvents.slice(from).find((e) => e.endpointId === endpointId && e.clusterId === clusterId && e.name === name);
    return new Promise<{ data: unknown }>((resolve, reject) => {
      const check = () => {
        const found = find();
        if (!found) return;
        clearTimeout(timer);
        matterWaiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        matterWaiters.delete(check);
        reject(new Error(`no Matter event ${name} on endpoint ${endpointId}`));
      }, timeoutMs);
      matterWaiters.add(check);
      check();
    });
  }

  const id = (sn: string) => deviceId("xsense", sim.vendorId(sn));
  const bridged = (sn: string) => matter.bridged(uniqueIdFor(id(sn)));
  const hapChar = (sn: string, service: string, characteristic: string) =>
    hap.find({ service, characteristic, accessory: { serial: sn } });

  before(async () => {
    const urls = await sim.start();
    const configFile = join(dir, "config.yaml");
    const { matterPort } = await writeE2EConfig(configFile, {
      name: "E2E X-Sense Detectors",
      discriminator: DISCRIMINATOR,
      accounts: [
        {
          vendor: "xsense",
          name: "home",
          email: sim.email,
          password: "${E2E_XSENSE_PASSWORD}",
          endpoints: { api: urls.api, cognito: urls.cognito, iotData: urls.iotData, mqtt: urls.mqtt },
          hushSwitch: true,
          selfTestSwitch: [H.smoke],
        },
      ],
      logLevel: "debug",
    });
    process.env.E2E_XSENSE_PASSWORD = sim.password;
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    bridge.on("line", (line) => allLines.push(line));
    const ready = await bridge.ready(60_000);
    assert.equal(ready.devices, 12, "every device of the household (no base station)");
    hap = await HapClient.pair(ready.homekitPort as number, E2E_PIN);
    hap.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
      for (const c of event.characteristics ?? []) hapEvents.push({ id: `${c.aid}.${c.iid}`, value: c.value });
      for (const wake of [...hapWaiters]) wake();
    });
    await hap.subscribe();
    matter = await MatterTestClient.commission({
      port: matterPort,
      passcode: E2E_PASSCODE,
      discriminator: DISCRIMINATOR,
    });
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

  it("shows each model with the services and device types it has", async () => {
    const accessories = await hap.accessories(true);
    const types = (sn: string) => accessories.find((a) => a.serialNumber === sn)?.services.map((s) => s.type) ?? [];
    const has = (sn: string, ...services: { UUID: string }[]) =>
      assert.deepEqual(
        services.map((s) => types(sn).includes(s.UUID)),
        services.map(() => true),
        sn,
      );
    for (const sn of [H.climate, H.climate0A, H.climate0B, H.wifiClimate])
      has(sn, Service.TemperatureSensor, Service.HumiditySensor, Service.Battery);
    for (const sn of [H.leak, H.leak0A, H.wifiLeak]) has(sn, Service.LeakSensor, Service.Battery);
    assert.ok(!types(H.leak).includes(Service.SmokeSensor.UUID), "a water sensor is never a smoke sensor");
    for (const sn of [H.listener, H.listener100]) has(sn, Service.SmokeSensor, Service.CarbonMonoxideSensor);
    await hapChar(H.co, Service.CarbonMonoxideSensor.UUID, Characteristic.CarbonMonoxidePeakLevel.UUID);
    const temperature = await hapChar(
      H.climate,
      Service.TemperatureSensor.UUID,
      Characteristic.CurrentTemperature.UUID,
    );
    assert.equal((await hap.read(temperature))[0], 21.5);

    // Matter: a Water Leak Detector with BooleanState (and its battery) on one endpoint; a thermo-hygrometer is a
    // composed device: Temperature Sensor, Humidity Sensor and a Power Source.
    const leak = matter.withCluster(bridged(H.leak), "booleanState");
    assert.equal((await matter.read(leak, "booleanState", ["stateValue"])).stateValue, false);
    assert.equal(leak, matter.withCluster(bridged(H.leak), "powerSource"), "the battery is on the leak endpoint");
    const climate = bridged(H.wifiClimate);
    const t = matter.withCluster(climate, "temperatureMeasurement");
    assert.equal((await matter.read(t, "temperatureMeasurement", ["measuredValue"])).measuredValue, 2150);
    const rh = matter.withCluster(climate, "relativeHumidityMeasurement");
    assert.equal((await matter.read(rh, "relativeHumidityMeasurement", ["measuredValue"])).measuredValue, 4500);
    const power = matter.withCluster(climate, "powerSource");
    assert.equal((await matter.read(power, "powerSource", ["batPercentRemaining"])).batPercentRemaining, 200);
    const listener = matter.withCluster(bridged(H.listener), "smokeCoAlarm");
    const features = matter.cached(listener, "smokeCoAlarm").featureMap as Record<string, boolean>;
    assert.deepEqual({ smoke: features.smokeAlarm, co: features.coAlarm }, { smoke: true, co: true });
  });

  it("a leak reaches HomeKit as an event, Matter as a report and a StateChange event; drying clears both", async () => {
    for (const sn of [H.leak, H.wifiLeak]) {
      const detected = await hapChar(sn, Service.LeakSensor.UUID, Characteristic.LeakDetected.UUID);
      const ep = matter.withCluster(bridged(sn), "booleanState").number!;
      let mark = hapEvents.length;
      const eventMark = matterEvents.length;
      let report = matter.nextReport(ep, BOOLEAN_STATE, "stateValue", (v) => v === true);
      sim.raiseLeak(sn);
      await hapEvent(detected, Characteristic.LeakDetected.LEAK_DETECTED, mark);
      await report;
      const change = await matterEvent(ep, BOOLEAN_STATE_ID, "stateChange", eventMark);
      assert.deepEqual(change.data, { stateValue: true });
      mark = hapEvents.length;
      report = matter.nextReport(ep, BOOLEAN_STATE, "stateValue", (v) => v === false);
      sim.clearLeak(sn);
      await hapEvent(detected, Characteristic.LeakDetected.LEAK_NOT_DETECTED, mark);
      await report;
    }
  });

  it("temperature and humidity changes reach HomeKit and Matter", async () => {
    const t = await hapChar(H.climate, Service.TemperatureSensor.UUID, Characteristic.CurrentTemperature.UUID);
    const rh = await hapChar(H.climate, Service.HumiditySensor.UUID, Characteristic.CurrentRelativeHumidity.UUID);
    const tEp = matter.withCluster(bridged(H.climate), "temperatureMeasurement").number!;
    const rhEp = matter.withCluster(bridged(H.climate), "relativeHumidityMeasurement").number!;
    const mark = hapEvents.length;
    const tReport = matter.nextReport(tEp, TEMPERATURE, "measuredValue", (v) => v === 2640);
    const rhReport = matter.nextReport(rhEp, HUMIDITY, "measuredValue", (v) => v === 6300);
    sim.setClimate(H.climate, 26.4, 63);
    await hapEvent(t, 26.4, mark);
    await hapEvent(rh, 63, mark);
    await tReport;
    await rhReport;
  });

  it("a listener hearing smoke, then CO, shows that alarm in both", async () => {
    const smoke = await hapChar(H.listener, Service.SmokeSensor.UUID, Characteristic.SmokeDetected.UUID);
    const co = await hapChar(H.listener, Service.CarbonMonoxideSensor.UUID, Characteristic.CarbonMonoxideDetected.UUID);
    const ep = matter.withCluster(bridged(H.listener), "smokeCoAlarm").number!;
    let mark = hapEvents.length;
    let report = matter.nextReport(ep, SMOKE_CO_ALARM, "smokeState", (v) => v === CRITICAL);
    sim.listenerHears(H.listener, "smoke");
    await hapEvent(smoke, Characteristic.SmokeDetected.SMOKE_DETECTED, mark);
    await report;
    mark = hapEvents.length;
    sim.listenerQuiet(H.listener);
    await hapEvent(smoke, Characteristic.SmokeDetected.SMOKE_NOT_DETECTED, mark);
    mark = hapEvents.length;
    report = matter.nextReport(ep, SMOKE_CO_ALARM, "coState", (v) => v === CRITICAL);
    sim.listenerHears(H.listener, "co");
    await hapEvent(co, Characteristic.CarbonMonoxideDetected.CO_LEVELS_ABNORMAL, mark);
    await report;
    assert.equal((await hap.read(smoke))[0], Characteristic.SmokeDetected.SMOKE_NOT_DETECTED, "CO is not smoke");
    mark = hapEvents.length;
    sim.listenerQuiet(H.listener);
    await hapEvent(co, Characteristic.CarbonMonoxideDetected.CO_LEVELS_NORMAL, mark);
  });

  it("the CO peak shows as CarbonMonoxidePeakLevel and peakMeasuredValue", async () => {
    const peak = await hapChar(H.co, Service.CarbonMonoxideSensor.UUID, Characteristic.CarbonMonoxidePeakLevel.UUID);
    const ep = matter.withCluster(bridged(H.co), "carbonMonoxideConcentrationMeasurement").number!;
    const mark = hapEvents.length;
    const report = matter.nextReport(ep, CO_CONCENTRATION, "peakMeasuredValue", (v) => v === 380);
    sim.raiseCo(H.co, 380);
    await hapEvent(peak, 380, mark);
    await report;
    sim.clearCo(H.co);
  });

  it("Hush in Apple Home mutes the sounding detector: the exact write, the switch at rest, deviceMuted", async () => {
    const hush = await hap.find({
      service: Service.Switch.UUID,
      characteristic: Characteristic.On.UUID,
      accessory: { serial: H.smoke },
    });
    const alarm = matter.withCluster(bridged(H.smoke), "smokeCoAlarm");
    const raised = matter.nextReport(alarm.number, SMOKE_CO_ALARM, "smokeState", (v) => v === CRITICAL);
    sim.raiseSmoke(H.smoke);
    await raised;
    const mark = hapEvents.length;
    const written = new Promise<SelfTestRequest>((resolve) => sim.once("mute", resolve));
    const muted = matter.nextReport(alarm.number, SMOKE_CO_ALARM, "deviceMuted", (v) => v === MUTED);
    await hap.write([hush, true]);
    const { thing, shadow, desired } = await written;
    assert.equal(thing, `SBS50${H.station}`);
    assert.equal(shadow, "2nd_appmute");
    assert.deepEqual(
      { ...desired, time: "T" },
      {
        deviceSN: H.smoke,
        shadow: "app2ndMute",
        stationSN: H.station,
        time: "T",
        userId: sim.sub,
        muteType: "0",
        userParam: "source=1",
      },
    );
    assert.match(String(desired.time), /^\d{14}$/);
    await muted;
    await hapEvent(hush, false, mark);
    assert.equal(Number((await hap.read(hush))[0]), 0, "momentary: the switch is at rest again");
    // deviceMuted stays true while hushed, and falls back when the alarm is over.
    assert.equal((await matter.read(alarm, "smokeCoAlarm", ["deviceMuted"])).deviceMuted, MUTED);
    const unmuted = matter.nextReport(alarm.number, SMOKE_CO_ALARM, "deviceMuted", (v) => v === NOT_MUTED);
    sim.clearSmoke(H.smoke);
    await unmuted;
  });

  it("the same momentary Hush control in Matter: an On/Off endpoint that stays off", async () => {
    const control = matter.withCluster(bridged(H.co), "onOff");
    const written = new Promise<SelfTestRequest>((resolve) => sim.once("mute", resolve));
    await matter.invoke(control, "onOff", "on");
    const { desired } = await written;
    assert.equal(desired.deviceSN, H.co);
    assert.equal(desired.shadow, "app2ndMute");
    assert.equal((await matter.read(control, "onOff", ["onOff"])).onOff, false);
  });

  it("Self-Test in Apple Home runs the test with its exact write; only where asked and possible", async () => {
    const test = await hap.find({
      service: Service.Switch.UUID,
      characteristic: Characteristic.On.UUID,
      accessory: { serial: H.smoke },
      index: 1,
    });
    const requested = new Promise<SelfTestRequest>((resolve) => sim.once("selfTest", resolve));
    const mark = hapEvents.length;
    await hap.write([test, true]);
    const { thing, shadow, desired } = await requested;
    assert.equal(thing, `SBS50${H.station}`);
    assert.equal(shadow, `2nd_selftest_${H.smoke}`);
    assert.deepEqual(
      { ...desired, time: "T" },
      {
        deviceSN: H.smoke,
        shadow: "app2ndSelfTest",
        stationSN: H.station,
        time: "T",
        userId: sim.sub,
        userParam: "source=1",
      },
    );
    assert.match(String(desired.time), /^\d{13}$/, "epoch milliseconds on 2nd_selftest_");
    await hapEvent(test, false, mark);
    const accessories = await hap.accessories(true);
    const switches = (sn: string) =>
      accessories.find((a) => a.serialNumber === sn)?.services.filter((s) => s.type === Service.Switch.UUID).length;
    assert.equal(switches(H.smoke), 2, "Hush and Self-Test");
    assert.equal(switches(H.co), 1, "Hush only: no self-test switch asked for");
    assert.equal(switches(H.leak), 0, "nothing to hush on a water sensor");
  });
});
