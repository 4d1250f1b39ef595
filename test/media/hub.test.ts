// The stream hub against a real ingest and an ffmpeg "camera": start on the first viewer, renew while
// watched, stop after the linger, re-request after interruptions and stalls, back off on failures.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../src/core/logger.ts";
import { StreamHub, type StreamHubTiming } from "../../src/media/hub.ts";
import { RtmpIngest } from "../../src/media/ingest.ts";
import { FakeCamera, type RecordedRequest } from "../helpers/fake-camera.ts";
import { LogCapture } from "../helpers/log-capture.ts";
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

  function setup(timing: Partial<StreamHubTiming> = {}, capture = new LogCapture()): { hub: StreamHub; camera: FakeCamera; id: string; capture: LogCapture } {
    const id = `nanit:cam${++n}`;
    ingest.register(id);
    const camera = new FakeCamera();
    cameras.push(camera);
    const log = createLogger("debug", { json: true, destination: capture });
    const hub = new StreamHub({ deviceId: id, name: `Cam ${n}`, ingest, requestStream: camera.requestStream, log, timing: { ...TIMING, ...timing }, random: () => 0.5 });
    hubs.push(hub);
    return { hub, camera, id, capture };
  }

  it("asks for the push on the first viewer and is ready once the ingest holds a keyframe", async () => {
    const { hub, camera, id } = setup();
    assert.equal(camera.requests.length, 0, "nothing is requested before anyone watches");
    const release = hub.acquire();
    const second = hub.acquire();
    await hub.ready(10_000);
    assert.deepEqual(camera.requests.map((r) => ({ action: r.action, url: r.url })), [{ action: "start", url: ingest.urlFor(id) }], "one start for two viewers");
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
    const { hub, camera } = setup({ renewMs: 600 });
    const release = hub.acquire();
    await waitFor(() => camera.starts().length >= 3, 5_000, { message: "renewals" });
    const starts = camera.starts();
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]!.at - starts[i - 1]!.at >= 550, `renewal ${i} after ${starts[i]!.at - starts[i - 1]!.at} ms`);

    release();
    const again = hub.acquire();
    await new Promise((done) => setTimeout(done, 500));
    assert.equal(camera.stops().length, 0, "a viewer back within the linger keeps the camera pushing");
    const releasedAt = performance.now();
    again();
    const [stop] = await nextEvent(camera, "request", (r: RecordedRequest) => r.action === "stop", 3_000);
    assert.ok(stop.at - releasedAt >= 390, `stop ${stop.at - releasedAt} ms after the last viewer left`);
    assert.equal(stop.url, "");
    assert.equal(hub.state().active, false);
    const count = camera.requests.length;
    await new Promise((done) => setTimeout(done, 800));
    assert.equal(camera.requests.length, count, "no renewal after the stop");
  });

  it("asks again after an interruption while watched, and not when nobody watches", async () => {
    const { hub, camera } = setup();
    hub.interrupted("link-reconnected");
    await new Promise((done) => setTimeout(done, 300));
    assert.equal(camera.requests.length, 0);

    const release = hub.acquire();
    await hub.ready(10_000);
    // The vendor side dropped the push (its control socket reconnected).
    await camera.push!.kill();
    const startsBefore = camera.starts().length;
    hub.interrupted("link-reconnected");
    await waitFor(() => camera.starts().length > startsBefore, 3_000, { message: "re-request" });
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
    assert.ok(detectedMs >= 700 && detectedMs < 4_000, `stall noticed after ${Math.round(detectedMs)} ms (stallMs 800)`);
    await waitFor(() => camera.starts().length > startsBefore, 3_000, { message: "re-request after stall" });
    await hub.ready(10_000);
    assert.equal(hub.state().publishing, true);
    assert.equal(camera.pushes.length, 2, "a new push replaced the stalled one");
    // To a camera that thinks it still pushes, a start with the same URL is only a renewal: stop first.
    assert.deepEqual(camera.requests.slice(requestsBefore).map((r) => r.action), ["stop", "start"]);
    assert.ok(capture.has(/push stalled/, 40));
    release();
  });

  it("keeps a camera warm without viewers, and lets it go when keep-warm is turned off", async () => {
    const { hub, camera } = setup();
    hub.setKeepWarm(true);
    hub.setKeepWarm(true);
    await hub.ready(10_000);
    assert.equal(camera.starts().length, 1);
    assert.equal(hub.state().keepWarm, true);
    const release = hub.acquire();
    release();
    await new Promise((done) => setTimeout(done, 600));
    assert.equal(camera.stops().length, 0, "a viewer leaving does not stop a warm camera");
    hub.setKeepWarm(false);
    await nextEvent(camera, "request", (r: RecordedRequest) => r.action === "stop", 3_000);
  });

  it("retries failed requests with growing back-off, never in a tight loop", async () => {
    const { hub, camera, capture } = setup();
    camera.fail = new Error("camera unreachable");
    const release = hub.acquire();
    await waitFor(() => camera.starts().length >= 5, 5_000, { message: "retries" });
    camera.fail = undefined;
    const starts = camera.starts().slice(0, 5);
    const gaps = starts.slice(1).map((s, i) => s.at - starts[i]!.at);
    // random 0.5 with floor min/2: attempt k waits 50 + 0.5 * (min(800, 100 * 2^k) - 50).
    const expected = [75, 125, 225, 425];
    gaps.forEach((gap, i) => assert.ok(gap >= expected[i]! - 5 && gap < expected[i]! + 400, `gap ${i}: ${Math.round(gap)} ms, expected about ${expected[i]}`));
    assert.equal(capture.warnings.filter((l) => /stream request failed/.test(l.msg)).length, 1, "the first failure is a warning, the rest debug");
    await hub.ready(10_000);
    assert.equal(hub.state().lastError, undefined);
    release();
  });

  it("reports standby once, retries it slowly, and at once when standby ends", async () => {
    const { hub, camera, capture } = setup({ standbyRetryMs: 1_500 });
    camera.fail = new Error("the camera is in standby (sleep mode); turn standby off to watch it");
    const release = hub.acquire();
    await waitFor(() => camera.starts().length >= 3, 8_000, { message: "standby retries" });
    const starts = camera.starts();
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]!.at - starts[i - 1]!.at >= 1_490, "standby retries keep their slow pace");
    assert.equal(capture.matching(/is in standby/).length, 1, "reported once");
    assert.equal(hub.state().standby, true);
    await assert.rejects(hub.ready(100), /is in standby/);
    // Right after a refusal (the next slow retry is 1.5 s away), standby is turned off.
    const [refused] = await nextEvent<[RecordedRequest]>(camera, "request", () => true, 3_000);
    await new Promise((done) => setImmediate(done));
    camera.fail = undefined;
    // Listening first: the request may go out within standbyEnded() itself.
    const asked = nextEvent<[RecordedRequest]>(camera, "request", () => true, 3_000);
    hub.standbyEnded();
    const [next] = await asked;
    assert.ok(next.at - refused.at < 1_000, `asked again ${Math.round(next.at - refused.at)} ms after the refusal`);
    await hub.ready(10_000);
    assert.equal(hub.state().standby, false);
    release();
  });

  it("fails ready() with where the camera should push (never the key), and asks again when no push comes", async () => {
    const id = `nanit:cam${++n}`;
    ingest.register(id);
    const key = ingest.urlFor(id).split("/").at(-1)!;
    // The camera acknowledges but never pushes (as when media.rtmpHost is not reachable from it).
    const acks: number[] = [];
    const hub = new StreamHub({
      deviceId: id,
      name: "Quiet",
      ingest,
      requestStream: async () => {
        acks.push(performance.now());
      },
      log: createLogger("fatal"),
      timing: { ...TIMING, noPushMs: 400 },
    });
    hubs.push(hub);
    const release = hub.acquire();
    const error = await hub.ready(300).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(error);
    assert.equal(error.message, `Quiet did not start pushing to rtmp://127.0.0.1:${ingest.port} within 0.3 s: check media.rtmpHost is reachable from the camera`);
    assert.ok(!error.message.includes(key));
    await waitFor(() => acks.length >= 2, 3_000, { message: "asked again after no push" });
    assert.ok(acks[1]! - acks[0]! >= 390);
    release();
  });
});
