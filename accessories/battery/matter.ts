// battery -> PowerSource (Battery feature) on the detector's Smoke CO Alarm endpoint, next to the
// cluster's batteryAlert: both are rendered by the alarm endpoint (accessories/smoke-co-alarm/
// matter.ts), so this binding adds no endpoint of its own. A device with a battery and no
// alarm capability (none exists so far) shows no battery in Matter; give it a part here when one does.
import type { MatterBinding } from "../matter-support.ts";

export const batteryMatter: MatterBinding = {
  capability: "battery",
  parts: () => [],
};
