// Writes sent to a device and not yet answered. The cloud applies set frames in order, but the device
// reports a write only some time later: a command planned against the last report alone, while an
// earlier write is still on its way, leaves out what that write changes ("off", then at once "on at
// 35 %": the fan still reads as on, so only H02=35 went out and the fan stayed off). Commands are
// planned against the registers as they will be once every write in flight is carried out.
import type { Registers } from "./registers.ts";

export class InFlightWrites {
  /** Per register, the last write in flight that sets it. */
  readonly #byRegister = new Map<string, Registers>();
  /** Per register, the last write that set it, answered or not. */
  readonly #last = new Map<string, Registers>();

  /** `current` with every register a write in flight sets, at the value it sets. */
  over(current: Registers): Registers {
    const out = { ...current };
    for (const [reg, write] of this.#byRegister) out[reg] = write[reg]!;
    return out;
  }

  /** The writes of a command, before the first is sent (a later command must see all of them). */
  add(writes: Registers[]): void {
    for (const write of writes)
      for (const reg of Object.keys(write)) {
        this.#byRegister.set(reg, write);
        this.#last.set(reg, write);
      }
  }

  /** A later write set `reg` too: `write`'s value is no longer what the device should hold there, so it
   * must not become assumed state (its acknowledgement may come after the later write's report). */
  superseded(write: Registers, reg: string): boolean {
    return this.#last.get(reg) !== write;
  }

  /** `answer`, once `write` was answered or failed: from then on the reports and the assumed state
   * speak for its registers again (unless a later write in flight sets them too). */
  settled<T>(write: Registers, answer: Promise<T>): Promise<T> {
    return answer.finally(() => this.forget([write]));
  }

  /** Writes that were answered, or will never be sent (an earlier write of their command failed). */
  forget(writes: Registers[]): void {
    for (const write of writes)
      for (const reg of Object.keys(write)) if (this.#byRegister.get(reg) === write) this.#byRegister.delete(reg);
  }
}
