// camera -> HAP-NodeJS's CameraController (two RTP stream management services, a microphone when the
// camera has audio) on the device's accessory, streaming through the CameraSource the media layer
// hands the host. When the source can record, the controller also gets HomeKit Secure Video
// (homekit-recording.ts) with the camera's motion sensor linked as the trigger: the sensor is created
// here (the motion binding then finds and keeps it) because the controller needs it at construction.
// The recorder's trigger follows what that sensor reads: motion or an opted-in sensor (recording-trigger.ts).
// Without a source (video disabled) the camera renders nothing and its sensors and switches stay.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { createCameraController } from "./homekit-delegate.ts";
import { linkedTriggers, touchesTrigger, triggerDetected } from "./recording-trigger.ts";
import type { HomeKitBinding } from "../homekit-support.ts";

export const cameraHomeKit: HomeKitBinding<"camera"> = {
  capability: "camera",
  attach(accessory, ctx) {
    const capability = ctx.entry.info.capabilities.camera;
    const source = ctx.camera;
    if (!capability || !source || !ctx.log) return { services: [], update() {} };
    let motion: Service | undefined;
    if (source.recorder && ctx.entry.info.capabilities.motion !== undefined) {
      const name = `${ctx.entry.info.name} Motion`;
      motion =
        accessory.getServiceById(Service.MotionSensor, "motion") ??
        accessory.addService(Service.MotionSensor, name, "motion");
      motion.addOptionalCharacteristic(Characteristic.ConfiguredName);
      motion.setCharacteristic(Characteristic.ConfiguredName, name);
    }
    const { controller, delegate, recording } = createCameraController({
      name: ctx.entry.info.name,
      source,
      audio: capability.audio,
      log: ctx.log,
      motion,
    });
    accessory.configureController(controller);
    const triggers = linkedTriggers(ctx);
    recording?.trigger(triggerDetected(ctx.entry.state, triggers));
    return {
      // The controller owns its services (listed nowhere else), and no sensor of the camera may
      // become the primary service: the tile is the camera's picture.
      services: [],
      noPrimary: true,
      update(state, patch) {
        if (touchesTrigger(patch, triggers)) recording?.trigger(triggerDetected(state, triggers));
      },
      async detach() {
        accessory.removeController(controller);
        await Promise.all([delegate.close(), recording?.close()]);
      },
      close: async () => {
        await Promise.all([delegate.close(), recording?.close()]);
      },
    };
  },
};
