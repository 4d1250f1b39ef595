// Shared set-up for the Nanit driver tests: a simulator, a driver pointed at it with small timeouts,
// a recording sink, a JSON store in a temp dir (seeded with a session unless told otherwise) and a
// captured JSON log.
import { mkdtempSync, rmSync } from "node:fs";
import { LogCapture } from "../helpers/log-capture.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NanitDriver, saveSession, type NanitDriverOptions } from "../../src/drivers/nanit/index.ts";
import { createLogger, type Logger } from "../../src/core/logger.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { deviceId } from "../../src/core/model.ts";
import { NanitSimulator, type NanitSimulatorOptions } from "../../sim/nanit/index.ts";
import { FakeSink } from "../helpers/fake-sink.ts";

export function fastOptions(
  sim: NanitSimulator,
  urls: { apiUrl: string; wsUrl: string; speakersUrl?: string },
  log: Logger,
): NanitDriverOptions {
  return {
    accountName: "nursery",
    email: sim.email,
    endpoints: { api: urls.apiUrl, websocket: urls.wsUrl, speakers: urls.speakersUrl },
    log,
    timeouts: { httpMs: 1000, requestMs: 400, connectMs: 1000, linkGraceMs: 300 },
    messagesPollMs: 40,
    eventHoldMs: 150,
    babiesPollMs: 0,
    sensorPollMs: 0,
    healthCheckMs: 0,
    keepaliveMs: 100,
    pingIntervalMs: 200,
    pongTimeoutMs: 400,
    localRetryMs: 60_000,
    loginWatchMs: 30,
    backoff: { minMs: 10, maxMs: 40 },
  };
}

export interface Harness {
  sim: NanitSimulator;
  urls: Awaited<ReturnType<NanitSimulator["start"]>>;
  sink: FakeSink;
  logs: LogCapture;
  log: Logger;
  dir: string;
  store: JsonStore;
  driver: NanitDriver;
  /** Core id of the n-th simulated camera. */
  id(n?: number): string;
  newDriver(overrides?: Partial<NanitDriverOptions>, store?: JsonStore): Promise<NanitDriver>;
  close(): Promise<void>;
}

export async function harness(
  options: { sim?: NanitSimulatorOptions; driver?: Partial<NanitDriverOptions>; start?: boolean; seed?: boolean } = {},
): Promise<Harness> {
  const sim = new NanitSimulator({ sensorPushMs: [60_000, 120_000], ...options.sim });
  const urls = await sim.start();
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const dir = mkdtempSync(join(tmpdir(), "nanit-test-"));
  const store = new JsonStore(join(dir, "nursery.json"));
  if (options.seed !== false) saveSession(store, sim.email, sim.issueSession());
  const sink = new FakeSink();
  const drivers: NanitDriver[] = [];
  const make = (overrides: Partial<NanitDriverOptions> = {}): NanitDriver => {
    const fast = fastOptions(sim, urls, log);
    // Timeouts merge: a test that sets one keeps the fast others (and the short link grace).
    const timeouts = { ...fast.timeouts, ...options.driver?.timeouts, ...overrides.timeouts };
    const d = new NanitDriver({ ...fast, ...options.driver, ...overrides, timeouts });
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
    id: (n = 0) => deviceId("nanit", sim.babies[n]!.cameraUid),
    async newDriver(overrides = {}, st = new JsonStore(store.path)) {
      const d = make(overrides);
      await d.start({ sink, log, store: st });
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

/** Resolves once the device is reachable (its control link synced). */
export function whenAvailable(h: Harness, n = 0, timeoutMs = 3000): Promise<unknown> {
  const id = h.id(n);
  if (h.sink.available.get(id) && h.sink.of("availabilityChanged").some((c) => c.id === id && c.available))
    return Promise.resolve();
  return h.sink.next((c) => c.type === "availabilityChanged" && c.id === id && c.available, timeoutMs);
}
