// Copy mode's native video relay: a viewer starts at the held keyframe (SPS/PPS before the IDR),
// RTP timestamps follow the camera's presentation times and stay continuous when the camera
// reconnects, SRTCP sender reports go out every interval; live sessions with media.videoRelay
// native send verified, decodable SRTP with no ffmpeg for video (one for audio only, fed ADTS on
// stdin); and the ingest hands its frames to readers. Loopback only.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LiveStream, LiveStreamRequest, LiveStreamVideo } from "../../src/core/camera.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { AvcConfig } from "../../src/media/protocol/avc.ts";
import { MediaFeed, type VideoFrame } from "../../src/media/feed.ts";
import { RtmpIngest } from "../../src/media/ingest.ts";
import { startLiveSession, type LiveInput } from "../../src/media/live-session.ts";
import { sessionKeys } from "../../src/media/protocol/srtp.ts";
import { VideoRelay } from "../../src/media/video-relay.ts";
import { encodeSourceFlv, ffmpegChildren, opusFrameMs, SOURCE } from "../helpers/camera-fixture.ts";
import { FlvFileFrames } from "../helpers/flv-frames.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { TestPush } from "../helpers/rtmp-push.ts";
import { SrtpSink } from "../helpers/rtp-receiver.ts";
import { H264Depacketizer, probeH264 } from "../helpers/rtp-h264.ts";
import { isRtcp, type RtpPacket } from "../helpers/srtp.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";

const quiet = createLogger("fatal");
const SPS = Buffer.from([0x67, 1, 2, 3, 4, 5]);
const PPS = Buffer.from([0x68, 9, 9]);
const CONFIG: AvcConfig = {
  profileIdc: 77,
  profile: "main",
  level: "3.1",
  width: 1280,
  height: 720,
  lengthSize: 4,
  sps: [SPS],
  pps: [PPS],
};

/** An FLV video tag body: frame type + codec 7, AVC NALU, composition time, AVCC units. */
function tag(keyframe: boolean, cts: number, ...units: Buffer[]): Buffer {
  const header = Buffer.from([keyframe ? 0x17 : 0x27, 1, (cts >> 16) & 0xff, (cts >> 8) & 0xff, cts & 0xff]);
  return Buffer.concat([
    header,
    ...units.flatMap((u) => [Buffer.from([0, 0, (u.length >> 8) & 0xff, u.length & 0xff]), u]),
  ]);
}
const idr = (size = 50) => Buffer.concat([Buffer.from([0x65]), randomBytes(size)]);
const inter = (size = 20) => Buffer.concat([Buffer.from([0x41]), randomBytes(size)]);

function relayTo(sink: SrtpSink, feed: MediaFeed, rtcpIntervalMs?: number, clock?: ManualClock): Promise<VideoRelay> {
  const { port, keys } = sink;
  const viewer = { address: "127.0.0.1", port, key: keys.key, salt: keys.salt, ssrc: 0xfeedf00d, payloadType: 99 };
  const options = { mtu: 1378, label: "relay test", log: quiet, rtcpIntervalMs, clock };
  return VideoRelay.start({ source: feed, ...viewer, ...options });
}

/** The access units' timestamps, in order of the packets that closed them. */
const frameStamps = (packets: RtpPacket[]) => packets.filter((p) => p.marker).map((p) => p.timestamp);

describe("native video relay", () => {
  it(
    "starts a viewer at the held keyframe with SPS and PPS, then the rest of the GOP and live frames; 90 kHz from " +
      "dts + cts",
    async () => {
      const sink = await SrtpSink.open();
      const feed = new MediaFeed();
      feed.begin();
      feed.setAvc(CONFIG);
      feed.videoTag(tag(false, 0, inter()), 0, false); // before any keyframe: never a viewer's start
      feed.videoTag(tag(true, 66, idr(3000)), 100, true);
      feed.videoTag(tag(false, 0, inter()), 166, false);
      const relay = await relayTo(sink, feed);
      try {
        await sink.until(() => sink.packets.filter((p) => p.marker).length >= 2, 2000, "the held GOP");
        feed.videoTag(tag(false, 33, inter()), 233, false);
        await sink.until(() => sink.packets.filter((p) => p.marker).length >= 3, 2000, "a live frame");
        assert.equal(sink.authFailures, 0);
        const depacketizer = new H264Depacketizer();
        for (const p of sink.packets) depacketizer.push(p);
        assert.deepEqual(depacketizer.nalTypes, [7, 8, 5, 1, 1], "SPS, PPS, IDR, then the inter frames after it");
        assert.equal(depacketizer.gaps, 0);
        const [a, b, c] = frameStamps(sink.packets);
        assert.equal((b! - a!) >>> 0, (166 - (100 + 66)) * 90, "pts = dts + cts");
        assert.equal((c! - b!) >>> 0, (233 + 33 - 166) * 90);
        assert.ok(sink.packets.every((p) => p.ssrc === 0xfeedf00d && p.payloadType === 99));
        assert.ok(
          sink.raw.every((r) => r.length <= 1378),
          "no packet over the MTU",
        );
        assert.ok(sink.packets.length > 5, "the 3 kB IDR went out as FU-A fragments");
      } finally {
        relay.stop();
        sink.close();
      }
      assert.deepEqual(await relay.ended, { reason: "stopped" });
      assert.equal(feed.listeners, 0, "unsubscribed");
    },
  );

  it("waits for a keyframe when none is held, and continues its clock across a camera reconnect", async () => {
    const sink = await SrtpSink.open();
    const feed = new MediaFeed();
    feed.begin();
    feed.setAvc(CONFIG);
    const relay = await relayTo(sink, feed);
    try {
      feed.videoTag(tag(false, 0, inter()), 5000, false);
      feed.videoTag(tag(true, 0, SPS, PPS, idr()), 5066, true);
      feed.videoTag(tag(false, 0, inter()), 5133, false);
      await sink.until(() => sink.packets.filter((p) => p.marker).length >= 2, 2000, "frames");
      // The camera reconnects: a new publish whose clock starts at 0, first an inter frame.
      feed.begin();
      feed.setAvc(CONFIG);
      feed.videoTag(tag(false, 0, inter()), 0, false);
      feed.videoTag(tag(true, 0, idr()), 66, true);
      await sink.until(() => sink.packets.filter((p) => p.marker).length >= 3, 2000, "the new publish's keyframe");
      const depacketizer = new H264Depacketizer();
      for (const p of sink.packets) depacketizer.push(p);
      assert.deepEqual(
        depacketizer.nalTypes,
        [7, 8, 5, 1, 7, 8, 5],
        "no inter frame without its keyframe; SPS/PPS in the keyframe are not doubled",
      );
      const [, second, third] = frameStamps(sink.packets);
      const step = (third! - second!) >>> 0;
      assert.ok(step > 0 && step <= 200 * 90, `the clock goes on forward after the reconnect (+${step})`);
    } finally {
      relay.stop();
      sink.close();
    }
  });

  it(
    "sends RTCP sender reports as SRTCP every interval while video flows, with the packet and octet counts; none " +
      "when the camera is silent",
    async () => {
      const sink = await SrtpSink.open();
      const reports: Buffer[] = [];
      sink.socket.on("message", (m) => isRtcp(m) && reports.push(m));
      const feed = new MediaFeed();
      feed.begin();
      feed.setAvc(CONFIG);
      // The relay's clock: wall time 12:00:00.000 UTC at its start.
      const wallOrigin = Date.UTC(2025, 0, 1, 12);
      const clock = new ManualClock({ wallOrigin });
      const relay = await relayTo(sink, feed, 100, clock);
      try {
        feed.videoTag(tag(true, 0, idr(2000)), 0, true);
        assert.equal(relay.stats.senderReports, 1, "a first report right with the stream");
        // The camera sends a frame every 40 ms of the relay's clock (after the report due at that time).
        for (let dts = 40; dts <= 400; dts += 40) {
          clock.advance(40);
          feed.videoTag(tag(false, 0, inter()), dts, false);
        }
        assert.equal(relay.stats.senderReports, 5, "then one at 100, 200, 300 and 400 ms");
        clock.advance(100);
        assert.equal(relay.stats.senderReports, 6, "one more for the frame sent after the last report");
        clock.advance(1_000);
        assert.equal(relay.stats.senderReports, 6, "no reports while no video goes out");
        const arrived = () => reports.length === 6 && sink.packets.length === relay.stats.packets;
        await waitFor(arrived, 2_000, { message: "every packet and report arrived" });

        const keys = sessionKeys(sink.keys.key, sink.keys.salt, true);
        const last = reports.at(-1)!;
        assert.equal(last[1], 200, "SR first in the compound packet, header in clear");
        assert.equal(last.readUInt32BE(4), 0xfeedf00d);
        const index = last.readUInt32BE(last.length - 14) & 0x7fffffff;
        assert.equal(index, reports.length - 1, "SRTCP index counts reports");
        const iv = Buffer.alloc(16);
        keys.salt.copy(iv);
        iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0xfeedf00d) >>> 0, 4);
        iv.writeUInt32BE((iv.readUInt32BE(10) ^ index) >>> 0, 10);
        const body = createCipheriv("aes-128-ctr", keys.key, iv).update(last.subarray(8, last.length - 14));
        // Sent at 500 ms: 12:00:00.5 as NTP (seconds since 1900, then a 32-bit binary fraction).
        assert.equal(body.readUInt32BE(0), wallOrigin / 1000 + 2_208_988_800, "NTP seconds of the wall clock");
        assert.equal(body.readUInt32BE(4), 2 ** 31, "NTP fraction: half a second");
        assert.equal(body.readUInt32BE(12), sink.packets.length, "sender's packet count");
        assert.equal(
          body.readUInt32BE(16),
          sink.packets.reduce((n, p) => n + p.payload.length, 0),
          "sender's octet count",
        );
        const lastFrame = frameStamps(sink.packets).at(-1)!;
        const rtpAhead = (body.readUInt32BE(8) - lastFrame) >>> 0;
        assert.equal(rtpAhead, 100 * 90, "the report's RTP time: the last frame's plus the 100 ms since");
        assert.equal(body[21], 202, "then SDES");
        assert.match(body.subarray(28).toString("latin1"), /hearthbridge/, "CNAME");
      } finally {
        relay.stop();
        sink.close();
      }
      assert.equal(clock.pending, 0, "the report interval is cleared on stop");
    },
  );
});

describe("live sessions with the native video relay", () => {
  const dir = mkdtempSync(join(tmpdir(), "hearthbridge-relay-"));
  const flv = join(dir, "source.flv");
  let frames: FlvFileFrames;
  before(async () => {
    await encodeSourceFlv(flv);
    frames = new FlvFileFrames(flv);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function request(
    sinks: { video: SrtpSink; audio?: SrtpSink },
    video: Partial<LiveStreamVideo> = {},
  ): LiveStreamRequest {
    return {
      target: {
        address: "127.0.0.1",
        videoPort: sinks.video.port,
        videoSrtpKey: sinks.video.keys.key,
        videoSrtpSalt: sinks.video.keys.salt,
        videoSsrc: 0x89abcdef,
        ...(sinks.audio
          ? {
              audioPort: sinks.audio.port,
              audioSrtpKey: sinks.audio.keys.key,
              audioSrtpSalt: sinks.audio.keys.salt,
              audioSsrc: 0x1234,
            }
          : {}),
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
        ...video,
      },
      ...(sinks.audio
        ? {
            audio: {
              codec: "opus" as const,
              sampleRateKHz: 24 as const,
              channels: 1 as const,
              maxBitrate: 24,
              payloadType: 110,
              packetTimeMs: 20,
            },
          }
        : {}),
    };
  }
  const input = (): LiveInput => ({
    args: ["-re", "-stream_loop", "-1", "-i", flv],
    video: { ...SOURCE, profile: "main", level: "3.1" },
    audio: true,
    frames,
  });

  it(
    "video only: no ffmpeg at all, SRTP verifies and decodes as the camera's H.264 main 1280x720; a reconfigure to " +
      "a smaller size switches to x264 and back",
    async () => {
      const video = await SrtpSink.open();
      const depacketizer = new H264Depacketizer();
      video.on("packet", (p) => depacketizer.push(p));
      let stream: LiveStream | undefined;
      try {
        stream = await startLiveSession({
          ffmpeg: "ffmpeg",
          input: input(),
          request: request({ video }),
          transcode: "auto",
          videoRelay: "native",
          label: "live relay",
          log: quiet,
        });
        assert.equal(stream.mode, "copy");
        assert.equal((stream as unknown as { nativeVideo: boolean }).nativeVideo, true);
        assert.deepEqual(ffmpegChildren(), [], "no ffmpeg for a copied stream without audio");
        await video.until(() => video.packets.filter((p) => p.marker).length >= 20, 10_000, "20 frames");
        assert.equal(video.authFailures, 0);
        const decoded = await probeH264(depacketizer.annexB(), join(dir, "native.h264"));
        assert.deepEqual([decoded.width, decoded.height, decoded.profile], [1280, 720, "Main"]);
        assert.ok(decoded.frames >= 20, `decoded ${decoded.frames}`);
        // Presentation order (the source has B-frames: RTP timestamps are pts, sent in decoding order);
        // the median step, so that a frame lost on a loaded machine's loopback does not count.
        const stamps = frameStamps(video.packets);
        const pts = [...new Set(stamps.map((t) => (t - stamps[0]!) | 0))].sort((a, b) => a - b);
        const steps = pts
          .slice(1)
          .map((t, i) => t - pts[i]!)
          .sort((a, b) => a - b);
        const median = steps[steps.length >> 1]!;
        assert.ok(
          Math.abs(median - 6000) <= 90,
          `15 fps is 6000 ticks of 90 kHz, FLV's milliseconds give 5940-6030 (${median})`,
        );

        await stream.reconfigure({ width: 640, height: 360 });
        assert.equal(stream.mode, "transcode");
        // setpriv execs ffmpeg just after the spawn: the process is named ffmpeg a moment later.
        await waitFor(() => ffmpegChildren().length === 1, 5000, { message: "x264 for the smaller picture" });
        const count = video.packets.length;
        await video.until(() => video.packets.length > count + 5, 10_000, "transcoded video");
        await stream.reconfigure({ width: 1280, height: 720 });
        assert.equal(stream.mode, "copy");
        assert.deepEqual(ffmpegChildren(), [], "back to the native relay");
        await stream.stop();
        assert.deepEqual(await stream.ended, { reason: "stopped" });
        assert.equal(frames.feed.listeners, 0, "the relay stopped reading the frames");
      } finally {
        await stream?.stop();
        video.close();
      }
    },
  );

  it("with audio: one ffmpeg, Opus only, fed ADTS on stdin; STOP ends it at once; no key in the logs", async () => {
    const [video, audio] = [await SrtpSink.open(), await SrtpSink.open()];
    const capture = new LogCapture();
    const log = createLogger("trace", { json: true, destination: capture });
    let stream: LiveStream | undefined;
    try {
      stream = await startLiveSession({
        ffmpeg: "ffmpeg",
        input: input(),
        request: request({ video, audio }),
        transcode: "auto",
        videoRelay: "native",
        label: "live relay",
        log,
      });
      await waitFor(() => ffmpegChildren().length === 1, 5000, { message: "one ffmpeg, for the audio" });
      await audio.until(() => audio.packets.length >= 25, 10_000, "Opus packets");
      await video.until(() => video.packets.filter((p) => p.marker).length >= 10, 10_000, "video");
      assert.equal(audio.authFailures + video.authFailures, 0);
      assert.ok(
        audio.packets.every((p) => p.payloadType === 110 && p.ssrc === 0x1234 && opusFrameMs(p.payload) === 20),
      );
      const stopAt = performance.now();
      await stream.stop();
      assert.ok(
        performance.now() - stopAt < 1500,
        `stopped in ${Math.round(performance.now() - stopAt)} ms (EOF on stdin, not the SIGKILL grace)`,
      );
      assert.deepEqual(ffmpegChildren(), []);
      for (const keys of [video.keys, audio.keys]) {
        for (const secret of [
          keys.key.toString("base64"),
          Buffer.concat([keys.key, keys.salt]).toString("base64"),
          keys.key.toString("hex"),
        ])
          assert.ok(!capture.text.includes(secret), "no SRTP key in any log line");
      }
    } finally {
      await stream?.stop();
      video.close();
      audio.close();
    }
  });

  it("ends the session when its audio ffmpeg dies", async () => {
    const [video, audio] = [await SrtpSink.open(), await SrtpSink.open()];
    let stream: LiveStream | undefined;
    try {
      stream = await startLiveSession({
        ffmpeg: "ffmpeg",
        input: input(),
        request: request({ video, audio }),
        transcode: "auto",
        videoRelay: "native",
        label: "live relay",
        log: quiet,
      });
      await audio.until(() => audio.packets.length > 0, 10_000, "Opus");
      process.kill(ffmpegChildren()[0]!, "SIGKILL");
      assert.match((await stream.ended).reason, /SIGKILL/);
      assert.equal(frames.feed.listeners, 0, "the video relay stopped with it: nothing reads the camera's frames");
    } finally {
      await stream?.stop();
      video.close();
      audio.close();
    }
  });
});

describe("the ingest's frames", () => {
  it(
    "a reader subscribing to a pushing camera gets the held keyframe first, with SPS/PPS config, then live video " +
      "and AAC",
    async () => {
      const ingest = new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log: quiet });
      await ingest.start();
      const push = { current: undefined as TestPush | undefined };
      try {
        ingest.register("nanit:cam");
        const held = nextEvent(ingest, "keyframe-held", (id) => id === "nanit:cam", 15_000);
        push.current = new TestPush(ingest.urlFor("nanit:cam"));
        await held;
        const video: VideoFrame[] = [];
        let audioFrames = 0;
        let audioConfig: Buffer | undefined;
        const unsubscribe = ingest.frames("nanit:cam").subscribe({
          video: (f) => video.push(f),
          audio: (f) => {
            audioFrames++;
            audioConfig = f.config;
          },
        });
        assert.ok(video.length >= 1 && video[0]!.keyframe, "the held keyframe at once");
        assert.deepEqual(
          [video[0]!.config.width, video[0]!.config.height, video[0]!.config.profile],
          [1280, 720, "main"],
        );
        const at = video.length;
        await waitFor(() => video.length >= at + 5, 10_000, { message: "live frames after the held ones" });
        assert.ok(
          video.slice(1).every((f, i) => f.dts >= video[i]!.dts),
          "in decoding order",
        );
        assert.ok(audioFrames > 5 && audioConfig && audioConfig.length >= 2, "AAC with its AudioSpecificConfig");
        unsubscribe();
      } finally {
        await push.current?.kill();
        await ingest.stop();
      }
    },
  );
});
