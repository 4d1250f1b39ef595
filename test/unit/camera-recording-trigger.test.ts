// Opt-in recording triggers on a HomeKit camera accessory: the camera's `recordingTriggers` make the linked
// motion sensor (the one HomeKit's hub records on) read detected while an opted-in sensor is, and the
// recorder's trigger follow the same value; without the opt-in (or without a recorder) it stays pure motion.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Accessory, Characteristic, Service, uuid } from "@homebridge/hap-nodejs";
import { pino } from "pino";
import type { CameraRecorder, CameraSource, RecordingTrigger } from "../../src/core/camera.ts";
import type { DeviceEntry } from "../../src/core/registry.ts";
import { applyPatch, type Capabilities, type DeviceState, type StatePatch } from "../../src/core/model.ts";
import { homekitBindings, type HomeKitBoundCapability } from "../../accessories/homekit.ts";
import type { BindingContext } from "../../accessories/types.ts";

class FakeRecorder implements CameraRecorder {
  readonly triggers: boolean[] = [];
  configure(): void {}
  trigger(active: boolean): void {
    this.triggers.push(active);
  }
  async record(): Promise<never> {
    throw new Error("not in this test");
  }
  async close(): Promise<void> {}
}

function setup(options: { triggers?: RecordingTrigger[]; recorder?: boolean; cry?: boolean; sound?: boolean }) {
  const recorder = new FakeRecorder();
  const source: CameraSource = {
    deviceId: "cam:1",
    snapshot: async () => Buffer.alloc(0),
    startLive: async () => {
      throw new Error("not in this test");
    },
    ...(options.recorder === false ? {} : { recorder }),
  };
  const camera = { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: false };
  const capabilities: Capabilities = {
    camera: options.triggers ? { ...camera, recordingTriggers: options.triggers } : camera,
    motion: {},
    sound: {},
    ...(options.cry ? { cry: {} } : {}),
  };
  const state: DeviceState = { motion: false, sound: options.sound === true, ...(options.cry ? { cry: false } : {}) };
  const entry: DeviceEntry = {
    info: {
      id: "cam:1",
      vendor: "cam",
      account: "a",
      kind: "baby-camera",
      name: "Robin",
      manufacturer: "Test",
      model: "Camera",
      serialNumber: "1",
      capabilities,
    },
    state,
    available: true,
  };
  const ctx: BindingContext = { entry, command: async () => {}, camera: source, log: pino({ level: "silent" }) };
  const accessory = new Accessory("Robin", uuid.generate("test:recording-trigger"));
  // As the host does: the camera first (it creates the linked motion sensor), then the sensors.
  const bound: HomeKitBoundCapability[] = (["camera", "motion", "sound", "cry"] as const)
    .filter((name) => capabilities[name] !== undefined)
    .map((name) => homekitBindings[name]!.attach(accessory, ctx));
  const push = (patch: StatePatch) => {
    entry.state = applyPatch(entry.state, patch);
    for (const b of bound) void b.update(entry.state, patch);
  };
  const motionDetected = () =>
    accessory.getServiceById(Service.MotionSensor, "motion")!.getCharacteristic(Characteristic.MotionDetected).value;
  const last = () => recorder.triggers.at(-1);
  return { push, motionDetected, last, recorder };
}

describe("recording triggers (HomeKit camera)", () => {
  it("with sound opted in, sound makes the linked motion sensor detected and triggers the recorder", () => {
    const { push, motionDetected, last } = setup({ triggers: ["sound"] });
    assert.equal(motionDetected(), false);
    push({ sound: true });
    assert.equal(motionDetected(), true);
    assert.equal(last(), true);
    // Motion starting and ending while sound goes on does not end the trigger.
    push({ motion: true });
    push({ motion: false });
    assert.equal(motionDetected(), true);
    assert.equal(last(), true);
    push({ sound: false });
    assert.equal(motionDetected(), false);
    assert.equal(last(), false);
  });

  it("without the opt-in, sound changes neither the motion sensor nor the recorder", () => {
    const { push, motionDetected, recorder } = setup({});
    const before = recorder.triggers.length;
    push({ sound: true });
    assert.equal(motionDetected(), false);
    assert.equal(recorder.triggers.length, before, "no trigger call for sound");
    push({ motion: true });
    assert.equal(motionDetected(), true);
    assert.equal(recorder.triggers.at(-1), true);
  });

  it("cry counts when opted in and the camera has a cry sensor; sound alone is not opted in then", () => {
    const { push, motionDetected, last } = setup({ triggers: ["cry"], cry: true });
    push({ sound: true });
    assert.equal(motionDetected(), false);
    push({ cry: true });
    assert.equal(motionDetected(), true);
    assert.equal(last(), true);
  });

  it("a camera that cannot record keeps a pure motion sensor", () => {
    const { push, motionDetected } = setup({ triggers: ["sound"], recorder: false });
    push({ sound: true });
    assert.equal(motionDetected(), false);
  });

  it("a sound already detected when the accessory is built starts detected and triggered", () => {
    const { motionDetected, last } = setup({ triggers: ["sound"], sound: true });
    assert.equal(motionDetected(), true);
    assert.equal(last(), true);
  });
});
