// End to end: every control of a Nanit camera in Apple Home (hap-controller, paired with the camera's own
// accessory) and Matter (matter.js controller): night-light brightness, volume (a fan), the sound
// machine (switches), night vision (two switches), status light, mic mute, light level and night. Shows
// the exact PUT_SETTINGS / PUT_PLAYBACK / PUT_CONTROL requests the simulated camera received for each
// write (settings as deltas of the changed field only), and changes made on the camera side (the phone
// app) arriving in both ecosystems. Matter endpoints are found by their FixedLabel, so this also shows
// the labels. Runs inside test/netns.sh (loopback-only namespace, mDNS on lo).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { Endpoint as ClientDevice } from "@project-chip/matter.js/device";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { E2E_PASSCODE, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient, type HapCharacteristic, type HapEvent } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

/** The driver's GET_PLAYBACK poll (30 s: the camera never pushes the sound machine) plus slack. */
const PLAYBACK_POLL_WAIT_MS = 40_000;
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
  return (characteristic: HapCharacteristic, predicate: (value: unknown) => boolean, timeoutMs = 10_000) => {
    const from = seen.length;
    return new Promise<HapEvent>((resolve, reject) => {
      const check = () => {
        const hit = seen.slice(from).find((e) => e.id === characteristic.id && predicate(e.value));
        if (!hit) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no HAP event on ${characteristic.id} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
    });
  };
}

describe("every Nanit camera control in Apple Home and Matter", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-nanit-controls-"));
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000] });
  const cameraUid = sim.babies[0]!.cameraUid;
  const deviceId = `nanit:${cameraUid}`;
  let bridge: BridgeProcess;
  let hap: HapClient;
  let waitHap: ReturnType<typeof hapEvents>;
  let matter: MatterTestClient | undefined;
  const allLines: LogLine[] = [];

  /** What the camera received of a request type since `mark` (a count taken before the write). */
  const payloads = (type: string, mark: number) =>
    sim
      .requests(type)
      .slice(mark)
      .map((r) => {
        const { id: _id, type: _type, ...payload } = r.request;
        return payload;
      });
  const marks = () => ({
    settings: sim.requests("PUT_SETTINGS").length,
    playback: sim.requests("PUT_PLAYBACK").length,
    control: sim.requests("PUT_CONTROL").length,
  });

  /** A characteristic of the camera accessory's service named `name` (ConfiguredName). */
  async function hapChar(name: string, service: { UUID: string }, characteristic: { UUID: string }) {
    const accessory = (await hap.accessories()).find((a) => a.serialNumber === cameraUid)!;
    const found = accessory.services.find(
      (s) =>
        s.type === service.UUID &&
        s.characteristics.some((c) => c.type === Characteristic.ConfiguredName.UUID && c.value === name),
    );
    const c = found?.characteristics.find((x) => x.type === characteristic.UUID);
    if (!c) throw new Error(`no ${name} service with that characteristic`);
    return c;
  }

  /** The camera's Matter child endpoint labelled `label` (FixedLabel "Label"). */
  function matterEp(label: string): ClientDevice {
    const device = matter!.bridged(deviceId);
    const found = [...device.parts.values()].find((ep) =>
      (
        (ep.maybeStateOf("fixedLabel") as { labelList?: { label: string; value: string }[] } | undefined)?.labelList ??
        []
      ).some((l) => l.label === "Label" && l.value === label),
    );
    if (!found) throw new Error(`no endpoint labelled ${label}`);
    return found;
  }

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
        },
      ],
      logLevel: "debug",
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_NANIT_PASSWORD: sim.password,
    });
    bridge.on("line", (line) => allLines.push(line));
    await bridge.ready(60_000);
    // Reachable once the socket synced: sensors, settings, and the sound machine's tracks are in.
    await bridge.waitForLine((l) => /Robin Nanit is reachable again/.test(l.msg), 20_000);
    // The tracks rebuild the camera's Matter endpoint: commission only after that (see matterEndpointWith).
    await bridge.matterEndpointWith("Robin Nanit", "sound-Waves_wav");
    const camera = await bridge.waitForLine((l) => l.event === "camera-pairing" && l.deviceId === deviceId, 20_000);
    hap = await HapClient.pair(camera.port as number, camera.setupCode as string, {
      file: join(dir, "hap-pairing.json"),
    });
    await hap.accessories(true);
    waitHap = hapEvents(hap);
    await hap.subscribe();
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

  it("HomeKit: every control and sensor is a named service holding the camera's values", async () => {
    const [brightness, volume, statusLight, micMute, nightVision, always, lux, night, machine, birds] = await hap.read(
      await hapChar("Night light", Service.Lightbulb, Characteristic.Brightness),
      await hapChar("Volume", Service.Fanv2, Characteristic.RotationSpeed),
      await hapChar("Status light", Service.Switch, Characteristic.On),
      await hapChar("Mic mute", Service.Switch, Characteristic.On),
      await hapChar("Night vision", Service.Switch, Characteristic.On),
      await hapChar("Night vision 24h", Service.Switch, Characteristic.On),
      await hapChar("Light level", Service.LightSensor, Characteristic.CurrentAmbientLightLevel),
      await hapChar("Night", Service.OccupancySensor, Characteristic.OccupancyDetected),
      await hapChar("Sound machine", Service.Switch, Characteristic.On),
      await hapChar("Birds", Service.Switch, Characteristic.On),
    );
    assert.deepEqual(
      [brightness, volume, isOn(statusLight), isOff(micMute), isOn(nightVision), isOff(always), lux, night],
      [60, 50, true, true, true, true, 12, 1],
    );
    assert.ok(isOff(machine) && isOff(birds));
    for (const track of ["White Noise", "Waves", "Lullaby"]) await hapChar(track, Service.Switch, Characteristic.On);
  });

  it("HomeKit writes reach the camera as deltas of the changed field only, and PUT_PLAYBACK", async () => {
    let m = marks();
    await hap.write([await hapChar("Night light", Service.Lightbulb, Characteristic.Brightness), 30]);
    await hap.write([await hapChar("Volume", Service.Fanv2, Characteristic.RotationSpeed), 20]);
    await hap.write([await hapChar("Status light", Service.Switch, Characteristic.On), false]);
    await hap.write([await hapChar("Mic mute", Service.Switch, Characteristic.On), true]);
    await hap.write([await hapChar("Night vision 24h", Service.Switch, Characteristic.On), true]);
    assert.deepEqual(payloads("PUT_SETTINGS", m.settings), [
      { settings: { night_light_brightness: 30 } },
      { settings: { volume: 20 } },
      { settings: { status_light_on: false } },
      { settings: { mic_mute_on: true } },
      { settings: { night_vision: "NV_ON" } },
    ]);
    const cam = sim.camera().settings;
    assert.deepEqual(cam, {
      sleep_mode: false,
      volume: 20,
      night_vision: "NV_ON",
      status_light_on: false,
      mic_mute_on: true,
      night_light_brightness: 30,
    });
    m = marks();
    await hap.write([await hapChar("Birds", Service.Switch, Characteristic.On), true]);
    await hap.write([await hapChar("Sound machine", Service.Switch, Characteristic.On), false]);
    assert.deepEqual(payloads("PUT_PLAYBACK", m.playback), [
      { playback: { status: "STARTED", tracks: [{ filename: "Birds.wav" }] } },
      { playback: { status: "STOPPED" } },
    ]);
    assert.equal(sim.camera().soundMachine.playing, false);
    // Dragging the brightness of a dark night light: one HAP write of On and Brightness -> the level first.
    m = marks();
    await hap.write(
      [await hapChar("Night light", Service.Lightbulb, Characteristic.On), true],
      [await hapChar("Night light", Service.Lightbulb, Characteristic.Brightness), 45],
    );
    assert.deepEqual(payloads("PUT_SETTINGS", m.settings), [{ settings: { night_light_brightness: 45 } }]);
    assert.deepEqual(payloads("PUT_CONTROL", m.control), [{ control: { night_light: "LIGHT_ON" } }]);
  });

  it("Matter: labelled endpoints with the same values (commissioned after the HomeKit writes)", async () => {
    matter = await MatterTestClient.commission({
      port: Number(bridge.lines.find((l) => l.event === "ready")!.matterPort),
      passcode: E2E_PASSCODE,
      discriminator: 3840,
    });
    const level = await matter.read(matterEp("Night light"), "levelControl", ["currentLevel"]);
    assert.equal(level.currentLevel, 113, "45 % -> level 113 (1 + 44 × 253 / 99)");
    const fan = await matter.read(matterEp("Volume"), "fanControl", ["percentSetting", "fanMode"]);
    assert.deepEqual([fan.percentSetting, fan.fanMode], [20, 1], "20 % = fan mode Low");
    const onOff = async (label: string) => (await matter!.read(matterEp(label), "onOff", ["onOff"])).onOff;
    assert.deepEqual(
      [await onOff("Status light"), await onOff("Mic mute"), await onOff("Night vision 24h")],
      [false, true, true],
    );
    assert.deepEqual([await onOff("Sound machine"), await onOff("Birds")], [false, false]);
    const lux = await matter.read(matterEp("Light level"), "illuminanceMeasurement", ["measuredValue"]);
    assert.equal(lux.measuredValue, 10793, "10000 log10(12) + 1");
    const night = await matter.read(matterEp("Night"), "occupancySensing", ["occupancy"]);
    assert.deepEqual(night.occupancy, { occupied: true });
  });

  it("Matter commands reach the camera as the same deltas, and HomeKit hears the result", async () => {
    assert.ok(matter);
    const brightnessEvent = waitHap(
      await hapChar("Night light", Service.Lightbulb, Characteristic.Brightness),
      (v) => v === 100,
    );
    const volumeEvent = waitHap(await hapChar("Volume", Service.Fanv2, Characteristic.RotationSpeed), (v) => v === 60);
    const micEvent = waitHap(await hapChar("Mic mute", Service.Switch, Characteristic.On), isOff);
    const wavesEvent = waitHap(await hapChar("Waves", Service.Switch, Characteristic.On), isOn);
    // The controller's own subscription must show every result before the next test changes the same
    // attributes back: a Matter server reports the value at send time, so night vision going off here and on
    // again from the app within one report window (50 ms apart) reached the controller as no change at all.
    const onOffReport = (label: string, on: boolean) =>
      matter!.nextReport(matterEp(label).number, "onOff", "onOff", (v) => v === on);
    const matterShows = [
      matter.nextReport(matterEp("Night light").number, "levelControl", "currentLevel", (v) => v === 254),
      matter.nextReport(matterEp("Volume").number, "fanControl", "percentSetting", (v) => v === 60),
      onOffReport("Mic mute", false),
      onOffReport("Night vision", false),
      onOffReport("Waves", true),
    ];
    let m = marks();
    await matter.invoke(matterEp("Night light"), "levelControl", "moveToLevel", {
      level: 254,
      transitionTime: null,
      optionsMask: {},
      optionsOverride: {},
    });
    await matter.write(matterEp("Volume"), "fanControl", { percentSetting: 60 });
    await matter.invoke(matterEp("Mic mute"), "onOff", "off");
    await matter.invoke(matterEp("Night vision"), "onOff", "off");
    assert.deepEqual(payloads("PUT_SETTINGS", m.settings), [
      { settings: { night_light_brightness: 100 } },
      { settings: { volume: 60 } },
      { settings: { mic_mute_on: false } },
      { settings: { night_vision: "NV_OFF" } },
    ]);
    m = marks();
    await matter.invoke(matterEp("Waves"), "onOff", "on");
    assert.deepEqual(payloads("PUT_PLAYBACK", m.playback), [
      { playback: { status: "STARTED", tracks: [{ filename: "Waves.wav" }] } },
    ]);
    await Promise.all([brightnessEvent, volumeEvent, micEvent, wavesEvent, ...matterShows]);
  });

  it("phone-app changes arrive in both: settings pushed at once, the sound machine by its poll", async () => {
    assert.ok(matter);
    const brightnessEvent = waitHap(
      await hapChar("Night light", Service.Lightbulb, Characteristic.Brightness),
      (v) => v === 40,
    );
    const volumeEvent = waitHap(await hapChar("Volume", Service.Fanv2, Characteristic.RotationSpeed), (v) => v === 10);
    const nightVisionEvent = waitHap(await hapChar("Night vision", Service.Switch, Characteristic.On), isOn);
    // 40 % is level 101.
    const levelReport = matter.nextReport(
      matterEp("Night light").number,
      "levelControl",
      "currentLevel",
      (v) => v === 101,
    );
    const volumeReport = matter.nextReport(matterEp("Volume").number, "fanControl", "percentSetting", (v) => v === 10);
    const nvReport = matter.nextReport(matterEp("Night vision").number, "onOff", "onOff", (v) => v === true);
    const m = marks();
    sim.setSettingsFromApp({ night_light_brightness: 40, volume: 10, night_vision: "NV_AUTO" });
    await Promise.all([brightnessEvent, volumeEvent, nightVisionEvent, levelReport, volumeReport, nvReport]);
    assert.deepEqual(marks(), m, "nothing was written back to the camera");

    const lullabyEvent = waitHap(
      await hapChar("Lullaby", Service.Switch, Characteristic.On),
      isOn,
      PLAYBACK_POLL_WAIT_MS,
    );
    const wavesOff = waitHap(await hapChar("Waves", Service.Switch, Characteristic.On), isOff, PLAYBACK_POLL_WAIT_MS);
    const lullabyReport = matter.nextReport(
      matterEp("Lullaby").number,
      "onOff",
      "onOff",
      (v) => v === true,
      PLAYBACK_POLL_WAIT_MS,
    );
    sim.setPlaybackFromApp("Lullaby.wav");
    await Promise.all([lullabyEvent, wavesOff, lullabyReport]);
  });
});
