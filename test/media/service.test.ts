// MediaService wired to a real registry and a fake camera driver: sources only for cameras, keep
// warm from config, interruptions from the driver re-request, a live stream holds the hub while it
// runs (copy mode, SRTP reaches the target), and stop() leaves no ffmpeg behind.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { after, describe, it } from "node:test";
import type { LiveStreamRequest, StreamRequest } from "../../src/core/camera.ts";
import type { Driver, DriverSink } from "../../src/core/driver.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { MediaService } from "../../src/media/index.ts";
import { FakeCamera } from "../helpers/fake-camera.ts";
import { jpegSize } from "../helpers/rtmp-push.ts";
import { waitFor } from "../helpers/wait.ts";

function camera(id: string, name: string): DeviceInfo {
  return {
    id: `nanit:${id}`,
    vendor: "nanit",
    account: "home",
    kind: "camera",
    name,
    manufacturer: "Nanit",
    model: "Pro",
    serialNumber: id,
    capabilities: { camera: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: true } },
  };
}

function children(): string {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

describe("MediaService", () => {
  const cameras = new Map<string, FakeCamera>();
  after(async () => {
    await Promise.all([...cameras.values()].map((c) => c.close()));
  });

  it("serves cameras from the registry, keeps one warm, re-requests on interruption, runs a live stream", async () => {
    const log = createLogger("fatal");
    const registry = new DeviceRegistry(log);
    const driver: Driver = {
      vendor: "nanit",
      accountName: "home",
      start: async () => undefined,
      command: async () => undefined,
      requestStream: (id: string, request: StreamRequest) => cameras.get(id)!.requestStream(request),
      stop: async () => undefined,
    };
    const sink: DriverSink = registry.sinkFor(driver);
    for (const id of ["nanit:nursery", "nanit:warm"]) cameras.set(id, new FakeCamera({ size: "1280x720" }));
    sink.deviceFound(camera("nursery", "Nursery"), {});
    sink.deviceFound(
      { ...camera("fan", "Fan"), kind: "ceiling-fan", capabilities: { fan: { reversible: false, breeze: false } } },
      {},
    );

    const media = new MediaService({
      config: { bind: "127.0.0.1", rtmpPort: 0, rtmpHost: "127.0.0.1", keepWarm: ["warm cam"], transcode: "auto" },
      registry,
      log,
      hubTiming: { lingerMs: 300 },
      // The snapshot's ffmpeg took over the default 5 s at a load of 19 on 2 cores (it only decodes one frame).
      snapshotDecodeTimeoutMs: 60_000,
    });
    await media.start();
    // Closed on every path: an open socket kept the file's process alive for minutes after a failure.
    const udp = createSocket("udp4");
    try {
      assert.equal(media.sourceFor("nanit:fan"), undefined, "no camera, no source");
      assert.equal(media.sourceFor("nanit:nope"), undefined);
      const nursery = media.sourceFor("nanit:nursery")!;
      assert.equal(nursery.deviceId, "nanit:nursery");

      // A camera found after start, named in keepWarm (case-insensitive), is asked to push at once.
      sink.deviceFound(camera("warm", "Warm Cam"), {});
      const warm = cameras.get("nanit:warm")!;
      await waitFor(() => warm.starts().length === 1, 3_000, { message: "keep-warm start" });
      assert.equal(warm.starts()[0]!.url, media.ingest.urlFor("nanit:warm"));
      assert.equal(cameras.get("nanit:nursery")!.requests.length, 0, "a camera nobody watches is left alone");
      await media.hub("nanit:warm")!.ready(10_000);

      // The driver says the push was lost: the warm camera is asked again, the idle one is not.
      await warm.push!.kill();
      sink.streamInterrupted!("nanit:warm", "link-reconnected");
      sink.streamInterrupted!("nanit:nursery", "link-reconnected");
      await waitFor(() => warm.starts().length === 2, 3_000, { message: "re-request after interruption" });
      assert.equal(cameras.get("nanit:nursery")!.requests.length, 0);

      // A live stream: the camera starts, ffmpeg copies its H.264 to our SRTP target, and the hub is
      // released when the stream ends.
      udp.bind(0, "127.0.0.1");
      await once(udp, "listening");
      let packets = 0;
      udp.on("message", () => packets++);
      const request: LiveStreamRequest = {
        target: {
          address: "127.0.0.1",
          videoPort: udp.address().port,
          videoSrtpKey: randomBytes(16),
          videoSrtpSalt: randomBytes(14),
          videoSsrc: 0x9abcdef0,
        },
        video: {
          width: 1280,
          height: 720,
          fps: 15,
          maxBitrate: 2000,
          payloadType: 99,
          mtu: 1378,
          profile: "main",
          level: "4.0",
        },
      };
      const stream = await nursery.startLive(request);
      assert.equal(stream.mode, "copy");
      assert.equal(media.liveSessions, 1);
      assert.equal(media.hub("nanit:nursery")!.state().watching, 1);
      await waitFor(() => packets >= 20, 10_000, { message: "SRTP packets at the target" });
      const jpeg = await nursery.snapshot(640, 360);
      assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 });
      await stream.stop();
      assert.equal((await stream.ended).reason, "stopped");
      await waitFor(() => media.liveSessions === 0 && media.hub("nanit:nursery")!.state().watching === 0, 2_000, {
        message: "released",
      });

      const states = media.state();
      assert.deepEqual(states.map((s) => [s.deviceId, s.keepWarm]).sort(), [
        ["nanit:nursery", false],
        ["nanit:warm", true],
      ]);
    } finally {
      udp.close();
      await media.stop();
    }
    // stop() told every camera it had asked to stop pushing.
    assert.equal(cameras.get("nanit:warm")!.stops().length, 1);
    for (const c of cameras.values()) await c.close();
    assert.equal(children(), "", "no ffmpeg left behind");
  });

  it("ends running live streams on stop()", async () => {
    const log = createLogger("fatal");
    const registry = new DeviceRegistry(log);
    const fake = new FakeCamera({ size: "640x360" });
    cameras.set("nanit:solo", fake);
    const driver: Driver = {
      vendor: "nanit",
      accountName: "home",
      start: async () => undefined,
      command: async () => undefined,
      requestStream: (_id, request) => fake.requestStream(request),
      stop: async () => undefined,
    };
    registry.sinkFor(driver).deviceFound(camera("solo", "Solo"), {});
    const media = new MediaService({
      config: { bind: "127.0.0.1", rtmpPort: 0, rtmpHost: "127.0.0.1", keepWarm: [], transcode: "always" },
      registry,
      log,
    });
    await media.start();
    const udp = createSocket("udp4");
    udp.bind(0, "127.0.0.1");
    await once(udp, "listening");
    const stream = await media.sourceFor("nanit:solo")!.startLive({
      target: {
        address: "127.0.0.1",
        videoPort: udp.address().port,
        videoSrtpKey: randomBytes(16),
        videoSrtpSalt: randomBytes(14),
        videoSsrc: 1,
      },
      video: {
        width: 640,
        height: 360,
        fps: 15,
        maxBitrate: 500,
        payloadType: 99,
        mtu: 1378,
        profile: "main",
        level: "3.1",
      },
    });
    assert.equal(stream.mode, "transcode");
    await media.stop();
    assert.equal((await stream.ended).reason, "stopped");
    assert.equal(fake.stops().length, 1);
    udp.close();
    await fake.close();
    assert.equal(children(), "");
  });
});
