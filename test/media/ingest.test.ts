// The RTMP ingest: who may publish and play, what it learns from a push, and that a taken port or
// garbage on the socket is an error message, never a dead bridge.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect, createServer, type AddressInfo } from "node:net";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { createLogger } from "../../src/core/logger.ts";
import { isLoopback, RtmpIngest, type IngestOptions } from "../../src/media/ingest.ts";
import { FfmpegProcess } from "../../src/media/ffmpeg.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { chunkHeader, RawRtmpClient, setChunkSize } from "../helpers/rtmp-client.ts";
import { TestPush } from "../helpers/rtmp-push.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";

function newIngest(
  capture = new LogCapture(),
  options: Partial<IngestOptions> = {},
): { ingest: RtmpIngest; capture: LogCapture } {
  const log = createLogger("debug", { json: true, destination: capture });
  return { ingest: new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log, ...options }), capture };
}

function children(): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

describe("RTMP ingest", () => {
  const pushes: TestPush[] = [];
  after(async () => {
    await Promise.all(pushes.map((p) => p.kill()));
    assert.deepEqual(children(), [], "no ffmpeg left behind");
  });

  it("accepts a push to the camera's key and learns its picture, audio and first keyframe", async () => {
    const { ingest, capture } = newIngest();
    await ingest.start();
    try {
      ingest.register("nanit:cam1");
      const url = ingest.urlFor("nanit:cam1");
      assert.match(url, new RegExp(`^rtmp://127\\.0\\.0\\.1:${ingest.port}/live/[A-Za-z0-9_-]{22}$`));
      const key = url.split("/").at(-1)!;
      const started = nextEvent<[string, string]>(ingest, "publish-start", (id) => id === "nanit:cam1", 10_000);
      const held = nextEvent<[string, number]>(ingest, "keyframe-held", (id) => id === "nanit:cam1", 10_000);
      const push = new TestPush(url);
      pushes.push(push);
      const [, address] = await started;
      assert.ok(isLoopback(address));
      const [, heldAt] = await held;
      const status = ingest.status("nanit:cam1")!;
      assert.equal(status.publishing, true);
      assert.equal(status.keyframeHeldAt, heldAt);
      assert.ok(heldAt >= status.publishStartedAt!);
      assert.deepEqual(
        { ...status.video, fps: undefined },
        { codec: "h264", width: 1280, height: 720, profile: "main", level: "3.1", fps: undefined },
      );
      assert.equal(status.audio, true);
      await waitFor(() => ingest.status("nanit:cam1")!.video?.fps, 5_000, { message: "frame rate" });
      assert.ok(Math.abs(ingest.status("nanit:cam1")!.video!.fps! - 15) < 1);
      const annexB = ingest.keyframeAnnexB("nanit:cam1")!;
      assert.deepEqual([...annexB.subarray(0, 5)], [0, 0, 0, 1, 0x67], "Annex B, SPS first");
      const before = ingest.status("nanit:cam1")!.bytesIn;
      await waitFor(() => ingest.status("nanit:cam1")!.bytesIn > before, 3_000, { message: "bytes keep counting" });

      const stopped = nextEvent<[string, string]>(ingest, "publish-stop", (id) => id === "nanit:cam1", 5_000);
      await push.kill();
      assert.equal((await stopped)[1], "closed");
      assert.equal(ingest.status("nanit:cam1")!.publishing, false);
      assert.equal(ingest.status("nanit:cam1")!.keyframeHeldAt, undefined);
      assert.equal(ingest.keyframeAnnexB("nanit:cam1"), undefined);
      assert.ok(!capture.text.includes(key), "the stream key never reaches a log line");
    } finally {
      await ingest.stop();
    }
  });

  it("refuses a push to any other key, and logs it once per address and path", async () => {
    const { ingest, capture } = newIngest();
    await ingest.start();
    try {
      ingest.register("nanit:cam1");
      const good = ingest.urlFor("nanit:cam1");
      const wrong = good.replace(/[^/]+$/, randomBytes(16).toString("base64url"));
      for (let attempt = 0; attempt < 2; attempt++) {
        const refused = nextEvent<[string, string]>(ingest, "refused", (kind) => kind === "publish", 10_000);
        const push = new TestPush(wrong, { size: "320x240", audio: false });
        pushes.push(push);
        await refused;
        const exit = await push.process.exited;
        assert.notEqual(exit.code, 0, "the pusher was cut off");
      }
      assert.equal(ingest.status("nanit:cam1")!.publishing, false);
      assert.equal(capture.warnings.filter((l) => /refused an RTMP publish/.test(l.msg)).length, 1);
      assert.equal(capture.matching(/refused an RTMP publish/).length, 2);
    } finally {
      await ingest.stop();
    }
  });

  it("serves no reader over RTMP, not even a loopback one with the camera's key", async () => {
    const { ingest } = newIngest();
    await ingest.start();
    try {
      ingest.register("nanit:cam1");
      const url = ingest.urlFor("nanit:cam1");
      const push = new TestPush(url, { size: "320x240" });
      pushes.push(push);
      await nextEvent(ingest, "keyframe-held", () => true, 10_000);
      const quiet = createLogger("fatal");
      const refused = nextEvent<[string, string]>(ingest, "refused", (kind) => kind === "play", 10_000);
      const probe = new FfmpegProcess(
        "ffmpeg",
        ["-hide_banner", "-nostdin", "-loglevel", "error", "-i", url, "-frames:v", "1", "-f", "null", "-"],
        { label: "reader", log: quiet },
      );
      const exit = await probe.exited;
      assert.notEqual(
        exit.code,
        0,
        "readers take the stream in-process (frames()), never with the key on a command line",
      );
      assert.ok(isLoopback((await refused)[1]));
      assert.equal(ingest.status("nanit:cam1")!.publishing, true, "the camera's push is untouched");
      assert.equal(isLoopback("::ffff:127.0.0.1"), true);
      assert.equal(isLoopback("::1"), true);
      assert.equal(isLoopback("192.168.1.20"), false);
      assert.equal(isLoopback("::ffff:10.0.0.2"), false);
      await push.kill();
    } finally {
      await ingest.stop();
    }
  });

  it("reports a taken port as a clear error and keeps the process alive", async () => {
    const blocker = createServer();
    blocker.listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as AddressInfo).port;
    try {
      const ingest = new RtmpIngest({ bind: "127.0.0.1", port, rtmpHost: "127.0.0.1", log: createLogger("fatal") });
      await assert.rejects(
        ingest.start(),
        new RegExp(
          `RTMP port 127\\.0\\.0\\.1:${port} is already in use: stop the other program or set media\\.rtmpPort`,
        ),
      );
      await ingest.stop();
    } finally {
      blocker.close();
    }
  });

  it("survives garbage on the socket and still takes a push afterwards", async () => {
    const { ingest, capture } = newIngest();
    await ingest.start();
    try {
      ingest.register("nanit:cam1");
      for (let i = 0; i < 20; i++) {
        const socket = connect(ingest.port, "127.0.0.1");
        socket.on("error", () => undefined);
        await once(socket, "connect");
        // A valid-looking handshake then random chunks, and pure noise, then our FIN: the ingest has
        // read all of it once its side closes too (at our FIN, or earlier when it cuts the garbage).
        socket.resume();
        const handshakeThenGarbage = Buffer.concat([Buffer.from([3]), randomBytes(1536 * 2), randomBytes(3000)]);
        socket.end(i % 2 ? randomBytes(4096) : handshakeThenGarbage);
        await once(socket, "close");
      }
      // An invoke whose AMF0 strict array claims 5 items and holds none makes the library's decoder
      // throw inside the socket's data handler: that connection is closed, nothing else happens.
      const amf = Buffer.from([0x0a, 0, 0, 0, 5]);
      const chunk = Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 0, amf.length, 20, 0, 0, 0, 0]), amf]);
      const socket = connect(ingest.port, "127.0.0.1");
      socket.on("error", () => undefined);
      await once(socket, "connect");
      // Read what the server sends (or its FIN never surfaces) and take a reset as a close too.
      socket.resume();
      const closed = new Promise((done) => socket.once("close", done));
      socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536 * 2), chunk]));
      await closed;
      assert.ok(capture.has(/malformed RTMP data/), "the throw was caught and logged");

      const push = new TestPush(ingest.urlFor("nanit:cam1"), { size: "320x240", audio: false });
      pushes.push(push);
      await nextEvent(ingest, "keyframe-held", () => true, 10_000);
      await push.kill();
    } finally {
      await ingest.stop();
    }
  });
});

// Issue 18, part 2: what a peer without a stream key can make the ingest hold. Each of these kept the
// connection (and node-media-server's allocation) open before; the memory figures are in
// bench/ingest-abuse.ts (README, Reliability).
describe("RTMP ingest limits before a publish", () => {
  const clients: RawRtmpClient[] = [];
  const pushes: TestPush[] = [];
  after(async () => {
    for (const client of clients) client.close();
    await Promise.all(pushes.map((p) => p.kill()));
  });
  async function open(ingest: RtmpIngest, from = "127.0.0.1"): Promise<RawRtmpClient> {
    const client = await RawRtmpClient.open(ingest.port, from);
    clients.push(client);
    return client;
  }

  it("closes a connection that has not published a known key within publishTimeoutMs", async () => {
    const clock = new ManualClock();
    const { ingest, capture } = newIngest(new LogCapture(), { limits: { publishTimeoutMs: 1_000 }, clock });
    await ingest.start();
    try {
      const idle = await open(ingest);
      const connected = await open(ingest, "127.0.0.2");
      assert.equal(await connected.handshake(), true);
      connected.command(0, "connect", 1, { app: "live", tcUrl: "rtmp://127.0.0.1/live" });
      // Both connections have their deadline on the ingest's side before time moves.
      await waitFor(() => clock.pending === 2, 5_000, { message: "a deadline per connection" });
      clock.advance(999);
      assert.equal(clock.pending, 2, "no deadline ran before publishTimeoutMs");
      assert.ok(!capture.has(/no publish with a known key/));
      clock.advance(1);
      assert.equal(clock.pending, 0, "both ran at publishTimeoutMs");
      await Promise.all([idle.closedWithin(), connected.closedWithin()]);
      assert.ok(capture.has(/no publish with a known key within 1000 ms/));
    } finally {
      await ingest.stop();
    }
  });

  it("closes a peer declaring a message over messageBytesBeforePublish or opening too many chunk streams", async () => {
    const { ingest, capture } = newIngest();
    await ingest.start();
    try {
      ingest.register("nanit:cam1");
      const huge = await open(ingest);
      assert.equal(await huge.handshake(), true);
      huge.write(Buffer.concat([chunkHeader(3, 0xffffff), Buffer.alloc(64)]));
      const bigChunks = await open(ingest);
      assert.equal(await bigChunks.handshake(), true);
      bigChunks.write(
        Buffer.concat([setChunkSize(8 * 1024 * 1024), chunkHeader(3, 1024 * 1024), Buffer.alloc(64 * 1024)]),
      );
      const streams = await open(ingest, "127.0.0.2");
      assert.equal(await streams.handshake(), true);
      // One full 128-byte chunk per stream, so each header opens a new one.
      for (let csid = 3; csid < 3 + 20; csid++)
        streams.write(Buffer.concat([chunkHeader(csid, 4096), Buffer.alloc(128)]));
      await Promise.all([huge.closedWithin(), bigChunks.closedWithin(), streams.closedWithin()]);
      assert.ok(capture.has(/a message of 16777215 bytes \(at most 65536 allowed here\)/));
      assert.ok(capture.has(/a message of 1048576 bytes/));
      assert.ok(capture.has(/more than 8 chunk streams/));
      // The ingest itself is untouched: a camera still pushes.
      const push = new TestPush(ingest.urlFor("nanit:cam1"), { size: "320x240", audio: false });
      pushes.push(push);
      await nextEvent(ingest, "keyframe-held", () => true, 10_000);
      await push.kill();
    } finally {
      await ingest.stop();
    }
  });

  it("limits connections not yet publishing per address, and connections in total", async () => {
    const { ingest } = newIngest(new LogCapture(), { limits: { pendingPerAddress: 2, connections: 3 } });
    await ingest.start();
    try {
      const first = [await open(ingest), await open(ingest)];
      for (const client of first) assert.equal(await client.handshake(), true);
      const third = await open(ingest);
      await third.closedWithin();
      const other = await open(ingest, "127.0.0.2");
      assert.equal(await other.handshake(), true, "another address still gets in");
      const overTotal = await open(ingest, "127.0.0.3");
      await overTotal.closedWithin();
      assert.ok(first.every((c) => !c.isClosed) && !other.isClosed, "the ones let in stay until their deadline");
    } finally {
      await ingest.stop();
    }
  });

  it("lets only media.allowedCameras connect when it is set", async () => {
    const { ingest } = newIngest(new LogCapture(), { allowedCameras: ["127.0.0.2/32", "10.0.0.0/8"] });
    await ingest.start();
    try {
      const refused = nextEvent<[string, string]>(ingest, "refused", (kind) => kind === "connection", 5_000);
      const stranger = await open(ingest);
      await stranger.closedWithin();
      assert.equal((await refused)[1], "127.0.0.1");
      const camera = await open(ingest, "127.0.0.2");
      assert.equal(await camera.handshake(), true);
    } finally {
      await ingest.stop();
    }
  });

  it("warns about unknown stream keys once per address, whatever keys it tries", async () => {
    const { ingest, capture } = newIngest();
    await ingest.start();
    try {
      ingest.register("nanit:cam1");
      for (const from of ["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2"]) {
        const refused = nextEvent<[string, string]>(ingest, "refused", (kind) => kind === "publish", 10_000);
        const client = await open(ingest, from);
        await client.publish("live", randomBytes(16).toString("base64url"));
        await refused;
        await client.closedWithin();
      }
      const warnings = capture.warnings.filter((l) => /refused an RTMP publish/.test(l.msg));
      assert.deepEqual(
        warnings.map((l) => l.msg),
        [
          "refused an RTMP publish from 127.0.0.1: unknown stream key",
          "refused an RTMP publish from 127.0.0.2: unknown stream key",
        ],
      );
      assert.equal(capture.matching(/refused an RTMP publish/).length, 4, "the rest at debug");
    } finally {
      await ingest.stop();
    }
  });
});
