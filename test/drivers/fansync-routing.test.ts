// Pushes are routed by data.device (#185/#188: fan B's changes credited to fan A); unknown device
// ids are dropped; partial pushes merge into the reported registers; every client gets the push.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, setFrames } from "./fansync-harness.ts";
import { FakeSink } from "../helpers/fake-sink.ts";
import { waitFor } from "../helpers/wait.ts";

test("the wall remote on fan B changes only fan B; a command to A is sent for A only", async (t) => {
  const h = await harness({
    sim: { devices: [{ profile: "continuous" }, { profile: "continuous", displayName: "Kitchen" }] },
  });
  t.after(() => h.close());
  const [a, b] = [h.id(0), h.id(1)];
  const before = h.sink.calls.length;
  await h.sim.remote(h.vid(1), { H00: 1, H02: 33, H0B: 1 });
  await waitFor(() => h.sink.states.get(b)?.fan?.on === true, 2000, { on: [[h.sink, "call"]] });
  const changes = h.sink.calls.slice(before).filter((c) => c.type === "stateChanged");
  assert.deepEqual(
    changes.map((c) => c.type === "stateChanged" && c.id),
    [b],
  );
  assert.deepEqual(h.sink.states.get(b)?.fan, { on: true, speed: 33, direction: "forward", breeze: false });
  assert.equal(h.sink.states.get(b)?.light?.on, true);
  assert.deepEqual(h.sink.states.get(a)?.fan, { on: false, speed: 86, direction: "forward", breeze: false });

  await h.driver.command(a, { fan: { on: true } });
  assert.deepEqual(setFrames(h.sim, h.vid(0)), [{ H00: 1, H02: 86 }]);
  assert.deepEqual(setFrames(h.sim, h.vid(1)), []);
  await waitFor(() => h.sink.states.get(a)?.fan?.on === true, 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.states.get(b)?.fan?.speed, 33, "B untouched by A's push");
});

test("a push for an unknown device id is dropped with a debug line", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous" }] } });
  t.after(() => h.close());
  const before = h.sink.calls.length;
  h.sim.broadcastRaw(
    JSON.stringify({
      event: "device_change",
      data: { device: "ffffffffffffffffffffffff", changes: { status: { H00: 1 } } },
    }),
  );
  await waitFor(() => h.logs.lines.find((l) => l.msg === "fansync: push for an unknown device dropped"), 2000);
  assert.equal(h.sink.calls.length, before);
  assert.equal(h.logs.warnings.length, 0);
});

test("partial pushes (only changed keys) merge into the reported state", async (t) => {
  const h = await harness({
    sim: { pushMode: "changed", devices: [{ profile: "continuous", status: { H00: 1, H0B: 1 } }] },
  });
  t.after(() => h.close());
  const id = h.id(0);
  let pushed: Record<string, number> | undefined;
  h.sim.once("push", (_d, status) => (pushed = status));
  await h.sim.remote(h.vid(0), { H0C: 10 });
  assert.deepEqual(pushed, { H0C: 10 }, "the simulator really pushed a partial map");
  await waitFor(() => h.sink.states.get(id)?.light?.brightness === 10, 2000, { on: [[h.sink, "call"]] });
  assert.deepEqual(h.sink.states.get(id)?.fan, { on: true, speed: 86, direction: "forward", breeze: false });
  assert.equal(h.sink.states.get(id)?.light?.on, true);
});

test("every connected client receives the push (two bridges on one account)", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous" }, { profile: "cct" }] } });
  t.after(() => h.close());
  const sink2 = new FakeSink();
  await h.newDriver({}, sink2);
  assert.equal(h.sim.connections, 2);
  await h.sim.remote(h.vid(1), { H0E: 262 });
  await waitFor(() => h.sink.states.get(h.id(1))?.fault && sink2.states.get(h.id(1))?.fault, 2000, {
    on: [
      [h.sink, "call"],
      [sink2, "call"],
    ],
  });
  assert.equal(h.sink.states.get(h.id(1))?.fault, "Stalled fault (code 262)");
  await h.sim.remote(h.vid(1), { H0E: 0 });
  await waitFor(() => h.sink.states.get(h.id(1))?.fault === undefined, 2000, { on: [[h.sink, "call"]] });
});
