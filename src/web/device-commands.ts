// The page's device controls: what each device offers (from its capabilities, so a new vendor needs
// nothing here) and the check of a command the page sends before it reaches the registry. A command is
// a StatePatch limited to what the device can do: a speed it does not hold, a switch it lacks or a key
// the model does not know is refused with a clear message instead of reaching the vendor.
import { z } from "zod";
import type { Capabilities, Command, SoundTrack } from "../core/model.ts";

/** The controls a device shows on the page (sensors show in its summary only). */
export interface DeviceControls {
  fan?: { speedSteps?: number[]; reversible: boolean; breeze: boolean };
  light?: { dimmable: boolean; colorTemperatureK?: number[] };
  switches?: { id: string; label: string }[];
  /** A speaker's volume slider (0-100). */
  volume?: { label: string };
  /** A sound machine: play/stop and the track to play. */
  soundMachine?: { label: string; tracks: SoundTrack[] };
  /** Alarms that can run a self-test on request (smokeAlarm, coAlarm, heatAlarm). */
  selfTest?: AlarmPart[];
  /** Alarms that can be hushed remotely. */
  mute?: AlarmPart[];
}

const ALARMS = ["smokeAlarm", "coAlarm", "heatAlarm"] as const;
type AlarmPart = (typeof ALARMS)[number];

export function controlsOf(caps: Capabilities): DeviceControls {
  const out: DeviceControls = {};
  if (caps.fan) {
    const { speedSteps, reversible, breeze } = caps.fan;
    out.fan = { ...(speedSteps ? { speedSteps } : {}), reversible, breeze };
  }
  if (caps.light) {
    const { dimmable, colorTemperatureK } = caps.light;
    out.light = { dimmable, ...(colorTemperatureK?.length ? { colorTemperatureK } : {}) };
  }
  const switches = Object.entries(caps.switches ?? {}).map(([id, s]) => ({ id, label: s.label }));
  if (switches.length) out.switches = switches;
  if (caps.volume) out.volume = { label: caps.volume.label };
  if (caps.soundMachine?.tracks.length)
    out.soundMachine = {
      label: caps.soundMachine.label,
      tracks: caps.soundMachine.tracks.map(({ id, label }) => ({ id, label })),
    };
  const selfTest = ALARMS.filter((a) => caps[a]?.selfTest);
  if (selfTest.length) out.selfTest = selfTest;
  const mute = ALARMS.filter((a) => caps[a]?.mute);
  if (mute.length) out.mute = mute;
  return out;
}

export class BadCommand extends Error {
  override name = "BadCommand";
}

const percent = (min: number) => z.number().int().min(min).max(100);

/** The schema of the commands a device with these capabilities accepts (strict: unknown keys fail). */
function commandSchema(caps: Capabilities) {
  const c = controlsOf(caps);
  const shape: Record<string, z.ZodType> = {};
  if (c.fan) {
    const steps = c.fan.speedSteps;
    const speed = steps
      ? percent(0).refine((s) => s === 0 || steps.includes(s), `speed must be one of ${steps.join(", ")}`)
      : percent(0);
    shape.fan = z.strictObject({
      on: z.boolean().optional(),
      speed: speed.optional(),
      ...(c.fan.reversible ? { direction: z.enum(["forward", "reverse"]).optional() } : {}),
      ...(c.fan.breeze ? { breeze: z.boolean().optional() } : {}),
    });
  }
  if (c.light) {
    const kelvin = c.light.colorTemperatureK;
    shape.light = z.strictObject({
      on: z.boolean().optional(),
      ...(c.light.dimmable ? { brightness: percent(1).optional() } : {}),
      ...(kelvin
        ? {
            colorTemperatureK: z
              .number()
              .refine((k) => kelvin.includes(k), `must be one of ${kelvin.join(", ")}`)
              .optional(),
          }
        : {}),
    });
  }
  if (c.switches) {
    shape.switches = z.strictObject(Object.fromEntries(c.switches.map((s) => [s.id, z.boolean().optional()])));
  }
  if (c.volume) shape.volume = percent(0);
  if (c.soundMachine) {
    const ids = c.soundMachine.tracks.map((t) => t.id);
    shape.soundMachine = z.strictObject({
      on: z.boolean().optional(),
      track: z
        .string()
        .refine((t) => ids.includes(t), "not a track of this sound machine")
        .optional(),
    });
  }
  for (const alarm of ALARMS) {
    const test = c.selfTest?.includes(alarm);
    const mute = c.mute?.includes(alarm);
    if (!test && !mute) continue;
    shape[alarm] = z.strictObject({
      ...(test ? { testing: z.literal(true).optional() } : {}),
      ...(mute ? { muted: z.boolean().optional() } : {}),
    });
  }
  return z.strictObject(Object.fromEntries(Object.entries(shape).map(([part, schema]) => [part, schema.optional()])));
}

/** A command from the page, checked against the device's capabilities; throws BadCommand. */
export function parseCommand(body: unknown, caps: Capabilities): Command {
  const result = commandSchema(caps).safeParse(body);
  if (!result.success) {
    const problem = result.error.issues[0]!;
    const where = problem.path.length ? `${problem.path.join(".")}: ` : "";
    const what =
      problem.code === "unrecognized_keys"
        ? `not a control of this device (${problem.keys.join(", ")})`
        : problem.message;
    throw new BadCommand(`${where}${what}`);
  }
  // Parts left empty ({fan: {}}) would reach the vendor as a no-op frame: drop them, refuse nothing-at-all.
  const command = Object.fromEntries(
    Object.entries(result.data as Record<string, unknown>).filter(
      ([, part]) => typeof part !== "object" || Object.keys(part as object).length > 0,
    ),
  ) as Command;
  if (!Object.keys(command).length) throw new BadCommand("the command changes nothing");
  return command;
}
