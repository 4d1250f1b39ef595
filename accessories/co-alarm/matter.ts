// coAlarm -> a Matter Smoke CO Alarm endpoint with the CoAlarm feature (and CarbonMonoxide-
// ConcentrationMeasurement when the model reports ppm), built here only for CO-only detectors: on a
// combo detector the smokeAlarm binding builds the one endpoint with both features
// (accessories/smoke-alarm/matter-endpoint.ts).
import type { MatterBinding } from "../matter-support.ts";
import { alarmParts } from "../smoke-alarm/matter-endpoint.ts";

export const coAlarmMatter: MatterBinding = {
  capability: "coAlarm",
  parts: (ctx) => alarmParts("coAlarm", ctx),
};
