// smokeAlarm -> the detector's Matter Smoke CO Alarm endpoint (SmokeAlarm feature, plus CoAlarm on a
// combo detector, PowerSource and CO concentration where reported). How the alarm capabilities share
// one endpoint is explained in accessories/smoke-alarm/matter-endpoint.ts.
import type { MatterBinding } from "../matter-support.ts";
import { alarmParts } from "./matter-endpoint.ts";

export const smokeAlarmMatter: MatterBinding = {
  capability: "smokeAlarm",
  parts: (ctx) => alarmParts("smokeAlarm", ctx),
};
