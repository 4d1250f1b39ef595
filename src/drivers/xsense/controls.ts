// The opt-in Hush and Self-Test switches (README "Hush and self-test switches"): what the log says when the
// owner asked for one a model cannot have, and which listed serials name no detector. Pure functions.
import { controlsOf, wantedFor, type ModelSpec, type XSenseControls } from "./models.ts";

export interface ControlsRefusal {
  /** What the detector gets no switch for, and why. */
  refused: string[];
  /** Its serial was listed for one of them (a warning), rather than the whole account asking (a note). */
  listed: boolean;
}

/** Sensors have no alarm to control: never refused. */
export function controlsRefusal(
  controls: XSenseControls,
  serial: string,
  spec: ModelSpec,
): ControlsRefusal | undefined {
  if (!spec.smoke && !spec.co && !spec.heat) return undefined;
  const wanted = wantedFor(controls, serial);
  const got = controlsOf(spec, wanted) ?? {};
  const refused: string[] = [];
  let listed = false;
  if (wanted.hush && !got.hush) {
    refused.push("Hush switch (it cannot be muted remotely)");
    listed ||= Array.isArray(controls.hush);
  }
  if (wanted.selfTest && !got.selfTest) {
    refused.push("Self-Test switch (it has no remote self-test)");
    listed ||= Array.isArray(controls.selfTest);
  }
  return refused.length ? { refused, listed } : undefined;
}

/** [key, serial] for every listed serial that is not among `serials`. */
export function unknownSerials(controls: XSenseControls, serials: Set<string>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [key, choice] of Object.entries(controls)) {
    if (Array.isArray(choice)) for (const sn of choice) if (!serials.has(sn)) out.push([key, sn]);
  }
  return out;
}
