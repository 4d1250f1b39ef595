// The HomeKit bindings on a bare accessory, without a bridge or a network: which characteristics a
// capability description produces, and which commands writes become.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Accessory, Characteristic, HapStatusError, Service, uuid } from "@homebridge/hap-nodejs";
import type { DeviceEntry } from "../../src/core/registry.ts";
import { applyPatch, type Capabilities, type DeviceState, type StatePatch } from "../../src/core/model.ts";
import { homekitBindings } from "../../accessories/homekit.ts";
import type { BindingContext } from "../../accessories/types.ts";

function setup(capabilities: Capabilities, state: DeviceState) {
  const entry: DeviceEntry = {
    info: {
      id: "fansync:x",
      vendor: "fansync",
      account: "a",
      kind: "ceiling-fan",
      name: "Test Fan",
      manufacturer: "M",
      model: "M1",
      serialNumber: "S",
      capabilities,
    },
    state,
    available: true,
  };
  const commands: StatePatch[] = [];
  let refuse = false;
  const ctx: BindingContext = {
    entry,
    async command(patch) {
      commands.push(patch);
      if (refuse) throw new Error("refused");
      entry.state = applyPatch(entry.state, patch);
    },
  };
  const accessory = new Accessory("Test Fan", uuid.generate("test:x"));
  const bound = Object.entries(capabilities).map(([name]) =>
    homekitBindings[name as keyof Capabilities]!.attach(accessory, ctx),
  );
  return { entry, accessory, bound, commands, refuse: (v: boolean) => (refuse = v) };
}

describe("fan binding", () => {
  it("a continuous, non-reversible fan: 1% steps, no RotationDirection, speeds pass through", async () => {
    const { accessory, commands } = setup(
      { fan: { reversible: false, breeze: false } },
      { fan: { on: true, speed: 40, direction: "forward", breeze: false } },
    );
    const fan = accessory.getService(Service.Fanv2)!;
    assert.equal(fan.getCharacteristic(Characteristic.RotationSpeed).props.minStep, 1);
    assert.equal(fan.testCharacteristic(Characteristic.RotationDirection), false);
    await fan.getCharacteristic(Characteristic.RotationSpeed).handleSetRequest(37);
    assert.deepEqual(commands, [{ fan: { speed: 37 } }]);
  });

  it("steps of 25 give the slider a 25% granularity and snap writes", async () => {
    const { accessory, commands } = setup(
      { fan: { speedSteps: [25, 50, 75, 100], reversible: true, breeze: false } },
      { fan: { on: false, speed: 50, direction: "forward", breeze: false } },
    );
    const speed = accessory.getService(Service.Fanv2)!.getCharacteristic(Characteristic.RotationSpeed);
    assert.equal(speed.props.minStep, 25);
    assert.equal(await speed.handleGetRequest(), 0, "off reads 0");
    await speed.handleSetRequest(60);
    assert.deepEqual(commands, [{ fan: { on: true, speed: 50 } }]);
  });

  it("reads throw No Response while unavailable; a refused write answers No Response", async () => {
    const { entry, accessory, refuse } = setup(
      { fan: { reversible: false, breeze: false } },
      { fan: { on: true, speed: 40, direction: "forward", breeze: false } },
    );
    const active = accessory.getService(Service.Fanv2)!.getCharacteristic(Characteristic.Active);
    refuse(true);
    await assert.rejects(active.handleSetRequest(0), (status) => status === -70402);
    entry.available = false;
    await assert.rejects(active.handleGetRequest(), (status) => status === -70402);
    assert.ok(new HapStatusError(-70402) instanceof Error);
  });

  it("update() pushes only what changed", () => {
    const { accessory, bound, entry } = setup(
      { fan: { reversible: true, breeze: false } },
      { fan: { on: true, speed: 40, direction: "forward", breeze: false } },
    );
    const fan = accessory.getService(Service.Fanv2)!;
    const changes: string[] = [];
    for (const c of fan.characteristics) c.on("change", () => changes.push(c.displayName));
    entry.state = applyPatch(entry.state, { fan: { direction: "reverse" } });
    bound[0]!.update(entry.state, { fan: { direction: "reverse" } });
    assert.deepEqual(changes, ["Rotation Direction"]);
    assert.equal(
      fan.getCharacteristic(Characteristic.RotationDirection).value,
      Characteristic.RotationDirection.COUNTER_CLOCKWISE,
    );
  });
});

describe("light binding", () => {
  it("no Brightness when not dimmable, no ColorTemperature with fewer than two presets", () => {
    const { accessory } = setup(
      { light: { dimmable: false, colorTemperatureK: [3000] } },
      { light: { on: true, brightness: 100 } },
    );
    const bulb = accessory.getService(Service.Lightbulb)!;
    assert.equal(bulb.testCharacteristic(Characteristic.Brightness), false);
    assert.equal(bulb.testCharacteristic(Characteristic.ColorTemperature), false);
  });

  it("colour temperature range and snapping come from the presets", async () => {
    const { accessory, commands } = setup(
      { light: { dimmable: true, colorTemperatureK: [2200, 6500, 4000] } },
      { light: { on: true, brightness: 100, colorTemperatureK: 4000 } },
    );
    const ct = accessory.getService(Service.Lightbulb)!.getCharacteristic(Characteristic.ColorTemperature);
    assert.deepEqual([ct.props.minValue, ct.props.maxValue], [154, 455]);
    assert.equal(await ct.handleGetRequest(), 250);
    await ct.handleSetRequest(420);
    assert.deepEqual(commands, [{ light: { colorTemperatureK: 2200 } }]);
  });
});

describe("switches binding", () => {
  it("one Switch per entry, subtype = switch id, named by its label", async () => {
    const { accessory, commands } = setup(
      { switches: { nightLight: { label: "Night Light" }, away: { label: "Home Away" } } },
      { switches: { nightLight: true } },
    );
    const night = accessory.getServiceById(Service.Switch, "switch:nightLight")!;
    const away = accessory.getServiceById(Service.Switch, "switch:away")!;
    assert.equal(night.getCharacteristic(Characteristic.ConfiguredName).value, "Night Light");
    assert.equal(await night.getCharacteristic(Characteristic.On).handleGetRequest(), true);
    assert.equal(await away.getCharacteristic(Characteristic.On).handleGetRequest(), false);
    await away.getCharacteristic(Characteristic.On).handleSetRequest(true);
    assert.deepEqual(commands, [{ switches: { away: true } }]);
  });
});
