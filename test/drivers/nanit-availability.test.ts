// Camera availability across control-link drops: a reconnect within the grace period changes nothing
// the user sees (no "No Response" flicker) but still reports link-reconnected so the stream hub asks
// for the push again; a link that stays down reads unreachable once the grace is over, reachable again
// as soon as it is back, with the state re-read first. The outage is a fault-injecting proxy in front
// of the simulator's cloud relay: connections reset and refused, as when the camera or the network is gone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { harness, whenAvailable, type Harness } from "./nanit-harness.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";
import { ChaosProxy } from "../../sim/chaos-proxy.ts";
import type { DriverSink } from "../../src/core/driver.ts";
import type { StreamInterruption } from "../../src/core/camera.ts";
import type { ConnInfo } from "../../sim/nanit/index.ts";

/** Record streamInterrupted (FakeSink does not have it). */
function recordInterruptions(h: Harness): { list: StreamInterruption[]; events: EventEmitter } {
  const list: StreamInterruption[] = [];
  const events = new EventEmitter();
  (h.sink as DriverSink).streamInterrupted = (_id, reason) => {
    list.push(reason);
    events.emit("interrupted");
  };
  return { list, events };
}

const availabilityOf = (h: Harness, from = 0) =>
  h.sink.calls.slice(from).filter((c) => c.type === "availabilityChanged" && c.id === h.id());

test(
  "a dropped control socket that is back within the grace: " +
    "no availability change, link-reconnected reported, state re-read",
  async (t) => {
    const h = await harness({ driver: { preferLocal: false, timeouts: { linkGraceMs: 5_000 } } });
    t.after(() => h.close());
    const interruptions = recordInterruptions(h);
    await whenAvailable(h);
    const [first] = h.sim.connections();
    const mark = h.sink.calls.length;
    // Changed on the camera while the link is down (no push reaches us).
    h.sim.camera().nightLight = true;
    h.sim.setTemperatureQuietly(27.25);
    h.sim.dropSockets();
    await waitFor(() => interruptions.list.length > 0, 3000, { on: [[interruptions.events, "interrupted"]] });
    assert.deepEqual(interruptions.list, ["link-reconnected"]);
    const [second] = h.sim.connections();
    assert.ok(second && second.conn !== first!.conn, "a new control session");
    assert.deepEqual(availabilityOf(h, mark), [], "no availability change");
    assert.equal(h.sink.available.get(h.id()), true);
    assert.ok(
      h.sim.requests("GET_SENSOR_DATA").some((r) => r.conn === second.conn),
      "sensors re-read on the new session",
    );
    assert.equal(h.sink.states.get(h.id())!.light?.on, true);
    assert.equal(h.sink.states.get(h.id())!.temperature, 27.25);
  },
);

test("a command sent while the link reconnects (within the grace) waits for it and goes through", async (t) => {
  // Reconnect back-off 100-200 ms: the command surely arrives while the link is down.
  const h = await harness({
    driver: { preferLocal: false, timeouts: { linkGraceMs: 5_000 }, backoff: { minMs: 200, maxMs: 400 } },
  });
  t.after(() => h.close());
  await whenAvailable(h);
  const mark = h.sink.calls.length;
  const lost = h.logs.next(/connection lost/);
  h.sim.dropSockets();
  await lost;
  assert.equal(h.sim.connections().length, 0, "the command is sent while no session is open");
  await h.driver.command(h.id(), { light: { on: true } });
  const [now] = h.sim.connections();
  assert.ok(now, "reconnected");
  assert.deepEqual(
    h.sim
      .requests("PUT_CONTROL")
      .filter((r) => r.request.control?.night_light === "LIGHT_ON")
      .map((r) => r.conn),
    [now.conn],
    "sent once, on the new session",
  );
  assert.equal(h.sim.camera().nightLight, true);
  assert.deepEqual(availabilityOf(h, mark), []);
});

test(
  "an outage longer than the grace: unreachable once the grace is over, " +
    "reachable again at once with the state re-read first",
  async (t) => {
    const grace = 300;
    const h = await harness({ start: false });
    const proxy = new ChaosProxy(Number(new URL(h.urls.apiUrl).port));
    await proxy.start();
    t.after(async () => {
      await h.close();
      await proxy.stop();
    });
    const relay = new URL(h.urls.wsUrl);
    relay.port = String(proxy.port);
    const driver = await h.newDriver({
      preferLocal: false,
      endpoints: { api: h.urls.apiUrl, websocket: decodeURI(relay.href) },
      timeouts: { linkGraceMs: grace },
    });
    const interruptions = recordInterruptions(h);
    await whenAvailable(h);
    assert.equal(h.sim.connections().length, 1);
    const mark = h.sink.calls.length;

    const down = h.sink.next((c) => c.type === "availabilityChanged" && c.id === h.id() && !c.available);
    const gone = nextEvent<[ConnInfo]>(h.sim, "disconnect");
    proxy.refuse(true);
    const droppedAt = performance.now();
    proxy.dropAll();
    await gone;
    await down;
    const after = performance.now() - droppedAt;
    assert.ok(
      after >= grace - 5,
      `reported unreachable ${Math.round(after)} ms after the drop, not before the ${grace} ms grace`,
    );
    assert.ok(h.logs.has(/Robin Nanit: no control connection for 0\.3 s .*reads unreachable until it is back/, 40));
    assert.equal(h.sink.available.get(h.id()), false);
    // Unreachable: commands fail at once (no waiting for a link that is not coming).
    await assert.rejects(
      driver.command(h.id(), { switches: { standby: true } }),
      /Robin Nanit is not connected right now/,
    );

    // Meanwhile the room and the night light change; nothing reaches the bridge.
    h.sim.camera().nightLight = true;
    h.sim.setTemperatureQuietly(25.75);
    const connection = nextEvent<[ConnInfo]>(h.sim, "connection");
    const up = h.sink.next((c) => c.type === "availabilityChanged" && c.id === h.id() && c.available);
    proxy.refuse(false);
    const [conn] = await connection;
    await up;
    assert.deepEqual(
      availabilityOf(h, mark).map((c) => c.type === "availabilityChanged" && c.available),
      [false, true],
      "one change each way",
    );
    // The state was re-read on the new session before the camera read reachable again.
    const calls = h.sink.calls.slice(mark);
    const upAt = calls.findIndex((c) => c.type === "availabilityChanged" && c.available);
    const readAt = calls.findIndex((c) => c.type === "stateChanged" && c.patch.temperature === 25.75);
    const lightAt = calls.findIndex((c) => c.type === "stateChanged" && c.patch.light?.on === true);
    assert.ok(readAt >= 0 && readAt < upAt, "temperature re-read before reachable");
    assert.ok(lightAt >= 0 && lightAt < upAt, "night light re-read before reachable");
    assert.ok(h.sim.requests("GET_SENSOR_DATA").some((r) => r.conn === conn.conn));
    assert.deepEqual(interruptions.list, ["link-reconnected"], "the hub is told to request the push again");
    await driver.command(h.id(), { switches: { standby: true } });
    assert.equal(h.sim.camera().settings.sleep_mode, true);
  },
);

test(
  "a control socket that goes silent reads unreachable counted from its last sign of life, " +
    "not from when the missing pong was noticed",
  async (t) => {
    // Pings every 200 ms, 400 ms to answer: the silence is noticed 400-600 ms after it began. The grace
    // (300 ms) is shorter, so the camera must read unreachable as soon as the drop is noticed, before
    // the reconnect (back-off 1-1.5 s) brings it back.
    const h = await harness({
      driver: { preferLocal: false, timeouts: { linkGraceMs: 300 }, backoff: { minMs: 1_000, maxMs: 1_500 } },
    });
    t.after(() => h.close());
    await whenAvailable(h);
    const mark = h.sink.calls.length;
    const noticed = h.logs.next(/no pong on the cloud socket/).then(() => performance.now());
    const down = h.sink
      .next((c) => c.type === "availabilityChanged" && c.id === h.id() && !c.available)
      .then(() => performance.now());
    h.sim.goSilent();
    const [noticedAt, downAt] = await Promise.all([noticed, down]);
    assert.ok(
      downAt - noticedAt < 150,
      `unreachable ${Math.round(downAt - noticedAt)} ms after the silence was noticed (the grace had already run out)`,
    );
    assert.ok(
      h.logs.has(/Robin Nanit: no control connection for 0\.[4-9] s \(no pong\)/, 40),
      "the log counts the silent time",
    );
    await h.sink.next((c) => c.type === "availabilityChanged" && c.id === h.id() && c.available);
    assert.deepEqual(
      availabilityOf(h, mark).map((c) => c.type === "availabilityChanged" && c.available),
      [false, true],
    );
  },
);
