// Speed steps of models nobody has described, learned from what the fans report back (README
// "FanSync notes"; docs/protocols/fansync.md §6.5). A fan that holds fixed speeds answers a speed
// write with one of its levels (a Kute60 reports 42 as 35); a continuous fan answers with what was
// written, except the top clamp of some models (100 settles at 87). So:
// - every speed a fan reports while running is one of its levels;
// - a model counts as stepped once two DIFFERENT requested speeds were each reported as another
//   speed: one odd answer alone could be the 100 % clamp of a continuous fan;
// - its steps are then the levels seen, plus 100. A level never reported is not offered until the
//   fan reports it (set from the wall remote or the FanSync app); `speedSteps` in the config settles it.
// The evidence is kept per model in the account's store (the data directory, 0600), so a restart
// starts with what was learned; a model with a known ladder or a configured one never learns.
import { isUnsafeKey } from "../../core/safe-keys.ts";
import { normaliseSteps } from "./capabilities.ts";

/** What was seen of one model. */
export interface ModelEvidence {
  /** Distinct speeds the model reported while running. */
  levels: number[];
  /** Distinct requested speeds the model reported as some other speed. */
  mismatches: number[];
}

export type LearnedStepsData = Record<string, ModelEvidence>;

/** Bounds on stored evidence: the store file is read back at start, so it must stay small. */
const MAX_MODELS = 64;
const MAX_MODEL_LENGTH = 64;
/** Distinct requests answered otherwise before a model counts as stepped. */
const MISMATCHES_FOR_STEPS = 2;

function speeds(value: unknown): number[] {
  return Array.isArray(value) ? (normaliseSteps(value.filter((v): v is number => typeof v === "number")) ?? []) : [];
}

export class LearnedSteps {
  readonly #models = new Map<string, ModelEvidence>();

  /** From the store's value (anything malformed is dropped). */
  constructor(stored: unknown) {
    if (!stored || typeof stored !== "object" || Array.isArray(stored)) return;
    for (const [model, raw] of Object.entries(stored as Record<string, unknown>)) {
      if (this.#models.size >= MAX_MODELS || !usableModel(model) || !raw || typeof raw !== "object") continue;
      const e = raw as Record<string, unknown>;
      this.#models.set(model, { levels: speeds(e.levels), mismatches: speeds(e.mismatches) });
    }
  }

  /** The learned steps of a model, once it has shown it holds fixed speeds. */
  stepsFor(model: string): number[] | undefined {
    const e = this.#models.get(model);
    if (!e || e.mismatches.length < MISMATCHES_FOR_STEPS || e.levels.length < 2) return undefined;
    // Full speed is taken as a level even before it was seen: every stepped model known holds 100,
    // and without it a fan never reported at full speed could not be sent there from a slider.
    return e.levels.includes(100) ? [...e.levels] : [...e.levels, 100];
  }

  /**
   * The fan reported `reported` % while running, in answer to a write of `requested` % (undefined:
   * not an answer, e.g. the wall remote or a poll). Returns whether the evidence changed.
   */
  observe(model: string, reported: number, requested?: number): boolean {
    if (!usableModel(model) || !Number.isInteger(reported) || reported < 1 || reported > 100) return false;
    let e = this.#models.get(model);
    if (!e) {
      if (this.#models.size >= MAX_MODELS) return false;
      e = { levels: [], mismatches: [] };
      this.#models.set(model, e);
    }
    let changed = add(e.levels, reported);
    if (requested !== undefined && requested !== reported && requested >= 1 && requested <= 100)
      changed = add(e.mismatches, Math.round(requested)) || changed;
    return changed;
  }

  /** The store's value. */
  toJSON(): LearnedStepsData | undefined {
    if (!this.#models.size) return undefined;
    const out: LearnedStepsData = {};
    for (const [model, e] of this.#models) out[model] = { levels: [...e.levels], mismatches: [...e.mismatches] };
    return out;
  }
}

function usableModel(model: string): boolean {
  return model.length > 0 && model.length <= MAX_MODEL_LENGTH && !isUnsafeKey(model);
}

/** Insert into a sorted list of distinct values; false when already there. */
function add(list: number[], value: number): boolean {
  if (list.includes(value)) return false;
  list.push(value);
  list.sort((a, b) => a - b);
  return true;
}
