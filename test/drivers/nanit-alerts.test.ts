// Nanit alerts in seconds (issue 14): the camera socket's PUT_SENSOR_DATA alerts reach the sink without
// waiting for the /messages poll; the poll stays the backstop; an event seen on both channels is delivered
// once; cry is its own sensor when the account turns it on (docs/protocols/nanit.md §6.4).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "../../src/core/config.ts";
import type { HttpRecord } from "../../sim/nanit/index.ts";
import { harness, whenAvailable, type Harness } from "./nanit-harness.ts";

const HOUR = 3_600_000;

function messagesPath(h: Harness): string {
  return `/babies/${h.sim.babies[0]!.uid}/messages`;
}

/** Resolves after `count` more /messages polls were answered (a later poll starts only once the one
 * before it is processed, so the poll before the last has been fully handled). */
function polls(h: Harness, count: number, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      h.sim.off("http", onHttp);
      reject(new Error(`only ${seen} of ${count} /messages polls within ${timeoutMs} ms`));
    }, timeoutMs);
    const onHttp = (r: HttpRecord): void => {
      if (r.path !== messagesPath(h) || r.status !== 200 || ++seen < count) return;
      clearTimeout(timer);
      h.sim.off("http", onHttp);
      resolve();
    };
    h.sim.on("http", onHttp);
  });
}

const trueCount = (h: Harness, kind: "motion" | "sound" | "cry"): number =>
  h.sink.of("stateChanged").filter((c) => c.patch[kind] === true).length;

test("a motion alert on the camera socket arrives with the /messages poll an hour away", async (t) => {
  const h = await harness({ driver: { messagesPollMs: HOUR, eventHoldMs: 200 } });
  t.after(() => h.close());
  await whenAvailable(h);
  // The one poll at start may still be on its way: count from after it.
  const answered = () => h.sim.httpRequests.filter((r) => r.path === messagesPath(h)).length;
  if (answered() === 0) await polls(h, 1);
  const pollsBefore = answered();
  const motion = h.sink.next((c) => c.type === "stateChanged" && c.id === h.id() && c.patch.motion === true);
  const cleared = h.sink.next((c) => c.type === "stateChanged" && c.patch.motion === false, 3000);
  // Only the socket carries it: nothing is posted to /messages.
  assert.equal(h.sim.cameraAlert("motion", { message: false }), 1, "the session enabled motion alerts");
  await motion;
  await cleared;
  assert.equal(answered(), pollsBefore, "no poll ran");
  // The driver asked for sound and motion alerts on connecting (the sim sends alerts only then).
  const transfer = h.sim.requests("PUT_CONTROL").find((r) => r.request.control?.sensor_data_transfer);
  assert.equal(transfer?.request.control?.sensor_data_transfer?.motion, true);
  assert.equal(transfer?.request.control?.sensor_data_transfer?.sound, true);
  assert.equal(transfer?.request.control?.sensor_data_transfer?.cry, undefined, "cry not asked for unless on");
});

test("a sound alert seen on the socket and then in /messages is delivered once", async (t) => {
  // Hold shorter than the poll: without de-duplication the poll's copy would pulse the sensor again.
  const h = await harness({ driver: { messagesPollMs: 150, eventHoldMs: 100 } });
  t.after(() => h.close());
  await whenAvailable(h);
  const sound = h.sink.next((c) => c.type === "stateChanged" && c.patch.sound === true);
  const cleared = h.sink.next((c) => c.type === "stateChanged" && c.patch.sound === false, 3000);
  const at = Date.now();
  h.sim.cameraAlert("sound", { message: false, at });
  await sound;
  await cleared;
  // The cloud's notification of the same event shows up in /messages only now (after the hold ended).
  h.sim.postMessage("SOUND", { ageS: Math.floor((Date.now() - at) / 1000) });
  await polls(h, 2);
  assert.equal(trueCount(h, "sound"), 1, "one sound event, not two");
  assert.equal(h.sink.states.get(h.id())?.sound, false);
});

test("with the socket silent on alerts, the /messages poll still delivers them (the backstop)", async (t) => {
  const h = await harness({ driver: { messagesPollMs: 100, eventHoldMs: 150 } });
  t.after(() => h.close());
  await whenAvailable(h);
  const motion = h.sink.next((c) => c.type === "stateChanged" && c.patch.motion === true);
  h.sim.cameraAlert("motion", { socket: false });
  await motion;
  assert.equal(trueCount(h, "motion"), 1);
});

test("cry: its own sensor when the account turns it on; the camera is asked for cry alerts", async (t) => {
  const h = await harness({ driver: { messagesPollMs: HOUR, eventHoldMs: 200, cry: true } });
  t.after(() => h.close());
  await whenAvailable(h);
  assert.deepEqual(h.sink.infos.get(h.id())?.capabilities.cry, {});
  assert.equal(h.sink.states.get(h.id())?.cry, false);
  const transfer = h.sim.requests("PUT_CONTROL").find((r) => r.request.control?.sensor_data_transfer);
  assert.equal(transfer?.request.control?.sensor_data_transfer?.cry, true);
  const cry = h.sink.next((c) => c.type === "stateChanged" && c.patch.cry === true);
  const cleared = h.sink.next((c) => c.type === "stateChanged" && c.patch.cry === false, 3000);
  assert.equal(h.sim.cameraAlert("cry", { message: false }), 1);
  await cry;
  await cleared;
  // Cry is not motion or sound.
  assert.equal(trueCount(h, "motion") + trueCount(h, "sound"), 0);
});

test("cry off (the default): no Cry sensor, a CAMERA_CRY_DETECTION message only logs a hint", async (t) => {
  const h = await harness({ driver: { messagesPollMs: 100, eventHoldMs: 150 } });
  t.after(() => h.close());
  await whenAvailable(h);
  assert.equal(h.sink.infos.get(h.id())?.capabilities.cry, undefined);
  // The camera was not asked for cry alerts, so the socket copy goes to no session.
  assert.equal(h.sim.cameraAlert("cry"), 0);
  await polls(h, 2);
  assert.equal(trueCount(h, "cry"), 0);
  assert.ok(h.logs.lines.some((l) => /reports cry detection; set "cry: true"/.test(String(l.msg))));
});

test("the account key cry: a Nanit boolean; other vendors and other values are refused", () => {
  const nanit = { vendor: "nanit", email: "a@b.invalid" };
  const account = validateConfig({ accounts: [{ ...nanit, cry: true }] }).accounts[0] as { cry?: boolean };
  assert.equal(account.cry, true);
  const problems = (raw: unknown): string[] => {
    try {
      validateConfig(raw);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems;
    }
    return assert.fail("expected a ConfigError");
  };
  assert.ok(problems({ accounts: [{ ...nanit, cry: "yes" }] }).some((p) => p.startsWith("accounts[0].cry")));
  const fansync = problems({ accounts: [{ vendor: "fansync", email: "a@b.invalid", password: "pw", cry: true }] });
  assert.ok(
    fansync.some((p) => p.startsWith("accounts[0].cry: unknown key")),
    fansync.join("\n"),
  );
});
