// switches -> one HomeKit service per named switch (subtype = "switch:<id>", name = its label): a
// Switch, or a Lightbulb with On only when the switch is presented as a light (a camera's night
// light), so it gets the lamp icon and takes part in "turn off the lights".
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { bindCharacteristic, type BoundCharacteristic, type HomeKitBinding } from "../homekit-support.ts";

export const switchesHomeKit: HomeKitBinding<"switches"> = {
  capability: "switches",
  attach(accessory, ctx) {
    const switches = ctx.entry.info.capabilities.switches ?? {};
    const bound = new Map<string, BoundCharacteristic>();
    const services = [];
    for (const [id, { label, presentAs }] of Object.entries(switches)) {
      const service = accessory.addService(
        presentAs === "light" ? Service.Lightbulb : Service.Switch,
        label,
        `switch:${id}`,
      );
      // iOS 16+ names extra services of one accessory by ConfiguredName, not Name.
      service.addOptionalCharacteristic(Characteristic.ConfiguredName);
      service.setCharacteristic(Characteristic.ConfiguredName, label);
      const on = bindCharacteristic(service.getCharacteristic(Characteristic.On), ctx, {
        read: (state) => state.switches?.[id] ?? false,
        write: (value) => ({ switches: { [id]: value === true || value === 1 } }),
      });
      bound.set(id, on);
      services.push(service);
    }
    return {
      services,
      update(state, patch) {
        for (const id of Object.keys(patch.switches ?? {})) bound.get(id)?.push(state);
      },
    };
  },
};
