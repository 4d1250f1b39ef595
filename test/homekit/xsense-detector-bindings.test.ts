// The HomeKit bindings of the leak capability and of the opt-in alarm controls on a bare accessory (no bridge,
// no network): the LeakSensor service, and the momentary Hush / Self-Test switches: which command a tap sends,
// a refused tap answers "No Response", the switch reads off at rest. Capabilities from the driver's catalogue.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Accessory, Characteristic, HapStatusError, Service, uuid } from "@homebridge/hap-nodejs";
import type { DeviceEntry } from "../../src/core/registry.ts";
import type { StatePatch } from "../../src/core/model.ts";
import { capabilitiesOf, MODELS, type ControlsWanted } from "../../src/drivers/xsense/models.ts";
import { homekitBindings } from "../../accessories/homekit.ts";
import { kindOf } from "../../accessories/kinds.ts";

function setup(model: string, wanted: ControlsWanted = {}, refuse = false) {
  const spec = MODELS[model]!;
  const capabilities = capabilitiesOf(spec, wanted);
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
    state: { leak: false },
    available: true,
  };
  const commands: StatePatch[] = [];
  const accessory = new Accessory("Hall", uuid.generate(`test:${model}`));
  const ctx = {
    entry,
    async command(patch: StatePatch) {
      commands.push(patch);
      if (refuse) throw new Error("refused by the vendor");
    },
  };
  for (const capability of kindOf(spec.kind).capabilities) {
    if (capabilities[capability] !== undefined) homekitBindings[capability]!.attach(accessory, ctx);
  }
  const switches = accessory.services.filter((s) => s.UUID === Service.Switch.UUID);
  return { accessory, commands, switches };
}

describe("X-Sense leak sensor and alarm controls in HomeKit", () => {
  it("a water sensor is a LeakSensor with a Battery, and no switch", async () => {
    const { accessory, switches } = setup("SWS51", { hush: true, selfTest: true });
    const leak = accessory.getServiceById(Service.LeakSensor, "leak")!;
    assert.equal(await leak.getCharacteristic(Characteristic.LeakDetected).handleGetRequest(), 0);
    assert.ok(accessory.getService(Service.Battery));
    assert.deepEqual(switches, []);
  });

  it("no switches unless asked for; Hush and Self-Test send the model's commands and read off", async () => {
    assert.deepEqual(setup("XC01-M").switches, []);
    const { switches, commands } = setup("XC01-M", { hush: true, selfTest: true });
    assert.deepEqual(
      switches.map((s) => [s.subtype, s.getCharacteristic(Characteristic.ConfiguredName).value]),
      [
        ["hush", "Hall Hush"],
        ["selftest", "Hall Self-Test"],
      ],
    );
    for (const s of switches) {
      const on = s.getCharacteristic(Characteristic.On);
      assert.equal(await on.handleGetRequest(), false);
      await on.handleSetRequest(true);
      await on.handleSetRequest(false); // nothing to undo
    }
    assert.deepEqual(commands, [{ coAlarm: { muted: true } }, { coAlarm: { testing: true } }], "a CO detector's own");
  });

  it("a tap the vendor refuses answers No Response", async () => {
    const { switches } = setup("XS0B-MR", { hush: true }, true);
    await assert.rejects(
      switches[0]!.getCharacteristic(Characteristic.On).handleSetRequest(true),
      // HAP-NodeJS turns the handler's HapStatusError into its status: SERVICE_COMMUNICATION_FAILURE.
      (e) => e === -70402 || (e instanceof HapStatusError && e.hapStatus === -70402),
    );
  });
});
