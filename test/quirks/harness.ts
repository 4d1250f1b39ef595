// The bridge's core and Matter host in one process against the FanSync simulator, commissioned by
// matter.js's controller: the rig every controller-quirk test replays its controller's writes on.
// Runs inside test/netns.sh (commissioning needs mDNS on lo).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { deviceId } from "../../src/core/model.ts";
import { FanSyncDriver } from "../../src/drivers/fansync/index.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { FanSyncSimulator, type Registers, type SimDeviceSpec } from "../../sim/fansync/index.ts";
import { fastDriverOptions } from "../drivers/fansync-harness.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";
import type { Endpoint as ClientDevice } from "@project-chip/matter.js/device";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: quirk tests commission over mDNS");

export interface QuirkRig {
  sim: FanSyncSimulator;
  registry: DeviceRegistry;
  client: MatterTestClient;
  /** Simulator device ids, in the order of `devices`. */
  vids: string[];
  /** The controller's endpoint holding `cluster` for simulator device `vid`. */
  endpoint(vid: string, cluster: string): ClientDevice;
  /** `set` frames the simulator received for `vid` since `mark` (a count from `setCount`). */
  setsSince(mark: number, vid: string): Registers[];
  setCount(vid: string): number;
  close(): Promise<void>;
}

export async function startQuirkRig(options: {
  devices: SimDeviceSpec[];
  port: number;
  discriminator: number;
  commandHoldMs?: number;
}): Promise<QuirkRig> {
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info" | undefined) ?? "error");
  const dir = mkdtempSync(join(tmpdir(), "hb-quirk-"));
  const cleanups: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  };
  try {
    const sim = new FanSyncSimulator({ devices: options.devices, deviceAckDelayMs: 5, pushDelayMs: 5 });
    const urls = await sim.start();
    cleanups.push(() => sim.stop());
    const registry = new DeviceRegistry(log, { commandHoldMs: options.commandHoldMs });
    const driver = new FanSyncDriver({
      ...fastDriverOptions(urls, sim, log),
      pingIntervalMs: 20_000,
      pongTimeoutMs: 10_000,
    });
    await driver.start({ sink: registry.sinkFor(driver), log, store: JsonStore.in(dir, "fansync-home") });
    cleanups.push(() => driver.stop());
    const passcode = 20202021;
    const host = new MatterHost({
      registry,
      log,
      dataDir: dir,
      name: "Quirk Bridge",
      port: options.port,
      passcode,
      discriminator: options.discriminator,
    });
    await host.start();
    cleanups.push(() => host.stop());
    const client = await MatterTestClient.commission({
      port: options.port,
      passcode,
      discriminator: options.discriminator,
    });
    cleanups.push(() => client.close());
    const vids = sim.deviceIds;
    return {
      sim,
      registry,
      client,
      vids,
      endpoint: (vid, cluster) => client.withCluster(client.bridged(uniqueIdFor(deviceId("fansync", vid))), cluster),
      setsSince: (mark, vid) =>
        sim
          .requests("set", vid)
          .slice(mark)
          .map((f) => f.data as Registers),
      setCount: (vid) => sim.requests("set", vid).length,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
