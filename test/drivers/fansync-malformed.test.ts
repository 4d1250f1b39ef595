// Malformed frames (not JSON, wrong shapes, wrong types) are ignored with one warn line per reason
// (rate limited: repeats are counted, and the count is written when the driver stops); the driver
// neither crashes nor applies them, and keeps working.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./fansync-harness.ts";
import { waitFor } from "../helpers/wait.ts";

test("malformed frames are ignored with one warn line per reason and no crash", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous" }, { profile: "kute60" }] } });
  t.after(() => h.close());
  const a = h.vid(0);
  const bad = [
    "this is not json",
    "[1,2,3]",
    "null",
    "42",
    JSON.stringify({ event: "device_change" }),
    JSON.stringify({ event: "device_change", data: { changes: { status: { H00: 1 } } } }),
    JSON.stringify({ event: "device_change", data: { device: a, changes: { status: { H00: "on" } } } }),
    JSON.stringify({ event: "device_change", data: { device: a, changes: { status: [1, 0] } } }),
    JSON.stringify({ event: "device_change", data: { device: a, changes: { status: { H02: 1.5 } } } }),
    JSON.stringify({ hello: "world" }),
  ];
  const before = h.sink.calls.length;
  for (const raw of bad) h.sim.broadcastRaw(raw);
  // A good push after the bad ones: frames are handled in order, so once it lands all were seen.
  await h.sim.remote(a, { H0C: 55 });
  await waitFor(() => h.sink.states.get(h.id(0))?.light?.brightness === 55, 2000, { on: [[h.sink, "call"]] });
  const warns = h.logs.warnings.filter((l) => l.msg === "fansync: ignoring a malformed frame");
  assert.deepEqual(
    warns.map((w) => w.why),
    [
      "not JSON",
      "not an object",
      "device_change without data",
      "device_change without a device id",
      "device_change status is not a map of integers",
      "neither an answer nor an event",
    ],
    "one line per reason, in order; repeats held back",
  );
  const after = h.sink.calls.slice(before);
  assert.equal(after.length, 1, "only the good push reached the sink");
  assert.equal(h.sink.states.get(h.id(0))?.fan?.on, false, "the bad H00 never applied");
  assert.equal(h.sink.link, "connected");
  // Still controllable.
  await h.driver.command(h.id(0), { fan: { on: true } });
  await waitFor(() => h.sink.states.get(h.id(0))?.fan?.on === true, 2000, { on: [[h.sink, "call"]] });
  // The same frames again are all held back; stopping writes the counts.
  for (const raw of bad) h.sim.broadcastRaw(raw);
  await h.sim.remote(a, { H0C: 56 });
  await waitFor(() => h.sink.states.get(h.id(0))?.light?.brightness === 56, 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.logs.warnings.filter((l) => l.msg === "fansync: ignoring a malformed frame").length, warns.length);
  await h.driver.stop();
  const counts = h.logs.warnings
    .filter((l) => l.msg === "fansync: ignoring a malformed frame" && l.suppressed !== undefined)
    .map((l) => [l.why, l.suppressed]);
  assert.deepEqual(
    new Map(counts as [string, number][]),
    new Map([
      ["not JSON", 1],
      ["not an object", 5],
      ["device_change without data", 1],
      ["device_change without a device id", 1],
      ["device_change status is not a map of integers", 5],
      ["neither an answer nor an event", 1],
    ]),
  );
});

test("a greeting before the login answer is consumed silently", async (t) => {
  const greeting = [
    { type: "hello", server: "exosite" },
    "welcome!",
    { id: 0, event: "hello" },
    { id: 99, status: "ok", response: "hello" },
  ];
  const h = await harness({ sim: { greeting } });
  t.after(() => h.close());
  assert.equal(h.sink.link, "connected");
  assert.equal(h.sink.of("deviceFound").length, 4);
  assert.equal(h.logs.warnings.length, 0, JSON.stringify(h.logs.warnings));
  assert.equal(h.logs.lines.filter((l) => /before the login answer ignored/.test(l.msg)).length, greeting.length);
});
