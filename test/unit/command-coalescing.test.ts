// Issue 17: one user action = one vendor command. Commands for one device issued in the same
// macrotask reach the driver merged, once; a held command (half of an action) waits for its other
// half, which flushes it at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { mergeCommands } from "../../src/core/coalesce.ts";
import type { Driver, DriverContext, DriverSink } from "../../src/core/driver.ts";
import type { Command, DeviceInfo } from "../../src/core/model.ts";

const fanInfo = (id: string): DeviceInfo => ({
  id,
  vendor: "fansync",
  account: "t",
  kind: "ceiling-fan",
  name: id,
  manufacturer: "m",
  model: "x",
  serialNumber: id,
  capabilities: { fan: { reversible: true, breeze: false }, light: { dimmable: true } },
});

/** Records every command; each resolves when the test says so (or at once). */
class RecordingDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName = "t";
  readonly commands: { id: string; command: Command }[] = [];
  sink!: DriverSink;
  fail = false;
  readonly #listeners: (() => void)[] = [];
  async start(ctx: DriverContext) {
    this.sink = ctx.sink;
  }
  async command(id: string, command: Command) {
    this.commands.push({ id, command });
    for (const l of this.#listeners.splice(0)) l();
    if (this.fail) throw new Error("refused");
  }
  /** Resolves at the next command the driver receives. */
  nextCommand(): Promise<void> {
    return new Promise((resolve) => this.#listeners.push(resolve));
  }
  async stop() {}
}

function setup(commandHoldMs?: number) {
  const registry = new DeviceRegistry(pino({ level: "silent" }), { commandHoldMs });
  const driver = new RecordingDriver();
  driver.sink = registry.sinkFor(driver);
  for (const id of ["fansync:a", "fansync:b"]) {
    driver.sink.deviceFound(fanInfo(id), {
      fan: { on: false, speed: 35, direction: "forward", breeze: false },
      light: { on: false, brightness: 20 },
    });
  }
  return { registry, driver };
}

test("merging: object parts key by key, later wins, switches merged, scalars replaced", () => {
  assert.deepEqual(mergeCommands({ fan: { on: true } }, { fan: { speed: 50 } }), { fan: { on: true, speed: 50 } });
  assert.deepEqual(mergeCommands({ fan: { on: true, speed: 35 } }, { fan: { speed: 50 }, light: { on: true } }), {
    fan: { on: true, speed: 50 },
    light: { on: true },
  });
  assert.deepEqual(mergeCommands({ switches: { a: true } }, { switches: { b: false } }), {
    switches: { a: true, b: false },
  });
  assert.deepEqual(mergeCommands({ fault: "x" }, { fault: null }), { fault: null });
});

test("Active and RotationSpeed written in one request are one driver command; both callers succeed", async () => {
  const { registry, driver } = setup();
  // What HAP-NodeJS does with one PUT /characteristics: each onSet is called in turn, in one tick.
  const active = registry.command("fansync:a", { fan: { on: true } });
  const speed = registry.command("fansync:a", { fan: { on: true, speed: 50 } });
  await Promise.all([active, speed]);
  assert.deepEqual(driver.commands, [{ id: "fansync:a", command: { fan: { on: true, speed: 50 } } }]);
  assert.deepEqual(registry.get("fansync:a")!.state.fan, { on: true, speed: 50, direction: "forward", breeze: false });
});

test("light on + brightness is one command; other devices get their own", async () => {
  const { registry, driver } = setup();
  await Promise.all([
    registry.command("fansync:a", { light: { on: true } }),
    registry.command("fansync:b", { fan: { on: true } }),
    registry.command("fansync:a", { light: { brightness: 70 } }),
  ]);
  assert.deepEqual(driver.commands, [
    { id: "fansync:a", command: { light: { on: true, brightness: 70 } } },
    { id: "fansync:b", command: { fan: { on: true } } },
  ]);
});

test("commands of separate macrotasks stay separate, in order", async () => {
  const { registry, driver } = setup();
  const first = registry.command("fansync:a", { fan: { on: true } });
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  const second = registry.command("fansync:a", { fan: { speed: 80 } });
  await Promise.all([first, second]);
  assert.deepEqual(
    driver.commands.map((c) => c.command),
    [{ fan: { on: true } }, { fan: { speed: 80 } }],
  );
});

test("two controllers at once: different fields both apply, the later value of one field wins", async () => {
  const { registry, driver } = setup();
  const homekit = registry.command("fansync:a", { fan: { on: true, speed: 50 }, light: { on: true } });
  const matter = registry.command("fansync:a", { fan: { speed: 80, direction: "reverse" } });
  await Promise.all([homekit, matter]);
  assert.deepEqual(
    driver.commands.map((c) => c.command),
    [{ fan: { on: true, speed: 80, direction: "reverse" }, light: { on: true } }],
  );
  const state = registry.get("fansync:a")!.state;
  assert.deepEqual([state.fan, state.light?.on], [{ on: true, speed: 80, direction: "reverse", breeze: false }, true]);
});

test("a refused merged command fails every caller and changes nothing", async () => {
  const { registry, driver } = setup();
  driver.fail = true;
  const results = await Promise.allSettled([
    registry.command("fansync:a", { fan: { on: true } }),
    registry.command("fansync:a", { fan: { speed: 65 } }),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  assert.equal(driver.commands.length, 1);
  assert.equal(registry.get("fansync:a")!.state.fan!.on, false);
});

test("a held command waits for its other half, which flushes it at once", async () => {
  // An hour of hold: if the precise command did not flush the batch, this test would time out.
  const { registry, driver } = setup(3_600_000);
  const held = registry.command("fansync:a", { fan: { on: true, speed: 35 } }, { hold: true });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(driver.commands.length, 0, "nothing sent while held");
  const precise = registry.command("fansync:a", { fan: { on: true, speed: 50 } });
  await Promise.all([held, precise]);
  assert.deepEqual(
    driver.commands.map((c) => c.command),
    [{ fan: { on: true, speed: 50 } }],
  );
});

test("a held command alone goes out when its hold ends", async () => {
  const { registry, driver } = setup(1);
  const sent = driver.nextCommand();
  const held = registry.command("fansync:a", { fan: { on: true, speed: 35 } }, { hold: true });
  await sent;
  await held;
  assert.deepEqual(
    driver.commands.map((c) => c.command),
    [{ fan: { on: true, speed: 35 } }],
  );
});

test("a precise command is not delayed by the hold of an earlier batch", async () => {
  const { registry, driver } = setup(3_600_000);
  await registry.command("fansync:a", { fan: { speed: 65 } });
  assert.deepEqual(
    driver.commands.map((c) => c.command),
    [{ fan: { speed: 65 } }],
  );
});

test("a gathered command goes out at the next microtask, with the device parts gathered in the same turn", async () => {
  // A Matter interaction's writes, handed over as its transaction closes (accessories/fan/matter.ts):
  // the command must not wait for the I/O the rest of the macrotask does (matter.js's write response).
  const { registry, driver } = setup(3_600_000);
  const order: string[] = [];
  const sent = driver.nextCommand().then(() => order.push("sent"));
  setImmediate(() => order.push("end of the macrotask"));
  const fan = registry.command("fansync:a", { fan: { on: true, speed: 50 } }, { gathered: true });
  const light = registry.command("fansync:a", { light: { on: true } }, { gathered: true });
  await Promise.all([fan, light, sent]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ["sent", "end of the macrotask"]);
  assert.deepEqual(
    driver.commands.map((c) => c.command),
    [{ fan: { on: true, speed: 50 }, light: { on: true } }],
  );
});

test("a gathered command flushes a held one with it", async () => {
  const { registry, driver } = setup(3_600_000);
  const held = registry.command("fansync:a", { fan: { on: true, speed: 35 } }, { hold: true });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const gathered = registry.command("fansync:a", { fan: { speed: 80 } }, { gathered: true });
  await Promise.all([held, gathered]);
  assert.deepEqual(
    driver.commands.map((c) => c.command),
    [{ fan: { on: true, speed: 80 } }],
  );
});
