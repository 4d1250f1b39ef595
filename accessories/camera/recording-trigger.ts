// What the motion sensor linked to a recording camera reads: motion, or any sensor the user opted in as a
// recording trigger (the camera capability's `recordingTriggers`, README "Recording"). HomeKit's hub records
// when that linked sensor reports motion, so the motion binding (MotionDetected) and the camera binding (the
// recorder's trigger) both ask this one place and never disagree. Matter's motion sensor stays pure motion.
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import type { RecordingTrigger } from "../../src/core/camera.ts";
import type { BindingContext } from "../types.ts";

/** The sensors that count besides motion: a camera's opt-ins when its motion sensor is the recording
 * trigger (it records and has a motion sensor), none otherwise. */
export function linkedTriggers(ctx: BindingContext): readonly RecordingTrigger[] {
  const { capabilities } = ctx.entry.info;
  if (!capabilities.camera || !ctx.camera?.recorder || capabilities.motion === undefined) return [];
  return (capabilities.camera.recordingTriggers ?? []).filter((sensor) => capabilities[sensor] !== undefined);
}

/** MotionDetected of the linked sensor, and the recorder's trigger. */
export function triggerDetected(state: DeviceState, triggers: readonly RecordingTrigger[]): boolean {
  return state.motion === true || triggers.some((sensor) => state[sensor] === true);
}

/** The patch may change what triggerDetected says. */
export function touchesTrigger(patch: StatePatch, triggers: readonly RecordingTrigger[]): boolean {
  return patch.motion !== undefined || triggers.some((sensor) => patch[sensor] !== undefined);
}
