// The link drops, stalls or goes silent: the driver reconnects with back-off, re-lists and re-gets,
// marks the account unavailable only while a reconnect fails, and available again once re-synced.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./fansync-harness.ts";
import { nextEvent, quietFor, waitFor } from "../helpers/wait.ts";
import { LiveObjects } from "../helpers/live-objects.ts";

test("server drop: reconnect, re-list and re-get on the new connection, state caught up", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const connected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
  const disconnected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "disconnected");
  // The remote acts and its push is lost with the link: only the re-sync can tell it. (Dropping the
  // push first keeps this deterministic: a reconnect can't race the remote.)
  h.sim.dropPushes(true);
  await h.sim.remote(h.vid(0), { H00: 1, H02: 12 });
  h.sim.dropSockets();
  await disconnected;
  h.sim.dropPushes(false);
  await connected;
  const conn2 = h.sim.frames.filter((f) => f.conn === 2).map((f) => f.frame?.request);
  assert.deepEqual(conn2, ["login", "lst_device", "get", "get", "get", "get"]);
  assert.deepEqual(h.sink.states.get(h.id(0))?.fan, { on: true, speed: 12, direction: "forward", breeze: false });
  assert.equal(h.sim.tokensIssued, 1, "the token was reused");
  assert.equal(h.sink.of("availabilityChanged").length, 0, "a reconnect that works at once never flaps availability");
  await h.driver.command(h.id(0), { fan: { speed: 30 } });
});

test("graceful server close (code 1001) is handled like a drop", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const relisted = h.sim.nextFrame((f) => f.request === "lst_device");
  h.sim.dropSockets({ graceful: true });
  await relisted;
  await h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
  assert.equal(h.sim.connections, 1);
});

test("login stall: times out, retries, marks the account unavailable while down, available after", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  h.sim.stallLogins(true);
  const down = h.sink.next((c) => c.type === "availabilityChanged" && c.id === undefined && !c.available);
  h.sim.dropSockets();
  await down;
  // The stalled sockets stay up (the stall is not a close), and the driver gives up on them.
  const logins = h.sim.requests("login").length;
  await waitFor(() => h.sim.requests("login").length >= logins + 1, 3000, { on: [[h.sim, "frame"]] });
  assert.ok(
    h.logs.lines.some((l) => /did not answer login within 1000 ms/.test(l.msg)),
    "login timeout logged",
  );
  const up = h.sink.next((c) => c.type === "availabilityChanged" && c.id === undefined && c.available);
  h.sim.stallLogins(false);
  await up;
  await waitFor(() => h.sink.link === "connected", 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.accountAvailable, true);
  assert.equal(h.sim.connections, 1, "stalled sockets were closed, not leaked");
});

test("a first login that stalls: start() returns, the retry succeeds", async (t) => {
  const h = await harness({ start: false });
  t.after(() => h.close());
  h.sim.stallLogins(true);
  const started = h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  await started; // resolves after the first failed attempt, never throws
  assert.equal(h.sink.of("deviceFound").length, 0);
  assert.equal(h.sink.link, "disconnected");
  h.sim.stallLogins(false);
  await h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
  assert.equal(h.sink.of("deviceFound").length, 4);
});

test("silence: no pong within the timeout drops the socket and reconnects", async (t) => {
  const h = await harness({ driver: { pingIntervalMs: 40, pongTimeoutMs: 80 } });
  t.after(() => h.close());
  h.sim.goSilent(true);
  await nextEvent(h.sim, "disconnect", () => true, 3000);
  assert.ok(h.logs.lines.some((l) => /no pong within 80 ms/.test(l.msg)));
  h.sim.goSilent(false);
  await h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected", 3000);
});

test("a stalled login socket still answers control pings", async (t) => {
  const h = await harness({
    driver: {
      pingIntervalMs: 30,
      pongTimeoutMs: 1000,
      timeouts: { loginMs: 300, ackMs: 300, getMs: 800, httpMs: 1000, pushGraceMs: 300 },
    },
  });
  t.after(() => h.close());
  h.sim.stallLogins(true);
  h.sim.dropSockets();
  await waitFor(() => h.logs.lines.some((l) => /did not answer login within 300 ms/.test(l.msg)), 3000);
  assert.ok(!h.logs.lines.some((l) => /no pong/.test(l.msg)), "pings were answered during the stall");
});

test("fallback poll picks up changes whose push never arrived", async (t) => {
  const h = await harness({ driver: { pollIntervalMs: 50 }, sim: { devices: [{ profile: "continuous" }] } });
  t.after(() => h.close());
  h.sim.dropPushes(true);
  await h.sim.remote(h.vid(0), { H0B: 1, H0C: 20 });
  await waitFor(() => h.sink.states.get(h.id(0))?.light?.brightness === 20, 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.states.get(h.id(0))?.light?.on, true);
});

test("a device the poll finds disconnected becomes unavailable, and available again", async (t) => {
  const h = await harness({ driver: { pollIntervalMs: 40 }, sim: { devices: [{ profile: "continuous" }] } });
  t.after(() => h.close());
  h.sim.setConnected(h.vid(0), 0);
  await h.sink.next((c) => c.type === "availabilityChanged" && c.id === h.id(0) && !c.available);
  h.sim.setConnected(h.vid(0), 1);
  await h.sink.next((c) => c.type === "availabilityChanged" && c.id === h.id(0) && c.available);
});

test("commands while the link is down reject clearly", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  h.sim.stallLogins(true);
  const down = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "disconnected");
  h.sim.dropSockets();
  await down;
  await assert.rejects(h.driver.command(h.id(0), { fan: { on: true } }), /not connected; Porch cannot be controlled/);
});

test("stop() closes the socket and leaves no timers behind", async (t) => {
  const h = await harness({ driver: { pollIntervalMs: 20 } });
  t.after(() => h.close());
  await h.driver.stop();
  await waitFor(() => h.sim.connections === 0, 2000, { on: [[h.sim, "disconnect"]] });
  const frames = h.sim.frames.length;
  await quietFor(80); // four poll intervals: a timer left behind (poll, reconnect) would act in it
  assert.equal(h.sim.frames.length, frames);
  assert.equal(h.sim.connections, 0);
});

test("reconnects retain nothing: promises stay flat over 60 dropped sockets", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const live = new LiveObjects();
  t.after(() => live.close());
  const cycle = async (): Promise<void> => {
    const connected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
    h.sim.dropSockets();
    await connected;
  };
  for (let i = 0; i < 5; i++) await cycle();
  const before = await live.count("Promise.prototype");
  const rounds = 60;
  for (let i = 0; i < rounds; i++) await cycle();
  const after = await live.count("Promise.prototype");
  // A Promise.race against a driver-long promise kept one settled promise per reconnect.
  assert.ok(after - before < rounds / 4, `live promises ${before} -> ${after} over ${rounds} reconnects`);
});
