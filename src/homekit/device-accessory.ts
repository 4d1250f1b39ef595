// One bridged HomeKit accessory per registry device: its information service, the services of its
// capabilities (through the bindings in accessories/), state pushes and "No Response" while the
// device is unreachable.
import { Accessory, Characteristic, Service, uuid } from "@homebridge/hap-nodejs";
import type { DeviceEntry } from "../core/registry.ts";
import type { DeviceInfo, DeviceState, StatePatch } from "../core/model.ts";
import type { Logger } from "../core/logger.ts";
import type { CameraSource } from "../core/camera.ts";
import { kindOf } from "../../accessories/kinds.ts";
import { homekitBindings, type HomeKitBoundCapability } from "../../accessories/homekit.ts";
import { noResponse } from "../../accessories/homekit-support.ts";
import type { BindingContext } from "../../accessories/types.ts";

/** The accessory UUID of a device: derived from its stable id only, so renames never orphan it. */
export function accessoryUUID(deviceId: string): string {
  return uuid.generate(`hearthbridge:${deviceId}`);
}

const INFO_SERVICES = new Set([Service.AccessoryInformation.UUID, Service.ProtocolInformation.UUID]);

/** The whole state as a patch, to push everything after a rebuild or a return from "No Response". */
function fullPatch(state: DeviceState): StatePatch {
  const patch: StatePatch = {};
  if (state.fan) patch.fan = { ...state.fan };
  if (state.light) patch.light = { ...state.light };
  if (state.switches) patch.switches = { ...state.switches };
  return patch;
}

export interface DeviceAccessoryOptions {
  /** The registry's current entry for this device (a getter: the registry replaces state objects). */
  entry(): DeviceEntry;
  command(patch: StatePatch): Promise<void>;
  log: Logger;
  /** The device's video source, when it is a camera and video is on. */
  camera?: CameraSource;
}

export class DeviceAccessory {
  readonly accessory: Accessory;
  readonly deviceId: string;
  readonly #options: DeviceAccessoryOptions;
  #bound: HomeKitBoundCapability[] = [];
  #described: string;
  #available = true;

  constructor(options: DeviceAccessoryOptions) {
    this.#options = options;
    const { info } = options.entry();
    this.deviceId = info.id;
    this.accessory = new Accessory(info.name, accessoryUUID(info.id));
    // Without a listener HAP-NodeJS prints these to the console.
    this.accessory.on("characteristic-warning", (warning) =>
      options.log.debug({ device: info.id }, `HAP: [${warning.originatorChain.join("@")}] ${warning.message}`),
    );
    this.#described = "";
    this.describe(info);
    this.setAvailable(options.entry().available);
  }

  /** Render (or re-render after the device description changed) information and capability services. */
  describe(info: DeviceInfo): void {
    const described = JSON.stringify({ kind: info.kind, capabilities: info.capabilities, name: info.name });
    this.#setInformation(info);
    if (described === this.#described) return;
    this.#described = described;
    void this.#detachAll();
    for (const service of [...this.accessory.services])
      if (!INFO_SERVICES.has(service.UUID)) this.accessory.removeService(service);
    const entry = this.#options.entry;
    const ctx: BindingContext = {
      get entry() {
        return entry();
      },
      command: (patch) => this.#options.command(patch),
      camera: this.#options.camera,
      log: this.#options.log,
    };
    this.#bound = [];
    for (const capability of kindOf(info.kind).capabilities) {
      if (info.capabilities[capability] === undefined) continue;
      const binding = homekitBindings[capability];
      if (!binding) continue;
      this.#bound.push(binding.attach(this.accessory, ctx));
    }
    // Start every characteristic at the device's state (later pushes then only carry changes).
    const state = entry().state;
    this.update(state, fullPatch(state));
    const main = this.#bound.find((bound) => bound.noPrimary || bound.services.length);
    if (main && !main.noPrimary) main.services[0]!.setPrimaryService(true);
    if (!this.#bound.some((bound) => bound.noPrimary || bound.services.length))
      this.#options.log.warn({ device: info.id }, `${info.name} has no capability HomeKit can show`);
    if (!this.#available) this.#markUnavailable();
  }

  /** The host stops: end what the capabilities run (camera streams); resolves when it is gone. */
  async close(): Promise<void> {
    await Promise.all(
      this.#bound.map((bound) =>
        bound
          .close?.()
          .catch((error: Error) =>
            this.#options.log.warn({ err: error, device: this.deviceId }, "closing a capability failed"),
          ),
      ),
    );
  }

  #detachAll(): Promise<void> {
    const pending = this.#bound.map(async (bound) => {
      try {
        await bound.detach?.();
      } catch (error) {
        this.#options.log.warn({ err: error, device: this.deviceId }, "releasing a capability failed");
      }
    });
    return Promise.all(pending).then(() => undefined);
  }

  #setInformation(info: DeviceInfo): void {
    const service = this.accessory.getService(Service.AccessoryInformation)!;
    service
      .setCharacteristic(Characteristic.Manufacturer, info.manufacturer || "hearthbridge")
      .setCharacteristic(Characteristic.Model, info.model || info.kind)
      .setCharacteristic(Characteristic.SerialNumber, info.serialNumber || info.id)
      .setCharacteristic(Characteristic.Name, info.name);
    if (info.firmware) service.setCharacteristic(Characteristic.FirmwareRevision, info.firmware);
  }

  /** The device state changed: let each capability push what changed. */
  update(state: DeviceState, patch: StatePatch): void {
    for (const bound of this.#bound) {
      try {
        void Promise.resolve(bound.update(state, patch)).catch((error: Error) =>
          this.#options.log.warn({ err: error, device: this.deviceId }, "state push failed"),
        );
      } catch (error) {
        this.#options.log.warn({ err: error, device: this.deviceId }, "state push failed");
      }
    }
  }

  /**
   * Unreachable devices read as "No Response": the bindings' read handlers throw
   * SERVICE_COMMUNICATION_FAILURE, and every other characteristic (names, anything without a read
   * handler) carries that status through updateValue(error). Reachable again: statuses are cleared
   * and the current state is pushed, since it may have changed meanwhile.
   */
  setAvailable(available: boolean): void {
    if (available === this.#available) return;
    this.#available = available;
    if (!available) {
      this.#markUnavailable();
      return;
    }
    for (const characteristic of this.#characteristics())
      if (characteristic.value != null) characteristic.updateValue(characteristic.value);
    const state = this.#options.entry().state;
    this.update(state, fullPatch(state));
  }

  #markUnavailable(): void {
    for (const characteristic of this.#characteristics()) characteristic.updateValue(noResponse());
  }

  *#characteristics(): Generator<Characteristic> {
    for (const service of this.accessory.services) {
      if (INFO_SERVICES.has(service.UUID)) continue;
      yield* service.characteristics;
    }
  }
}
