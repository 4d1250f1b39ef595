// The HomeKit bindings of a camera's controls on a bare accessory: the labelled night light with
// brightness, volume as a Fanv2, the sound machine's switches, the light sensor and the night sensor.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Accessory, Characteristic, Service, uuid } from "@homebridge/hap-nodejs";
import type { DeviceEntry } from "../../src/core/registry.ts";
import { applyPatch, type Capabilities, type DeviceState, type StatePatch } from "../../src/core/model.ts";
import { homekitBindings, type HomeKitBoundCapability } from "../../accessories/homekit.ts";
import type { BindingContext } from "../../accessories/types.ts";

const CONTROLS: Capabilities = {
  light: { dimmable: true, label: "Night light" },
  volume: { label: "Volume" },
  soundMachine: {
    label: "Sound machine",
    tracks: [
      { id: "Birds.wav", label: "Birds" },
      { id: "Waves.wav", label: "Waves" },
    ],
  },
  lightLevel: {},
  night: {},
};

function setup(state: DeviceState) {
  const entry: DeviceEntry = {
    info: {
      id: "nanit:cam",
      vendor: "nanit",
      account: "a",
      kind: "baby-camera",
      name: "Robin Nanit",
      manufacturer: "Nanit",
      model: "Nanit camera",
      serialNumber: "cam",
      capabilities: CONTROLS,
    },
    state,
    available: true,
  };
  const commands: StatePatch[] = [];
  const ctx: BindingContext = {
    entry,
    async command(patch) {
      commands.push(patch);
      entry.state = applyPatch(entry.state, patch);
    },
  };
  const accessory = new Accessory("Robin Nanit", uuid.generate("test:nanit-controls"));
  const bound: HomeKitBoundCapability[] = (Object.keys(CONTROLS) as (keyof Capabilities)[]).map((name) =>
    homekitBindings[name]!.attach(accessory, ctx),
  );
  const push = (patch: StatePatch) => {
    entry.state = applyPatch(entry.state, patch);
    for (const b of bound) void b.update(entry.state, patch);
  };
  return { accessory, commands, push };
}

const named = (accessory: Accessory, name: string) =>
  accessory.services.find((s) => s.getCharacteristic(Characteristic.ConfiguredName).value === name)!;

describe("camera control bindings (HomeKit)", () => {
  it("the night light is a Lightbulb named by its label, with Brightness", async () => {
    const { accessory, commands, push } = setup({ light: { on: false, brightness: 60 } });
    const bulb = accessory.getService(Service.Lightbulb)!;
    assert.equal(bulb.getCharacteristic(Characteristic.ConfiguredName).value, "Night light");
    assert.equal(bulb.displayName, "Night light");
    assert.equal(await bulb.getCharacteristic(Characteristic.Brightness).handleGetRequest(), 60);
    await bulb.getCharacteristic(Characteristic.Brightness).handleSetRequest(25);
    await bulb.getCharacteristic(Characteristic.On).handleSetRequest(true);
    assert.deepEqual(commands, [{ light: { brightness: 25 } }, { light: { on: true } }]);
    push({ light: { brightness: 90 } });
    assert.equal(bulb.getCharacteristic(Characteristic.Brightness).value, 90);
  });

  it("volume is a Fanv2: speed = volume, inactive = 0, active again = the last volume above 0", async () => {
    const { accessory, commands, push } = setup({ volume: 40 });
    const fan = accessory.getService(Service.Fanv2)!;
    assert.equal(fan.getCharacteristic(Characteristic.ConfiguredName).value, "Volume");
    const active = fan.getCharacteristic(Characteristic.Active);
    const speed = fan.getCharacteristic(Characteristic.RotationSpeed);
    assert.equal(await speed.handleGetRequest(), 40);
    assert.equal(await active.handleGetRequest(), 1);
    await speed.handleSetRequest(65);
    await active.handleSetRequest(0);
    await active.handleSetRequest(1);
    assert.deepEqual(commands, [{ volume: 65 }, { volume: 0 }, { volume: 65 }]);
    await active.handleSetRequest(1);
    assert.equal(commands.length, 3, "already audible: nothing to send");
    push({ volume: 0 });
    assert.equal(active.value, 0);
    assert.equal(speed.value, 0);
  });

  it("the sound machine: an on/off switch and one switch per track", async () => {
    const { accessory, commands, push } = setup({ soundMachine: { on: false, track: "Birds.wav" } });
    const switches = accessory.services.filter((s) => s.UUID === Service.Switch.UUID);
    assert.deepEqual(
      switches.map((s) => [s.subtype, s.getCharacteristic(Characteristic.ConfiguredName).value]),
      [
        ["soundMachine", "Sound machine"],
        ["soundMachine:Birds.wav", "Birds"],
        ["soundMachine:Waves.wav", "Waves"],
      ],
    );
    const [main, birds, waves] = switches.map((s) => s.getCharacteristic(Characteristic.On));
    await waves!.handleSetRequest(true);
    await birds!.handleSetRequest(false);
    assert.deepEqual(commands, [{ soundMachine: { on: true, track: "Waves.wav" } }], "off on a silent track: nothing");
    push({ soundMachine: { on: true, track: "Waves.wav" } });
    assert.deepEqual([main!.value, birds!.value, waves!.value], [true, false, true]);
    await waves!.handleSetRequest(false);
    await main!.handleSetRequest(true);
    assert.deepEqual(commands.slice(1), [{ soundMachine: { on: false } }, { soundMachine: { on: true } }]);
  });

  it("a light that takes a colour gets Hue and Saturation (the Sound & Light Machine's)", async () => {
    const accessory = new Accessory("SL", uuid.generate("test:sl-colour"));
    const commands: StatePatch[] = [];
    const entry: DeviceEntry = {
      info: {
        id: "nanit:sl",
        vendor: "nanit",
        account: "a",
        kind: "sound-light-machine",
        name: "Robin Sound & Light",
        manufacturer: "Nanit",
        model: "m",
        serialNumber: "sl",
        capabilities: { light: { dimmable: true, color: true, label: "Light" } },
      },
      state: { light: { on: true, brightness: 50, hue: 36, saturation: 80 } },
      available: true,
    };
    homekitBindings.light!.attach(accessory, { entry, command: async (p) => void commands.push(p) });
    const bulb = accessory.getService(Service.Lightbulb)!;
    assert.equal(await bulb.getCharacteristic(Characteristic.Hue).handleGetRequest(), 36);
    assert.equal(await bulb.getCharacteristic(Characteristic.Saturation).handleGetRequest(), 80);
    await bulb.getCharacteristic(Characteristic.Hue).handleSetRequest(180);
    await bulb.getCharacteristic(Characteristic.Saturation).handleSetRequest(50);
    assert.deepEqual(commands, [{ light: { hue: 180 } }, { light: { saturation: 50 } }]);
  });

  it("light level in lux (0 reads as HomeKit's minimum) and night as an occupancy sensor", async () => {
    const { accessory, push } = setup({ lightLevel: 0, night: true });
    const lux = accessory.getService(Service.LightSensor)!.getCharacteristic(Characteristic.CurrentAmbientLightLevel);
    assert.equal(await lux.handleGetRequest(), 0.0001);
    const night = named(accessory, "Night").getCharacteristic(Characteristic.OccupancyDetected);
    assert.equal(await night.handleGetRequest(), 1);
    push({ lightLevel: 320, night: false });
    assert.equal(lux.value, 320);
    assert.equal(night.value, 0);
  });
});
