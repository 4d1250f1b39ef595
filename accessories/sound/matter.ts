// sound -> a second Matter Occupancy Sensor (endpoint id "sound"), occupied while sound is detected.
// Matter has no sound sensor device type; an occupancy sensor mirrors the HomeKit side (an
// OccupancySensor named "Sound", as Home Assistant's HomeKit bridge shows a sound binary sensor;
// see sound/homekit.ts). Controllers list it as a second occupancy sensor of the camera.
import { OccupancyPart } from "../motion/matter.ts";
import type { MatterBinding } from "../matter-support.ts";

export const soundMatter: MatterBinding = {
  capability: "sound",
  parts(ctx) {
    return ctx.entry.info.capabilities.sound ? [new OccupancyPart(ctx, "sound", (state) => state.sound === true)] : [];
  },
};
