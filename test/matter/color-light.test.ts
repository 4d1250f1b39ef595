// A light that takes a colour, in Matter: an Extended Color Light whose hue/saturation, enhanced hue, XY
// and colour temperature commands each become one {light: {hue, saturation}} command, and whose reported
// colour reaches the controller. A real controller (matter.js) commissions the bridge over loopback.
// Run inside the loopback namespace: test/netns.sh node --test test/matter/color-light.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hsvToXy, miredsToHsv, xyToHsv } from "@matter/main/behaviors/color-control";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { Driver, DriverSink } from "../../src/core/driver.ts";
import type { Command } from "../../src/core/model.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run this test inside test/netns.sh (it commissions over mDNS)");

const PORT = 5595;
const PASSCODE = 20202021;
const DISCRIMINATOR = 3845;
const ID = "fansync:colour";
const HS = 0; // ColorMode.CurrentHueAndCurrentSaturation
const XY = 1;
const CT = 2;

class RecordingDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName = "test";
  readonly commands: Command[] = [];
  refuse = false;
  async start(): Promise<void> {}
  async command(_id: string, command: Command): Promise<void> {
    if (this.refuse) throw new Error("vendor refused");
    this.commands.push(command);
  }
  async stop(): Promise<void> {}
}

const near = (actual: number | undefined, expected: number, within: number, what: string) =>
  assert.ok(
    actual !== undefined && Math.abs(actual - expected) <= within,
    `${what}: ${actual} is not ${expected} ± ${within}`,
  );

describe("a colour light in Matter", () => {
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info" | undefined) ?? "warn");
  const dataDir = mkdtempSync(join(tmpdir(), "hb-matter-colour-"));
  const registry = new DeviceRegistry(log);
  const driver = new RecordingDriver();
  let sink: DriverSink;
  let host: MatterHost;
  let client: MatterTestClient;
  const last = () => driver.commands.at(-1);
  const none = { transitionTime: 0, optionsMask: {}, optionsOverride: {} };
  const light = () => client.bridged(ID);
  const colour = (attributes: string[]) => client.read(light(), "colorControl", attributes);

  before(async () => {
    sink = registry.sinkFor(driver);
    sink.deviceFound(
      {
        id: ID,
        vendor: "fansync",
        account: "test",
        kind: "light",
        name: "Colour Lamp",
        manufacturer: "Test",
        model: "RGB",
        serialNumber: "SN-colour",
        capabilities: { light: { dimmable: true, color: true } },
      },
      { light: { on: true, brightness: 50, hue: 36, saturation: 80 } },
    );
    host = new MatterHost({
      registry,
      log,
      dataDir,
      name: "Colour Bridge",
      port: PORT,
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
    await host.start();
    client = await MatterTestClient.commission({ port: PORT, passcode: PASSCODE, discriminator: DISCRIMINATOR });
  });

  after(async () => {
    await client?.close();
    await host?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("is an Extended Color Light with hue/saturation, enhanced hue, XY and colour temperature", async () => {
    const { deviceTypeList } = await client.read(light(), "descriptor", ["deviceTypeList"]);
    assert.ok(
      (deviceTypeList as { deviceType: number }[]).some((d) => d.deviceType === 0x010d),
      JSON.stringify(deviceTypeList),
    );
    const state = await colour([
      "colorCapabilities",
      "colorMode",
      "currentHue",
      "currentSaturation",
      "colorTempPhysicalMinMireds",
      "colorTempPhysicalMaxMireds",
    ]);
    assert.deepEqual(state.colorCapabilities, {
      hueSaturation: true,
      enhancedHue: true,
      colorLoop: false,
      xy: true,
      colorTemperature: true,
    });
    // The device's 36 degrees and 80 %.
    assert.deepEqual(
      [state.colorMode, state.currentHue, state.currentSaturation],
      [HS, Math.round((36 * 254) / 360), Math.round(0.8 * 254)],
    );
    assert.deepEqual([state.colorTempPhysicalMinMireds, state.colorTempPhysicalMaxMireds], [153, 500]);
  });

  it("moveToHueAndSaturation is one command in degrees and percent; the attributes hold the values asked", async () => {
    await client.invoke(light(), "colorControl", "moveToHueAndSaturation", { hue: 170, saturation: 128, ...none });
    const command = last()?.light;
    assert.deepEqual(Object.keys(command ?? {}).sort(), ["hue", "saturation"]);
    near(command?.hue, (170 * 360) / 254, 1e-9, "hue in degrees");
    near(command?.saturation, 12800 / 254, 1e-9, "saturation in percent");
    // The driver reports the colour back rounded (241 degrees, 50 %, which alone would read as saturation
    // 127): the controller keeps its values. The
    // brightness in the same report shows when the update was rendered.
    const level = client.nextReport(light().number, "levelControl", "currentLevel", (v) => v === 152);
    sink.stateChanged(ID, { light: { hue: 241, saturation: 50, brightness: 60 } });
    await level;
    assert.deepEqual(await colour(["colorMode", "currentHue", "currentSaturation"]), {
      colorMode: HS,
      currentHue: 170,
      currentSaturation: 128,
    });
  });

  it("moveToHue and moveToSaturation send only what changes", async () => {
    await client.invoke(light(), "colorControl", "moveToHue", { hue: 0, direction: 0, ...none });
    assert.deepEqual(last(), { light: { hue: 0 } });
    await client.invoke(light(), "colorControl", "moveToSaturation", { saturation: 254, ...none });
    assert.deepEqual(last(), { light: { saturation: 100 } });
  });

  it("enhancedMoveToHueAndSaturation: 16-bit hue in degrees", async () => {
    await client.invoke(light(), "colorControl", "enhancedMoveToHueAndSaturation", {
      enhancedHue: 0x4000,
      saturation: 254,
      ...none,
    });
    assert.deepEqual(last(), { light: { hue: 90, saturation: 100 } });
    const state = await colour(["enhancedColorMode", "enhancedCurrentHue", "currentHue"]);
    assert.deepEqual(state, { enhancedColorMode: 3, enhancedCurrentHue: 0x4000, currentHue: Math.round(254 / 4) });
  });

  it("moveToColor (XY) becomes the hue/saturation of that point", async () => {
    const [x, y] = hsvToXy(240, 1);
    const colorX = Math.round(x * 65536);
    const colorY = Math.round(y * 65536);
    await client.invoke(light(), "colorControl", "moveToColor", { colorX, colorY, ...none });
    const [hue, saturation] = xyToHsv(colorX / 65536, colorY / 65536);
    near(last()?.light?.hue, hue, 1e-9, "hue");
    near(last()?.light?.saturation, saturation * 100, 1e-9, "saturation");
    near(hue, 240, 1, "blue");
    assert.deepEqual(await colour(["colorMode", "currentX", "currentY"]), {
      colorMode: XY,
      currentX: colorX,
      currentY: colorY,
    });
  });

  it("moveToColorTemperature becomes the nearest hue/saturation; the range is clamped", async () => {
    await client.invoke(light(), "colorControl", "moveToColorTemperature", { colorTemperatureMireds: 370, ...none });
    const [hue, saturation] = miredsToHsv(370)!;
    near(last()?.light?.hue, hue, 1e-9, "hue");
    near(last()?.light?.saturation, saturation * 100, 1e-9, "saturation");
    assert.deepEqual(await colour(["colorMode", "colorTemperatureMireds"]), {
      colorMode: CT,
      colorTemperatureMireds: 370,
    });
    await client.invoke(light(), "colorControl", "moveToColorTemperature", { colorTemperatureMireds: 1000, ...none });
    const [warmest] = miredsToHsv(500)!;
    near(last()?.light?.hue, warmest, 1e-9, "2000 K");
  });

  it("a colour changed on the device arrives as a report, in hue/saturation mode", async () => {
    const count = driver.commands.length;
    const hue = client.nextReport(light().number, "colorControl", "currentHue", (v) => v === 85);
    sink.stateChanged(ID, { light: { hue: 120, saturation: 100 } });
    await hue;
    assert.deepEqual(await colour(["colorMode", "currentSaturation"]), { colorMode: HS, currentSaturation: 254 });
    assert.equal(driver.commands.length, count, "a vendor report must not become a command");
  });

  it("a refused colour changes nothing and fails the command", async () => {
    const before = await colour(["currentHue", "currentSaturation"]);
    driver.refuse = true;
    try {
      await assert.rejects(
        client.invoke(light(), "colorControl", "moveToHueAndSaturation", { hue: 10, saturation: 10, ...none }),
      );
    } finally {
      driver.refuse = false;
    }
    assert.deepEqual(await colour(["currentHue", "currentSaturation"]), before);
  });
});
