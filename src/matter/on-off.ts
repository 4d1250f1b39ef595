// OnOff server shared by lights and switches: the on/off/toggle commands (and offWithEffect, which
// calls off()) first ask the device through the binding, and only change the attribute once the
// vendor accepted; a refusal reaches the controller as FAILURE. Device updates are written offline
// with endpoint.set() and never pass through these handlers, so nothing is echoed to the driver.
import { OnOffServer } from "@matter/main/behaviors/on-off";
import type { StatePatch } from "../core/model.ts";
import { inCommand, sendCommand } from "../../accessories/matter-support.ts";

const patches = new WeakMap<object, (on: boolean) => StatePatch>();

/** Which command an on/off request on `endpoint` becomes, e.g. on => ({ light: { on } }). */
export function bindOnOff(endpoint: object, patch: (on: boolean) => StatePatch): void {
  patches.set(endpoint, patch);
}

export class HearthOnOffServer extends OnOffServer.with("Lighting") {
  async #request(on: boolean): Promise<void> {
    const patch = patches.get(this.endpoint);
    if (patch) await sendCommand(this.endpoint, patch(on));
  }

  override on(): Promise<void> {
    return inCommand(this.endpoint, async () => {
      await this.#request(true);
      await super.on();
    });
  }

  override off(): Promise<void> {
    return inCommand(this.endpoint, async () => {
      await this.#request(false);
      await super.off();
    });
  }

  override toggle(): Promise<void> {
    // Decide from the state before the command: the device's own update may land meanwhile.
    const next = !this.state.onOff;
    return inCommand(this.endpoint, async () => {
      await this.#request(next);
      if (next) await super.on();
      else await super.off();
    });
  }
}
