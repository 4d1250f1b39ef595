// The HomeKit side of the binding contract (accessories/types.ts holds the shared part) and the
// small helpers every HomeKit binding uses: "No Response" errors, reads from the registry state,
// writes as registry commands. Kept apart from accessories/homekit.ts (the index of bindings) so a
// binding can import these helpers without an import cycle through the index.
import {
  HapStatusError,
  type Accessory,
  type Characteristic,
  type CharacteristicValue,
  type HAPStatus,
  type Service,
} from "@homebridge/hap-nodejs";
import type { DeviceState, StatePatch } from "../src/core/model.ts";
import type { CapabilityName } from "./kinds.ts";
import type { BindingContext, BoundCapability } from "./types.ts";

/** HAPStatus.SERVICE_COMMUNICATION_FAILURE (HAP's enum is a `const enum`, unusable under isolatedModules).
 * A read or write answered with it makes the Home app show the accessory as "No Response". */
export const SERVICE_COMMUNICATION_FAILURE = -70402 as HAPStatus;

/** A rendered capability as the HomeKit host sees it. */
export interface HomeKitBoundCapability extends BoundCapability {
  /** The services this capability added to the accessory, its main one first. */
  readonly services: Service[];
  /** The accessory gets no primary service (a camera: its tile is the picture, not a sensor). */
  readonly noPrimary?: boolean;
  /** The capability is about to be taken off the accessory (re-render): remove what it added outside `services`. */
  detach?(): void | Promise<void>;
  /** The host stops: end long-lived work (camera streams), leaving the services as they are. */
  close?(): Promise<void>;
}

/** Renders one capability of a device as HomeKit services on the device's accessory. */
export interface HomeKitBinding<K extends CapabilityName = CapabilityName> {
  readonly capability: K;
  /** Add this capability's services to `accessory`; called only when the device has the capability. */
  attach(accessory: Accessory, ctx: BindingContext): HomeKitBoundCapability;
}

export function noResponse(): HapStatusError {
  return new HapStatusError(SERVICE_COMMUNICATION_FAILURE);
}

export interface CharacteristicMapping {
  /** The characteristic value for a device state. */
  read(state: DeviceState): CharacteristicValue;
  /** The command a written value stands for; undefined = nothing to do. Absent for read-only characteristics. */
  write?(value: CharacteristicValue, state: DeviceState): StatePatch | undefined;
}

/** A characteristic kept in step with the registry state. */
export interface BoundCharacteristic {
  readonly characteristic: Characteristic;
  /** Push the value for `state` (updateValue: an event goes out only when the value differs). */
  push(state: DeviceState): void;
}

/**
 * Wire a characteristic to the device: reads answer from the registry's current state (or "No
 * Response" while the device is unreachable), writes become registry commands (a refused or failed
 * command answers "No Response"). After a write the characteristic is set to what the device really
 * holds, so a speed snapped to a fan step shows the step instead of the raw slider value.
 */
export function bindCharacteristic(
  characteristic: Characteristic,
  ctx: BindingContext,
  mapping: CharacteristicMapping,
): BoundCharacteristic {
  characteristic.onGet(() => {
    const entry = ctx.entry;
    if (!entry.available) throw noResponse();
    return mapping.read(entry.state);
  });
  const write = mapping.write;
  if (write) {
    characteristic.onSet(async (value) => {
      const entry = ctx.entry;
      if (!entry.available) throw noResponse();
      const patch = write(value, entry.state);
      if (patch) {
        try {
          await ctx.command(patch);
        } catch {
          // The host logs the reason; HomeKit only knows "No Response".
          throw noResponse();
        }
      }
      // HAP-NodeJS stores the written value once this handler returns; correct it afterwards.
      setImmediate(() => {
        const now = ctx.entry;
        if (!now.available) return;
        const actual = mapping.read(now.state);
        if (characteristic.value !== actual) characteristic.updateValue(actual);
      });
    });
  }
  return {
    characteristic,
    push(state) {
      characteristic.updateValue(mapping.read(state));
    },
  };
}

/** Greatest common divisor of positive integers (1 when there are none). */
export function gcd(values: number[]): number {
  const pair = (a: number, b: number): number => (b === 0 ? a : pair(b, a % b));
  const ints = values.map((v) => Math.round(Math.abs(v))).filter((v) => v > 0);
  return ints.length ? ints.reduce(pair) : 1;
}
