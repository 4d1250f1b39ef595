// How one registry device becomes endpoints under the bridge's aggregator.
//
// Composition: a device whose capabilities render as a single part (a plain fan, a light) is one
// bridged endpoint: the device type plus BridgedDeviceBasicInformation on the same endpoint (the
// shape of matter.js's BridgedDevicesNode example, understood by every controller). A device with
// several parts (fan + light + switches) is a "composed bridged device" (Matter core spec 9.12.2):
// a parent endpoint of device type Bridged Node carrying BridgedDeviceBasicInformation, with one
// child endpoint per part. Apple Home (iOS 17+) groups the children into one accessory with a tile
// per part; Google Home and SmartThings list each child as its own device, named after the parent.
// Endpoint ids are stable (`dev-<sanitised device id>` and `dev-<...>-<part id>`), so matter.js
// keeps the endpoint numbers it assigned and stored for them across restarts; a rebuilt or re-added
// device gets its numbers back through `numberFor` (endpoint-numbers.ts).
import { createHash } from "node:crypto";
import { Endpoint } from "@matter/main";
import { BridgedDeviceBasicInformationServer } from "@matter/main/behaviors/bridged-device-basic-information";
import { BridgedNodeEndpoint } from "@matter/main/endpoints/bridged-node";
import type { DeviceEntry } from "../core/registry.ts";
import { kindOf } from "../../accessories/kinds.ts";
import { matterBindings, type MatterPart } from "../../accessories/matter.ts";
import { labelled } from "../../accessories/matter-support.ts";
import type { BindingContext } from "../../accessories/types.ts";
import { typeWith } from "../../accessories/matter-types.ts";

export function endpointIdFor(deviceId: string): string {
  return `dev-${deviceId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** BridgedDeviceBasicInformation.uniqueId: the device id, or a digest of it past the spec's 32 chars. */
export function uniqueIdFor(deviceId: string): string {
  return deviceId.length <= 32 ? deviceId : createHash("sha256").update(deviceId).digest("hex").slice(0, 32);
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max);
}

/** The attributes of BridgedDeviceBasicInformation for a device (uniqueId fixed, the rest live). */
export function bridgedInfo(entry: DeviceEntry): Record<string, unknown> {
  const { info } = entry;
  const out: Record<string, unknown> = {
    uniqueId: uniqueIdFor(info.id),
    nodeLabel: clip(info.name, 32),
    vendorName: clip(info.manufacturer, 32),
    productName: clip(info.model, 32),
    productLabel: clip(info.model, 64),
    serialNumber: clip(info.serialNumber || info.id, 32),
    reachable: entry.available,
  };
  if (info.firmware) out.softwareVersionString = clip(info.firmware, 64);
  return out;
}

export interface BridgedDevice {
  readonly deviceId: string;
  readonly endpoint: Endpoint;
  readonly parts: { part: MatterPart; endpoint: Endpoint }[];
  /** Part ids and shapes, to notice a change of capabilities or features. */
  readonly shape: string;
}

/** The parts the bindings render for a device, in the kind's order. */
export function partsFor(ctx: BindingContext): MatterPart[] {
  const kind = kindOf(ctx.entry.info.kind);
  return kind.capabilities.flatMap((capability) => matterBindings[capability]?.parts(ctx) ?? []);
}

export function shapeOf(parts: MatterPart[]): string {
  return parts.map((p) => p.shape ?? p.id).join(",");
}

/** The number an endpoint id must keep, or undefined to let matter.js pick. */
export type NumberFor = (endpointId: string) => number | undefined;

function pinned(endpointId: string, numberFor: NumberFor): { id: string; number?: number } {
  const number = numberFor(endpointId);
  return number === undefined ? { id: endpointId } : { id: endpointId, number };
}

/** Build the (not yet installed) endpoint tree for a device. Undefined when nothing renders. */
export function buildBridged(
  entry: DeviceEntry,
  ctx: BindingContext,
  numberFor: NumberFor = () => undefined,
): BridgedDevice | undefined {
  const parts = partsFor(ctx);
  if (!parts.length) return undefined;
  const id = endpointIdFor(entry.info.id);
  const basic = bridgedInfo(entry);
  if (parts.length === 1) {
    const part = parts[0]!;
    const endpoint = new Endpoint(typeWith(part.type, BridgedDeviceBasicInformationServer), {
      ...pinned(id, numberFor),
      bridgedDeviceBasicInformation: basic,
      ...part.initial,
    } as never);
    return { deviceId: entry.info.id, endpoint, parts: [{ part, endpoint }], shape: shapeOf(parts) };
  }
  // Children carry their names as labels (accessories/matter-support.ts labelled()).
  const children = parts.map((part) => {
    const { type, initial } = labelled(part);
    return { part, endpoint: new Endpoint(type, { ...pinned(`${id}-${part.id}`, numberFor), ...initial } as never) };
  });
  const endpoint = new Endpoint(BridgedNodeEndpoint, {
    ...pinned(id, numberFor),
    bridgedDeviceBasicInformation: basic,
    parts: children.map((c) => c.endpoint),
  } as never);
  return { deviceId: entry.info.id, endpoint, parts: children, shape: shapeOf(parts) };
}
