// The commands behind a safety alarm's controls, shared by both ecosystems: which alarm capability owns the
// model's self-test and mute (a CO-only detector's belongs to its CO alarm, a heat detector's to its heat alarm).
import type { Capabilities, StatePatch } from "../../src/core/model.ts";

/** The command a self-test request stands for; undefined when the model has no remote self-test. */
export function selfTestCommand(caps: Capabilities): StatePatch | undefined {
  if (caps.smokeAlarm?.selfTest) return { smokeAlarm: { testing: true } };
  if (caps.coAlarm?.selfTest) return { coAlarm: { testing: true } };
  if (caps.heatAlarm?.selfTest) return { heatAlarm: { testing: true } };
  return undefined;
}

/** The command a hush stands for; undefined when the model cannot be muted remotely. */
export function hushCommand(caps: Capabilities): StatePatch | undefined {
  if (caps.smokeAlarm?.mute) return { smokeAlarm: { muted: true } };
  if (caps.coAlarm?.mute) return { coAlarm: { muted: true } };
  if (caps.heatAlarm?.mute) return { heatAlarm: { muted: true } };
  return undefined;
}
