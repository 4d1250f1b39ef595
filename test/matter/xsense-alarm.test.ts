// The Smoke CO Alarm binding: how the alarm capabilities compose into one endpoint, the attribute
// mapping, and the self-test command's edge cases against a commissioned matter.js controller (a
// result that arrives while the command is still in flight, BUSY during an alarm, models without a
// remote self-test). Run inside the loopback namespace: node test/run.ts matter/xsense
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { Driver, DriverSink } from "../../src/core/driver.ts";
import type { Capabilities, Command, DeviceInfo, DeviceState } from "../../src/core/model.ts";
import { capabilitiesOf, MODELS } from "../../src/drivers/xsense/models.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { partsFor, uniqueIdFor } from "../../src/matter/bridged.ts";
import { alarmAttributes, selfTestCommand } from "../../accessories/smoke-co-alarm/matter.ts";
import type { BindingContext } from "../../accessories/types.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run this test inside test/netns.sh (it commissions over mDNS)");

const PORT = 5593;
const PASSCODE = 20202021;
const DISCRIMINATOR = 3843;
const Expressed = {
  Normal: 0,
  SmokeAlarm: 1,
  CoAlarm: 2,
  BatteryAlert: 3,
  Testing: 4,
  HardwareFault: 5,
  EndOfService: 6,
} as const;
const Alarm = { Normal: 0, Warning: 1, Critical: 2 } as const;
const STATUS_BUSY = 0x9c;
const STATUS_UNSUPPORTED_COMMAND = 0x81;

function info(model: string, id: string): DeviceInfo {
  const spec = MODELS[model]!;
  return {
    id,
    vendor: "xsense",
    account: "test",
    kind: spec.kind,
    name: `${model} ${id}`,
    manufacturer: "X-Sense",
    model,
    serialNumber: id,
    capabilities: capabilitiesOf(spec),
  };
}

function ctxFor(i: DeviceInfo, state: DeviceState = {}): BindingContext {
  return { entry: { info: i, state, available: true }, command: async () => {} };
}

describe("Smoke CO Alarm composition and mapping", () => {
  it("one endpoint per detector, built by the first alarm binding, with the model's features", () => {
    for (const [model, features] of [
      ["XS01-M", ["SmokeAlarm"]],
      ["XC01-M", ["CoAlarm"]],
      ["SC07-MR", ["SmokeAlarm", "CoAlarm"]],
      ["XH02-M", ["SmokeAlarm"]],
    ] as const) {
      const parts = partsFor(ctxFor(info(model, "x")));
      assert.deepEqual(
        parts.map((p) => p.id),
        ["alarm"],
        model,
      );
      const initial = parts[0]!.initial as Record<string, Record<string, unknown>>;
      assert.equal("smokeState" in initial.smokeCoAlarm!, features.includes("SmokeAlarm" as never), model);
      assert.equal("coState" in initial.smokeCoAlarm!, features.includes("CoAlarm" as never), model);
      assert.ok(initial.powerSource, `${model} has a PowerSource`);
      assert.equal(
        initial.carbonMonoxideConcentrationMeasurement !== undefined,
        features.includes("CoAlarm" as never),
        `${model} CO ppm`,
      );
    }
  });

  it("expressedState picks the most urgent condition; heat is a smoke alarm", () => {
    const caps: Capabilities = capabilitiesOf(MODELS["SC07-MR"]!);
    const heat: Capabilities = capabilitiesOf(MODELS["XH02-M"]!);
    const expressed = (state: DeviceState, c = caps) => alarmAttributes(state, c).smokeCoAlarm!.expressedState;
    assert.equal(expressed({}), Expressed.Normal);
    assert.equal(expressed({ smokeAlarm: { detected: true }, coAlarm: { detected: true } }), Expressed.SmokeAlarm);
    assert.equal(
      expressed({ coAlarm: { detected: true }, smokeAlarm: { detected: false, testing: true } }),
      Expressed.CoAlarm,
    );
    assert.equal(expressed({ smokeAlarm: { detected: false, testing: true }, fault: "x" }), Expressed.Testing);
    assert.equal(expressed({ fault: "x", endOfLife: true }), Expressed.HardwareFault);
    assert.equal(expressed({ endOfLife: true, battery: { low: true } }), Expressed.EndOfService);
    assert.equal(expressed({ battery: { level: 33, low: true } }), Expressed.BatteryAlert);
    assert.equal(expressed({ heatAlarm: { detected: true } }, heat), Expressed.SmokeAlarm);
    assert.equal(alarmAttributes({ heatAlarm: { detected: true } }, heat).smokeCoAlarm!.smokeState, Alarm.Critical);
  });

  it("battery: low is a warning, empty is critical; percent in half-percent units", () => {
    const caps = capabilitiesOf(MODELS["XS01-M"]!);
    const at = (level: number, low: boolean) => alarmAttributes({ battery: { level, low } }, caps);
    assert.equal(at(100, false).smokeCoAlarm!.batteryAlert, Alarm.Normal);
    assert.equal(at(33, true).smokeCoAlarm!.batteryAlert, Alarm.Warning);
    assert.equal(at(0, true).smokeCoAlarm!.batteryAlert, Alarm.Critical);
    assert.equal(at(67, false).powerSource!.batPercentRemaining, 134);
    assert.equal(at(33, true).powerSource!.batReplacementNeeded, true);
  });

  it("the self-test command follows the capability that owns the model's test", () => {
    assert.deepEqual(selfTestCommand(capabilitiesOf(MODELS["XS01-M"]!)), { smokeAlarm: { testing: true } });
    assert.deepEqual(selfTestCommand(capabilitiesOf(MODELS["XC01-M"]!)), { coAlarm: { testing: true } });
    assert.deepEqual(selfTestCommand(capabilitiesOf(MODELS["XH02-M"]!)), { heatAlarm: { testing: true } });
    assert.equal(selfTestCommand(capabilitiesOf(MODELS["XS0B-iR"]!)), undefined);
  });
});

/** A driver whose self-test result is reported before the command resolves (a fast cloud). */
class FastResultDriver implements Driver {
  readonly vendor = "xsense";
  readonly accountName = "test";
  readonly commands: { id: string; command: Command }[] = [];
  sink: DriverSink | undefined;
  async start(): Promise<void> {}
  async command(id: string, command: Command): Promise<void> {
    this.commands.push({ id, command });
    this.sink?.stateChanged(id, { smokeAlarm: { testing: false }, fault: null });
  }
  async stop(): Promise<void> {}
}

describe("Smoke CO Alarm self-test against a controller", () => {
  const log = createLogger("warn");
  const dataDir = mkdtempSync(join(tmpdir(), "hb-matter-xsense-"));
  const registry = new DeviceRegistry(log);
  const driver = new FastResultDriver();
  let sink: DriverSink;
  let host: MatterHost;
  let client: MatterTestClient;
  const events: { endpointId: number; name: string }[] = [];
  const TESTABLE = info("XS01-M", "xsense:testable");
  const UNTESTABLE = info("XS0B-iR", "xsense:untestable");
  const waiters = new Set<() => void>();
  /** Resolves once an event `name` from `endpointId` was seen after index `from`. */
  const eventSeen = (endpointId: number, name: string, from: number, timeoutMs = 5000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!events.slice(from).some((e) => e.endpointId === endpointId && e.name === name)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${name} event from endpoint ${endpointId}; saw ${JSON.stringify(events.slice(from))}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const alarmEp = (id: string) => client.withCluster(client.bridged(uniqueIdFor(id)), "smokeCoAlarm");

  before(async () => {
    sink = registry.sinkFor(driver);
    driver.sink = sink;
    sink.deviceFound(TESTABLE, {
      smokeAlarm: { detected: false, testing: false },
      battery: { level: 100, low: false },
    });
    sink.deviceFound(UNTESTABLE, { smokeAlarm: { detected: false }, battery: { level: 100, low: false } });
    host = new MatterHost({
      registry,
      log,
      dataDir,
      name: "Test Bridge",
      port: PORT,
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
    await host.start();
    client = await MatterTestClient.commission({ port: PORT, passcode: PASSCODE, discriminator: DISCRIMINATOR });
    client.node.events.eventTriggered.on(({ path }) => {
      events.push({ endpointId: path.endpointId, name: path.eventName });
      for (const wake of [...waiters]) wake();
    });
  });

  after(async () => {
    await client?.close();
    await host?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a result that arrives while the command is in flight still ends the test with selfTestComplete", async () => {
    const ep = alarmEp(TESTABLE.id);
    const mark = events.length;
    await client.invoke(ep, "smokeCoAlarm", "selfTestRequest");
    assert.deepEqual(driver.commands.at(-1), { id: TESTABLE.id, command: { smokeAlarm: { testing: true } } });
    // testInProgress goes true and back to false within one report interval: the controller may never
    // see it change, but it gets the event, and the attribute reads false.
    await eventSeen(ep.number!, "selfTestComplete", mark);
    assert.equal((await client.read(ep, "smokeCoAlarm", ["testInProgress"])).testInProgress, false);
    assert.equal((await client.read(ep, "smokeCoAlarm", ["expressedState"])).expressedState, Expressed.Normal);
  });

  it("is refused with BUSY while an alarm sounds, and nothing reaches the vendor", async () => {
    const ep = alarmEp(TESTABLE.id);
    const alarmed = client.nextReport(ep.number, "0x5c", "expressedState", (v) => v === Expressed.SmokeAlarm);
    sink.stateChanged(TESTABLE.id, { smokeAlarm: { detected: true } });
    await alarmed;
    const before = driver.commands.length;
    await assert.rejects(
      client.invoke(ep, "smokeCoAlarm", "selfTestRequest"),
      (error: { code?: number }) => error.code === STATUS_BUSY,
    );
    assert.equal(driver.commands.length, before);
    const cleared = client.nextReport(ep.number, "0x5c", "expressedState", (v) => v === Expressed.Normal);
    sink.stateChanged(TESTABLE.id, { smokeAlarm: { detected: false } });
    await cleared;
  });

  it("a model without a remote self-test answers UNSUPPORTED_COMMAND", async () => {
    const before = driver.commands.length;
    await assert.rejects(
      client.invoke(alarmEp(UNTESTABLE.id), "smokeCoAlarm", "selfTestRequest"),
      (error: { code?: number }) => error.code === STATUS_UNSUPPORTED_COMMAND,
    );
    assert.equal(driver.commands.length, before);
  });
});
