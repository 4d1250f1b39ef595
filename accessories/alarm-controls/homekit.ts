// alarmControls -> momentary HomeKit switches on a safety alarm's accessory (opt-in: they act on a real
// detector): "<name> Hush" silences the sounding alarm, "<name> Self-Test" runs the detector's test. HomeKit has
// no button service a bridge can offer, so each is a Switch that reads off, turns on when tapped and falls back
// off a second later. A tap the vendor refused answers "No Response", as every failed write does.
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { StatePatch } from "../../src/core/model.ts";
import { bindCharacteristic, type HomeKitBinding } from "../homekit-support.ts";
import { hushCommand, selfTestCommand } from "./commands.ts";

/** How long a tapped control shows "on" before it is at rest again. */
export const MOMENTARY_MS = 1000;

export const alarmControlsHomeKit: HomeKitBinding<"alarmControls"> = {
  capability: "alarmControls",
  attach(accessory, ctx) {
    const { info } = ctx.entry;
    const controls = info.capabilities.alarmControls ?? {};
    const services: Service[] = [];
    const add = (subtype: string, label: string, command: StatePatch | undefined) => {
      if (!command) return;
      const name = `${info.name} ${label}`;
      const service = accessory.addService(Service.Switch, name, subtype);
      // iOS 16+ names extra services of one accessory by ConfiguredName, not Name.
      service.addOptionalCharacteristic(Characteristic.ConfiguredName);
      service.setCharacteristic(Characteristic.ConfiguredName, name);
      const on = service.getCharacteristic(Characteristic.On);
      bindCharacteristic(on, ctx, {
        read: () => false,
        write: (value) => (value === true || value === 1 ? command : undefined),
      }).push(ctx.entry.state);
      // HAP-NodeJS stores the written "on" after the handler: put the switch back off a moment later, as a
      // stateless switch does (the Home app shows the tap, then the switch at rest).
      on.on("change", ({ newValue }) => {
        if (newValue !== true && newValue !== 1) return;
        const timer = setTimeout(() => on.updateValue(false), MOMENTARY_MS);
        timer.unref();
      });
      services.push(service);
    };
    if (controls.hush) add("hush", "Hush", hushCommand(info.capabilities));
    if (controls.selfTest) add("selftest", "Self-Test", selfTestCommand(info.capabilities));
    return { services, update() {} };
  },
};
