// The HomeKit controllers paired with one HAP accessory (a bridge or a standalone camera), and their
// removal from the owner's side (the web page). Removal goes through HAP-NodeJS's own handler of the
// "remove pairing" request (Accessory.handleRemovePairing), so everything a controller's own removal
// does happens here too: the pairing leaves AccessoryInfo and is saved, the removed controller's open
// sessions are closed, removing the last admin removes every pairing, and an accessory left unpaired
// advertises itself as pairable again and tells its controllers (camera, HKSV) it was unpaired.
import type { Accessory } from "@homebridge/hap-nodejs";

/** One paired controller as HAP knows it: its pairing id (a UUID the controller chose) and its rights. */
export interface ControllerPairing {
  id: string;
  admin: boolean;
}

/** The controllers of one accessory that pairs on its own: `bridge-<n>` or `camera-<device id>`. */
export interface PairingTarget {
  target: string;
  name: string;
  controllers: ControllerPairing[];
}

/** The parts of HAP-NodeJS's Accessory this module uses; private in its typings, stable at runtime. */
interface HapInternals {
  _accessoryInfo?: {
    pairedClients: Record<string, { permission: number }>;
  } | null;
  _server?: { httpServer: unknown };
  handleRemovePairing(initiator: unknown, username: string, callback: (error: number) => void): void;
}

const ADMIN = 1; // PermissionTypes.ADMIN (a const enum in HAP-NodeJS's types)

export function controllersOf(accessory: Accessory): ControllerPairing[] {
  const info = (accessory as unknown as HapInternals)._accessoryInfo;
  return Object.entries(info?.pairedClients ?? {})
    .map(([id, p]) => ({ id, admin: p.permission === ADMIN }))
    .sort((a, b) => Number(b.admin) - Number(a.admin) || a.id.localeCompare(b.id));
}

/**
 * Remove one controller's pairing. The request is made in the name of an admin controller of this
 * accessory (the page's user owns the bridge); HAP-NodeJS checks that name and acts as it does for a
 * controller's own request. The initiator is a stand-in connection that is no real connection, so
 * every session of the removed controller is closed at once.
 */
export function removeController(accessory: Accessory, id: string): Promise<void> {
  const hap = accessory as unknown as HapInternals;
  const clients = hap._accessoryInfo?.pairedClients ?? {};
  if (!hap._accessoryInfo || !hap._server) return Promise.reject(new Error("the accessory is not published"));
  if (!Object.hasOwn(clients, id)) return Promise.reject(new Error("no such controller"));
  const admin = Object.keys(clients).find((k) => clients[k]!.permission === ADMIN) ?? id;
  const initiator = { username: admin, server: hap._server.httpServer };
  return new Promise((resolve, reject) => {
    hap.handleRemovePairing(initiator, id, (error) =>
      error ? reject(new Error(`HAP refused to remove the pairing (TLV error ${error})`)) : resolve(),
    );
  });
}

/** Remove every controller: the admins last (removing the last admin takes the rest with it). */
export async function removeAllControllers(accessory: Accessory): Promise<number> {
  const all = controllersOf(accessory);
  for (const c of [...all].reverse()) {
    if (controllersOf(accessory).some((p) => p.id === c.id)) await removeController(accessory, c.id);
  }
  return all.length;
}
