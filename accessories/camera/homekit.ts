// camera -> HAP-NodeJS's CameraController (two RTP stream management services, a microphone when the
// camera has audio) on the device's accessory, streaming through the CameraSource the media layer
// hands the host. Without a source (video disabled) the camera renders nothing and its sensors and
// switches stay.
import { createCameraController } from "./homekit-delegate.ts";
import type { HomeKitBinding } from "../homekit-support.ts";

export const cameraHomeKit: HomeKitBinding<"camera"> = {
  capability: "camera",
  attach(accessory, ctx) {
    const capability = ctx.entry.info.capabilities.camera;
    const source = ctx.camera;
    if (!capability || !source || !ctx.log) return { services: [], update() {} };
    const { controller, delegate } = createCameraController({ name: ctx.entry.info.name, source, audio: capability.audio, log: ctx.log });
    accessory.configureController(controller);
    return {
      // The controller owns its services (listed nowhere else), and no sensor of the camera may
      // become the primary service: the tile is the camera's picture.
      services: [],
      noPrimary: true,
      update() {},
      async detach() {
        accessory.removeController(controller);
        await delegate.close();
      },
      close: () => delegate.close(),
    };
  },
};
