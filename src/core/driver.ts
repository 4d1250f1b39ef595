// The contract between a vendor driver and the core. A driver knows one vendor account; it never
// imports HAP or Matter code and never knows which ecosystem sent a command.
import type { StreamAnswer, StreamInterruption, StreamRequest } from "./camera.ts";
import type { Command, DeviceInfo, DeviceState, StatePatch } from "./model.ts";
import type { Logger } from "./logger.ts";
import type { JsonStore } from "./storage.ts";

/** Connection state of one vendor account, shown in logs and (later) on the status page. */
export type LinkState = "connecting" | "connected" | "disconnected" | "needs-login";

/** What a driver calls to tell the core about devices. */
export interface DriverSink {
  /** A device was listed (first time or again after a reconnect). `state` is the vendor's current report. */
  deviceFound(info: DeviceInfo, state: DeviceState): void;
  /** The vendor reported a change (push or poll). Patches may repeat unchanged values. */
  stateChanged(id: string, patch: StatePatch): void;
  /** The vendor link for one device (or, with no id, all of the account's devices) went up or down. */
  availabilityChanged(id: string | undefined, available: boolean): void;
  /** The account's own connection state changed. */
  linkStateChanged(state: LinkState, detail?: string): void;
  /** A camera stopped pushing its stream on the vendor's side (e.g. its control socket reconnected):
   * whoever watches must request it again. */
  streamInterrupted?(id: string, reason: StreamInterruption): void;
}

export interface DriverContext {
  sink: DriverSink;
  log: Logger;
  /** A private, atomic, 0600 store for this account (sessions, assumed state). */
  store: JsonStore;
}

export interface Driver {
  readonly vendor: string;
  readonly accountName: string;
  /**
   * Log in and connect; resolves once the first device list is in or the first attempt failed.
   * Never throws for vendor trouble: it retries.
   */
  start(ctx: DriverContext): Promise<void>;
  /** Send a command; resolves when the vendor accepted it, rejects with a clear error otherwise. */
  command(id: string, command: Command): Promise<void>;
  /** Cameras only: ask the device to start (or stop) pushing its video to `request.url` (or, path
   * "cloud", to the vendor's cloud: then it resolves to where to read it). Resolves on the vendor's
   * acknowledgement; rejects with a clear error (e.g. the camera is in standby). */
  requestStream?(id: string, request: StreamRequest): Promise<StreamAnswer>;
  stop(): Promise<void>;
}
