// Shared HomeKit plumbing of the safety-alarm bindings (smoke, CO, heat): one sensor service per alarm
// capability, each carrying the detector's health as HomeKit expects it on sensor services:
// - StatusActive: the device is reachable. While it is not, the host marks every characteristic "No
//   Response" (src/homekit/device-accessory.ts) and a read answers false; once reachable it is true.
// - StatusFault: GENERAL_FAULT while the device reports a fault (sensor malfunction, failed self-test)
//   or the end of its service life (replace the detector), NO_FAULT otherwise.
// The detected characteristic and these are pushed with updateValue(), which HAP-NodeJS sends as an
// event at once (the host sets EVENT_COALESCING_DELAY to 0): no batching on our side.
import {
  Characteristic,
  type Accessory,
  type CharacteristicValue,
  type Service,
  type WithUUID,
} from "@homebridge/hap-nodejs";
import type { DeviceState, StatePatch } from "../../src/core/model.ts";
import { bindCharacteristic, type BoundCharacteristic, type HomeKitBoundCapability } from "../homekit-support.ts";
import type { BindingContext } from "../types.ts";

const NO_FAULT = Characteristic.StatusFault.NO_FAULT;
const GENERAL_FAULT = Characteristic.StatusFault.GENERAL_FAULT;

/** StatusFault for a state: a reported fault or the end of service life. */
export function faultValue(state: DeviceState): number {
  return state.fault !== undefined || state.endOfLife === true ? GENERAL_FAULT : NO_FAULT;
}

export interface AlarmSensorOptions {
  /** The HomeKit sensor service (SmokeSensor, CarbonMonoxideSensor). */
  service: WithUUID<typeof Service>;
  /** Service subtype, stable per capability ("smoke", "co", "heat"). */
  subtype: string;
  /** Name shown in the Home app (ConfiguredName). */
  label: string;
  /** The detected characteristic and its value for a state. */
  detected: WithUUID<new () => Characteristic>;
  read(state: DeviceState): CharacteristicValue;
  /** Whether a patch changes what `read` returns. */
  changed(patch: StatePatch): boolean;
}

export interface ExtraCharacteristic {
  bound: BoundCharacteristic;
  /** Whether a patch changes its value. */
  changed(patch: StatePatch): boolean;
}

/** Add an alarm sensor service with its detected characteristic, StatusActive and StatusFault (plus
 * `extra` characteristics, e.g. CarbonMonoxideLevel), start every value at the device's state, and
 * push what a patch changes. */
export function alarmSensor(
  accessory: Accessory,
  ctx: BindingContext,
  options: AlarmSensorOptions,
  extra: (service: Service) => ExtraCharacteristic[] = () => [],
): HomeKitBoundCapability {
  const service = accessory.addService(options.service, options.label, options.subtype);
  // iOS 16+ names the services of one accessory by ConfiguredName, not Name.
  service.addOptionalCharacteristic(Characteristic.ConfiguredName);
  service.setCharacteristic(Characteristic.ConfiguredName, options.label);
  const detected = bindCharacteristic(service.getCharacteristic(options.detected), ctx, { read: options.read });
  const active = service.getCharacteristic(Characteristic.StatusActive);
  // Not bindCharacteristic: its reads answer "No Response" while unreachable, and this one says exactly that.
  active.onGet(() => ctx.entry.available);
  const fault = bindCharacteristic(service.getCharacteristic(Characteristic.StatusFault), ctx, { read: faultValue });
  const extras = extra(service);
  // The host pushes only fan/light/switch parts after a (re)build: start every value here.
  const state = ctx.entry.state;
  active.updateValue(true);
  for (const bound of [detected, fault, ...extras.map((e) => e.bound)]) bound.push(state);
  return {
    services: [service],
    update(next, patch) {
      if (options.changed(patch)) detected.push(next);
      if (patch.fault !== undefined || patch.endOfLife !== undefined) fault.push(next);
      for (const e of extras) if (e.changed(patch)) e.bound.push(next);
    },
  };
}
