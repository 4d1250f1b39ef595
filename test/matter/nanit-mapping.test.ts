// The Matter side of a Nanit camera's bindings: units, endpoint ids and device types of its parts.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DeviceEntry } from "../../src/core/registry.ts";
import type { Capabilities, DeviceState } from "../../src/core/model.ts";
import { partsFor } from "../../src/matter/bridged.ts";
import { toCentiCelsius } from "../../accessories/temperature/matter.ts";
import { toCentiPercent } from "../../accessories/humidity/matter.ts";
import { switchPartId } from "../../accessories/switch/matter.ts";
import type { BindingContext } from "../../accessories/types.ts";

function ctx(capabilities: Capabilities, state: DeviceState, kind = "baby-camera"): BindingContext {
  const entry: DeviceEntry = {
    info: {
      id: "nanit:cam",
      vendor: "nanit",
      account: "a",
      kind,
      name: "Robin Nanit",
      manufacturer: "Nanit",
      model: "m",
      serialNumber: "cam",
      capabilities,
    },
    state,
    available: true,
  };
  return { entry, command: async () => undefined };
}

const CAMERA: Capabilities = {
  temperature: {},
  humidity: {},
  motion: {},
  sound: {},
  switches: { nightLight: { label: "Night Light", presentAs: "light" }, standby: { label: "Standby" } },
};

test("temperature and humidity in the clusters' 0.01 units, null when unknown, clamped to range", () => {
  assert.equal(toCentiCelsius(21.5), 2150);
  assert.equal(toCentiCelsius(-3.456), -346);
  assert.equal(toCentiCelsius(undefined), null);
  assert.equal(toCentiCelsius(Number.NaN), null);
  assert.equal(toCentiPercent(44.62), 4462);
  assert.equal(toCentiPercent(101), 10000);
  assert.equal(toCentiPercent(undefined), null);
});

test("a camera renders six parts in the kind's order with stable ids and device types", () => {
  const parts = partsFor(
    ctx(CAMERA, {
      temperature: 21.5,
      humidity: 44.62,
      motion: true,
      sound: false,
      switches: { nightLight: true, standby: false },
    }),
  );
  assert.deepEqual(
    parts.map((p) => p.id),
    ["temperature", "humidity", "motion", "sound", "light-nightLight", "switch-standby"],
  );
  const deviceTypes = parts.map((p) => (p.type as unknown as { deviceType: number }).deviceType);
  assert.deepEqual(deviceTypes, [0x0302, 0x0307, 0x0107, 0x0107, 0x0100, 0x010a]);
  assert.deepEqual(
    parts.map((p) => p.initial),
    [
      { temperatureMeasurement: { measuredValue: 2150, minMeasuredValue: -4000, maxMeasuredValue: 8000 } },
      { relativeHumidityMeasurement: { measuredValue: 4462, minMeasuredValue: 0, maxMeasuredValue: 10000 } },
      { occupancySensing: { occupancy: { occupied: true } } },
      { occupancySensing: { occupancy: { occupied: false } } },
      { onOff: { onOff: true } },
      { onOff: { onOff: false } },
    ],
  );
});

test("switch endpoint ids: plain switches keep switch-<key>; lights get their own id", () => {
  assert.equal(switchPartId("away"), "switch-away");
  assert.equal(switchPartId("night light", "light"), "light-night_light");
  const parts = partsFor(ctx({ switches: { away: { label: "Home Away" } } }, {}, "ceiling-fan"));
  assert.deepEqual(
    parts.map((p) => p.id),
    ["switch-away"],
  );
  assert.equal((parts[0]!.type as unknown as { deviceType: number }).deviceType, 0x010a, "still a plug-in unit");
});
