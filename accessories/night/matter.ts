// night -> a Matter Occupancy Sensor (endpoint id "night"), occupied while the device reads night;
// why an occupancy sensor: night/homekit.ts.
import { OccupancyPart } from "../motion/matter.ts";
import type { MatterBinding } from "../matter-support.ts";

export const nightMatter: MatterBinding = {
  capability: "night",
  parts(ctx) {
    return ctx.entry.info.capabilities.night ? [new OccupancyPart(ctx, "night", (state) => state.night === true)] : [];
  },
};
