// Live view, driver side: requestStream sends PUT_STREAMING over the control socket and the
// simulated camera publishes RTMP (ffmpeg) to the URL; a tiny ffmpeg RTMP listener checks what
// arrives. Renewal, stop, standby / p2p / connection-limit refusals, a lost answer, the push dying
// with its control session (the driver then reports "link-reconnected"), fault hooks, no ffmpeg
// left behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import type { StreamInterruption } from "../../src/core/camera.ts";
import type { DriverSink } from "../../src/core/driver.ts";
import { harness, whenAvailable, type Harness } from "./nanit-harness.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";
import { CONNECTION_LIMIT_MESSAGE, type ConnInfo, type NanitSimulatorOptions } from "../../sim/nanit/index.ts";
import { RtmpReceiver } from "../../sim/nanit/rtmp-receiver.ts";
import type { NanitDriverOptions } from "../../src/drivers/nanit/index.ts";

type StreamStart = [{ cameraUid: string; url: string; pid: number | undefined }];
type StreamStop = [{ cameraUid: string; url: string; reason: string }];

const TIMEOUTS = { httpMs: 1000, requestMs: 400, connectMs: 1000, streamMs: 2000 };

/** A harness whose sink also records streamInterrupted (FakeSink does not have it). */
async function streamHarness(options: { sim?: NanitSimulatorOptions; driver?: Partial<NanitDriverOptions> } = {}) {
  const h = await harness({ sim: options.sim, driver: { timeouts: TIMEOUTS, ...options.driver } });
  const interruptions: Array<{ id: string; reason: StreamInterruption }> = [];
  const events = new EventEmitter();
  (h.sink as DriverSink).streamInterrupted = (id, reason) => {
    interruptions.push({ id, reason });
    events.emit("interrupted");
  };
  return { h, interruptions, events };
}

async function receiver(
  t: { after(fn: () => unknown): void },
  options: Parameters<typeof RtmpReceiver.start>[0] = {},
): Promise<RtmpReceiver> {
  const r = await RtmpReceiver.start(options);
  t.after(() => r.kill());
  return r;
}

function processState(pid: number): string | undefined {
  try {
    // "pid (comm) S ...": the state letter follows the command name.
    return /\) (\w) /.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Waits for the simulated camera's ffmpeg to start or exit: generous, since at a load of 19 on 2 cores an
// exit (SIGTERM, then SIGKILL after 1 s, then the pipes closing) took over 5 s.
const PROCESS_WAIT_MS = 30_000;

function started(h: Harness): Promise<StreamStart> {
  return nextEvent<StreamStart>(h.sim, "stream-start", () => true, PROCESS_WAIT_MS);
}

function stopped(h: Harness, reason?: string): Promise<StreamStop> {
  return nextEvent<StreamStop>(
    h.sim,
    "stream-stop",
    (e) => reason === undefined || e.reason === reason,
    PROCESS_WAIT_MS,
  );
}

test(
  "start: PUT_STREAMING MOBILE/STARTED over the control socket; " +
    "the camera pushes H.264 main + AAC at its profile (720p default)",
  async (t) => {
    const { h } = await streamHarness();
    t.after(() => h.close());
    await whenAvailable(h);
    assert.deepEqual(h.sink.infos.get(h.id())!.capabilities.camera, {
      profiles: [
        { width: 1920, height: 1080, fps: 15 },
        { width: 1280, height: 720, fps: 15 },
      ],
      audio: true,
    });
    const rx = await receiver(t, { frames: 30 });
    const pushing = started(h);
    await h.driver.requestStream!(h.id(), { action: "start", url: rx.url });
    const [request] = h.sim.requests("PUT_STREAMING");
    assert.equal(request?.flavour, "local", "over the current (local) control socket");
    assert.deepEqual(request?.request.streaming, { id: "MOBILE", status: "STARTED", rtmp_url: rx.url, attempts: 1 });
    const [start] = await pushing;
    assert.equal(start.url, rx.url);
    const got = await rx.done;
    assert.equal(got.code, 0, got.stderr.slice(-800));
    assert.ok(got.frames >= 30, `decoded ${got.frames} frames`);
    assert.deepEqual(got.video, { codec: "h264", profile: "Main", width: 1280, height: 720, fps: 15 });
    assert.equal(got.audio?.codec, "aac");
    assert.equal(got.audio?.sampleRate, 44100);
  },
);

test("a 1080p camera pushes 1920x1080; over the cloud socket when that is the link", async (t) => {
  const { h } = await streamHarness({ sim: { streamProfile: "1080p" }, driver: { preferLocal: false } });
  t.after(() => h.close());
  await whenAvailable(h);
  const rx = await receiver(t, { frames: 15 });
  await h.driver.requestStream!(h.id(), { action: "start", url: rx.url });
  assert.equal(h.sim.requests("PUT_STREAMING")[0]?.flavour, "cloud");
  const got = await rx.done;
  assert.equal(got.code, 0, got.stderr.slice(-800));
  assert.deepEqual([got.video?.width, got.video?.height, got.video?.profile], [1920, 1080, "Main"]);
});

test('renewal (same URL) keeps the one push; another URL restarts it there; stop (rtmp_url "") kills it', async (t) => {
  const { h } = await streamHarness();
  t.after(() => h.close());
  await whenAvailable(h);
  const first = await receiver(t, { key: "first" });
  const id = h.id();
  let starts = 0;
  h.sim.on("stream-start", () => starts++);
  const pushing = started(h);
  await h.driver.requestStream!(id, { action: "start", url: first.url });
  const [{ pid }] = await pushing;
  await first.receiving(3);
  const renewed = nextEvent(h.sim, "stream-renew");
  await h.driver.requestStream!(id, { action: "start", url: first.url });
  await renewed;
  assert.equal(starts, 1, "no second ffmpeg");
  assert.equal(h.sim.livePushes, 1);
  assert.equal(h.sim.streams()[0]?.pid, pid);

  const second = await receiver(t, { key: "second" });
  const oldStopped = stopped(h, "new-url");
  const moved = started(h);
  await h.driver.requestStream!(id, { action: "start", url: second.url });
  const [[old], [now]] = await Promise.all([oldStopped, moved]);
  assert.equal(old.url, first.url);
  assert.equal(now.url, second.url);
  const firstGot = await first.done;
  assert.ok(firstGot.frames >= 3, "the first receiver got frames before the move");
  await second.receiving(3);
  await waitFor(() => h.sim.livePushes === 1, PROCESS_WAIT_MS, { on: [[h.sim, "stream-stop"]] });

  const gone = stopped(h, "stopped");
  await h.driver.requestStream!(id, { action: "stop", url: second.url });
  const stop = h.sim.requests("PUT_STREAMING").at(-1)!.request.streaming;
  assert.deepEqual(stop, { id: "MOBILE", status: "STOPPED", rtmp_url: "", attempts: 1 });
  await gone;
  assert.equal(h.sim.livePushes, 0);
  const secondGot = await second.done;
  assert.ok(secondGot.frames > 0);
  assert.equal(secondGot.video?.codec, "h264");
});

test("standby: the camera answers 'sleeping' and the driver says it is in standby; no push starts", async (t) => {
  const { h } = await streamHarness();
  t.after(() => h.close());
  await whenAvailable(h);
  await h.driver.command(h.id(), { switches: { standby: true } });
  await assert.rejects(
    h.driver.requestStream!(h.id(), { action: "start", url: "rtmp://127.0.0.1:1/live/k" }),
    new RegExp(
      /Robin Nanit: cannot start the live view: the camera is in standby \(sleep mode\); /.source +
        /turn standby off to watch it \(the camera answered 409 "camera is sleeping"\)/.source,
    ),
  );
  assert.equal(h.sim.livePushes, 0);
  assert.equal(h.sim.requests("PUT_STREAMING").length, 1, "asked the camera (our standby state may be stale)");
});

test(
  "refusals are explained: 500 'failed to punch p2p', " +
    "403 connection limit, other codes; not connected; unknown device",
  async (t) => {
    const { h } = await streamHarness({ driver: { preferLocal: false, connectionLimitBackoffMs: 60_000 } });
    t.after(() => h.close());
    await whenAvailable(h);
    const start = { action: "start" as const, url: "rtmp://127.0.0.1:1/live/k" };
    h.sim.failStreamingNext(500, "failed to punch p2p");
    await assert.rejects(
      h.driver.requestStream!(h.id(), start),
      /the camera needs outbound internet even for local streaming.*500 "failed to punch p2p"/,
    );
    h.sim.failStreamingNext(403, CONNECTION_LIMIT_MESSAGE);
    await assert.rejects(
      h.driver.requestStream!(h.id(), start),
      new RegExp(
        /too many app connections to this camera; close a Nanit app or another bridge /.source +
          /\(the camera answered 403 "Forbidden: Number of Mobile App/.source,
      ),
    );
    h.sim.failStreamingNext(503, "busy");
    await assert.rejects(
      h.driver.requestStream!(h.id(), start),
      /cannot start the live view: the camera answered 503 "busy"$/,
    );
    assert.equal(h.sim.livePushes, 0);
    await assert.rejects(h.driver.requestStream!("nanit:nope", start), /Nanit has no device nanit:nope/);
    // No control socket: every new cloud session is declined (403) and backed off.
    h.sim.cloudConnectionLimit = 0;
    const down = h.sink.next((c) => c.type === "availabilityChanged" && c.id === h.id() && !c.available);
    h.sim.dropSockets();
    await down;
    await assert.rejects(
      h.driver.requestStream!(h.id(), start),
      /Robin Nanit: cannot start the live view: the camera is not connected right now/,
    );
  },
);

test(
  "an answer that never comes: rejected after the stream timeout, " + "no reconnect, and the camera may publish anyway",
  async (t) => {
    const { h } = await streamHarness({ driver: { timeouts: { ...TIMEOUTS, streamMs: 300 } } });
    t.after(() => h.close());
    await whenAvailable(h);
    const [conn] = h.sim.connections();
    const rx = await receiver(t, { frames: 5 });
    h.sim.publishWithoutAnswerNext();
    const pushing = started(h);
    await assert.rejects(
      h.driver.requestStream!(h.id(), { action: "start", url: rx.url }),
      new RegExp(
        /the camera did not answer the request to start its live view /.source +
          /\(no answer to PUT_STREAMING within 300 ms on the local socket\); it may still start publishing/.source,
      ),
    );
    await pushing;
    const got = await rx.done;
    assert.equal(got.code, 0, got.stderr.slice(-800));
    assert.deepEqual(
      h.sim.connections().map((c) => c.conn),
      [conn!.conn],
      "the control socket was kept (a reconnect would kill the push)",
    );
  },
);

test("a control-socket drop kills the push; once the link is back the driver reports link-reconnected", async (t) => {
  const { h, interruptions, events } = await streamHarness();
  t.after(() => h.close());
  await whenAvailable(h);
  assert.deepEqual(interruptions, [], "the first connect is no interruption");
  const rx = await receiver(t);
  const pushing = started(h);
  await h.driver.requestStream!(h.id(), { action: "start", url: rx.url });
  await pushing;
  await rx.receiving(3);
  const killed = stopped(h, "control-closed");
  h.sim.dropSockets();
  await killed;
  assert.equal(h.sim.livePushes, 0);
  await waitFor(() => interruptions.length > 0, 3000, { on: [[events, "interrupted"]] });
  assert.deepEqual(interruptions, [{ id: h.id(), reason: "link-reconnected" }]);
  assert.equal(h.sink.available.get(h.id()), true, "reported once the link is usable again");
  assert.equal((await rx.done).video?.codec, "h264");
  // The re-request the hub would make works on the new socket.
  const rx2 = await receiver(t, { frames: 5 });
  await h.driver.requestStream!(h.id(), { action: "start", url: rx2.url });
  assert.equal((await rx2.done).code, 0);
});

test(
  "a silent session replaced by the health check, " + "and a cloud-to-local hand-over, both report link-reconnected",
  async (t) => {
    const { h, interruptions, events } = await streamHarness({
      sim: { localConnectionLimit: 0 },
      driver: { healthCheckMs: 80, localRetryMs: 150 },
    });
    t.after(() => h.close());
    await whenAvailable(h);
    assert.deepEqual(
      h.sim.connections().map((c) => c.flavour),
      ["cloud"],
    );
    // Hand-over: the camera becomes reachable locally; the cloud session (and any push) ends.
    const local = nextEvent<[ConnInfo]>(h.sim, "connection", (c) => c.flavour === "local");
    h.sim.localConnectionLimit = 2;
    await local;
    await waitFor(() => interruptions.length === 1, 3000, { on: [[events, "interrupted"]] });
    await waitFor(
      () =>
        h.sim
          .connections()
          .map((c) => c.flavour)
          .join() === "local",
      2000,
      { on: [[h.sim, "disconnect"]] },
    );
    // Silent session: replaced after the health check goes unanswered.
    h.sim.goSilent();
    await waitFor(() => interruptions.length === 2, 3000, { on: [[events, "interrupted"]] });
    assert.deepEqual(
      interruptions.map((i) => i.reason),
      ["link-reconnected", "link-reconnected"],
    );
  },
);

test(
  "simulator hooks: stall (SIGSTOP) and resume, " + "auto-stop after the last STARTED, no ffmpeg left after stop()",
  async (t) => {
    const { h } = await streamHarness();
    t.after(() => h.close()); // the simulator's stop() is idempotent
    await whenAvailable(h);
    const rx = await receiver(t);
    const pushing = started(h);
    await h.driver.requestStream!(h.id(), { action: "start", url: rx.url });
    const [{ pid }] = await pushing;
    assert.ok(pid);
    await rx.receiving(3);
    assert.equal(h.sim.stallStream(), true);
    await waitFor(() => processState(pid) === "T", 2000);
    assert.equal(h.sim.streams()[0]?.stalled, true);
    assert.equal(h.sim.resumeStream(), true);
    await waitFor(() => processState(pid) !== "T", 2000);
    // A renewal restarts the auto-stop timer (here made short): the camera then stops by itself.
    h.sim.streamAutoStopMs = 200;
    const autoStopped = stopped(h);
    await h.driver.requestStream!(h.id(), { action: "start", url: rx.url });
    const [auto] = await autoStopped;
    assert.equal(auto.reason, "auto-stop");
    assert.equal(alive(pid), false);
    assert.ok(
      h.sim.streamLog().some((l) => /libx264|Output #0/.test(l)),
      "ffmpeg stderr kept for debugging",
    );

    const rx2 = await receiver(t);
    const again = started(h);
    await h.driver.requestStream!(h.id(), { action: "start", url: rx2.url });
    const [{ pid: pid2 }] = await again;
    h.sim.stallStream();
    const gone = stopped(h, "simulator-stopped");
    await h.sim.stop();
    await gone;
    assert.equal(h.sim.livePushes, 0);
    assert.equal(alive(pid2!), false, "a stalled push is killed too");
  },
);
