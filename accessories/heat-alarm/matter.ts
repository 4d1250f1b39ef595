// heatAlarm -> Matter has no heat alarm (1.4): a heat alarm is expressed as the smokeState of the
// detector's Smoke CO Alarm endpoint (SmokeAlarm feature). This binding builds that endpoint only for
// heat-only detectors; otherwise the smoke or CO binding already did and folds heat in
// (accessories/smoke-alarm/matter-endpoint.ts).
import type { MatterBinding } from "../matter-support.ts";
import { alarmParts } from "../smoke-alarm/matter-endpoint.ts";

export const heatAlarmMatter: MatterBinding = {
  capability: "heatAlarm",
  parts: (ctx) => alarmParts("heatAlarm", ctx),
};
