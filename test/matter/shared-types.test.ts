// Devices of one shape share their endpoint and behavior types (accessories/matter-types.ts): a type built
// per device cost memory with every device (README, "Household" bench). Sharing must not blur shapes:
// a device with other features still gets its own type, with exactly its features (the schema's
// feature codes: STEP, SPD = MultiSpeed, DIR = AirflowDirection, WND = Wind; MEA / PEA = numeric / peak).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint, MutableEndpoint } from "@matter/main";
import type { DeviceEntry } from "../../src/core/registry.ts";
import type { Capabilities, DeviceState } from "../../src/core/model.ts";
import { buildBridged, partsFor } from "../../src/matter/bridged.ts";
import type { BindingContext } from "../../accessories/types.ts";

function ctx(id: string, kind: string, capabilities: Capabilities, state: DeviceState = {}): BindingContext {
  const entry: DeviceEntry = {
    info: {
      id,
      vendor: "v",
      account: "a",
      kind,
      name: `Device ${id}`,
      manufacturer: "Maker",
      model: "m",
      serialNumber: id,
      capabilities,
    },
    state,
    available: true,
  };
  return { entry, command: async () => undefined };
}

const FAN: Capabilities = {
  fan: { speedSteps: [20, 40, 60, 80, 100], reversible: true, breeze: false },
  light: { dimmable: true, colorTemperatureK: [2700, 4000, 5000] },
};
const COMBO: Capabilities = {
  smokeAlarm: {},
  coAlarm: { ppm: true, peak: true },
  heatAlarm: {},
  battery: { level: true },
  alarmControls: { hush: true },
};

type Behaviors = Record<string, { schema?: { supportedFeatures: Set<string> } }>;
const behaviorsOf = (type: MutableEndpoint) => (type as unknown as { behaviors: Behaviors }).behaviors;
const featuresOf = (type: MutableEndpoint, behavior: string) =>
  [...(behaviorsOf(type)[behavior]?.schema?.supportedFeatures ?? [])].sort();
const typeOf = (endpoint: Endpoint) => endpoint.type as MutableEndpoint;

test("two fans of one shape share every part's endpoint type, whatever their ids, names and state", () => {
  const ca = ctx("fan-a", "ceiling-fan", FAN, { fan: { on: true, speed: 40, direction: "forward", breeze: false } });
  const cb = ctx("fan-b", "ceiling-fan", FAN, { fan: { on: false, speed: 0, direction: "reverse", breeze: false } });
  const [a, b] = [partsFor(ca), partsFor(cb)];
  assert.deepEqual(
    a.map((p) => p.id),
    ["fan", "light"],
  );
  a.forEach((part, i) => assert.equal(part.type, b[i]!.type, `${part.id}: one type for both fans`));

  // Composed device: the labelled-or-not children are shared too, the endpoints themselves are not.
  const [da, db] = [buildBridged(ca.entry, ca), buildBridged(cb.entry, cb)];
  assert.ok(da && db);
  assert.notEqual(da.endpoint, db.endpoint);
  da.parts.forEach(({ endpoint }, i) => assert.equal(typeOf(endpoint), typeOf(db.parts[i]!.endpoint)));
});

test("a single-part device gets one shared bridged type (device type + BridgedDeviceBasicInformation)", () => {
  const caps: Capabilities = { fan: { reversible: false, breeze: true } };
  const [a, b] = ["f1", "f2"].map((id) => {
    const c = ctx(id, "ceiling-fan", caps);
    return buildBridged(c.entry, c)!;
  });
  assert.equal(a!.parts.length, 1);
  assert.equal(typeOf(a!.endpoint), typeOf(b!.endpoint));
  assert.ok("bridgedDeviceBasicInformation" in behaviorsOf(typeOf(a!.endpoint)));
  assert.ok(!("bridgedDeviceBasicInformation" in behaviorsOf(a!.parts[0]!.part.type)), "the part's type is untouched");
});

test("other features get their own type with exactly their features", () => {
  const stepped = partsFor(ctx("s", "ceiling-fan", FAN))[0]!.type;
  const plain = partsFor(ctx("p", "ceiling-fan", { fan: { reversible: false, breeze: true } }))[0]!.type;
  assert.notEqual(stepped, plain);
  assert.deepEqual(featuresOf(stepped, "fanControl"), ["DIR", "SPD", "STEP"]);
  assert.deepEqual(featuresOf(plain, "fanControl"), ["STEP", "WND"]);

  const combo = partsFor(ctx("c1", "combo-alarm", COMBO));
  const comboAgain = partsFor(ctx("c2", "combo-alarm", COMBO));
  const smokeOnly = partsFor(ctx("s1", "smoke-alarm", { smokeAlarm: {}, battery: { level: false } }));
  assert.equal(combo[0]!.type, comboAgain[0]!.type);
  assert.notEqual(combo[0]!.type, smokeOnly[0]!.type);
  assert.deepEqual(featuresOf(combo[0]!.type, "smokeCoAlarm"), ["CO", "SMOKE"]);
  assert.deepEqual(featuresOf(smokeOnly[0]!.type, "smokeCoAlarm"), ["SMOKE"]);
  assert.deepEqual(featuresOf(combo[0]!.type, "carbonMonoxideConcentrationMeasurement"), ["MEA", "PEA"]);
  assert.ok(!("carbonMonoxideConcentrationMeasurement" in behaviorsOf(smokeOnly[0]!.type)));
});
