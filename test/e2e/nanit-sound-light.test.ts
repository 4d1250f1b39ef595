// End to end: a Nanit Sound & Light Machine (its own simulator behind the simulated relay) on the
// HomeKit bridge (hap-controller) and in Matter (matter.js controller): light on with brightness, volume
// and a track written from HomeKit, the light switched off and its colour set from Matter (an Extended
// Color Light), each as the Settings delta the device received, and changes made in the Sound & Light app
// (volume, colour) arriving in both. Runs inside
// test/netns.sh (loopback-only namespace, mDNS on lo).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { Endpoint as ClientDevice } from "@project-chip/matter.js/device";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess } from "../helpers/bridge-process.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const SPEAKER = "S1SIM0000001";

describe("a Nanit Sound & Light Machine in Apple Home and Matter", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-nanit-sl-"));
  const sim = new NanitSimulator({
    mfa: false,
    sensorPushMs: [600_000, 900_000],
    babies: [{ uid: "b4c0ffee", name: "Robin", cameraUid: "N301SIM0000001", speakerUid: SPEAKER }],
  });
  const device = sim.speakers.get(SPEAKER)!;
  let bridge: BridgeProcess;
  let hap: HapClient;
  let matter: MatterTestClient | undefined;

  const settingsSince = (mark: number) =>
    device.received
      .slice(mark)
      .filter((r) => r.request.settings)
      .map((r) => r.request.settings);

  async function hapChar(name: string, service: { UUID: string }, characteristic: { UUID: string }) {
    const accessory = (await hap.accessories()).find((a) => a.serialNumber === SPEAKER)!;
    const found = accessory.services.find(
      (s) =>
        s.type === service.UUID &&
        s.characteristics.some((c) => c.type === Characteristic.ConfiguredName.UUID && c.value === name),
    );
    const c = found?.characteristics.find((x) => x.type === characteristic.UUID);
    if (!c) throw new Error(`no ${name} service with that characteristic`);
    return c;
  }

  function matterEp(label: string): ClientDevice {
    const parts = [...matter!.bridged(`nanit:${SPEAKER}`).parts.values()];
    const found = parts.find((ep) =>
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
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl, speakers: urls.speakersUrl },
        },
      ],
      logLevel: "debug",
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_NANIT_PASSWORD: sim.password,
    });
    const ready = await bridge.ready(60_000);
    await bridge.waitForLine((l) => /Robin Sound & Light is reachable again/.test(l.msg), 20_000);
    // The track list rebuilds its Matter endpoint: commission only after that (see matterEndpointWith).
    await bridge.matterEndpointWith("Robin Sound & Light", "sound-Waves");
    hap = await HapClient.pair(ready.homekitPort as number, E2E_PIN, { file: join(dir, "hap-pairing.json") });
    await hap.accessories(true);
    await hap.subscribe();
  });

  after(async () => {
    await hap?.close();
    await matter?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("HomeKit: light, volume and sound written as Settings deltas; the state read back", async () => {
    const [hue, volume] = await hap.read(
      await hapChar("Light", Service.Lightbulb, Characteristic.Hue),
      await hapChar("Volume", Service.Fanv2, Characteristic.RotationSpeed),
    );
    assert.deepEqual([hue, volume], [36, 40], "the device's 0.1 hue and 0.4 volume");
    const mark = device.received.length;
    await hap.write(
      [await hapChar("Light", Service.Lightbulb, Characteristic.On), true],
      [await hapChar("Light", Service.Lightbulb, Characteristic.Brightness), 80],
    );
    await hap.write([await hapChar("Volume", Service.Fanv2, Characteristic.RotationSpeed), 25]);
    await hap.write([await hapChar("Birds", Service.Switch, Characteristic.On), true]);
    assert.deepEqual(settingsSince(mark), [
      { brightness: Math.fround(0.8), color: { no_color: false }, is_on: true },
      { volume: 0.25 },
      { sound: { no_sound: false, track: "Birds" }, is_on: true },
    ]);
    assert.deepEqual(device.state.sound, { no_sound: false, track: "Birds" });
  });

  it("Matter: labelled endpoints; the light switched off is one delta; the app's change arrives in both", async () => {
    matter = await MatterTestClient.commission({
      port: Number(bridge.lines.find((l) => l.event === "ready")!.matterPort),
      passcode: E2E_PASSCODE,
      discriminator: 3840,
    });
    const fan = await matter.read(matterEp("Volume"), "fanControl", ["percentSetting"]);
    assert.equal(fan.percentSetting, 25);
    assert.equal((await matter.read(matterEp("Birds"), "onOff", ["onOff"])).onOff, true);
    const mark = device.received.length;
    await matter.invoke(matterEp("Light"), "onOff", "off");
    assert.deepEqual(settingsSince(mark), [{ color: { no_color: true } }]);
    assert.equal(device.state.color.no_color, true);

    const speed = await hapChar("Volume", Service.Fanv2, Characteristic.RotationSpeed);
    const volumeEvent = hap.waitForEvent((e) => e.id === speed.id && e.value === 60, 10_000);
    const volumeReport = matter.nextReport(matterEp("Volume").number, "fanControl", "percentSetting", (v) => v === 60);
    device.setFromApp({ volume: 0.6 });
    await Promise.all([volumeEvent, volumeReport]);
  });

  it("Matter: an Extended Color Light; hue/saturation is one colour delta; the app's colour is reported", async () => {
    const light = matterEp("Light");
    const { deviceTypeList } = await matter!.read(light, "descriptor", ["deviceTypeList"]);
    assert.ok((deviceTypeList as { deviceType: number }[]).some((d) => d.deviceType === 0x010d));
    // Colour commands are ignored while the light is off (ColorControl executeIfOff): on first.
    await matter!.invoke(light, "onOff", "on");
    const mark = device.received.length;
    // Hue 127 of 254 is 180 degrees, saturation 127 of 254 is 50 %: the device's 0.5 and 0.5.
    await matter!.invoke(light, "colorControl", "moveToHueAndSaturation", {
      hue: 127,
      saturation: 127,
      transitionTime: 0,
      optionsMask: {},
      optionsOverride: {},
    });
    assert.deepEqual(settingsSince(mark), [{ color: { hue: 0.5, saturation: 0.5 } }]);
    assert.deepEqual(device.state.color, { no_color: false, hue: 0.5, saturation: 0.5 });

    // The app picks 90 degrees at full saturation: hue 64 of 254 and saturation 254 reported.
    const hue = matter!.nextReport(light.number, "colorControl", "currentHue", (v) => v === 64);
    const saturation = matter!.nextReport(light.number, "colorControl", "currentSaturation", (v) => v === 254);
    const hapHue = await hapChar("Light", Service.Lightbulb, Characteristic.Hue);
    const hueEvent = hap.waitForEvent((e) => e.id === hapHue.id && e.value === 90, 10_000);
    device.setFromApp({ color: { hue: 0.25, saturation: 1 } });
    await Promise.all([hue, saturation, hueEvent]);
  });
});
