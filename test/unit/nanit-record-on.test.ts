// Nanit's `recordOn` config -> the camera capability's vendor-neutral recordingTriggers (README "Recording").
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cameraInfo, type CameraChoices } from "../../src/drivers/nanit/camera-info.ts";
import type { BabyCamera } from "../../src/drivers/nanit/rest.ts";

describe("Nanit recordOn -> the camera capability's recordingTriggers", () => {
  const cam: BabyCamera = {
    babyUid: "b1",
    babyName: "Robin",
    cameraUid: "c1",
    privateAddress: undefined,
    firmware: undefined,
    hardware: undefined,
    connected: true,
  };
  const triggersOf = (choices: CameraChoices) =>
    cameraInfo(cam, "nursery", undefined, new Set(), choices).capabilities.camera?.recordingTriggers;
  it("none by default; sound as asked; cry only with the Cry sensor on", () => {
    assert.equal(triggersOf({}), undefined);
    assert.deepEqual(triggersOf({ recordOn: ["sound"] }), ["sound"]);
    assert.deepEqual(triggersOf({ recordOn: ["sound", "cry"] }), ["sound"]);
    assert.deepEqual(triggersOf({ recordOn: ["cry", "sound", "cry"], cry: true }), ["cry", "sound"]);
  });
});
