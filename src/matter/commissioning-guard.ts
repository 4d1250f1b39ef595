// Roll back a Matter commissioning that a crash cut short.
//
// matter.js 0.17.9 stores a new fabric (NOC, ACL, fabric table) when AddNOC arrives, not at
// CommissioningComplete, and keeps no record that its fail-safe was armed. A bridge killed between
// the two comes back "commissioned" into a fabric no controller finished: it closes its commissioning
// window, the controller cannot add it again, and only a reset helps (measured by bench/crash.ts).
// The Matter spec treats a reboot during an armed fail-safe as its expiry (roll the fabric back); the
// CHIP SDK does so with a marker written before any fabric data (connectedhomeip#37807). Same here: a
// marker file written synchronously when matter.js adds the fabric (before it stores anything of it),
// removed once the commissioning completed or was rolled back. Found at start: when the bridge had no
// fabric before, its Matter storage is reset (as the SDK's factory reset: no controller knows anything
// in it, and matter.js keeps commissioning state in several files that a kill leaves disagreeing);
// otherwise (a second controller being added) just that fabric is removed.
import { dirname, join } from "node:path";
import { closeSync, existsSync, fsyncSync, openSync, rmSync } from "node:fs";
import { Lifecycle, type ServerNode } from "@matter/main";
import { FabricManager, FailsafeContext, type Fabric } from "@matter/main/protocol";
import type { Logger } from "../core/logger.ts";
import { readJson, writeFileAtomic } from "../core/storage.ts";

export const MARKER_FILE = "matter-commissioning.json";

interface Marker {
  fabricIndex: number;
  /** Identify the fabric, so a marker left behind never removes a later fabric with the same index. */
  fabricId: string;
  nodeId: string;
  /** Fabric indices that existed before this commissioning (empty: the bridge was not commissioned). */
  before: number[];
  startedAt: string;
}

export class CommissioningGuard {
  readonly #file: string;
  readonly #storageDir: string;
  readonly #log: Logger;

  /** `dataDir`: the bridge's data directory (the marker sits next to, not inside, matter.js's storage
   * in `storageDir`, so resetting that storage cannot leave a marker half-removed). */
  constructor(dataDir: string, storageDir: string, log: Logger) {
    this.#file = join(dataDir, MARKER_FILE);
    this.#storageDir = storageDir;
    this.#log = log;
  }

  #read(): Marker | undefined {
    try {
      const marker = readJson<Marker>(this.#file);
      return marker && typeof marker.fabricIndex === "number" && Array.isArray(marker.before) ? marker : undefined;
    } catch {
      return undefined; // unreadable = never completely written: nothing was stored after it either
    }
  }

  #clear(): void {
    if (!existsSync(this.#file)) return;
    rmSync(this.#file, { force: true });
    try {
      const fd = openSync(dirname(this.#file), "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // Some filesystems refuse fsync on a directory; the unlink still happened.
    }
  }

  /**
   * Before matter.js opens its storage: when the cut-short commissioning was the bridge's first, reset
   * the Matter storage (the bridge is commissionable again, with the same setup code). True when reset.
   */
  beforeStart(): boolean {
    const marker = this.#read();
    if (!marker) {
      // Unreadable: written by a process killed mid-write, before any fabric data.
      if (existsSync(this.#file)) this.#clear();
      return false;
    }
    if (marker.before.length) return false;
    this.#log.warn(
      "a Matter commissioning was cut short (the bridge stopped before the controller completed it); " +
        "resetting the Matter storage so the bridge can be commissioned again",
    );
    rmSync(this.#storageDir, { recursive: true, force: true });
    this.#clear();
    return true;
  }

  /**
   * After the node started: remove the fabric of a cut-short commissioning that was adding a further
   * controller (the others stay). Returns the removed fabric's index.
   */
  async afterStart(node: ServerNode): Promise<number | undefined> {
    const marker = this.#read();
    if (!marker) return undefined;
    const fabrics = node.env.get(FabricManager);
    const fabric = fabrics.fabrics.find(
      (f) =>
        f.fabricIndex === marker.fabricIndex &&
        String(f.fabricId) === marker.fabricId &&
        String(f.nodeId) === marker.nodeId,
    );
    if (fabric) {
      this.#log.warn(
        { fabricIndex: marker.fabricIndex },
        "a Matter commissioning was cut short (the bridge stopped before the controller completed it); " +
          "removing its half-added fabric so the bridge can be commissioned again",
      );
      await fabric.delete();
    }
    this.#clear();
    return fabric ? marker.fabricIndex : undefined;
  }

  /** Watch commissionings: marker when a fabric is added (AddNOC), cleared when the fail-safe ends. */
  watch(node: ServerNode): void {
    const fabrics = node.env.get(FabricManager);
    fabrics.events.added.on((fabric: Fabric) => {
      // Synchronous on purpose: this runs inside AddNOC before matter.js stores the fabric.
      const marker: Marker = {
        fabricIndex: fabric.fabricIndex,
        fabricId: String(fabric.fabricId),
        nodeId: String(fabric.nodeId),
        before: fabrics.fabrics.filter((f) => f !== fabric).map((f) => f.fabricIndex),
        startedAt: new Date().toISOString(),
      };
      try {
        writeFileAtomic(this.#file, JSON.stringify(marker));
      } catch (error) {
        this.#log.error(
          `could not write the Matter commissioning marker (${(error as Error).message}); ` +
            "a crash during this commissioning may need `npm run reset -- matter`",
        );
        return;
      }
      if (!node.env.has(FailsafeContext)) return this.#clear(); // not under a fail-safe: nothing to roll back
      const failsafe = node.env.get(FailsafeContext);
      // CommissioningComplete: matter.js has persisted the fabric table before `commissioned`, and the
      // controller hears "success" only after it. An expiry rolls the fabric back before the fail-safe
      // is destroyed. Either way the marker has done its job.
      failsafe.commissioned.on(() => this.#clear());
      failsafe.construction.change.on((status) => {
        if (status === Lifecycle.Status.Destroyed) this.#clear();
      });
    });
  }
}
