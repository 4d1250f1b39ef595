// Kute60 never reports a power write made alone: the driver keeps the written value, persists it,
// judges the next write against it, keeps it across a restart, and drops it once the device reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { harness, setFrames } from "./fansync-harness.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { waitFor } from "../helpers/wait.ts";

test(
  "unreported power-off is assumed, persisted, " + "survives a restart and is dropped by the device's report",
  async (t) => {
    const h = await harness({ sim: { devices: [{ profile: "kute60" }] } });
    t.after(() => h.close());
    const id = h.id(0);
    const vid = h.vid(0);
    assert.equal(h.sink.states.get(id)?.fan?.on, true);

    await h.driver.command(id, { fan: { on: false } });
    assert.deepEqual(setFrames(h.sim, vid), [{ H00: 0 }]);
    assert.equal(h.sim.actual(vid).H00, 0, "the fan really stopped");
    assert.equal(h.sim.device(vid).H00, 1, "but the cloud still reports it running");
    await waitFor(() => h.sink.states.get(id)?.fan?.on === false, 2000, { on: [[h.sink, "call"]] });
    const onDisk = JSON.parse(readFileSync(h.store.path, "utf8")) as { assumed: Record<string, unknown> };
    assert.deepEqual(onDisk.assumed, { [vid]: { H00: { value: 0, before: 1 } } });

    // Restart with a store read back from disk: the cloud says on, the assumption says off.
    await h.driver.stop();
    const sink2 = new (h.sink.constructor as new () => typeof h.sink)();
    const driver2 = await h.newDriver({}, sink2, new JsonStore(h.store.path));
    assert.equal(sink2.states.get(id)?.fan?.on, false, "assumed off survives the restart");

    // Turning it on is judged against the assumed value (else nothing would be sent: the cloud says on).
    await driver2.command(id, { fan: { on: true } });
    assert.deepEqual(setFrames(h.sim, vid), [{ H00: 0 }, { H00: 1, H02: 50 }]);
    await waitFor(() => sink2.states.get(id)?.fan?.on === true, 2000, { on: [[sink2, "call"]] });
    const after = new JsonStore(h.store.path);
    assert.equal(after.get("assumed"), undefined, "the report of H00 ended the assumption");
  },
);

test("an assumption ends when a get shows a value other than the one before the write", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "kute60" }] } });
  t.after(() => h.close());
  const id = h.id(0);
  const vid = h.vid(0);
  await h.driver.command(id, { fan: { on: false } });
  await waitFor(() => h.store.get("assumed") !== undefined, 2000);
  await h.driver.stop();
  // While the bridge is down the remote runs the fan at 35 and then stops it: the cloud now says off.
  await h.sim.remote(vid, { H00: 0, H02: 35 });
  const sink2 = new (h.sink.constructor as new () => typeof h.sink)();
  await h.newDriver({}, sink2);
  assert.deepEqual(sink2.states.get(id)?.fan, { on: false, speed: 35, direction: "forward", breeze: false });
  assert.equal(new JsonStore(h.store.path).get("assumed"), undefined);
});

test("a reported power write leaves no assumption behind", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous", status: { H00: 1 } }] } });
  t.after(() => h.close());
  await h.driver.command(h.id(0), { fan: { on: false } });
  await waitFor(() => h.sim.device(h.vid(0)).H00 === 0, 2000, { on: [[h.sim, "push"]] });
  assert.equal(h.store.get("assumed"), undefined);
  await h.driver.command(h.id(0), { light: { on: true } });
  assert.deepEqual(setFrames(h.sim, h.vid(0)), [{ H00: 0 }, { H0B: 1 }]);
  await waitFor(() => h.sink.states.get(h.id(0))?.light?.on === true, 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.store.get("assumed"), undefined);
});
