// A Matter controller for tests, built on matter.js's own (legacy) CommissioningController: commission
// a bridge by known address, find bridged endpoints by BridgedDeviceBasicInformation.uniqueId,
// read/write attributes, invoke commands, await subscription reports, reconnect after a bridge restart.
// Must run inside test/netns.sh (operational discovery needs mDNS right after commissioning).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EndpointLifecycle, Environment } from "@matter/main";
import { GeneralCommissioning } from "@matter/main/clusters/general-commissioning";
import { FabricId, type NodeId } from "@matter/main/types";
import { CommissioningController } from "@project-chip/matter.js";
import type { Endpoint as ClientDevice, PairedNode } from "@project-chip/matter.js/device";
import { environmentAt } from "../../src/matter/platform.ts";

export interface Report {
  endpointId: number;
  cluster: string;
  attribute: string;
  value: unknown;
}

export interface CommissionOptions {
  port: number;
  passcode: number;
  discriminator: number;
  /** From a manual pairing code (a commissioning window another controller opened): used instead of
   * `discriminator`, which a manual code does not hold in full. */
  shortDiscriminator?: number;
  /** The controller's storage id (default "controller"): a second controller in one process needs its own,
   * or it reuses the first one's certificate authority and so its fabric. */
  controllerId?: string;
  /** The label the controller gives its fabric (default "hearthbridge test"). */
  fabricLabel?: string;
  /** Default ::1 (the namespace has both 127.0.0.1 and ::1). */
  address?: string;
  /** Controller storage; a fresh temp dir (removed on close) when omitted. */
  storageDir?: string;
  /** Wait for the first connection and subscription (default true). With false, commission() returns
   * as soon as the device accepted CommissioningComplete; `reconnect()` connects later. */
  connect?: boolean;
  /** Fabric id of this controller (default 1); a second controller of the same bridge needs another. */
  fabricId?: number;
}

type Struct = Record<string, unknown>;

export class MatterTestClient {
  readonly controller: CommissioningController;
  readonly nodeId: NodeId;
  readonly node: PairedNode;
  readonly #storageDir: string;
  readonly #ownsStorage: boolean;
  readonly #reports: Report[] = [];
  readonly #waiters = new Set<(r: Report) => boolean>();

  private constructor(
    controller: CommissioningController,
    nodeId: NodeId,
    node: PairedNode,
    storageDir: string,
    ownsStorage: boolean,
  ) {
    this.controller = controller;
    this.nodeId = nodeId;
    this.node = node;
    this.#storageDir = storageDir;
    this.#ownsStorage = ownsStorage;
    node.events.attributeChanged.on(({ path, value }) => {
      const report: Report = {
        endpointId: path.endpointId,
        cluster: clusterName(path.clusterId),
        attribute: path.attributeName,
        value,
      };
      this.#reports.push(report);
      for (const waiter of [...this.#waiters]) if (waiter(report)) this.#waiters.delete(waiter);
    });
  }

  /** Commission the node listening at address:port and connect (subscribing to everything). */
  static async commission(options: CommissionOptions): Promise<MatterTestClient> {
    // The test process owns its signals, like the bridge does.
    Environment.default.vars.set("runtime.signals", false);
    Environment.default.vars.set("runtime.exitcode", false);
    const ownsStorage = !options.storageDir;
    const storageDir = options.storageDir ?? mkdtempSync(join(tmpdir(), "hb-matter-controller-"));
    const environment = environmentAt(
      options.fabricId === undefined ? "test-controller" : `test-controller-${options.fabricId}`,
      storageDir,
    );
    const controller = new CommissioningController({
      environment: {
        environment,
        id: options.controllerId ?? (options.fabricId === undefined ? "controller" : `controller-${options.fabricId}`),
      },
      autoConnect: false,
      adminFabricLabel: options.fabricLabel ?? "hearthbridge test",
      ...(options.fabricId !== undefined ? { adminFabricId: FabricId(BigInt(options.fabricId)) } : {}),
    });
    await controller.start();
    try {
      const nodeId = await controller.commissionNode({
        commissioning: {
          regulatoryLocation: GeneralCommissioning.RegulatoryLocationType.IndoorOutdoor,
          regulatoryCountryCode: "XX",
        },
        discovery: {
          knownAddress: { ip: options.address ?? "::1", port: options.port, type: "udp" },
          identifierData:
            options.shortDiscriminator === undefined
              ? { longDiscriminator: options.discriminator }
              : { shortDiscriminator: options.shortDiscriminator },
        },
        passcode: options.passcode,
      });
      const node = await controller.getNode(nodeId);
      const client = new MatterTestClient(controller, nodeId, node, storageDir, ownsStorage);
      if (options.connect === false) return client;
      if (!node.isConnected) node.connect();
      await client.#initialized();
      return client;
    } catch (error) {
      // A failed commissioning (e.g. the device was killed mid-way) must not leave a running controller behind.
      await controller.close().catch(() => undefined);
      if (ownsStorage) rmSync(storageDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** A controller restored from its storage (e.g. a fixture), connected to the node it commissioned
   * earlier: CASE with the stored fabric, then a subscription. */
  static async resume(options: { storageDir: string; nodeId: NodeId }): Promise<MatterTestClient> {
    Environment.default.vars.set("runtime.signals", false);
    Environment.default.vars.set("runtime.exitcode", false);
    const environment = environmentAt("test-controller", options.storageDir);
    const controller = new CommissioningController({
      environment: { environment, id: "controller" },
      autoConnect: false,
      adminFabricLabel: "hearthbridge test",
    });
    await controller.start();
    try {
      const node = await controller.getNode(options.nodeId);
      const client = new MatterTestClient(controller, options.nodeId, node, options.storageDir, false);
      if (!node.isConnected) node.connect();
      await client.#initialized(60_000);
      return client;
    } catch (error) {
      await controller.close().catch(() => undefined);
      throw error;
    }
  }

  /** Wait until the node's structure and attributes came from the device (subscription in place). */
  async #initialized(timeoutMs = 30_000): Promise<void> {
    if (this.node.remoteInitializationDone && this.node.isConnected) return;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      const check = () => {
        if (this.node.remoteInitializationDone && this.node.isConnected) {
          this.node.events.initializedFromRemote.off(check);
          this.node.events.stateChanged.off(check);
          resolve();
        }
      };
      this.node.events.initializedFromRemote.on(check);
      this.node.events.stateChanged.on(check);
      check();
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`node not initialised from remote within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every endpoint below the root, flattened. */
  endpoints(): ClientDevice[] {
    const out: ClientDevice[] = [];
    const walk = (eps: Iterable<ClientDevice>) => {
      for (const ep of eps) {
        if (out.includes(ep)) continue;
        out.push(ep);
        walk(ep.parts.values());
      }
    };
    walk(this.node.parts.values());
    return out;
  }

  /** The endpoint whose BridgedDeviceBasicInformation.uniqueId matches. */
  bridged(uniqueId: string): ClientDevice {
    const found = this.endpoints().find(
      (ep) => (ep.maybeStateOf("bridgedDeviceBasicInformation") as Struct | undefined)?.uniqueId === uniqueId,
    );
    if (!found) throw new Error(`no bridged endpoint with uniqueId ${uniqueId}`);
    return found;
  }

  /** The endpoint (the bridged one or one of its children) that has `cluster`. */
  withCluster(device: ClientDevice, cluster: string): ClientDevice {
    const candidates = [device, ...this.#descendants(device)];
    const found = candidates.find((ep) => ep.maybeStateOf(cluster) !== undefined);
    if (!found) throw new Error(`endpoint ${device.number} has no ${cluster} (itself or below)`);
    return found;
  }

  #descendants(ep: ClientDevice): ClientDevice[] {
    return [...ep.parts.values()].flatMap((child) => [child, ...this.#descendants(child)]);
  }

  /** Read attributes from the device (not the cache). */
  async read(ep: ClientDevice, cluster: string, attributes: string[]): Promise<Struct> {
    return (await ep.getStateOf(cluster, attributes)) as Struct;
  }

  /** The locally cached (subscribed) state of a cluster. */
  cached(ep: ClientDevice, cluster: string): Struct {
    return ep.stateOf(cluster) as Struct;
  }

  async write(ep: ClientDevice, cluster: string, values: Struct): Promise<void> {
    await ep.setStateOf(cluster, values as never);
  }

  async invoke(ep: ClientDevice, cluster: string, command: string, request?: Struct): Promise<unknown> {
    const commands = ep.commandsOf(cluster);
    const fn = commands[command];
    if (!fn) throw new Error(`${cluster} on endpoint ${ep.number} has no command ${command}`);
    return request === undefined ? (fn as () => Promise<unknown>)() : (fn as (r: Struct) => Promise<unknown>)(request);
  }

  /** Resolve with the next report matching; register it *before* causing the change. */
  nextReport(
    endpointId: number | undefined,
    cluster: string,
    attribute: string,
    predicate: (value: unknown) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Report> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new Error(`no report of ${cluster}.${attribute} on endpoint ${endpointId ?? "*"} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const waiter = (r: Report) => {
        if (
          (endpointId !== undefined && r.endpointId !== endpointId) ||
          r.cluster !== cluster ||
          r.attribute !== attribute ||
          !predicate(r.value)
        )
          return false;
        clearTimeout(timer);
        resolve(r);
        return true;
      };
      this.#waiters.add(waiter);
    });
  }

  /** Resolve once this controller replaced a cluster's client on an endpoint and `check` holds. A cluster whose
   * features changed (same endpoint number, e.g. a rebuilt bridged device) is replaced at the end of the report
   * that carried the change, after its attribute reports: reading a new attribute before then fails. */
  serversChanged(endpointId: number, check: () => boolean, timeoutMs = 30_000): Promise<void> {
    const endpoint = this.node.node.endpoints.for(endpointId as never);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        endpoint.lifecycle.changed.off(listener);
        reject(new Error(`the clusters of endpoint ${endpointId} did not change as expected within ${timeoutMs} ms`));
      }, timeoutMs);
      // Returns nothing: a matter.js observer that returns a value stops the others.
      const listener = (change: EndpointLifecycle.Change) => {
        if (change !== EndpointLifecycle.Change.ServersChanged || !check()) return;
        clearTimeout(timer);
        endpoint.lifecycle.changed.off(listener);
        resolve();
      };
      endpoint.lifecycle.changed.on(listener);
    });
  }

  /** The features a cluster's client on an endpoint was built with (what the controller believes now). */
  clientFeatures(endpointId: number, cluster: string): Record<string, boolean> {
    const type = this.node.node.endpoints.for(endpointId as never).behaviors.supported[cluster] as
      | { features?: Record<string, boolean> }
      | undefined;
    return type?.features ?? {};
  }

  /** Every report seen so far (for assertions about what was *not* reported). */
  get reports(): readonly Report[] {
    return this.#reports;
  }

  /** After the bridge restarted: reconnect at once instead of waiting for the subscription timeout. */
  async reconnect(): Promise<void> {
    await this.node.reconnect();
    await this.#initialized();
  }

  async close(): Promise<void> {
    try {
      await this.controller.close();
    } finally {
      if (this.#ownsStorage) rmSync(this.#storageDir, { recursive: true, force: true });
    }
  }
}

const CLUSTER_NAMES: Record<number, string> = {
  6: "onOff",
  8: "levelControl",
  57: "bridgedDeviceBasicInformation",
  514: "fanControl",
  768: "colorControl",
  29: "descriptor",
};

function clusterName(id: number): string {
  return CLUSTER_NAMES[id] ?? `0x${id.toString(16)}`;
}
