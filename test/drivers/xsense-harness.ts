// Shared set-up for the X-Sense driver tests: a simulator, a driver pointed at it with small timeouts,
// a recording sink, a JSON store in a temp dir and a captured JSON log.
import { mkdtempSync, rmSync } from "node:fs";
import { LogCapture } from "../helpers/log-capture.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XSenseDriver, type XSenseDriverOptions } from "../../src/drivers/xsense/index.ts";
import { createLogger, type Logger } from "../../src/core/logger.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { deviceId } from "../../src/core/model.ts";
import type { DriverSink } from "../../src/core/driver.ts";
import { XSenseSimulator, type SimUrls, type XSenseSimulatorOptions } from "../../sim/xsense/index.ts";
import { FakeSink } from "../helpers/fake-sink.ts";

export function fastDriverOptions(urls: SimUrls, sim: XSenseSimulator, log: Logger): XSenseDriverOptions {
  return {
    accountName: "home",
    email: sim.email,
    password: sim.password,
    endpoints: { api: urls.api, cognito: urls.cognito, iotData: urls.iotData, mqtt: urls.mqtt },
    log,
    timeouts: { httpMs: 2000, cognitoMs: 3000, mqttConnectMs: 2000, selfTestMs: 2000 },
    pollIntervalMs: 0,
    mqttGraceMs: 300,
    backoff: { minMs: 20, maxMs: 200 },
  };
}

export interface Harness {
  sim: XSenseSimulator;
  urls: SimUrls;
  sink: FakeSink;
  logs: LogCapture;
  log: Logger;
  store: JsonStore;
  driver: XSenseDriver;
  /** Core id of a detector by its serial. */
  id(sn: string): string;
  newDriver(overrides?: Partial<XSenseDriverOptions>, sink?: DriverSink): Promise<XSenseDriver>;
  close(): Promise<void>;
}

export async function harness(
  options: { sim?: XSenseSimulatorOptions; driver?: Partial<XSenseDriverOptions>; start?: boolean } = {},
): Promise<Harness> {
  const sim = new XSenseSimulator({ reportDelayMs: 10, ...options.sim });
  const urls = await sim.start();
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const dir = mkdtempSync(join(tmpdir(), "xsense-test-"));
  const store = new JsonStore(join(dir, "xsense-home.json"));
  const sink = new FakeSink();
  const drivers: XSenseDriver[] = [];
  const make = (overrides: Partial<XSenseDriverOptions> = {}): XSenseDriver => {
    const d = new XSenseDriver({ ...fastDriverOptions(urls, sim, log), ...options.driver, ...overrides });
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
    store,
    driver,
    id: (sn) => deviceId("xsense", sim.vendorId(sn)),
    async newDriver(overrides = {}, s = sink) {
      const d = make(overrides);
      await d.start({ sink: s, log, store });
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
