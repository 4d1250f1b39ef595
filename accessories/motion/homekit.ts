// motion -> HomeKit MotionSensor: MotionDetected. On a camera accessory this is also the sensor a
// HomeKit Secure Video camera records on (accessories/camera/homekit.ts links it); then it also reads
// detected while a sensor opted in as a recording trigger is (accessories/camera/recording-trigger.ts).
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { linkedTriggers, touchesTrigger, triggerDetected } from "../camera/recording-trigger.ts";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

export const motionHomeKit: HomeKitBinding<"motion"> = {
  capability: "motion",
  attach(accessory, ctx) {
    const name = `${ctx.entry.info.name} Motion`;
    // A camera that records has created it already (its controller links it as the recording trigger).
    const service =
      accessory.getServiceById(Service.MotionSensor, "motion") ??
      accessory.addService(Service.MotionSensor, name, "motion");
    service.addOptionalCharacteristic(Characteristic.ConfiguredName);
    service.setCharacteristic(Characteristic.ConfiguredName, name);
    const triggers = linkedTriggers(ctx);
    const detected = bindCharacteristic(service.getCharacteristic(Characteristic.MotionDetected), ctx, {
      read: (state) => triggerDetected(state, triggers),
    });
    detected.push(ctx.entry.state);
    return {
      services: [service],
      update(state, patch) {
        if (touchesTrigger(patch, triggers)) detected.push(state);
      },
    };
  },
};
