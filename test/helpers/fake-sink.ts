// A DriverSink that records every call and keeps the resulting device states, with an event per
// call so tests can await what a driver reported.
import { EventEmitter } from "node:events";
import type { DriverSink, LinkState } from "../../src/core/driver.ts";
import { applyPatch, type DeviceInfo, type DeviceState, type StatePatch } from "../../src/core/model.ts";

export type SinkCall =
  | { type: "deviceFound"; info: DeviceInfo; state: DeviceState }
  | { type: "stateChanged"; id: string; patch: StatePatch }
  | { type: "availabilityChanged"; id: string | undefined; available: boolean }
  | { type: "linkStateChanged"; state: LinkState; detail: string | undefined };

export class FakeSink extends EventEmitter<{ call: [SinkCall] }> implements DriverSink {
  readonly calls: SinkCall[] = [];
  readonly infos = new Map<string, DeviceInfo>();
  readonly states = new Map<string, DeviceState>();
  readonly available = new Map<string, boolean>();
  accountAvailable = true;
  link: LinkState | undefined;

  #record(call: SinkCall): void {
    this.calls.push(call);
    this.emit("call", call);
  }

  deviceFound(info: DeviceInfo, state: DeviceState): void {
    this.infos.set(info.id, info);
    this.states.set(info.id, state);
    this.available.set(info.id, true);
    this.#record({ type: "deviceFound", info, state });
  }

  stateChanged(id: string, patch: StatePatch): void {
    const current = this.states.get(id);
    if (current) this.states.set(id, applyPatch(current, patch));
    this.#record({ type: "stateChanged", id, patch });
  }

  availabilityChanged(id: string | undefined, available: boolean): void {
    if (id === undefined) {
      this.accountAvailable = available;
      for (const key of this.available.keys()) this.available.set(key, available);
    } else this.available.set(id, available);
    this.#record({ type: "availabilityChanged", id, available });
  }

  linkStateChanged(state: LinkState, detail?: string): void {
    this.link = state;
    this.#record({ type: "linkStateChanged", state, detail });
  }

  of<T extends SinkCall["type"]>(type: T): Extract<SinkCall, { type: T }>[] {
    return this.calls.filter((c): c is Extract<SinkCall, { type: T }> => c.type === type);
  }

  /** Resolve with the next call (after now) that satisfies the predicate. */
  next(predicate: (call: SinkCall) => boolean, timeoutMs = 3000): Promise<SinkCall> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("call", fn);
        reject(new Error(`no matching sink call within ${timeoutMs} ms`));
      }, timeoutMs);
      const fn = (call: SinkCall): void => {
        if (!predicate(call)) return;
        clearTimeout(timer);
        this.off("call", fn);
        resolve(call);
      };
      this.on("call", fn);
    });
  }
}
