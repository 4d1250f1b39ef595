import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { DeviceRegistry, CommandError } from "../../src/core/registry.ts";
import type { Driver, DriverContext, DriverSink } from "../../src/core/driver.ts";
import type { Command, DeviceInfo, StatePatch } from "../../src/core/model.ts";

const info: DeviceInfo = {
  id: "fansync:a",
  vendor: "fansync",
  account: "t",
  kind: "ceiling-fan",
  name: "Fan",
  manufacturer: "m",
  model: "x",
  serialNumber: "a",
  capabilities: { fan: { reversible: true, breeze: false, speedSteps: [20, 35, 50, 65, 80, 100] } },
};

/** A driver whose command() lets the test report state before it resolves. */
class ScriptedDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName = "t";
  sink!: DriverSink;
  duringCommand: ((sink: DriverSink) => void) | undefined;
  fail = false;
  async start(ctx: DriverContext) {
    this.sink = ctx.sink;
  }
  async command(_id: string, _command: Command) {
    this.duringCommand?.(this.sink);
    if (this.fail) throw new Error("refused");
  }
  async stop() {}
}

function setup() {
  const registry = new DeviceRegistry(pino({ level: "silent" }));
  const driver = new ScriptedDriver();
  driver.sink = registry.sinkFor(driver);
  driver.sink.deviceFound(info, { fan: { on: false, speed: 50, direction: "forward", breeze: false } });
  const patches: StatePatch[] = [];
  registry.on("state", (_e, p) => patches.push(p));
  return { registry, driver, patches };
}

test("a command's state is applied once the vendor accepted it", async () => {
  const { registry, patches } = setup();
  await registry.command(info.id, { fan: { on: true, speed: 65 } });
  assert.deepEqual(registry.get(info.id)!.state.fan, { on: true, speed: 65, direction: "forward", breeze: false });
  assert.deepEqual(patches, [{ fan: { on: true, speed: 65 } }]);
});

test("a vendor report that arrives before the ack wins over the commanded value", async () => {
  const { registry, driver, patches } = setup();
  driver.duringCommand = (sink) => sink.stateChanged(info.id, { fan: { on: true, speed: 80 } });
  await registry.command(info.id, { fan: { on: true, speed: 87 } });
  assert.equal(registry.get(info.id)!.state.fan!.speed, 80);
  assert.deepEqual(patches, [{ fan: { on: true, speed: 80 } }], "no flicker through the commanded 87");
});

test("a refused command changes nothing; unknown and unreachable devices are refused", async () => {
  const { registry, driver, patches } = setup();
  driver.fail = true;
  await assert.rejects(registry.command(info.id, { fan: { on: true } }), /refused/);
  assert.deepEqual(patches, []);
  await assert.rejects(registry.command("fansync:nope", { fan: { on: true } }), CommandError);
  driver.sink.availabilityChanged(undefined, false);
  await assert.rejects(registry.command(info.id, { fan: { on: true } }), /not reachable/);
  assert.equal(registry.get(info.id)!.available, false);
  driver.sink.deviceFound(info, {});
  assert.equal(registry.get(info.id)!.available, true, "listing the device again brings it back");
});

test("a fault and its clearing are logged once each, with the device's name", () => {
  const lines: { level: number; msg: string }[] = [];
  const registry = new DeviceRegistry(
    pino(
      { level: "info" },
      { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
    ),
  );
  const driver = new ScriptedDriver();
  driver.sink = registry.sinkFor(driver);
  driver.sink.deviceFound(info, { fan: { on: false, speed: 50, direction: "forward", breeze: false } });
  driver.sink.stateChanged(info.id, { fault: "Stalled fault (code 262)" });
  driver.sink.stateChanged(info.id, { fault: "Stalled fault (code 262)" });
  driver.sink.stateChanged(info.id, { fault: null });
  const faults = lines.filter((l) => /fault/.test(l.msg)).map((l) => [l.level, l.msg]);
  assert.deepEqual(faults, [
    [40, "Fan reports a fault: Stalled fault (code 262)"],
    [30, "Fan: fault cleared"],
  ]);
});
