// The control link: local socket first (uc_token, certificate pinned on first use), the
// two-connection limit (403) -> the cloud, a pinned-certificate mismatch refused with a clear error,
// silent sessions replaced, malformed frames ignored, keepalives sent, reconnect and re-sync.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { harness, whenAvailable } from "./nanit-harness.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";
import type { ConnInfo } from "../../sim/nanit/index.ts";
import type { PinnedCert } from "../../src/drivers/nanit/index.ts";

test(
  "local first: uc_token auth, the self-signed certificate pinned on first use, " + "KEEPALIVE 08 00 every interval",
  async (t) => {
    const h = await harness();
    t.after(() => h.close());
    await whenAvailable(h);
    assert.deepEqual(
      h.sim.connections().map((c) => c.flavour),
      ["local"],
    );
    assert.ok(
      h.sim.httpRequests.some(
        (r) =>
          r.path === `/focus/cameras/${h.sim.babies[0]!.cameraUid}/uc_token` && r.authorization?.startsWith("Bearer "),
      ),
    );
    const pins = h.store.get("pins") as Record<string, PinnedCert>;
    assert.equal(pins[h.sim.babies[0]!.cameraUid]?.fingerprint256, h.sim.fingerprint());
    assert.ok(h.logs.has(/pinned the camera's certificate on first use/));
    // Keepalives arrive (the simulator never answers them, like the real relay).
    const [a] = await nextEvent<[ConnInfo]>(h.sim, "keepalive");
    await nextEvent(h.sim, "keepalive");
    assert.equal(a.flavour, "local");
    await h.driver.command(h.id(), { light: { on: true } });
    assert.equal(
      h.sim.requests("PUT_CONTROL", "local").filter((r) => r.request.control?.night_light === "LIGHT_ON").length,
      1,
    );
  },
);

test("the camera's two-connection limit (403): back off from local, use the cloud, controls still work", async (t) => {
  const h = await harness({ start: false });
  t.after(() => h.close());
  // Two other clients (phone apps) hold both local slots.
  const occupants: WebSocket[] = [];
  const access = h.sim.issueSession().accessToken;
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${h.urls.apiUrl}/focus/cameras/${h.sim.babies[0]!.cameraUid}/uc_token`, {
      headers: { authorization: `Bearer ${access}` },
    });
    const { token } = (await res.json()) as { token: string };
    const ws = new WebSocket(Object.values(h.urls.localUrls)[0]!, {
      headers: { authorization: `token ${token}` },
      rejectUnauthorized: false,
    });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    occupants.push(ws);
  }
  t.after(() => occupants.forEach((ws) => ws.terminate()));
  const rejected = nextEvent<[{ flavour: string; status: number }]>(h.sim, "rejected");
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  const [r] = await rejected;
  assert.deepEqual([r.flavour, r.status], ["local", 403]);
  await whenAvailable(h);
  assert.deepEqual(
    h.sim
      .connections()
      .map((c) => c.flavour)
      .sort(),
    ["cloud", "local", "local"],
  );
  assert.ok(
    h.logs.has(
      new RegExp(
        /refused a local connection \(HTTP 403: it allows only two local connections\); /.source +
          /using the cloud; local again in 60 s/.source,
      ),
      40,
    ),
  );
  await h.driver.command(h.id(), { switches: { standby: true } });
  assert.equal(h.sim.requests("PUT_SETTINGS", "cloud").length, 1);
  assert.equal(h.sim.httpRequests.filter((x) => x.path.endsWith("/uc_token")).length, 3, "no local retry storm");
});

test("local probe: once a slot frees up the link moves from the cloud back to the camera", async (t) => {
  const h = await harness({ sim: { localConnectionLimit: 0 }, driver: { localRetryMs: 150 } });
  t.after(() => h.close());
  await whenAvailable(h);
  assert.deepEqual(
    h.sim.connections().map((c) => c.flavour),
    ["cloud"],
  );
  const downsBefore = h.sink.of("availabilityChanged").filter((c) => !c.available).length;
  const local = nextEvent<[ConnInfo]>(h.sim, "connection", (c) => c.flavour === "local");
  h.sim.localConnectionLimit = 2;
  await local;
  await waitFor(() => h.sim.connections().length === 1 && h.sim.connections()[0]!.flavour === "local", 2000, {
    on: [[h.sim, "disconnect"]],
  });
  await waitFor(() => h.logs.has(/connected \(local\)/), 2000, { on: [[h.logs, "line"]] });
  assert.ok(h.logs.has(/moving to the new local connection/));
  assert.equal(
    h.sink.of("availabilityChanged").filter((c) => !c.available).length,
    downsBefore,
    "no unavailability during the hand-over",
  );
  await h.driver.command(h.id(), { light: { on: true } });
  assert.equal(h.sim.requests("PUT_CONTROL", "local").filter((r) => r.request.control?.night_light).length, 1);
  assert.equal(h.sink.available.get(h.id()), true);
});

test(
  "a pinned certificate that no longer matches is refused with a clear error; " + "the cloud is used instead",
  async (t) => {
    const h = await harness();
    t.after(() => h.close());
    await whenAvailable(h);
    const pinned = h.sim.fingerprint();
    await h.driver.stop();
    const presented = await h.sim.replaceCertificate();
    assert.notEqual(presented, pinned);
    const localBefore = h.sim.connections("local").length;
    const cloud = nextEvent<[ConnInfo]>(h.sim, "connection", (c) => c.flavour === "cloud");
    const second = await h.newDriver();
    await cloud;
    const line = h.logs.lines.find((l) => /presented a certificate/.test(l.msg));
    assert.ok(line, "a log line explains the refusal");
    assert.equal(line.level, 50, "logged as an error");
    assert.match(
      line.msg,
      new RegExp(
        `presented a certificate with SHA-256 fingerprint ${presented}, ` +
          `but ${pinned} is pinned; refusing the local connection`,
      ),
    );
    assert.equal(h.sim.connections("local").length, localBefore);
    assert.equal(
      (h.store.get("pins") as Record<string, PinnedCert>)[h.sim.babies[0]!.cameraUid]?.fingerprint256,
      pinned,
      "the pin is kept",
    );
    await waitFor(() => h.logs.has(/connected \(cloud\)/), 2000, { on: [[h.logs, "line"]] });
    await second.command(h.id(), { light: { on: true } });
    assert.equal(
      h.sim.requests("PUT_CONTROL", "cloud").filter((r) => r.request.control?.night_light === "LIGHT_ON").length,
      1,
    );
  },
);

test("a silent session (open, answers nothing, no pongs) is detected by the health check and replaced", async (t) => {
  // Pings far apart: the pong deadline (200 + 400 ms in the harness) raced the health check under load and
  // could drop the session first, with its own log line; this test is about the health check.
  const h = await harness({ driver: { preferLocal: false, healthCheckMs: 80, pingIntervalMs: 600_000 } });
  t.after(() => h.close());
  await whenAvailable(h);
  const [first] = h.sim.connections();
  const gone = nextEvent(h.sim, "disconnect", (c: ConnInfo) => c.conn === first!.conn);
  const fresh = nextEvent<[ConnInfo]>(h.sim, "connection");
  h.sim.goSilent();
  const [second] = await fresh;
  assert.notEqual(second.conn, first!.conn);
  await gone;
  await waitFor(
    () =>
      h.sink.available.get(h.id()) &&
      h.sim.requests("PUT_CONTROL").some((r) => r.conn === second.conn && r.request.control?.sensor_data_transfer),
    2000,
    { on: [[h.sim, "request"]] },
  );
  assert.ok(h.logs.has(/replacing the cloud connection/, 40));
  // The new session is re-synced (sensor push re-enabled) and works.
  await h.driver.command(h.id(), { light: { on: true } });
  assert.equal(h.sim.camera().nightLight, true);
});

test("malformed protobuf frames are ignored with a log line; the socket and the driver carry on", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  const [conn] = h.sim.connections();
  h.sim.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0x07]));
  h.sim.sendRaw(Buffer.from([0x10, 0x01])); // no required `type`
  h.sim.sendRaw(Buffer.from([0x08, 0x01])); // REQUEST without a request
  // One warn line per reason (rate limited): the second frame is also "not protobuf" and held back.
  await waitFor(() => h.logs.lines.filter((l) => /ignoring a malformed frame/.test(l.msg)).length >= 2, 2000);
  const lines = h.logs.lines.filter((l) => /ignoring a malformed frame/.test(l.msg));
  assert.deepEqual(
    lines.map((l) => [l.level, l.why]),
    [
      [40, "not protobuf"],
      [40, "request missing"],
    ],
  );
  await h.driver.command(h.id(), { light: { on: true } });
  assert.deepEqual(
    h.sim.connections().map((c) => c.conn),
    [conn!.conn],
    "same socket, no reconnect",
  );
  assert.equal(h.sim.camera().nightLight, true);
});

test("a dropped socket reconnects with back-off, re-enables sensor push and re-reads the state", async (t) => {
  const h = await harness({ driver: { preferLocal: false } });
  t.after(() => h.close());
  await whenAvailable(h);
  h.sim.camera().nightLight = true;
  h.sim.dropSockets();
  // Back within the grace: the camera never read unreachable (test/drivers/nanit-availability.test.ts).
  await waitFor(() => h.logs.matching(/connected \(cloud\)/).length === 2, 3000, { on: [[h.logs, "line"]] });
  assert.equal(h.sim.requests("PUT_CONTROL").filter((r) => r.request.control?.sensor_data_transfer).length, 2);
  assert.equal(h.sink.states.get(h.id())!.light?.on, true, "state re-read after the reconnect");
});

test("the cloud's 'Mobile App connections above limit' (403) is reported and backed off, not hammered", async (t) => {
  const h = await harness({
    sim: { cloudConnectionLimit: 0 },
    driver: { preferLocal: false, connectionLimitBackoffMs: 300, backoff: { minMs: 1, maxMs: 2 } },
    start: false,
  });
  t.after(() => h.close());
  const first = nextEvent<[ConnInfo]>(h.sim, "disconnect");
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  await first;
  const downAt = Date.now();
  await nextEvent(h.sim, "connection");
  assert.ok(Date.now() - downAt >= 250, "waited the connection-limit back-off, not the 1-2 ms reconnect back-off");
  assert.ok(
    h.logs.has(
      new RegExp(
        /declined \(Forbidden: Number of Mobile App connections above limit, declining connection\); /.source +
          /too many app connections/.source,
      ),
      40,
    ),
  );
  assert.notEqual(h.sink.available.get(h.id()), true);
});
