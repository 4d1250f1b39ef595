// startLiveSession without HomeKit: when the camera's H.264 is copied and when it is re-encoded, the
// ffmpeg arguments HomeKit depends on (signed SSRC, plain RTP to our SRTP forwarders, no key on the
// command line, no SDP on stdout), the key kept out of every log line, and how a session ends.
// Loopback only.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LiveStreamRequest, LiveStreamVideo } from "../../src/core/camera.ts";
import { createLogger } from "../../src/core/logger.ts";
import { copyFits, liveArgs, signedSsrc, startLiveSession, type LiveInput } from "../../src/media/live-session.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { SrtpSink } from "../helpers/rtp-receiver.ts";
import { encodeSourceFlv, ffmpegChildren, SOURCE } from "../helpers/camera-fixture.ts";

const SOURCE_VIDEO: LiveInput["video"] = { ...SOURCE, profile: "main", level: "3.1" };

function video(overrides: Partial<LiveStreamVideo> = {}): LiveStreamVideo {
  return {
    width: 1280,
    height: 720,
    fps: 30,
    maxBitrate: 800,
    payloadType: 99,
    mtu: 1378,
    profile: "main",
    level: "4.0",
    ...overrides,
  };
}

function request(overrides: Partial<LiveStreamVideo> = {}, audio = true): LiveStreamRequest {
  return {
    target: {
      address: "127.0.0.1",
      videoPort: 50000,
      audioPort: 50002,
      videoSrtpKey: randomBytes(16),
      videoSrtpSalt: randomBytes(14),
      audioSrtpKey: randomBytes(16),
      audioSrtpSalt: randomBytes(14),
      videoSsrc: 0xdeadbeef,
      audioSsrc: 0x12345678,
    },
    video: video(overrides),
    ...(audio
      ? {
          audio: {
            codec: "opus" as const,
            sampleRateKHz: 16 as const,
            channels: 1 as const,
            maxBitrate: 24,
            payloadType: 110,
            packetTimeMs: 30,
          },
        }
      : {}),
  };
}

/** The value after `flag` in an argument list (the n-th occurrence). */
function argAfter(args: string[], flag: string, n = 0): string | undefined {
  const at = args.flatMap((a, i) => (a === flag ? [i] : []))[n];
  return at === undefined ? undefined : args[at + 1];
}

describe("copy or transcode", () => {
  it("copies when the camera's picture fits inside the request", () => {
    assert.equal(copyFits(SOURCE_VIDEO, video()), true, "same size, 15 fps under 30");
    assert.equal(
      copyFits(SOURCE_VIDEO, video({ width: 1920, height: 1080 })),
      true,
      "HomeKit scales a smaller picture up",
    );
    assert.equal(copyFits(SOURCE_VIDEO, video({ fps: 15 })), true);
    assert.equal(
      copyFits({ ...SOURCE_VIDEO, level: "4.1" }, video({ level: "4.0" })),
      true,
      "levels are not compared: Apple decoders play 4.1",
    );
  });

  it("re-encodes a picture that is too large, too fast, or of a higher profile", () => {
    assert.equal(copyFits(SOURCE_VIDEO, video({ width: 640, height: 360 })), false);
    assert.equal(copyFits({ ...SOURCE_VIDEO, fps: 30 }, video({ fps: 15 })), false);
    assert.equal(copyFits(SOURCE_VIDEO, video({ profile: "baseline" })), false, "main does not fit a baseline request");
    assert.equal(copyFits({ ...SOURCE_VIDEO, profile: "high" }, video({ profile: "main" })), false);
  });
});

describe("ffmpeg arguments", () => {
  it("copy mode: the camera's H.264 to Annex B, untouched; SSRCs signed; plain RTP to our forwarders; no key", () => {
    const r = request();
    const args = liveArgs({ args: ["-i", "in.flv"], video: SOURCE_VIDEO, audio: true }, r, "copy", {
      video: 40000,
      audio: 40002,
    });
    assert.equal(argAfter(args, "-c:v"), "copy");
    assert.equal(argAfter(args, "-bsf:v"), "h264_mp4toannexb");
    assert.ok(!args.includes("libx264"));
    assert.equal(argAfter(args, "-sdp_file"), "/dev/null", "no SDP on stdout");
    assert.equal(argAfter(args, "-ssrc"), String(0xdeadbeef - 2 ** 32), "signed 32-bit");
    assert.equal(signedSsrc(0xdeadbeef), -559038737);
    assert.equal(argAfter(args, "-ssrc", 1), String(0x12345678));
    // RTP packets 14 bytes under the MTU, as ffmpeg's own SRTP output made them (its srtp overhead).
    assert.ok(args.includes("rtp://127.0.0.1:40000?rtcpport=40000&pkt_size=1364"));
    assert.ok(args.includes("rtp://127.0.0.1:40002?rtcpport=40002&pkt_size=174"));
    for (const key of [
      r.target.videoSrtpKey,
      r.target.videoSrtpSalt,
      r.target.audioSrtpKey!,
      r.target.audioSrtpSalt!,
    ]) {
      assert.ok(
        !args.join(" ").includes(key.toString("base64").slice(0, 12)),
        "no SRTP key or salt on the command line",
      );
    }
    assert.ok(!args.some((a) => a.startsWith("-srtp")), "no SRTP options at all");
    assert.equal(argAfter(args, "-c:a"), "libopus");
    assert.equal(argAfter(args, "-ar"), "16000");
    assert.equal(argAfter(args, "-frame_duration"), "20", "HomeKit's 30 ms is no Opus frame size");
  });

  it("transcode mode: x264 ultrafast/zerolatency at the requested size, rate, bitrate, profile and level", () => {
    const args = liveArgs(
      { args: ["-i", "in.flv"], video: SOURCE_VIDEO, audio: false },
      request({ width: 640, height: 360, fps: 15, maxBitrate: 300, profile: "baseline", level: "3.1" }),
      "transcode",
      { video: 40000 },
    );
    assert.equal(argAfter(args, "-c:v"), "libx264");
    assert.equal(argAfter(args, "-preset"), "ultrafast");
    assert.equal(argAfter(args, "-tune"), "zerolatency");
    assert.match(argAfter(args, "-vf")!, /^scale=640:360:/);
    assert.deepEqual(
      [argAfter(args, "-r"), argAfter(args, "-g"), argAfter(args, "-b:v"), argAfter(args, "-maxrate")],
      ["15", "30", "300k", "300k"],
    );
    assert.deepEqual([argAfter(args, "-profile:v"), argAfter(args, "-level:v")], ["baseline", "3.1"]);
    assert.ok(!args.includes("libopus"), "the source has no audio");
  });
});

describe("a running session", () => {
  const dir = mkdtempSync(join(tmpdir(), "hearthbridge-live-"));
  const flv = join(dir, "source.flv");
  before(() => encodeSourceFlv(flv));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("sends SRTP at once, keeps the key out of the logs, and ends with `stopped`", async () => {
    const sink = await SrtpSink.open();
    const capture = new LogCapture();
    const log = createLogger("trace", { json: true, destination: capture });
    const r = request({}, false);
    r.target.videoPort = sink.port;
    r.target.videoSrtpKey = sink.keys.key;
    r.target.videoSrtpSalt = sink.keys.salt;
    try {
      const stream = await startLiveSession({
        ffmpeg: "ffmpeg",
        input: { args: ["-re", "-i", flv], video: SOURCE_VIDEO, audio: true },
        request: r,
        transcode: "auto",
        label: "live test",
        log,
      });
      assert.equal(stream.mode, "copy");
      await sink.until(() => sink.packets.length >= 5, 5000, "SRTP packets");
      assert.equal(sink.authFailures, 0);
      await stream.reconfigure({ width: 1920, height: 1080 });
      assert.equal(ffmpegChildren().length, 1, "a copy that still fits is not restarted");
      await stream.stop();
      assert.deepEqual(await stream.ended, { reason: "stopped" });
      assert.deepEqual(ffmpegChildren(), []);
      const params = Buffer.concat([sink.keys.key, sink.keys.salt]).toString("base64");
      assert.ok(capture.lines.length > 0);
      assert.ok(
        !capture.text.includes(params) && !capture.text.includes(sink.keys.key.toString("base64")),
        "no SRTP key in any log line",
      );
    } finally {
      sink.close();
    }
  });

  it("ends with ffmpeg's own words when the input fails", async () => {
    const log = createLogger("fatal", { json: true, destination: new LogCapture() });
    const stream = await startLiveSession({
      ffmpeg: "ffmpeg",
      input: { args: ["-i", join(dir, "missing.flv")], video: SOURCE_VIDEO, audio: false },
      request: request({}, false),
      transcode: "auto",
      label: "live test",
      log,
    });
    const { reason } = await stream.ended;
    assert.match(reason, /ffmpeg exited with code 1: .*missing\.flv/);
    await stream.stop();
  });
});
