// The Matter fabrics (one per controller ecosystem) on the bridge, named for the page, and their
// removal from the owner's side. Removal is matter.js's own: the fabric's `leave()`, which is what the
// OperationalCredentials RemoveFabric command runs (sessions and subscriptions closed, the fabric
// deleted and its storage dropped). When the last fabric goes, matter.js resets the node to factory
// state itself and it is commissionable again with the same codes, as after a controller's own removal.
import { FabricManager } from "@matter/main/protocol";
import type { ServerNode } from "@matter/main";

export interface FabricView {
  fabricIndex: number;
  /** The label the controller gave its fabric (may be empty). */
  label: string;
  vendorId: number;
  /** The ecosystem's name from the vendor id, else the label, else the id in hex. */
  vendor: string;
}

/** Vendor ids of the common Matter ecosystems (the CSA's Distributed Compliance Ledger vendor list). */
const VENDORS: Record<number, string> = {
  4937: "Apple Home",
  4996: "Apple Home (Keychain)",
  24582: "Google Home",
  4631: "Amazon Alexa",
  4939: "Home Assistant",
  4874: "Eve",
  4107: "Philips Hue",
  4447: "Aqara",
  4701: "Tuya",
  65521: "test vendor",
  65522: "test vendor",
  65523: "test vendor",
  65524: "test vendor",
};

export function vendorName(vendorId: number, label = ""): string {
  return VENDORS[vendorId] ?? (label || `vendor 0x${vendorId.toString(16).padStart(4, "0")}`);
}

export function fabricsOf(node: ServerNode): FabricView[] {
  return Object.values(node.state.commissioning.fabrics)
    .map((f) => ({
      fabricIndex: Number(f.fabricIndex),
      label: f.label,
      vendorId: Number(f.rootVendorId),
      vendor: vendorName(Number(f.rootVendorId), f.label),
    }))
    .sort((a, b) => a.fabricIndex - b.fabricIndex);
}

/** How long the factory reset after the last fabric may take before the removal is answered anyway. */
const RESET_WAIT_MS = 30_000;

/** Leave one fabric as the RemoveFabric command does; throws when there is no such fabric. After the
 * last one, resolves once matter.js's own reset brought the node back online (`reset: true`). */
export async function removeFabric(node: ServerNode, fabricIndex: number): Promise<FabricView & { reset: boolean }> {
  const all = fabricsOf(node);
  const view = all.find((f) => f.fabricIndex === fabricIndex);
  const fabric = view ? node.env.get(FabricManager).maybeFor(view.fabricIndex as never) : undefined;
  if (!view || !fabric) throw new Error(`no Matter fabric ${fabricIndex}`);
  const reset = all.length === 1 ? backOnline(node) : undefined;
  await fabric.leave();
  await reset?.promise;
  return { ...view, reset: reset !== undefined };
}

/** Resolves when the node next goes online (or after RESET_WAIT_MS, so a request never hangs). */
function backOnline(node: ServerNode): { promise: Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    const online = (): void => {
      node.lifecycle.online.off(online);
      clearTimeout(timer);
      resolve();
    };
    node.lifecycle.online.on(online);
    timer = setTimeout(online, RESET_WAIT_MS);
  });
  return { promise };
}
