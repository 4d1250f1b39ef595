// The contracts between capability bindings (accessories/<capability>/{homekit,matter}.ts) and the
// two hosts. A binding turns one capability of one device into services (HomeKit) or an endpoint
// (Matter), keeps them in step with the device state, and turns writes into core commands.
import type { DeviceEntry } from "../src/core/registry.ts";
import type { DeviceState, StatePatch } from "../src/core/model.ts";
import type { SubmitOptions } from "../src/core/coalesce.ts";
import type { CameraSource } from "../src/core/camera.ts";
import type { Logger } from "../src/core/logger.ts";

/** What a binding gets from its host. */
export interface BindingContext {
  /** The device as the registry holds it now (info, state, availability). */
  readonly entry: DeviceEntry;
  /** Ask the device to reach a state; rejects when the vendor refused or the device is unreachable.
   * Commands issued together (same macrotask) reach the vendor as one; `hold` marks half of an action
   * that may wait briefly for its other half (src/core/coalesce.ts). */
  command(patch: StatePatch, options?: SubmitOptions): Promise<void>;
  /** The media layer's stream source, for a device with the `camera` capability (absent: video is off). */
  readonly camera?: CameraSource;
  /** For bindings that run long-lived work of their own (camera sessions). */
  readonly log?: Logger;
}

/** A rendered capability that the host keeps up to date. */
export interface BoundCapability {
  /** The device state changed; `patch` holds only what changed, `state` is the whole new state. */
  update(state: DeviceState, patch: StatePatch): void | Promise<void>;
}
