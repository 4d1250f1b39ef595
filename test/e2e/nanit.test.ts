// End to end: the bridge started from its CLI against the Nanit simulator (REST login with a
// password, no MFA; the camera's local socket with a pinned self-signed certificate). In HomeKit the
// camera is an accessory of its own (own port and setup code, from the bridge's camera-pairing log
// line), paired with hap-controller apart from the bridge; in Matter it is a bridged device,
// commissioned with matter.js's controller. Room temperature and humidity, motion
// and sound reach both; night light and standby switched from either controller reach the camera as
// PUT_CONTROL night_light / PUT_SETTINGS sleep_mode; the phone app's night-light change reaches both.
// Runs inside test/netns.sh (loopback-only namespace, mDNS on lo). The config hides the camera's other
// controls and sensors (`cameras.Robin.hide`), which nanit-controls.test.ts covers; so this also shows
// that hidden items stay out of both ecosystems.
//
// Motion and sound come from the driver's /messages poll (every 20 s; the camera's own socket does
// not carry them reliably, see docs/protocols/nanit.md §6). The messages are posted once both controllers
// listen, so the test waits at most one poll interval for them.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { Endpoint as ClientDevice } from "@project-chip/matter.js/device";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient, type HapCharacteristic, type HapEvent } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const PIN = E2E_PIN;
const PASSCODE = E2E_PASSCODE;
const DISCRIMINATOR = 3840;
/** One /messages poll interval of the driver (20 s) plus slack. */
const POLL_WAIT_MS = 26_000;

// Matter device types and clusters looked up by number (the test helper names only a few clusters).
const DEVICE_TYPE = {
  dimmableLight: 0x0101,
  plugInUnit: 0x010a,
  occupancy: 0x0107,
  temperature: 0x0302,
  humidity: 0x0307,
};
const CLUSTER = { temperature: 0x0402, humidity: 0x0405, occupancy: 0x0406, onOff: 0x0006 };

const isOn = (v: unknown) => v === true || v === 1;
const isOff = (v: unknown) => v === false || v === 0;

/** Every HAP event a client receives, kept (not consumed), with waiters that may run side by side. */
function hapEvents(client: HapClient) {
  const seen: HapEvent[] = [];
  const waiters = new Set<() => void>();
  client.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
    for (const c of event.characteristics ?? [])
      seen.push({ aid: c.aid, iid: c.iid, id: `${c.aid}.${c.iid}`, value: c.value });
    for (const wake of [...waiters]) wake();
  });
  return (
    characteristic: HapCharacteristic,
    predicate: (value: unknown) => boolean,
    timeoutMs = 5000,
  ): Promise<HapEvent> => {
    const from = seen.length;
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = seen.slice(from).find((e) => e.id === characteristic.id && predicate(e.value));
        if (!hit) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `no HAP event on ${characteristic.id} within ${timeoutMs} ms; got ${JSON.stringify(seen.slice(from))}`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
    });
  };
}

/** The next Matter report of (endpoint, cluster id, attribute) whose value matches. Register before causing it. */
function matterReport(
  client: MatterTestClient,
  endpoint: ClientDevice,
  clusterId: number,
  attribute: string,
  predicate: (value: unknown) => boolean,
  timeoutMs = 10_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const listener = ({
      path,
      value,
    }: {
      path: { endpointId: number; clusterId: number; attributeName: string };
      value: unknown;
    }) => {
      if (
        path.endpointId !== endpoint.number ||
        path.clusterId !== clusterId ||
        path.attributeName !== attribute ||
        !predicate(value)
      )
        return;
      clearTimeout(timer);
      client.node.events.attributeChanged.off(listener);
      resolve(value);
    };
    const timer = setTimeout(() => {
      client.node.events.attributeChanged.off(listener);
      reject(
        new Error(
          `no report of cluster 0x${clusterId.toString(16)}.${attribute} on endpoint ${endpoint.number} ` +
            `within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    client.node.events.attributeChanged.on(listener);
  });
}

describe("a Nanit camera's sensors and switches in Apple Home and Matter", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-nanit-"));
  const dataDir = join(dir, "data");
  const pairingFile = join(dir, "hap-pairing.json");
  // No MFA: the bridge logs in with the configured password (the MFA path is the login CLI's, tested
  // with the driver). Random sensor pushes far apart, so only the test's changes are seen.
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000] });
  const cameraUid = sim.babies[0]!.cameraUid;
  const deviceId = `nanit:${cameraUid}`;
  let bridge: BridgeProcess;
  /** Paired with the bridge itself (which no longer carries the camera). */
  let hapBridge: HapClient;
  /** Paired with the camera accessory. */
  let hap: HapClient;
  /** A second paired connection to the camera (the "other iPhone"), listening to motion and sound only. */
  let hapWatcher: HapClient;
  let waitHap: ReturnType<typeof hapEvents>;
  let waitWatcher: ReturnType<typeof hapEvents>;
  let matter: MatterTestClient | undefined;
  const allLines: LogLine[] = [];

  /** Requests of a type the camera received since `mark`. */
  const since = (type: string, mark: number) =>
    sim
      .requests(type)
      .slice(mark)
      .map((r) => r.request);

  before(async () => {
    const urls = await sim.start();
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "E2E Nursery",
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${E2E_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
          cameras: {
            Robin: { hide: ["volume", "soundMachine", "nightVision", "statusLight", "micMute", "lightLevel", "night"] },
          },
        },
      ],
      logLevel: "debug",
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir], { E2E_NANIT_PASSWORD: sim.password });
    bridge.on("line", (line) => allLines.push(line));
    const ready = await bridge.ready(60_000);
    assert.equal(ready.devices, 1, "the camera was listed before the bridges were published");
    // Reachable once its control socket is up and synced (sensors, night light, standby read).
    await bridge.waitForLine((l) => /Robin Nanit is reachable again/.test(l.msg), 20_000);
    hapBridge = await HapClient.pair(ready.homekitPort as number, PIN);
    // The camera listens on a port of its own with a setup code of its own, both in this log line.
    const camera = await bridge.waitForLine((l) => l.event === "camera-pairing" && l.deviceId === deviceId, 20_000);
    assert.equal(camera.paired, false);
    assert.notEqual(camera.port, ready.homekitPort);
    assert.notEqual(camera.setupCode, PIN);
    hap = await HapClient.pair(camera.port as number, camera.setupCode as string, { file: pairingFile });
    hapWatcher = HapClient.load(pairingFile, camera.port as number);
    waitHap = hapEvents(hap);
    waitWatcher = hapEvents(hapWatcher);
  });

  after(async () => {
    const problems = allLines.filter((l) => l.level >= 40).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge warnings/errors:\n${problems.join("\n")}\n`);
    if (process.env.E2E_DUMP) writeFileSync(process.env.E2E_DUMP, allLines.map((l) => JSON.stringify(l)).join("\n"));
    await hapBridge?.close();
    await hap?.close();
    await hapWatcher?.close();
    await matter?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const char = (
    service: { UUID: string },
    characteristic: { UUID: string },
    client = hap,
  ): Promise<HapCharacteristic> =>
    client.find({ service: service.UUID, characteristic: characteristic.UUID, accessory: { serial: cameraUid } });

  // Its services: temperature, humidity, motion, sound (occupancy), a night-light bulb and a standby switch.
  it("is one HomeKit camera accessory of its own (not on the bridge) with its sensors, light and switch", async () => {
    assert.ok(
      !(await hapBridge.accessories(true)).some((a) => a.serialNumber === cameraUid),
      "the camera is not on the bridge",
    );
    const accessories = await hap.accessories(true);
    assert.equal(accessories.length, 1, "the camera's server carries the camera only");
    const accessory = accessories.find((a) => a.serialNumber === cameraUid);
    assert.ok(accessory, "the camera accessory");
    const types = accessory.services.map((s) => s.type);
    assert.ok(types.includes(Service.CameraRTPStreamManagement.UUID), "with its live view");
    for (const service of [
      Service.TemperatureSensor,
      Service.HumiditySensor,
      Service.MotionSensor,
      Service.OccupancySensor,
      Service.Lightbulb,
      Service.Switch,
    ]) {
      assert.equal(types.filter((t) => t === service.UUID).length, 1, `exactly one ${service.name ?? service.UUID}`);
    }
    const bulb = accessory.services.find((s) => s.type === Service.Lightbulb.UUID)!;
    assert.deepEqual(
      bulb.characteristics
        .map((c) => c.type)
        .filter((t) => t !== Characteristic.Name.UUID && t !== Characteristic.ConfiguredName.UUID),
      [Characteristic.On.UUID, Characteristic.Brightness.UUID],
      "the night light is a lightbulb with On and Brightness",
    );
    const [temperature, humidity, motion, sound] = await hap.read(
      await char(Service.TemperatureSensor, Characteristic.CurrentTemperature),
      await char(Service.HumiditySensor, Characteristic.CurrentRelativeHumidity),
      await char(Service.MotionSensor, Characteristic.MotionDetected),
      await char(Service.OccupancySensor, Characteristic.OccupancyDetected),
    );
    assert.equal(temperature, 21.5, "the camera's 21500 milli-degrees");
    assert.equal(humidity, 45, "44.616 % in HomeKit's 1 % steps");
    assert.ok(isOff(motion) && isOff(sound), `no motion or sound yet (${String(motion)}, ${String(sound)})`);
  });

  it("temperature and humidity changes arrive as HAP events", async () => {
    const temperature = await char(Service.TemperatureSensor, Characteristic.CurrentTemperature);
    const humidity = await char(Service.HumiditySensor, Characteristic.CurrentRelativeHumidity);
    const bulb = await char(Service.Lightbulb, Characteristic.On);
    const standby = await char(Service.Switch, Characteristic.On);
    await hap.subscribe([temperature, humidity, bulb, standby]);
    await hapWatcher.subscribe([
      await char(Service.MotionSensor, Characteristic.MotionDetected, hapWatcher),
      await char(Service.OccupancySensor, Characteristic.OccupancyDetected, hapWatcher),
    ]);

    const warmer = waitHap(temperature, (v) => Math.abs(Number(v) - 23.4) < 0.01);
    sim.setTemperature(23.4);
    await warmer;
    const damper = waitHap(humidity, (v) => v === 51);
    sim.setHumidity(51.2);
    await damper;
  });

  it("the night light and standby switched from HomeKit reach the camera as PUT_CONTROL / PUT_SETTINGS", async () => {
    const control = sim.requests("PUT_CONTROL").length;
    const settings = sim.requests("PUT_SETTINGS").length;
    await hap.write([await char(Service.Lightbulb, Characteristic.On), true]);
    assert.deepEqual(
      since("PUT_CONTROL", control).map((r) => r.control),
      [{ night_light: "LIGHT_ON" }],
    );
    assert.equal(sim.camera().nightLight, true);
    await hap.write([await char(Service.Switch, Characteristic.On), true]);
    assert.deepEqual(
      since("PUT_SETTINGS", settings).map((r) => r.settings),
      [{ sleep_mode: true }],
    );
    assert.equal(sim.camera().settings.sleep_mode, true);
  });

  let light: ClientDevice;
  let plug: ClientDevice;
  let motionEp: ClientDevice;
  let soundEp: ClientDevice;
  let temperatureEp: ClientDevice;
  let humidityEp: ClientDevice;

  it("commissions into Matter as one bridged device; sensor, light and plug endpoints hold live state", async () => {
    matter = await MatterTestClient.commission({
      port: Number(bridge.lines.find((l) => l.event === "ready")!.matterPort),
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
    const device = matter.bridged(deviceId);
    const children = [...device.parts.values()].sort((a, b) => a.number! - b.number!);
    const ofType = (type: number) =>
      children.filter((ep) =>
        (
          (ep.maybeStateOf("descriptor") as { deviceTypeList?: { deviceType: number }[] } | undefined)
            ?.deviceTypeList ?? []
        ).some((d) => d.deviceType === type),
      );
    [temperatureEp] = ofType(DEVICE_TYPE.temperature) as [ClientDevice];
    [humidityEp] = ofType(DEVICE_TYPE.humidity) as [ClientDevice];
    [light] = ofType(DEVICE_TYPE.dimmableLight) as [ClientDevice];
    [plug] = ofType(DEVICE_TYPE.plugInUnit) as [ClientDevice];
    const occupancy = ofType(DEVICE_TYPE.occupancy);
    assert.equal(occupancy.length, 2, "motion and sound are two occupancy sensors");
    // The kind's order: motion's endpoint comes before sound's.
    [motionEp, soundEp] = occupancy as [ClientDevice, ClientDevice];
    assert.ok(temperatureEp && humidityEp && light && plug, `endpoints: ${children.map((c) => c.number).join(", ")}`);

    assert.equal(
      (await matter.read(temperatureEp, "temperatureMeasurement", ["measuredValue"])).measuredValue,
      2340,
      "0.01 °C",
    );
    assert.equal(
      (await matter.read(humidityEp, "relativeHumidityMeasurement", ["measuredValue"])).measuredValue,
      5120,
      "0.01 %",
    );
    assert.equal((await matter.read(light, "onOff", ["onOff"])).onOff, true, "night light on (set from HomeKit)");
    assert.equal((await matter.read(plug, "onOff", ["onOff"])).onOff, true, "standby on (set from HomeKit)");
    assert.deepEqual((await matter.read(motionEp, "occupancySensing", ["occupancy"])).occupancy, { occupied: false });
  });

  it("temperature and humidity changes arrive as Matter reports (and HAP events)", async () => {
    assert.ok(matter);
    const temperatureHap = waitHap(
      await char(Service.TemperatureSensor, Characteristic.CurrentTemperature),
      (v) => Math.abs(Number(v) - 19.8) < 0.01,
    );
    const temperatureReport = matterReport(
      matter,
      temperatureEp,
      CLUSTER.temperature,
      "measuredValue",
      (v) => v === 1980,
    );
    sim.setTemperature(19.8);
    await Promise.all([temperatureHap, temperatureReport]);
    const humidityReport = matterReport(matter, humidityEp, CLUSTER.humidity, "measuredValue", (v) => v === 3875);
    sim.setHumidity(38.75);
    await humidityReport;
  });

  it("night light and standby switched from Matter reach the camera, are reported back, HomeKit hears it", async () => {
    assert.ok(matter);
    const control = sim.requests("PUT_CONTROL").length;
    const settings = sim.requests("PUT_SETTINGS").length;
    const bulbOff = waitHap(await char(Service.Lightbulb, Characteristic.On), isOff);
    const standbyOff = waitHap(await char(Service.Switch, Characteristic.On), isOff);
    const lightReport = matterReport(matter, light, CLUSTER.onOff, "onOff", (v) => v === false);
    const plugReport = matterReport(matter, plug, CLUSTER.onOff, "onOff", (v) => v === false);
    await matter.invoke(plug, "onOff", "off");
    assert.deepEqual(
      since("PUT_SETTINGS", settings).map((r) => r.settings),
      [{ sleep_mode: false }],
    );
    await matter.invoke(light, "onOff", "toggle");
    assert.deepEqual(
      since("PUT_CONTROL", control).map((r) => r.control),
      [{ night_light: "LIGHT_OFF" }],
    );
    await Promise.all([lightReport, plugReport]);
    assert.equal(sim.camera().nightLight, false);
    assert.equal(sim.camera().settings.sleep_mode, false);
    await Promise.all([bulbOff, standbyOff]);
  });

  it("the phone app turning the night light on arrives as a HAP event and a Matter report", async () => {
    assert.ok(matter);
    const event = waitHap(await char(Service.Lightbulb, Characteristic.On), isOn);
    const report = matterReport(matter, light, CLUSTER.onOff, "onOff", (v) => v === true);
    const control = sim.requests("PUT_CONTROL").length;
    sim.setNightLightFromApp(true);
    await Promise.all([event, report]);
    assert.equal(since("PUT_CONTROL", control).length, 0, "nothing was echoed back to the camera");
  });

  it("motion and sound from the camera's messages arrive in both (within one 20 s poll)", async () => {
    assert.ok(matter);
    const motionHap = waitWatcher(
      await char(Service.MotionSensor, Characteristic.MotionDetected, hapWatcher),
      isOn,
      POLL_WAIT_MS,
    );
    const soundHap = waitWatcher(
      await char(Service.OccupancySensor, Characteristic.OccupancyDetected, hapWatcher),
      (v) => v === 1,
      POLL_WAIT_MS,
    );
    const occupied = (v: unknown) => (v as { occupied?: boolean } | undefined)?.occupied === true;
    const motionReport = matterReport(matter, motionEp, CLUSTER.occupancy, "occupancy", occupied, POLL_WAIT_MS);
    const soundReport = matterReport(matter, soundEp, CLUSTER.occupancy, "occupancy", occupied, POLL_WAIT_MS);
    sim.postMessage("MOTION");
    sim.postMessage("SOUND");
    await Promise.all([motionHap, soundHap, motionReport, soundReport]);
  });

  it("keeps the password out of the logs", () => {
    const all = allLines.map((l) => JSON.stringify(l)).join("\n") + bridge.stderr.join("\n");
    assert.ok(!all.includes(sim.password));
  });
});
