// Snapshots from the ingest's last keyframe: a real JPEG of the asked size, one ffmpeg for concurrent
// requests, a short cache, and a cold camera started (and let go after the linger) on demand.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../src/core/logger.ts";
import { StreamHub } from "../../src/media/hub.ts";
import { RtmpIngest } from "../../src/media/ingest.ts";
import { SnapshotMaker } from "../../src/media/snapshot.ts";
import { FakeCamera } from "../helpers/fake-camera.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { jpegSize } from "../helpers/rtmp-push.ts";
import { waitFor } from "../helpers/wait.ts";

describe("snapshots", () => {
  let ingest: RtmpIngest;
  const closers: Array<() => Promise<void>> = [];
  let n = 0;

  before(async () => {
    ingest = new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log: createLogger("fatal") });
    await ingest.start();
  });
  after(async () => {
    for (const close of closers) await close();
    await ingest.stop();
    let left = "";
    try {
      left = execFileSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" });
    } catch {
      // none
    }
    assert.equal(left.trim(), "", "no ffmpeg left behind");
  });

  interface SetupOptions {
    cacheMs?: number;
    readyTimeoutMs?: number;
    requestStream?: () => Promise<void>;
    /** The snapshot maker's clock (the hub's stays real: the camera pushes in real time). */
    clock?: ManualClock;
  }
  function setup(options: SetupOptions = {}) {
    const deviceId = `nanit:snap${++n}`;
    ingest.register(deviceId);
    const camera = new FakeCamera({ size: "1280x720" });
    const log = createLogger("fatal");
    const hub = new StreamHub({
      deviceId,
      name: "Nursery",
      ingest,
      requestStream: options.requestStream ?? camera.requestStream,
      log,
      timing: { lingerMs: 300, renewMs: 60_000 },
    });
    const { cacheMs, readyTimeoutMs, clock } = options;
    const timers = { cacheMs, readyTimeoutMs, clock };
    const snapshots = new SnapshotMaker({ deviceId, name: "Nursery", ffmpeg: "ffmpeg", hub, ingest, log, ...timers });
    closers.push(async () => {
      await snapshots.close();
      await hub.close(500);
      await camera.close();
    });
    return { deviceId, camera, hub, snapshots };
  }

  it("starts a cold camera, answers with a JPEG of the asked size, then lets the camera go", async () => {
    const { camera, hub, snapshots } = setup();
    const jpeg = await snapshots.snapshot(640, 360);
    assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 });
    assert.equal(camera.starts().length, 1);
    assert.equal(hub.state().watching, 0, "the snapshot released the hub");
    await waitFor(() => camera.stops().length === 1, 3_000, { message: "stop after the linger" });
  });

  it("shares one ffmpeg between concurrent requests and reuses the picture briefly", async () => {
    const clock = new ManualClock();
    const { hub, snapshots } = setup({ cacheMs: 1_000, clock });
    const release = hub.acquire();
    await hub.ready(10_000);
    const started = performance.now();
    const [a, b, c] = await Promise.all([
      snapshots.snapshot(1280, 720),
      snapshots.snapshot(1280, 720),
      snapshots.snapshot(1280, 720),
    ]);
    const warmMs = performance.now() - started;
    assert.equal(snapshots.spawned, 1, "one ffmpeg for three concurrent requests");
    assert.ok(a === b && b === c);
    assert.deepEqual(jpegSize(a!), { width: 1280, height: 720 });
    assert.equal(await snapshots.snapshot(1280, 720), a, "cached");
    clock.advance(999);
    assert.equal(await snapshots.snapshot(1280, 720), a, "still cached just before cacheMs");
    assert.equal(snapshots.spawned, 1);
    clock.advance(1);
    const fresh = await snapshots.snapshot(1280, 720);
    assert.notEqual(fresh, a, "a new picture once the cache expired");
    assert.equal(snapshots.spawned, 2);
    // Another size is another picture; 4:3 asked of a 16:9 camera fits inside without distortion.
    assert.deepEqual(jpegSize(await snapshots.snapshot(640, 480)), { width: 640, height: 360 });
    assert.deepEqual(jpegSize(await snapshots.snapshot(320, 180)), { width: 320, height: 180 });
    console.log(`# warm snapshot (1280x720, one ffmpeg): ${Math.round(warmMs)} ms`);
    release();
  });

  it("fails with the hub's reason when the camera never pushes, and holds nothing after", async () => {
    const { hub, snapshots } = setup({ readyTimeoutMs: 300, requestStream: async () => undefined });
    await assert.rejects(
      snapshots.snapshot(640, 360),
      /did not start pushing to rtmp:\/\/127\.0\.0\.1:\d+ within 0\.3 s/,
    );
    assert.equal(hub.state().watching, 0);
    assert.equal(snapshots.spawned, 0);
  });
});
