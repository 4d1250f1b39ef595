// Assumed values of power writes a device acknowledged and never reported (docs/protocols/fansync.md
// §6.4): kept per vendor device id, persisted in the account's store across restarts, and dropped
// as soon as the device reports the register again.
import { copySafe } from "../../core/safe-keys.ts";
import { ASSUMABLE, type Registers } from "./registers.ts";

export type AssumableRegister = (typeof ASSUMABLE)[number];

/** Assumed values of unreported power writes, per vendor device id, as persisted in the store. */
export type AssumedState = Record<string, Partial<Record<AssumableRegister, { value: number; before: number | null }>>>;

export class AssumedPower {
  #byDevice: AssumedState;

  constructor(stored: unknown) {
    this.#byDevice = stored && typeof stored === "object" ? copySafe(stored as AssumedState) : {};
  }

  /** The reported registers with the assumed values laid over them. */
  effective(vid: string, reported: Registers): Registers {
    const out = { ...reported };
    for (const [reg, a] of Object.entries(this.#byDevice[vid] ?? {})) if (a) out[reg] = a.value;
    return out;
  }

  /** A push is a fresh device report: it ends every assumption about the registers it carries. */
  dropPushed(vid: string, pushed: Registers): boolean {
    const assumed = this.#byDevice[vid];
    let dropped = false;
    for (const reg of ASSUMABLE) {
      if (assumed?.[reg] && Object.hasOwn(pushed, reg)) {
        delete assumed[reg];
        dropped = true;
      }
    }
    return dropped;
  }

  /** A `get` returns the last REPORTED state: it only ends an assumption when the device reported
   * something other than the value it held before the unreported write. */
  dropContradicted(vid: string, reported: Registers): boolean {
    const assumed = this.#byDevice[vid];
    if (!assumed) return false;
    let dropped = false;
    for (const reg of ASSUMABLE) {
      const a = assumed[reg];
      if (a && (reported[reg] ?? null) !== a.before) {
        delete assumed[reg];
        dropped = true;
      }
    }
    return dropped;
  }

  /** Keep `value` for `reg` (or forget the assumption once the report says the same). Whether it changed. */
  assume(vid: string, reported: Registers, reg: AssumableRegister, value: number): boolean {
    const entry = (this.#byDevice[vid] ??= {});
    if (reported[reg] === value) {
      if (!entry[reg]) return false;
      delete entry[reg];
      return true;
    }
    entry[reg] = { value, before: reported[reg] ?? null };
    return true;
  }

  /** The store's value (undefined when nothing is assumed). */
  toJSON(): AssumedState | undefined {
    for (const [vid, regs] of Object.entries(this.#byDevice)) if (!Object.keys(regs).length) delete this.#byDevice[vid];
    return Object.keys(this.#byDevice).length ? structuredClone(this.#byDevice) : undefined;
  }
}
