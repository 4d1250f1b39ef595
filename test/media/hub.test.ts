// The stream hub against a real ingest and an ffmpeg "camera": start on the first viewer, renew while
// watched, stop after the linger, re-request after interruptions and stalls, back off on failures.
// The hub's timers run on a manual clock where a test is about them (renewal, linger, back-off,
// standby pace, no-push): "nothing at 399 ms, the stop at 400 ms", with no sleeping.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../src/core/logger.ts";
import { StreamHub, type StreamHubTiming } from "../../src/media/hub.ts";
import { RtmpIngest } from "../../src/media/ingest.ts";
import { FakeCamera } from "../helpers/fake-camera.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";

const TIMING: Partial<StreamHubTiming> = {
  renewMs: 60_000,
  lingerMs: 400,
  stallMs: 800,
  checkMs: 100,
  noPushMs: 60_000,
  retryMinMs: 100,
  retryMaxMs: 800,
  standbyRetryMs: 500,
  minRerequestMs: 200,
};

describe("stream hub", () => {
  let ingest: RtmpIngest;
  const cameras: FakeCamera[] = [];
  const hubs: StreamHub[] = [];
  let n = 0;

  before(async () => {
    ingest = new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log: createLogger("fatal") });
    await ingest.start();
  });
  after(async () => {
    await Promise.all(hubs.map((h) => h.close(500)));
    await Promise.all(cameras.map((c) => c.close()));
    await ingest.stop();
    let left = "";
    try {
      left = execFileSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" });
    } catch {
      // none
    }
    assert.equal(left.trim(), "", "no ffmpeg left behind");
  });

  interface Setup {
    hub: StreamHub;
    camera: FakeCamera;
    id: string;
    capture: LogCapture;
  }
  function setup(timing: Partial<StreamHubTiming> = {}, clock?: ManualClock, capture = new LogCapture()): Setup {
    const id = `nanit:cam${++n}`;
    ingest.register(id);
    const camera = new FakeCamera();
    cameras.push(camera);
    const log = createLogger("debug", { json: true, destination: capture });
    const requestStream = camera.requestStream;
    const options = { timing: { ...TIMING, ...timing }, random: () => 0.5, clock };
    const hub = new StreamHub({ deviceId: id, name: `Cam ${n}`, ingest, requestStream, log, ...options });
    hubs.push(hub);
    return { hub, camera, id, capture };
  }

  /** hub.ready() in real time: on a manual clock its timeout would wait for the clock, not fail in 10 s. */
  function keyframeHeld(hub: StreamHub): Promise<unknown> {
    const options = {
      message: "the push's first keyframe",
      on: [[ingest, "keyframe-held"]] as Array<[RtmpIngest, string]>,
    };
    return waitFor(() => hub.state().keyframeHeldAt, 10_000, options);
  }

  it("asks for the push on the first viewer and is ready once the ingest holds a keyframe", async () => {
    const { hub, camera, id } = setup();
    assert.equal(camera.requests.length, 0, "nothing is requested before anyone watches");
    const release = hub.acquire();
    const second = hub.acquire();
    await hub.ready(10_000);
    assert.deepEqual(
      camera.requests.map((r) => ({ action: r.action, url: r.url })),
      [{ action: "start", url: ingest.urlFor(id) }],
      "one start for two viewers",
    );
    const state = hub.state();
    assert.equal(state.watching, 2);
    assert.equal(state.publishing, true);
    assert.ok(state.keyframeHeldAt! >= state.publishStartedAt!);
    assert.ok(state.bytesIn > 0);
    release();
    release();
    assert.equal(hub.state().watching, 1, "a release handle counts once");
    second();
  });

  it("renews while watched, stops after the linger, and a viewer within the linger cancels the stop", async () => {
    const clock = new ManualClock();
    // No stall or no-push checks: the push runs in real time, the hub's clock only when told.
    const { hub, camera } = setup({ renewMs: 600, stallMs: 3_600_000, noPushMs: 3_600_000 }, clock);
    const release = hub.acquire();
    assert.equal(camera.starts().length, 1, "the first viewer's start goes out at once");
    for (const renewal of [2, 3]) {
      await clock.tick(599);
      assert.equal(camera.starts().length, renewal - 1, "no renewal before renewMs");
      await clock.tick(1);
      assert.equal(camera.starts().length, renewal, `renewal ${renewal - 1} at renewMs`);
    }

    release();
    const again = hub.acquire();
    await clock.tick(400 * 3);
    assert.equal(camera.stops().length, 0, "a viewer back within the linger keeps the camera pushing");
    again();
    await clock.tick(399);
    assert.equal(camera.stops().length, 0, "no stop before the linger is over");
    await clock.tick(1);
    assert.equal(camera.stops().length, 1, "the stop when the linger is over");
    assert.equal(camera.stops()[0]!.url, "");
    assert.equal(hub.state().active, false);
    const count = camera.requests.length;
    await clock.tick(600 * 3);
    assert.equal(camera.requests.length, count, "no renewal after the stop");
    assert.equal(clock.pending, 0, "no timer left running");
  });

  it("asks again after an interruption while watched, and not when nobody watches", async () => {
    const clock = new ManualClock();
    const { hub, camera } = setup({ stallMs: 3_600_000 }, clock);
    hub.interrupted("link-reconnected");
    await clock.tick(10_000);
    assert.equal(camera.requests.length, 0);
    assert.equal(clock.pending, 0, "nothing scheduled for an unwatched camera");

    const release = hub.acquire();
    await keyframeHeld(hub);
    // The vendor side dropped the push (its control socket reconnected).
    await camera.push!.kill();
    const startsBefore = camera.starts().length;
    hub.interrupted("link-reconnected");
    // Spaced by minRerequestMs (200) from the start the camera accepted.
    await clock.tick(199);
    assert.equal(camera.starts().length, startsBefore, "not within minRerequestMs of the last start");
    await clock.tick(1);
    assert.equal(camera.starts().length, startsBefore + 1, "re-requested");
    await waitFor(() => hub.state().keyframeHeldAt, 10_000, { message: "video resumes" });
    assert.equal(camera.pushes.length, 2);
    release();
  });

  it("notices a stalled push from the byte count, drops it and asks again", async () => {
    const { hub, camera, id, capture } = setup();
    const release = hub.acquire();
    await hub.ready(10_000);
    const startsBefore = camera.starts().length;
    const requestsBefore = camera.requests.length;
    const dropped = nextEvent<[string, string]>(ingest, "publish-stop", (d) => d === id, 10_000);
    const pausedAt = performance.now();
    camera.push!.pause();
    const [, reason] = await dropped;
    const detectedMs = performance.now() - pausedAt;
    assert.equal(reason, "dropped");
    assert.ok(
      detectedMs >= 700 && detectedMs < 4_000,
      `stall noticed after ${Math.round(detectedMs)} ms (stallMs 800)`,
    );
    await waitFor(() => camera.starts().length > startsBefore, 3_000, { message: "re-request after stall" });
    await hub.ready(10_000);
    assert.equal(hub.state().publishing, true);
    assert.equal(camera.pushes.length, 2, "a new push replaced the stalled one");
    // To a camera that thinks it still pushes, a start with the same URL is only a renewal: stop first.
    assert.deepEqual(
      camera.requests.slice(requestsBefore).map((r) => r.action),
      ["stop", "start"],
    );
    assert.ok(capture.has(/push stalled/, 40));
    release();
  });

  it("keeps a camera warm without viewers, and lets it go when keep-warm is turned off", async () => {
    const clock = new ManualClock();
    const { hub, camera } = setup({ stallMs: 3_600_000 }, clock);
    hub.setKeepWarm(true);
    hub.setKeepWarm(true);
    await keyframeHeld(hub);
    assert.equal(camera.starts().length, 1);
    assert.equal(hub.state().keepWarm, true);
    const release = hub.acquire();
    release();
    await clock.tick(400 * 3);
    assert.equal(camera.stops().length, 0, "a viewer leaving does not stop a warm camera");
    hub.setKeepWarm(false);
    await clock.tick(400);
    assert.equal(camera.stops().length, 1, "stopped after the linger");
  });

  it("retries failed requests with growing back-off, never in a tight loop", async () => {
    const clock = new ManualClock();
    const { hub, camera, capture } = setup({}, clock);
    camera.fail = new Error("camera unreachable");
    const release = hub.acquire();
    // random 0.5 with floor min/2: attempt k waits 50 + 0.5 * (min(800, 100 * 2^k) - 50).
    for (const [attempt, wait] of [75, 125, 225, 425, 425].entries()) {
      if (attempt === 4) camera.fail = undefined;
      await clock.tick(wait - 1);
      assert.equal(camera.starts().length, attempt + 1, `retry ${attempt + 1} not before ${wait} ms`);
      await clock.tick(1);
      assert.equal(camera.starts().length, attempt + 2, `retry ${attempt + 1} after ${wait} ms`);
    }
    assert.equal(
      capture.warnings.filter((l) => /stream request failed/.test(l.msg)).length,
      1,
      "the first failure is a warning, the rest debug",
    );
    await keyframeHeld(hub);
    assert.equal(hub.state().lastError, undefined);
    release();
  });

  it("reports standby once, retries it slowly, and at once when standby ends", async () => {
    const clock = new ManualClock();
    const { hub, camera, capture } = setup({ standbyRetryMs: 1_500 }, clock);
    camera.fail = new Error("the camera is in standby (sleep mode); turn standby off to watch it");
    const release = hub.acquire();
    for (const starts of [2, 3]) {
      await clock.tick(1_499);
      assert.equal(camera.starts().length, starts - 1, "standby retries keep their slow pace");
      await clock.tick(1);
      assert.equal(camera.starts().length, starts);
    }
    assert.equal(capture.matching(/is in standby/).length, 1, "reported once");
    assert.equal(hub.state().standby, true);
    const notReady = assert.rejects(hub.ready(100), /is in standby/);
    await clock.tick(100);
    await notReady;
    // Between refusals (the next slow retry is 1.4 s away), standby is turned off: asked again at once.
    camera.fail = undefined;
    hub.standbyEnded();
    assert.equal(camera.starts().length, 4, "asked again within standbyEnded()");
    await keyframeHeld(hub);
    assert.equal(hub.state().standby, false);
    release();
  });

  it("fails ready() with where the camera should push (never the key), and asks again when no push comes", async () => {
    const id = `nanit:cam${++n}`;
    ingest.register(id);
    const key = ingest.urlFor(id).split("/").at(-1)!;
    const clock = new ManualClock();
    // The camera acknowledges but never pushes (as when media.rtmpHost is not reachable from it).
    const acks: number[] = [];
    const hub = new StreamHub({
      deviceId: id,
      name: "Quiet",
      ingest,
      requestStream: async () => {
        acks.push(clock.now());
      },
      log: createLogger("fatal"),
      timing: { ...TIMING, noPushMs: 400 },
      clock,
    });
    hubs.push(hub);
    const release = hub.acquire();
    const error = hub.ready(300).then(
      () => undefined,
      (e: Error) => e,
    );
    await clock.tick(300);
    const failure = await error;
    assert.ok(failure);
    const where = `rtmp://127.0.0.1:${ingest.port}`;
    const advice = "check media.rtmpHost is reachable from the camera";
    assert.equal(failure.message, `Quiet did not start pushing to ${where} within 0.3 s: ${advice}`);
    assert.ok(!failure.message.includes(key));
    await clock.tick(99);
    assert.deepEqual(acks, [0], "not asked again before noPushMs");
    await clock.tick(1);
    assert.deepEqual(acks, [0, 400], "asked again noPushMs after the request");
    release();
  });
});
