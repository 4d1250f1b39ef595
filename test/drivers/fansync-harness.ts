// Shared set-up for the FanSync driver tests: a simulator with small delays, a driver pointed at
// it with small timeouts, a recording sink, a JSON store in a temp dir and a captured JSON log.
import { mkdtempSync, rmSync } from "node:fs";
import { LogCapture } from "../helpers/log-capture.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FanSyncDriver, type FanSyncDriverOptions } from "../../src/drivers/fansync/index.ts";
import { createLogger, type Logger } from "../../src/core/logger.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { deviceId } from "../../src/core/model.ts";
import type { DriverSink } from "../../src/core/driver.ts";
import { FanSyncSimulator, type FanSyncSimulatorOptions } from "../../sim/fansync/index.ts";
import { FakeSink } from "../helpers/fake-sink.ts";

// As measured: the push (1-2 s) usually arrives before the device ack (1.9-2.5 s); scaled down.
export const FAST_SIM: FanSyncSimulatorOptions = { deviceAckDelayMs: 30, pushDelayMs: 10 };

export function fastDriverOptions(
  urls: { apiUrl: string; wsUrl: string },
  sim: FanSyncSimulator,
  log: Logger,
): FanSyncDriverOptions {
  return {
    accountName: "home",
    email: sim.email,
    password: sim.password,
    endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
    log,
    timeouts: { loginMs: 1000, ackMs: 300, getMs: 1500, httpMs: 2000, pushGraceMs: 300 },
    pollIntervalMs: 0,
    pingIntervalMs: 1000,
    pongTimeoutMs: 1000,
    backoff: { minMs: 10, maxMs: 60 },
  };
}

export interface Harness {
  sim: FanSyncSimulator;
  urls: { apiUrl: string; wsUrl: string };
  sink: FakeSink;
  logs: LogCapture;
  log: Logger;
  dir: string;
  store: JsonStore;
  driver: FanSyncDriver;
  /** Core id of the simulator's n-th device. */
  id(n: number): string;
  vid(n: number): string;
  /** Build a fresh driver (same store path unless a new store is given) and start it. */
  newDriver(overrides?: Partial<FanSyncDriverOptions>, sink?: DriverSink, store?: JsonStore): Promise<FanSyncDriver>;
  close(): Promise<void>;
}

export async function harness(
  options: { sim?: FanSyncSimulatorOptions; driver?: Partial<FanSyncDriverOptions>; start?: boolean } = {},
): Promise<Harness> {
  const sim = new FanSyncSimulator({ ...FAST_SIM, ...options.sim });
  const urls = await sim.start();
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const dir = mkdtempSync(join(tmpdir(), "fansync-test-"));
  const store = new JsonStore(join(dir, "fansync-home.json"));
  const sink = new FakeSink();
  const drivers: FanSyncDriver[] = [];
  const make = (overrides: Partial<FanSyncDriverOptions> = {}): FanSyncDriver => {
    const d = new FanSyncDriver({ ...fastDriverOptions(urls, sim, log), ...options.driver, ...overrides });
    drivers.push(d);
    return d;
  };
  const driver = make();
  const h: Harness = {
    sim,
    urls,
    sink,
    logs,
    log,
    dir,
    store,
    driver,
    id: (n) => deviceId("fansync", sim.deviceIds[n]!),
    vid: (n) => sim.deviceIds[n]!,
    async newDriver(overrides = {}, s = sink, st = new JsonStore(store.path)) {
      const d = make(overrides);
      await d.start({ sink: s, log, store: st });
      return d;
    },
    async close() {
      for (const d of drivers) await d.stop();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (options.start !== false) await driver.start({ sink, log, store });
  return h;
}

/** Parsed `set` frames the simulator received for a device, in order (data only). */
export function setFrames(sim: FanSyncSimulator, vid: string): unknown[] {
  return sim.requests("set", vid).map((f) => f.data);
}
