// MQTT drops, outages past the grace period, credential renewal and expiry, station presence.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { harness } from "./xsense-harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { LiveObjects, TIMEOUT_PROTOTYPE } from "../helpers/live-objects.ts";

test("a dropped MQTT connection is re-made at once; detectors stay available within the grace", async (t) => {
  const h = await harness({ driver: { mqttGraceMs: 5_000 } });
  t.after(() => h.close());
  const before = h.sim.mqttClients.length;
  assert.equal(before, 2, "one connection per (URL, region): two regions");
  const reconnected = waitFor(() => h.sim.mqttClients.length === 2 && h.sim.mqttClients, 2000, {
    on: [[h.sim, "mqttConnected"]],
  });
  h.sim.dropMqtt();
  await reconnected;
  assert.equal(h.sink.of("availabilityChanged").length, 0, "no unavailability inside the grace period");
  await waitFor(() => h.sink.link === "connected", 2000, { on: [[h.sink, "call"]] });
  // Live updates flow on the new connection.
  const id = h.id("00000001");
  h.sim.raiseSmoke("00000001");
  await waitFor(() => h.sink.states.get(id)?.smokeAlarm?.detected === true, 1000, { on: [[h.sink, "call"]] });
});

test("an outage past the grace marks detectors unavailable; recovery re-reads the state it missed", async (t) => {
  const h = await harness({ driver: { mqttGraceMs: 200 } });
  t.after(() => h.close());
  h.sim.mqttAvailable = false;
  h.sim.dropMqtt();
  await waitFor(() => h.sink.link === "disconnected", 1000, { on: [[h.sink, "call"]] });
  const id = h.id("00000001");
  const t0 = Date.now();
  // Both connections (two regions) have their own grace timer.
  await waitFor(() => [...h.sink.available.values()].every((a) => !a), 2000, {
    on: [[h.sink, "call"]],
    message: "all detectors unavailable",
  });
  assert.ok(Date.now() - t0 >= 150, "not before the grace period");
  // An alarm while we were away: no push reaches us.
  h.sim.setSilently("00000001", { alarmStatus: "1" });
  h.sim.mqttAvailable = true;
  await waitFor(() => h.sink.available.get(id) === true, 3000, { on: [[h.sink, "call"]] });
  await waitFor(() => h.sink.states.get(id)?.smokeAlarm?.detected === true, 2000, { on: [[h.sink, "call"]] });
  await waitFor(() => h.sink.link === "connected" && [...h.sink.available.values()].every((a) => a), 2000, {
    on: [[h.sink, "call"]],
  });
});

test("credentials are renewed before they expire and MQTT is re-made with them", async (t) => {
  const h = await harness({ sim: { credentialTtlS: 2 } });
  t.after(() => h.close());
  const first = await waitFor(() => h.sim.mqttClients.length === 2 && [...h.sim.mqttClients], 1000);
  const [renewed] = (await once(h.sim, "credentials")) as [{ accessKeyId: string }];
  const connected = await new Promise<{ accessKeyId: string }>((resolve) => {
    const fn = (c: { accessKeyId: string }): void => {
      if (c.accessKeyId === renewed.accessKeyId) {
        h.sim.off("mqttConnected", fn);
        resolve(c);
      }
    };
    h.sim.on("mqttConnected", fn);
  });
  assert.equal(connected.accessKeyId, renewed.accessKeyId);
  await waitFor(() => first.every((c) => !h.sim.mqttClients.includes(c)), 2000, { on: [[h.sim, "mqttClosed"]] });
  assert.equal(h.sink.of("availabilityChanged").length, 0);
  const id = h.id("00000002");
  h.sim.raiseCo("00000002", 120);
  await waitFor(() => h.sink.states.get(id)?.coAlarm?.detected === true, 1000, { on: [[h.sink, "call"]] });
});

test("expired credentials: the shadow host's 403 leads to new credentials and the call succeeds", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  h.sim.expireCredentials(false);
  const rejected = once(h.sim, "shadowRejected");
  await h.driver.command(h.id("00000001"), { smokeAlarm: { testing: true } });
  const [why] = (await rejected) as [{ reason: string }];
  assert.match(why.reason, /expired/);
  assert.equal(h.sim.selfTests.length, 1);
});

test("a clock far off the cloud's is learnt from the Date header", async (t) => {
  const h = await harness({ sim: { clockOffsetMs: 10 * 60_000 } });
  t.after(() => h.close());
  // Start-up itself needed the skew: the initial shadows were read.
  assert.equal(h.sink.states.get(h.id("00000001"))?.battery?.level, 100);
  assert.equal(h.logs.matching(/clock differs/).length, 1);
});

test("station presence: a short disconnect is ignored, a lasting one marks its detectors unavailable", async (t) => {
  const h = await harness({ driver: { mqttGraceMs: 200 } });
  t.after(() => h.close());
  const child = h.id("00000001");
  const other = h.id("00000011"); // SBS10 child
  h.sim.setStationOnline("13B96457", false);
  h.sim.setStationOnline("13B96457", true);
  h.sim.setStationOnline("13B96457", false);
  await waitFor(() => h.sink.available.get(child) === false, 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.available.get(other), true);
  assert.equal(h.sink.of("availabilityChanged").filter((c) => c.id === child).length, 1, "the flap did not count");
  h.sim.setStationOnline("13B96457", true);
  await waitFor(() => h.sink.available.get(child) === true, 1000, { on: [[h.sink, "call"]] });
});

test("the drift poll catches a change no push announced, without re-announcing devices", async (t) => {
  const h = await harness({ driver: { pollIntervalMs: 100 } });
  t.after(() => h.close());
  const found = h.sink.of("deviceFound").length;
  h.sim.setSilently("00000004", { batInfo: "1" });
  const id = h.id("00000004");
  await waitFor(() => h.sink.states.get(id)?.battery?.low === true, 2000, { on: [[h.sink, "call"]] });
  assert.equal(h.sink.of("deviceFound").length, found, "no deviceFound on a re-sync");
  assert.equal(h.sink.of("availabilityChanged").length, 0);
});

test("reconnects retain nothing: timers and weak references stay flat over 40 MQTT drops", async (t) => {
  const h = await harness({ driver: { mqttGraceMs: 5_000 } });
  t.after(() => h.close());
  const live = new LiveObjects();
  t.after(() => live.close());
  const cycle = async (): Promise<void> => {
    h.sim.dropMqtt();
    await waitFor(() => h.sink.link === "disconnected", 2000, { on: [[h.sink, "call"]] });
    await waitFor(() => h.sink.link === "connected" && h.sim.mqttClients.length === 2, 3000, {
      on: [
        [h.sink, "call"],
        [h.sim, "mqttConnected"],
      ],
    });
    // The re-read after each reconnect: counted while one is in flight, its requests' objects look
    // retained (on a loaded machine several were in flight: a flaky count).
    await h.driver.settled();
  };
  for (let i = 0; i < 5; i++) await cycle();
  const timers = await live.count(TIMEOUT_PROTOTYPE);
  const weakRefs = await live.count("WeakRef.prototype");
  const rounds = 40;
  for (let i = 0; i < rounds; i++) await cycle();
  // Every drop cancels two grace timers (one per link): cleared, they must not stay in the driver's set.
  const timersAfter = await live.count(TIMEOUT_PROTOTYPE);
  assert.ok(timersAfter - timers < rounds / 2, `live timers ${timers} -> ${timersAfter} over ${rounds} drops`);
  // Every shadow re-read after a reconnect made an AbortSignal.any() with the driver's own signal,
  // which Node keeps an entry (two WeakRefs) for until that signal dies.
  const weakRefsAfter = await live.count("WeakRef.prototype");
  assert.ok(
    weakRefsAfter - weakRefs < rounds / 2,
    `live WeakRefs ${weakRefs} -> ${weakRefsAfter} over ${rounds} drops`,
  );
});
