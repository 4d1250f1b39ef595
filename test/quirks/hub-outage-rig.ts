// A Matter hub that disappears and comes back: the rig shared by test/quirks/hub-outage.test.ts (a
// short outage, asserting the mechanism) and bench/hub-outage.ts (10 real minutes, printing figures).
// The bridge (FanSync simulator + driver + MatterHost, in process) keeps running; the controller is
// closed (the hub is unplugged), the fan changes meanwhile, then a new controller process resumes
// from the hub's stored fabric, as a hub does after a power cut: no commissioning, a fresh
// subscription, the current state at once, and later changes as reports.
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
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { fastDriverOptions } from "../drivers/fansync-harness.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

export interface OutageResult {
  /** ms the hub was away (closed to resumed). */
  outageMs: number;
  /** percentCurrent the returning hub read at once (the last change made during the outage). */
  readAfterReturn: unknown;
  /** The speed set last during the outage. */
  lastSpeedDuringOutage: number;
  /** ms from starting the returning controller to its subscription being in place. */
  resumeMs: number;
  /** ms from a wall-remote change after the return to the hub's report. */
  reportMs: number;
  fabricsBefore: number;
  fabricsAfter: number;
  /** The bridge stayed commissioned (nothing asked for a new commissioning). */
  commissionedAfter: boolean;
}

/** Run one outage: `changes` wall-remote changes while the hub is away, each awaited until the bridge
 * holds it, with `between()` after each (nothing in the test; real minutes in the bench). */
export async function runOutage(options: {
  port: number;
  discriminator: number;
  changes: number;
  between: () => Promise<void>;
}): Promise<OutageResult> {
  const dir = mkdtempSync(join(tmpdir(), "hb-outage-"));
  const hubDir = join(dir, "hub");
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info" | undefined) ?? "error");
  const sim = new FanSyncSimulator({ devices: [{ profile: "continuous" }], deviceAckDelayMs: 5, pushDelayMs: 5 });
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const urls = await sim.start();
    cleanups.push(() => sim.stop());
    const vid = sim.deviceIds[0]!;
    const registry = new DeviceRegistry(log);
    const driver = new FanSyncDriver(fastDriverOptions(urls, sim, log));
    await driver.start({ sink: registry.sinkFor(driver), log, store: JsonStore.in(dir, "fansync-home") });
    cleanups.push(() => driver.stop());
    const host = new MatterHost({
      registry,
      log,
      dataDir: dir,
      name: "Outage",
      port: options.port,
      passcode: 20202021,
      discriminator: options.discriminator,
    });
    await host.start();
    cleanups.push(() => host.stop());
    const passcode = 20202021;
    const hub = await MatterTestClient.commission({
      port: options.port,
      passcode,
      discriminator: options.discriminator,
      storageDir: hubDir,
    });
    const nodeId = hub.nodeId;
    const fabricsBefore = host.fabricCount;
    await hub.close(); // the hub is unplugged: no goodbye, its subscription just stops being answered
    const awayAt = performance.now();

    let speed = 10;
    const core = deviceId("fansync", vid);
    for (let i = 0; i < options.changes; i++) {
      speed = speed >= 90 ? 10 : speed + 7;
      const held = speed;
      const applied = new Promise<void>((resolve) => {
        const onState = (): void => {
          if (registry.get(core)?.state.fan?.speed !== held) return;
          registry.off("state", onState);
          resolve();
        };
        registry.on("state", onState);
      });
      await sim.remote(vid, { H00: 1, H02: speed });
      await applied;
      await options.between();
    }

    const resumeStart = performance.now();
    const outageMs = resumeStart - awayAt;
    const back = await MatterTestClient.resume({ storageDir: hubDir, nodeId });
    cleanups.push(() => back.close());
    const resumeMs = performance.now() - resumeStart;
    const fan = back.withCluster(back.bridged(uniqueIdFor(core)), "fanControl");
    const { percentCurrent } = await back.read(fan, "fanControl", ["percentCurrent"]);
    const next = speed === 55 ? 56 : 55;
    const report = back.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === next, 30_000);
    const reportStart = performance.now();
    await sim.remote(vid, { H02: next });
    await report;
    return {
      outageMs,
      readAfterReturn: percentCurrent,
      lastSpeedDuringOutage: speed,
      resumeMs,
      reportMs: performance.now() - reportStart,
      fabricsBefore,
      fabricsAfter: host.fabricCount,
      commissionedAfter: host.commissioned,
    };
  } finally {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  }
}
