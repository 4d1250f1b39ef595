// The write rules (docs/protocols/fansync.md §6.4) produce exactly the expected `set` frames; the double
// acknowledgement is awaited; cloud errors and timeouts reject clearly; a device "error" ack is reconciled from
// the device's own report even when that report beat the acknowledgement.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, setFrames } from "./fansync-harness.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { waitFor } from "../helpers/wait.ts";

test("continuous fan: power on carries the current speed, speed alone, power off alone", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const id = h.id(0);
  const vid = h.vid(0);
  await h.driver.command(id, { fan: { on: true } });
  await h.driver.command(id, { fan: { on: true, speed: 40 } }); // already on: only the speed
  await h.driver.command(id, { fan: { speed: 40 } }); // unchanged: no frame
  await h.driver.command(id, { fan: { on: false, speed: 0, direction: "reverse" } }); // off is {H00:0} alone
  await h.driver.command(id, { fan: { on: true, speed: 60 } });
  assert.deepEqual(setFrames(h.sim, vid), [{ H00: 1, H02: 86 }, { H02: 40 }, { H00: 0 }, { H00: 1, H02: 60 }]);
  await waitFor(() => h.sim.device(vid).H02 === 60 && h.sink.states.get(id)?.fan?.speed === 60, 2000, {
    on: [[h.sink, "call"]],
  });
  assert.deepEqual(h.sink.states.get(id)?.fan, { on: true, speed: 60, direction: "forward", breeze: false });
});

test("writes are judged against the device-reported registers: breeze exits with H01:0 only when set", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const id = h.id(2); // cct fan, on at 40
  const vid = h.vid(2);
  await h.driver.command(id, { fan: { speed: 55 } });
  await h.sim.remote(vid, { H01: 1 });
  await waitFor(() => h.sink.states.get(id)?.fan?.breeze === true, 2000, { on: [[h.sink, "call"]] });
  await h.driver.command(id, { fan: { speed: 70 } });
  await h.driver.command(id, { fan: { direction: "forward" } });
  await h.driver.command(id, { fan: { breeze: true } });
  assert.deepEqual(setFrames(h.sim, vid), [{ H02: 55 }, { H02: 70, H01: 0 }, { H06: 0 }, { H01: 1 }]);
});

test("stepped and AC models: speeds snap to the model's levels, AC direction toggles with H06=2", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "kute60" }, { profile: "ac3", status: { H00: 1 } }] } });
  t.after(() => h.close());
  await h.driver.command(h.id(0), { fan: { speed: 87 } });
  await h.driver.command(h.id(0), { fan: { speed: 5 } });
  await h.driver.command(h.id(1), { fan: { speed: 70, direction: "reverse" } });
  assert.deepEqual(setFrames(h.sim, h.vid(0)), [{ H02: 80 }, { H02: 20 }]);
  assert.deepEqual(setFrames(h.sim, h.vid(1)), [{ H02: 66, H06: 2 }]);
  await waitFor(() => h.sink.states.get(h.id(1))?.fan?.direction === "reverse", 2000, { on: [[h.sink, "call"]] });
});

test("light and Home Away writes: H0B/H0C/H04 preset, H0D alone", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const cct = h.id(2);
  await h.driver.command(cct, { light: { brightness: 30 } });
  await h.driver.command(cct, { light: { colorTemperatureK: 4800 } });
  await h.driver.command(cct, { light: { on: false } });
  await h.driver.command(cct, { light: { on: true, brightness: 100, colorTemperatureK: 3000 } });
  assert.deepEqual(setFrames(h.sim, h.vid(2)), [
    { H0C: 30 },
    { H04: 5000 },
    { H0B: 0 },
    { H0B: 1, H0C: 100, H04: 3000 },
  ]);
  await waitFor(() => h.sink.states.get(cct)?.light?.colorTemperatureK === 3000, 2000, { on: [[h.sink, "call"]] });

  const kute = h.id(1);
  await h.driver.command(kute, { switches: { homeAway: true } });
  assert.deepEqual(setFrames(h.sim, h.vid(1)), [{ H0D: 1 }]);
  // Kute60: Home Away stops the fan, both in one report.
  await waitFor(
    () => h.sink.states.get(kute)?.switches?.homeAway === true && h.sink.states.get(kute)?.fan?.on === false,
    2000,
    { on: [[h.sink, "call"]] },
  );
});

test("command resolves only after the device's acknowledgement (or the grace), not on the cloud's ok", async (t) => {
  const h = await harness({
    sim: { deviceAckDelayMs: 150 },
    driver: { timeouts: { ackMs: 600, loginMs: 1000, getMs: 1500, httpMs: 2000, pushGraceMs: 300 } },
  });
  t.after(() => h.close());
  let started = performance.now();
  await h.driver.command(h.id(0), { fan: { on: true } });
  const withAck = performance.now() - started;
  assert.ok(withAck >= 140, `resolved after ${withAck} ms, before the device ack at 150 ms`);
  assert.ok(withAck < 550, `resolved after ${withAck} ms: the device ack did not end the wait`);

  // No device ack at all: the grace (600 ms here) ends the wait; the command still succeeds.
  h.sim.forceDeviceAck("none");
  started = performance.now();
  await h.driver.command(h.id(0), { fan: { speed: 20 } });
  const graced = performance.now() - started;
  assert.ok(graced >= 590, `resolved after ${graced} ms, before the grace`);
});

test("cloud error and silence reject with a clear error", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  h.sim.failSets(true);
  await assert.rejects(
    h.driver.command(h.id(0), { fan: { on: true } }),
    /could not set \{"H00":1,"H02":86\} on Porch: .*refused the write/,
  );
  h.sim.failSets(false);
  h.sim.goSilent(true);
  await assert.rejects(h.driver.command(h.id(0), { fan: { on: true } }), /did not answer set .* within 1500 ms/);
  h.sim.goSilent(false);
  await assert.rejects(h.driver.command("fansync:000000000000000000000000", { fan: { on: true } }), /no device/);
});

test(
  "device ack 'error' (Kute60 speed while off) is reconciled from the push, " + "even when the push beat the ack",
  async (t) => {
    const h = await harness({
      sim: { pushDelayMs: 5, deviceAckDelayMs: 60, devices: [{ profile: "kute60", status: { H00: 0, H02: 50 } }] },
      start: false,
    });
    t.after(() => h.close());
    const registry = new DeviceRegistry(h.log);
    await h.driver.start({ sink: registry.sinkFor(h.driver), log: h.log, store: h.store });
    const id = h.id(0);
    await registry.command(id, { fan: { speed: 65 } });
    assert.deepEqual(setFrames(h.sim, h.vid(0)), [{ H02: 65 }], "no H00 added: never start a fan as a side effect");
    // The registry applied speed 65 optimistically; the device stayed off at 50 and said so.
    await waitFor(() => registry.get(id)?.state.fan?.speed === 50, 2000, { on: [[registry, "state"]] });
    assert.deepEqual(registry.get(id)?.state.fan, { on: false, speed: 50, direction: "forward", breeze: false });
  },
);

test("device ack 'error' with no push at all is reconciled by a get", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous" }] } });
  t.after(() => h.close());
  h.sim.forceDeviceAck("error");
  h.sim.dropPushes(true);
  const gets = h.sim.requests("get").length;
  await h.driver.command(h.id(0), { fan: { on: true } });
  const frame = await h.sim.nextFrame((f) => f.request === "get", 2000);
  assert.equal(frame.device, h.vid(0));
  assert.equal(h.sim.requests("get").length, gets + 1);
  await waitFor(() => h.sink.states.get(h.id(0))?.fan?.on === true, 2000, { on: [[h.sink, "call"]] });
});

test("OdynCustom clamp: writing 100 settles at the device's reported maximum", async (t) => {
  const h = await harness({
    sim: { devices: [{ profile: "continuous", behaviour: { clampMax: 87 }, status: { H00: 1 } }] },
    start: false,
  });
  t.after(() => h.close());
  const registry = new DeviceRegistry(h.log);
  await h.driver.start({ sink: registry.sinkFor(h.driver), log: h.log, store: h.store });
  await registry.command(h.id(0), { fan: { speed: 100 } });
  assert.deepEqual(setFrames(h.sim, h.vid(0)), [{ H02: 100 }]);
  await waitFor(() => registry.get(h.id(0))?.state.fan?.speed === 87, 2000, { on: [[registry, "state"]] });
});

test("SpitfireV2: turning off never carries a speed (it would bounce back on)", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "spitfire", status: { H00: 1, H02: 45 } }] } });
  t.after(() => h.close());
  await h.driver.command(h.id(0), { fan: { on: false, speed: 45 } });
  assert.deepEqual(setFrames(h.sim, h.vid(0)), [{ H00: 0 }]);
  await waitFor(() => h.sink.states.get(h.id(0))?.fan?.on === false, 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.sim.actual(h.vid(0)).H00, 0);
});

test("a command issued while an earlier write is unanswered is planned against that write", async (t) => {
  // The push and the device ack come well after the next command is issued: its plan cannot see them.
  const h = await harness({ sim: { pushDelayMs: 150, deviceAckDelayMs: 200 } });
  t.after(() => h.close());
  const id = h.id(0);
  const vid = h.vid(0);
  await h.driver.command(id, { fan: { on: true, speed: 65 } });
  await waitFor(() => h.sink.states.get(id)?.fan?.on === true, 2000, { on: [[h.sink, "call"]] });
  const offSent = h.sim.nextFrame((f) => f.request === "set" && f.device === vid);
  const off = h.driver.command(id, { fan: { on: false } });
  await offSent;
  // "Off", then at once "on at 35 %" (Matter answers a write before its command goes out).
  await Promise.all([off, h.driver.command(id, { fan: { on: true, speed: 35 } })]);
  assert.deepEqual(setFrames(h.sim, vid), [{ H00: 1, H02: 65 }, { H00: 0 }, { H00: 1, H02: 35 }]);
  assert.equal(h.sim.actual(vid).H00, 1, "the fan runs");
  // The off write's acknowledgement came after the on write's report: it must not become assumed state.
  await h.driver.command(id, { fan: { on: true, speed: 50 } });
  assert.deepEqual(setFrames(h.sim, vid).at(-1), { H02: 50 }, "the driver knows the fan is on");
  await waitFor(() => h.sink.states.get(id)?.fan?.speed === 50 && h.sink.states.get(id)?.fan?.on === true, 2000, {
    on: [[h.sink, "call"]],
  });
});
