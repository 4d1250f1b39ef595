// cry -> a Matter Occupancy Sensor of its own (endpoint id "cry"), occupied while the camera hears a cry.
// Matter has no cry or sound sensor device type; this mirrors the HomeKit side (cry/homekit.ts) and the
// sound sensor (sound/matter.ts).
import { OccupancyPart } from "../motion/matter.ts";
import type { MatterBinding } from "../matter-support.ts";

export const cryMatter: MatterBinding = {
  capability: "cry",
  parts(ctx) {
    return ctx.entry.info.capabilities.cry ? [new OccupancyPart(ctx, "cry", (state) => state.cry === true)] : [];
  },
};
