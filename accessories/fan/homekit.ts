// fan -> HomeKit Fanv2: Active, RotationSpeed (stepped to the model's speeds), RotationDirection when
// the fan is reversible, StatusFault (GENERAL_FAULT while the device reports a fault, e.g. a stalled
// motor; Fanv2 lists it as neither required nor optional, so it is declared optional first to add
// it without HAP-NodeJS's warning). Breeze is not exposed in HomeKit for now.
import { Characteristic, Service, type CharacteristicValue } from "@homebridge/hap-nodejs";
import {
  snapToStep,
  type DeviceState,
  type FanDirection,
  type FanState,
  type StatePatch,
} from "../../src/core/model.ts";
import { bindCharacteristic, gcd, type HomeKitBinding } from "../homekit-support.ts";

const OFF: FanState = { on: false, speed: 0, direction: "forward", breeze: false };

// Same convention as Home Assistant's HomeKit bridge: forward = clockwise (0), reverse = counter-clockwise (1).
const CLOCKWISE = Characteristic.RotationDirection.CLOCKWISE;
const NO_FAULT = Characteristic.StatusFault.NO_FAULT;
const GENERAL_FAULT = Characteristic.StatusFault.GENERAL_FAULT;
const COUNTER_CLOCKWISE = Characteristic.RotationDirection.COUNTER_CLOCKWISE;

function fanOf(state: DeviceState): FanState {
  return state.fan ?? OFF;
}

/** HomeKit shows speed 0 for a fan that is off; the device keeps its last speed for the next "on". */
function speedShown(fan: FanState): number {
  return fan.on ? fan.speed : 0;
}

export const fanHomeKit: HomeKitBinding<"fan"> = {
  capability: "fan",
  attach(accessory, ctx) {
    const capability = ctx.entry.info.capabilities.fan;
    if (!capability) throw new Error(`${ctx.entry.info.id} has no fan capability`);
    const steps = capability.speedSteps?.length ? [...capability.speedSteps].sort((a, b) => a - b) : undefined;
    const service = accessory.addService(Service.Fanv2, ctx.entry.info.name, "fan");

    const active = bindCharacteristic(service.getCharacteristic(Characteristic.Active), ctx, {
      read: (state) => (fanOf(state).on ? Characteristic.Active.ACTIVE : Characteristic.Active.INACTIVE),
      // Turning on resumes the device's last speed (a fan that is off reads speed 0 in HomeKit).
      write: (value) => ({ fan: { on: value === Characteristic.Active.ACTIVE } }),
    });

    const speedCharacteristic = service.getCharacteristic(Characteristic.RotationSpeed);
    // A slider granularity that reaches every step (e.g. 5 for 20/35/50/65/80/100); writes snap anyway.
    speedCharacteristic.setProps({ minValue: 0, maxValue: 100, minStep: steps ? gcd(steps) : 1 });
    const speed = bindCharacteristic(speedCharacteristic, ctx, {
      read: (state) => speedShown(fanOf(state)),
      write: (value: CharacteristicValue, state): StatePatch => {
        const requested = Number(value);
        if (requested <= 0) return { fan: { on: false } };
        const target = Math.max(steps ? steps[0]! : 1, snapToStep(requested, steps));
        return fanOf(state).on ? { fan: { speed: target } } : { fan: { on: true, speed: target } };
      },
    });

    const direction = capability.reversible
      ? bindCharacteristic(service.getCharacteristic(Characteristic.RotationDirection), ctx, {
          read: (state) => (fanOf(state).direction === "reverse" ? COUNTER_CLOCKWISE : CLOCKWISE),
          write: (value) => ({
            fan: { direction: (value === COUNTER_CLOCKWISE ? "reverse" : "forward") satisfies FanDirection },
          }),
        })
      : undefined;

    service.addOptionalCharacteristic(Characteristic.StatusFault);
    const fault = bindCharacteristic(service.getCharacteristic(Characteristic.StatusFault), ctx, {
      read: (state) => (state.fault !== undefined ? GENERAL_FAULT : NO_FAULT),
    });
    fault.push(ctx.entry.state);

    return {
      services: [service],
      update(state, patch) {
        if (patch.fault !== undefined) fault.push(state);
        const changed = patch.fan;
        if (!changed) return;
        if (changed.on !== undefined) active.push(state);
        if (changed.on !== undefined || changed.speed !== undefined) speed.push(state);
        if (changed.direction !== undefined) direction?.push(state);
      },
    };
  },
};
