// The HomeKit bindings a Nanit camera uses, on a bare accessory: sensors (temperature, humidity,
// motion, sound as an occupancy sensor) and switches presented as a light or a switch.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Accessory, Characteristic, Service, uuid } from "@homebridge/hap-nodejs";
import type { DeviceEntry } from "../../src/core/registry.ts";
import { applyPatch, type Capabilities, type DeviceState, type StatePatch } from "../../src/core/model.ts";
import { homekitBindings } from "../../accessories/homekit.ts";
import type { HomeKitBoundCapability } from "../../accessories/homekit.ts";
import type { BindingContext } from "../../accessories/types.ts";

const CAMERA: Capabilities = {
  temperature: {},
  humidity: {},
  motion: {},
  sound: {},
  switches: { nightLight: { label: "Night Light", presentAs: "light" }, standby: { label: "Standby" } },
};

function setup(state: DeviceState, capabilities: Capabilities = CAMERA) {
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
      capabilities,
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
  const accessory = new Accessory("Robin Nanit", uuid.generate("test:nanit"));
  const bound: HomeKitBoundCapability[] = (Object.keys(capabilities) as (keyof Capabilities)[]).map((name) =>
    homekitBindings[name]!.attach(accessory, ctx),
  );
  const push = (patch: StatePatch) => {
    entry.state = applyPatch(entry.state, patch);
    for (const b of bound) void b.update(entry.state, patch);
  };
  return { entry, accessory, commands, push };
}

describe("Nanit camera bindings (HomeKit)", () => {
  it("sensors start at the device's values and follow pushes", () => {
    const { accessory, push } = setup({ temperature: 21.5, humidity: 44.62, motion: false, sound: true, switches: {} });
    const temperature = accessory
      .getService(Service.TemperatureSensor)!
      .getCharacteristic(Characteristic.CurrentTemperature);
    const humidity = accessory
      .getService(Service.HumiditySensor)!
      .getCharacteristic(Characteristic.CurrentRelativeHumidity);
    const motion = accessory.getService(Service.MotionSensor)!.getCharacteristic(Characteristic.MotionDetected);
    const sound = accessory.getService(Service.OccupancySensor)!.getCharacteristic(Characteristic.OccupancyDetected);
    assert.equal(temperature.value, 21.5);
    assert.equal(humidity.value, 45, "HAP's 1 % step");
    assert.equal(motion.value, false);
    assert.equal(sound.value, Characteristic.OccupancyDetected.OCCUPANCY_DETECTED);
    assert.ok(temperature.props.minValue! <= -40, "sub-zero rooms are representable");
    const changed: string[] = [];
    for (const c of [temperature, humidity, motion, sound]) c.on("change", () => changed.push(c.displayName));
    push({ temperature: 19.25, motion: true });
    assert.ok(Math.abs(Number(temperature.value) - 19.3) < 1e-9, "rounded to HAP's 0.1 step");
    assert.equal(motion.value, true);
    assert.deepEqual(changed.sort(), ["Current Temperature", "Motion Detected"], "only what changed is pushed");
    push({ sound: false });
    assert.equal(sound.value, Characteristic.OccupancyDetected.OCCUPANCY_NOT_DETECTED);
  });

  it("the sound sensor is an occupancy sensor named Sound, apart from the motion sensor", () => {
    const { accessory } = setup({});
    const sound = accessory.getService(Service.OccupancySensor)!;
    assert.equal(sound.getCharacteristic(Characteristic.ConfiguredName).value, "Robin Nanit Sound");
    assert.equal(accessory.services.filter((s) => s.UUID === Service.MotionSensor.UUID).length, 1);
  });

  it("reads answer No Response while the camera is unreachable", async () => {
    const { entry, accessory } = setup({ temperature: 20 });
    entry.available = false;
    await assert.rejects(
      accessory
        .getService(Service.TemperatureSensor)!
        .getCharacteristic(Characteristic.CurrentTemperature)
        .handleGetRequest(),
      (s) => s === -70402,
    );
  });

  it("the night light is a Lightbulb with On only; standby stays a Switch; writes become switch commands", async () => {
    const { accessory, commands } = setup({ switches: { nightLight: false, standby: false } });
    const bulb = accessory.getService(Service.Lightbulb)!;
    assert.ok(bulb, "a Lightbulb for presentAs light");
    assert.equal(bulb.getCharacteristic(Characteristic.ConfiguredName).value, "Night Light");
    assert.equal(bulb.testCharacteristic(Characteristic.Brightness), false);
    const switches = accessory.services.filter((s) => s.UUID === Service.Switch.UUID);
    assert.deepEqual(
      switches.map((s) => s.getCharacteristic(Characteristic.ConfiguredName).value),
      ["Standby"],
    );
    await bulb.getCharacteristic(Characteristic.On).handleSetRequest(true);
    await switches[0]!.getCharacteristic(Characteristic.On).handleSetRequest(1);
    assert.deepEqual(commands, [{ switches: { nightLight: true } }, { switches: { standby: true } }]);
  });

  it("a switch without a presentation hint is still a Switch (FanSync's Home Away)", () => {
    const { accessory } = setup({}, { switches: { away: { label: "Home Away" } } });
    assert.equal(accessory.getService(Service.Lightbulb), undefined);
    assert.ok(accessory.getService(Service.Switch));
  });
});
