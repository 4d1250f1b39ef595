// The HomeKit bindings by capability name. The host renders `kindOf(info.kind).capabilities` in
// order through this table, for the capabilities the device has.
import type { CapabilityName } from "./kinds.ts";
import type { HomeKitBinding } from "./homekit-support.ts";
import { fanHomeKit } from "./fan/homekit.ts";
import { lightHomeKit } from "./light/homekit.ts";
import { switchesHomeKit } from "./switch/homekit.ts";

export type { HomeKitBinding, HomeKitBoundCapability } from "./homekit-support.ts";

export const homekitBindings: { readonly [K in CapabilityName]?: HomeKitBinding<K> } = {
  fan: fanHomeKit,
  light: lightHomeKit,
  switches: switchesHomeKit,
};
