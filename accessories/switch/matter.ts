// switches -> one On/Off Plug-in Unit endpoint per switch entry (night light, standby, home-away).
//
// Why a plug-in unit: it is the one controllable on/off device type every controller renders
// (Google Home shows it as an "Outlet" tile with a toggle, Apple Home as an outlet/switch). Google's
// "Switch" type maps to On/Off Light Switch, which in Matter is a *controller* (OnOff client) and not
// something a controller can switch; Mounted On/Off Control (Matter 1.4) would be the spec's wall
// switch but is not yet shown by Apple Home. Change SWITCH_DEVICE to revisit this.
//
// A switch presented as a light (`presentAs: "light"`, a camera's night light) is an On/Off Light
// instead: a lamp tile in every controller, and part of "turn off all lights". Its endpoint id is
// `light-<key>`, not `switch-<key>`: a different device type must never reuse a stored endpoint.
import type { Endpoint, MutableEndpoint } from "@matter/main";
import { OnOffLightDevice } from "@matter/main/devices/on-off-light";
import { OnOffPlugInUnitDevice } from "@matter/main/devices/on-off-plug-in-unit";
import type { DeviceState } from "../../src/core/model.ts";
import {
  bindCommands,
  bindOnOff,
  commandsIdle,
  HearthOnOffServer,
  type MatterBinding,
  type MatterPart,
} from "../matter-support.ts";
import { typeWith } from "../matter-types.ts";
import type { BindingContext } from "../types.ts";

export const SWITCH_DEVICE = OnOffPlugInUnitDevice;
export const LIGHT_SWITCH_DEVICE = OnOffLightDevice;

/** Endpoint id suffix for a switch key: only characters matter.js accepts in ids. */
export function switchPartId(key: string, presentAs: "switch" | "light" = "switch"): string {
  return `${presentAs === "light" ? "light" : "switch"}-${key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

class SwitchPart implements MatterPart {
  readonly id: string;
  readonly type: MutableEndpoint;
  readonly initial: Record<string, unknown>;
  readonly #ctx: BindingContext;
  readonly #key: string;
  #endpoint: Endpoint | undefined;

  constructor(ctx: BindingContext, key: string) {
    this.#ctx = ctx;
    this.#key = key;
    const presentAs = ctx.entry.info.capabilities.switches?.[key]?.presentAs ?? "switch";
    this.id = switchPartId(key, presentAs);
    this.type = typeWith(presentAs === "light" ? LIGHT_SWITCH_DEVICE : SWITCH_DEVICE, HearthOnOffServer);
    this.initial = { onOff: { onOff: !!ctx.entry.state.switches?.[key] } };
  }

  /** The switch's label, used as the part's name. */
  get label(): string {
    return this.#ctx.entry.info.capabilities.switches?.[this.#key]?.label ?? this.#key;
  }

  async attach(endpoint: Endpoint): Promise<void> {
    this.#endpoint = endpoint;
    bindCommands(endpoint, (patch, options) => this.#ctx.command(patch, options));
    bindOnOff(endpoint, (on) => ({ switches: { [this.#key]: on } }));
    await this.update(this.#ctx.entry.state);
  }

  async update(reported: DeviceState): Promise<void> {
    if (!this.#endpoint) return;
    await commandsIdle(this.#endpoint);
    // A command may have finished meanwhile: render the newest state.
    const state = this.#ctx.entry.state ?? reported;
    await this.#endpoint.set({ onOff: { onOff: !!state.switches?.[this.#key] } } as never);
  }
}

export const switchMatter: MatterBinding = {
  capability: "switches",
  parts(ctx) {
    return Object.keys(ctx.entry.info.capabilities.switches ?? {}).map((key) => new SwitchPart(ctx, key));
  },
};
