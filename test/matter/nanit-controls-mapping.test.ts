// The Matter side of a camera's controls: parts, ids, device types, labels and units; the volume fan's
// commands; and the labels a composed device's children carry (FixedLabel "Label", empty UserLabel).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DeviceEntry } from "../../src/core/registry.ts";
import type { Capabilities, DeviceState } from "../../src/core/model.ts";
import { partsFor } from "../../src/matter/bridged.ts";
import { labelled, MAX_LABEL } from "../../accessories/matter-support.ts";
import { toIlluminance } from "../../accessories/light-level/matter.ts";
import { volumeCommand } from "../../accessories/volume/matter.ts";
import type { BindingContext } from "../../accessories/types.ts";

function ctx(capabilities: Capabilities, state: DeviceState): BindingContext {
  const entry: DeviceEntry = {
    info: {
      id: "nanit:cam",
      vendor: "nanit",
      account: "a",
      kind: "baby-camera",
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
  lightLevel: {},
  night: {},
  light: { dimmable: true, label: "Night light" },
  volume: { label: "Volume" },
  soundMachine: { label: "Sound machine", tracks: [{ id: "White_Noise.wav", label: "White Noise" }] },
  switches: { standby: { label: "Standby" }, nightVisionAlwaysOn: { label: "Night vision 24h" } },
};

test("every control and sensor of a camera is a part with a stable id, a device type and a label", () => {
  const parts = partsFor(
    ctx(CAMERA, {
      lightLevel: 100,
      night: false,
      light: { on: true, brightness: 60 },
      volume: 40,
      soundMachine: { on: true, track: "White_Noise.wav" },
      switches: { standby: false, nightVisionAlwaysOn: true },
    }),
  );
  const rows = parts.map((p) => [p.id, (p.type as unknown as { deviceType: number }).deviceType, p.label]);
  assert.deepEqual(rows, [
    ["temperature", 0x0302, "Temperature"],
    ["humidity", 0x0307, "Humidity"],
    ["motion", 0x0107, "Motion"],
    ["sound", 0x0107, "Sound"],
    ["lightLevel", 0x0106, "Light level"],
    ["night", 0x0107, "Night"],
    ["light", 0x0101, "Night light"],
    ["volume", 0x002b, "Volume"],
    ["sound-machine", 0x010a, "Sound machine"],
    ["sound-White_Noise_wav", 0x010a, "White Noise"],
    ["switch-standby", 0x010a, "Standby"],
    ["switch-nightVisionAlwaysOn", 0x010a, "Night vision 24h"],
  ]);
  const initial = Object.fromEntries(parts.map((p) => [p.id, p.initial]));
  assert.deepEqual(initial.lightLevel, {
    illuminanceMeasurement: { measuredValue: 20001, minMeasuredValue: 1, maxMeasuredValue: 0xfffe },
  });
  assert.deepEqual(initial.light, {
    onOff: { onOff: true },
    levelControl: { currentLevel: 152, minLevel: 1, maxLevel: 254, onLevel: null },
  });
  assert.deepEqual(initial.volume, {
    fanControl: { fanModeSequence: 0, fanMode: 2, percentSetting: 40, percentCurrent: 40 },
  });
  assert.deepEqual(initial["sound-machine"], { onOff: { onOff: true } });
  assert.deepEqual(initial["sound-White_Noise_wav"], { onOff: { onOff: true } });
});

test("illuminance is 10000 log10(lux) + 1; 0 lux is 'too dark', unknown is null", () => {
  assert.equal(toIlluminance(1), 1);
  assert.equal(toIlluminance(10), 10001);
  assert.equal(toIlluminance(0), 0);
  assert.equal(toIlluminance(0.5), 1);
  assert.equal(toIlluminance(undefined), null);
  assert.equal(toIlluminance(1e9), 0xfffe);
});

test("the volume fan's commands become volumes: off = 0, a speed = that volume", () => {
  assert.deepEqual(volumeCommand({ fan: { on: false } }), { volume: 0 });
  assert.deepEqual(volumeCommand({ fan: { on: true, speed: 35 } }), { volume: 35 });
  assert.deepEqual(volumeCommand({ fan: { direction: "reverse" } }), {});
});

test("labelled(): FixedLabel {Label: name} (at most 16 characters) and an empty UserLabel", () => {
  const [part] = partsFor(ctx({ switches: { x: { label: "Night vision always on" } } }, {}));
  const { type, initial } = labelled(part!);
  const behaviors = Object.keys((type as unknown as { behaviors: object }).behaviors);
  assert.ok(behaviors.includes("fixedLabel") && behaviors.includes("userLabel"), behaviors.join(","));
  assert.deepEqual(initial.fixedLabel, { labelList: [{ label: "Label", value: "Night vision alw" }] });
  assert.equal(MAX_LABEL, 16);
  assert.deepEqual(initial.userLabel, { labelList: [] });
  const unlabelled = { ...part!, label: undefined };
  assert.equal(labelled(unlabelled).type, part!.type);
});

test("a Sound & Light Machine renders its light, volume, sound switches and room sensors", () => {
  const c = ctx(
    {
      light: { dimmable: true, color: true, label: "Light" },
      volume: { label: "Volume" },
      soundMachine: { label: "Sound", tracks: [{ id: "Waves", label: "Waves" }] },
      temperature: {},
      humidity: {},
    },
    { light: { on: true, brightness: 50 }, volume: 40 },
  );
  c.entry.info.kind = "sound-light-machine";
  assert.deepEqual(
    partsFor(c).map((p) => [p.id, (p.type as unknown as { deviceType: number }).deviceType, p.label]),
    [
      ["light-color", 0x010d, "Light"],
      ["volume", 0x002b, "Volume"],
      ["sound-machine", 0x010a, "Sound"],
      ["sound-Waves", 0x010a, "Waves"],
      ["temperature", 0x0302, "Temperature"],
      ["humidity", 0x0307, "Humidity"],
    ],
  );
});
