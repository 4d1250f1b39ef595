// The alarm link must never go silently deaf. AWS IoT answers an upgrade presigned with revoked or expired
// credentials with HTTP 403 before any MQTT is spoken; a driver that presents the same credentials again
// is refused forever while alarms go nowhere. Each test breaks the link one way and raises an alarm after
// the break: it must arrive.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, type Harness } from "./xsense-harness.ts";
import { waitFor } from "../helpers/wait.ts";

type Rejection = { reason: string; accessKeyId: string; region: string; status?: number };

function recordRejections(h: Harness): Rejection[] {
  const seen: Rejection[] = [];
  h.sim.on("mqttRejected", (r) => void seen.push(r));
  return seen;
}

/** No presigned URL (credentials + region) is refused twice: a refusal condemns what it refused. */
function assertNeverTwice(rejections: Rejection[]): void {
  const keys = rejections.map((r) => `${r.accessKeyId} ${r.region}`);
  assert.equal(new Set(keys).size, keys.length, `a refused URL was presented again: ${keys.join(", ")}`);
}

async function alarmArrives(h: Harness, sn: string, timeoutMs = 5_000): Promise<void> {
  h.sim.raiseSmoke(sn);
  const id = h.id(sn);
  await waitFor(() => h.sink.states.get(id)?.smokeAlarm?.detected === true, timeoutMs, {
    on: [[h.sink, "call"]],
    message: `alarm of ${sn} arrived`,
  });
}

test("revoked credentials: the refused upgrade (HTTP 403) fetches new ones and the link comes back", async (t) => {
  const h = await harness({ driver: { mqttGraceMs: 30_000 } });
  t.after(() => h.close());
  const rejections = recordRejections(h);
  const fresh: string[] = [];
  h.sim.on("mqttConnected", (c) => void fresh.push(c.accessKeyId));
  h.sim.revokeCredentials();
  await waitFor(() => h.sink.link === "disconnected", 2_000, { on: [[h.sink, "call"]] });
  // Both regions' links back, on credentials the service still accepts.
  await waitFor(() => fresh.filter((k) => h.sim.credentialsValid(k)).length >= 2, 5_000, {
    on: [[h.sim, "mqttConnected"]],
  });
  await waitFor(() => h.sink.link === "connected", 5_000, { on: [[h.sink, "call"]] });
  assert.ok(rejections.length >= 1, "the revoked credentials were refused at least once (the test's premise)");
  assert.ok(
    rejections.every((r) => r.status === 403),
    "refused at the upgrade, as AWS IoT does",
  );
  assertNeverTwice(rejections);
  await alarmArrives(h, "00000001");
  const line = h.logs.matching(/MQTT connection refused/).find((l) => l.status === 403);
  assert.ok(line, "the refusal is logged with its status");
  assert.match(String(line.msg), /HTTP 403/);
  assert.equal(h.sink.of("availabilityChanged").length, 0, "no detector read unavailable within the grace");
});

test(
  "revoked credentials and a login elsewhere at the same moment: " + "the session is renewed, then the credentials",
  async (t) => {
    const h = await harness({ driver: { mqttGraceMs: 30_000 } });
    t.after(() => h.close());
    const rejections = recordRejections(h);
    const credentialCalls = h.sim.calls.length;
    const displacedToken = (await waitFor(() => h.sim.calls.at(-1)?.authorization, 1_000)) ?? "";
    h.sim.loginElsewhere();
    h.sim.revokeCredentials();
    assert.equal(h.sim.tokenState(displacedToken), "displaced");
    await waitFor(() => h.sink.link === "disconnected", 2_000, { on: [[h.sink, "call"]] });
    await waitFor(() => h.sink.link === "connected", 8_000, { on: [[h.sink, "call"]] });
    const later = h.sim.calls.slice(credentialCalls).filter((c) => c.bizCode === "101003");
    assert.ok(
      later.some((c) => c.errCode === "10000020"),
      "the displaced session was refused when fetching credentials",
    );
    assert.ok(later.at(-1)?.ok, "then credentials were fetched with a renewed session");
    assertNeverTwice(rejections);
    await alarmArrives(h, "00000001");
  },
);

test("refused again with fresh credentials: the tokens are renewed too, and the link still comes back", async (t) => {
  const h = await harness({ driver: { mqttGraceMs: 30_000 } });
  t.after(() => h.close());
  const rejections = recordRejections(h);
  const refreshes: boolean[] = [];
  h.sim.on("refresh", (r) => void refreshes.push(r.ok));
  h.sim.refuseUpgrades(4);
  h.sim.dropMqtt();
  await waitFor(() => rejections.length >= 4 && h.sink.link === "connected", 8_000, {
    on: [
      [h.sink, "call"],
      [h.sim, "mqttRejected"],
    ],
  });
  assertNeverTwice(rejections);
  assert.ok(refreshes.length >= 1, "a second refusal in a row renews the session before new credentials");
  await alarmArrives(h, "00000001");
});

test("a broker that refuses at CONNECT (return code 5) is treated the same", async (t) => {
  const h = await harness({ sim: { mqttRefusal: "connack" }, driver: { mqttGraceMs: 30_000 } });
  t.after(() => h.close());
  const rejections = recordRejections(h);
  h.sim.revokeCredentials();
  await waitFor(() => h.sink.link === "disconnected", 2_000, { on: [[h.sink, "call"]] });
  await waitFor(() => h.sink.link === "connected", 8_000, { on: [[h.sink, "call"]] });
  assert.ok(rejections.length >= 1 && rejections.every((r) => r.status === undefined), "refused at CONNECT");
  assertNeverTwice(rejections);
  await alarmArrives(h, "00000001");
});

test("an alarm raised 20 s into a break arrives once the cloud answers again (default back-off)", async (t) => {
  // The default reconnect policy (1 s doubling, capped at 5 s), not the harness's fast one.
  const h = await harness({ driver: { backoff: {}, mqttGraceMs: 10_000 } });
  t.after(() => h.close());
  const rejections = recordRejections(h);
  const id = h.id("00000001");
  const attempts: number[] = [];
  h.sim.on("mqttUnavailable", ({ at }) => void attempts.push(at));
  // The break: credentials revoked and the broker unreachable (every upgrade answered 503) for 20 s.
  h.sim.mqttAvailable = false;
  const brokeAt = Date.now();
  h.sim.revokeCredentials();
  await waitFor(() => h.sink.link === "disconnected", 2_000, { on: [[h.sink, "call"]] });
  // Past the grace the detectors read unavailable, so the owner knows the alarms cannot reach them.
  await waitFor(() => h.sink.available.get(id) === false, 15_000, {
    on: [[h.sink, "call"]],
    message: "detector unavailable after the grace",
  });
  // The driver keeps trying through the break (each attempt re-checks the clock).
  await waitFor(() => Date.now() - brokeAt >= 20_000, 30_000, {
    on: [[h.sim, "mqttUnavailable"]],
    message: "20 s of break",
  });
  const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
  assert.ok(
    Math.max(...gaps) <= 5_000 * 1.25 + 1_000,
    `retries stay within the 5 s cap (+ jitter): ${gaps.join(", ")} ms`,
  );
  h.sim.mqttAvailable = true;
  const back = Date.now();
  await alarmArrives(h, "00000001", 15_000);
  t.diagnostic(`alarm arrived ${Date.now() - back} ms after the cloud answered again`);
  assert.equal(h.sink.available.get(id), true);
  assertNeverTwice(rejections);
});
