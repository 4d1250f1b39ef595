// The safety-alarm HomeKit bindings (smoke, CO, heat, battery) on a bare accessory, without a bridge or
// a network: which services each X-Sense kind gets, what the characteristics read, and which updates
// push what. Capabilities come from the driver's model catalogue, as the bridge gets them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Accessory, Characteristic, Service, uuid } from "@homebridge/hap-nodejs";
import type { DeviceEntry } from "../../src/core/registry.ts";
import { applyPatch, type DeviceState, type StatePatch } from "../../src/core/model.ts";
import { capabilitiesOf, MODELS } from "../../src/drivers/xsense/models.ts";
import { homekitBindings } from "../../accessories/homekit.ts";
import { kindOf } from "../../accessories/kinds.ts";
import type { HomeKitBoundCapability } from "../../accessories/homekit-support.ts";
import type { BindingContext } from "../../accessories/types.ts";

function setup(model: string, state: DeviceState = {}) {
  const spec = MODELS[model]!;
  const capabilities = capabilitiesOf(spec);
  const entry: DeviceEntry = {
    info: {
      id: `xsense:${model}`,
      vendor: "xsense",
      account: "a",
      kind: spec.kind,
      name: "Hall",
      manufacturer: "X-Sense",
      model,
      serialNumber: "S1",
      capabilities,
    },
    state,
    available: true,
  };
  const ctx: BindingContext = {
    entry,
    async command() {
      throw new Error("no commands from HomeKit");
    },
  };
  const accessory = new Accessory("Hall", uuid.generate(`test:${model}`));
  // As the host does: the kind's capabilities in order, those the device has.
  const bound: HomeKitBoundCapability[] = [];
  for (const capability of kindOf(spec.kind).capabilities) {
    if (capabilities[capability] === undefined) continue;
    bound.push(homekitBindings[capability]!.attach(accessory, ctx));
  }
  const push = (patch: StatePatch) => {
    entry.state = applyPatch(entry.state, patch);
    for (const b of bound) void b.update(entry.state, patch);
  };
  const services = accessory.services
    .filter((s) => s.UUID !== Service.AccessoryInformation.UUID)
    .map((s) => `${s.displayName}:${s.subtype}`);
  return { entry, accessory, bound, push, services };
}

const named = (s: Service) => s.getCharacteristic(Characteristic.ConfiguredName).value;

describe("X-Sense HomeKit bindings", () => {
  it("each kind gets its sensor services (a heat alarm is a smoke sensor) and a Battery service", () => {
    assert.deepEqual(setup("XS01-M").services, ["Hall:smoke", "Hall Battery:battery"]);
    assert.deepEqual(setup("XC01-M").services, ["Hall:co", "Hall Battery:battery"]);
    assert.deepEqual(setup("SC07-MR").services, ["Hall:smoke", "Hall CO:co", "Hall Battery:battery"]);
    const heat = setup("XH02-M");
    assert.deepEqual(heat.services, ["Hall:heat", "Hall Battery:battery"]);
    assert.equal(heat.accessory.getServiceById(Service.SmokeSensor, "heat")?.UUID, Service.SmokeSensor.UUID);
    const combo = setup("SC07-MR").accessory;
    assert.equal(named(combo.getServiceById(Service.CarbonMonoxideSensor, "co")!), "Hall CO");
  });

  it("characteristics start at the device's state, not HomeKit's defaults", async () => {
    const { accessory } = setup("SC07-MR", {
      smokeAlarm: { detected: true },
      coAlarm: { detected: false, ppm: 120 },
      battery: { level: 33, low: true },
      endOfLife: true,
    });
    const smoke = accessory.getServiceById(Service.SmokeSensor, "smoke")!;
    const co = accessory.getServiceById(Service.CarbonMonoxideSensor, "co")!;
    const battery = accessory.getService(Service.Battery)!;
    assert.equal(
      smoke.getCharacteristic(Characteristic.SmokeDetected).value,
      Characteristic.SmokeDetected.SMOKE_DETECTED,
    );
    assert.equal(
      smoke.getCharacteristic(Characteristic.StatusFault).value,
      Characteristic.StatusFault.GENERAL_FAULT,
      "end of life is a fault",
    );
    assert.equal(co.getCharacteristic(Characteristic.CarbonMonoxideLevel).value, 120);
    assert.equal(battery.getCharacteristic(Characteristic.BatteryLevel).value, 33);
    assert.equal(
      battery.getCharacteristic(Characteristic.StatusLowBattery).value,
      Characteristic.StatusLowBattery.BATTERY_LEVEL_LOW,
    );
    assert.equal(
      battery.getCharacteristic(Characteristic.ChargingState).value,
      Characteristic.ChargingState.NOT_CHARGEABLE,
    );
    assert.equal(await smoke.getCharacteristic(Characteristic.StatusActive).handleGetRequest(), true);
  });

  it("CO ppm above HAP's default 100 ppm maximum is shown, not clipped", async () => {
    const { accessory, push } = setup("XC01-M", { coAlarm: { detected: false, ppm: 0 } });
    const level = accessory
      .getService(Service.CarbonMonoxideSensor)!
      .getCharacteristic(Characteristic.CarbonMonoxideLevel);
    push({ coAlarm: { detected: true, ppm: 300 } });
    assert.equal(level.value, 300);
    assert.equal(await level.handleGetRequest(), 300);
  });

  it("an alarm change pushes exactly the characteristics it changes", () => {
    const { accessory, push } = setup("SC07-MR", {
      smokeAlarm: { detected: false },
      coAlarm: { detected: false, ppm: 0 },
      battery: { level: 100, low: false },
    });
    const changes: string[] = [];
    for (const s of accessory.services)
      for (const c of s.characteristics) c.on("change", () => changes.push(`${s.subtype}.${c.displayName}`));
    push({ smokeAlarm: { detected: true } });
    assert.deepEqual(changes, ["smoke.Smoke Detected"]);
    changes.length = 0;
    push({ fault: "sensor malfunction" });
    assert.deepEqual(changes.sort(), ["co.Status Fault", "smoke.Status Fault"]);
    changes.length = 0;
    push({ battery: { level: 0, low: true } });
    assert.deepEqual(changes.sort(), ["battery.Battery Level", "battery.Status Low Battery"]);
  });

  it("an unreachable detector reads No Response, and StatusActive false", async () => {
    const { accessory, entry } = setup("XS01-M", { smokeAlarm: { detected: false } });
    entry.available = false;
    const smoke = accessory.getService(Service.SmokeSensor)!;
    await assert.rejects(
      smoke.getCharacteristic(Characteristic.SmokeDetected).handleGetRequest(),
      (status) => status === -70402,
    );
    assert.equal(await smoke.getCharacteristic(Characteristic.StatusActive).handleGetRequest(), false);
  });
});
