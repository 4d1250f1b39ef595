// The WebRTC sender (media/webrtc): a viewer's offer is answered with host candidates on 127.0.0.1 only
// and no STUN; the viewer gets the camera's own H.264 from the held keyframe (decodable) and Opus
// sound from the camera's one shared encoder; ending a view releases the camera and stops the
// encoder. Bad input (malformed offers, unknown sessions, too many viewers, an ICE that never
// connects, a camera that never sends a picture) is refused or timed out with a clear status, logged
// once, and leaves nothing running. The viewer is a werift peer on loopback.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import type { StreamHubState } from "../../src/media/hub.ts";
import { MediaFeed } from "../../src/media/feed.ts";
import type { AvcConfig } from "../../src/media/protocol/avc.ts";
import { type WebRtcError, WebRtcService, type WebRtcSettings } from "../../src/media/webrtc/service.ts";
import { iceConfig } from "../../src/media/webrtc/ice-config.ts";
import { checkOffer, OfferRefused } from "../../src/media/webrtc/sdp-offer.ts";
import { pickProfileLevelId } from "../../src/media/webrtc/viewer.ts";
import { encodeSourceFlv, ffmpegChildren, SOURCE } from "../helpers/camera-fixture.ts";
import { FlvFileFrames } from "../helpers/flv-frames.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { H264Depacketizer, probeH264 } from "../helpers/rtp-h264.ts";
import { candidateAddresses, TestViewer, trickleFragment, withoutCandidates } from "../helpers/whep-client.ts";
import { waitFor } from "../helpers/wait.ts";

const CAMERA = "nanit:cam-1";
const AVC: AvcConfig = {
  profileIdc: 77,
  profile: "main",
  level: "3.1",
  width: 1280,
  height: 720,
  lengthSize: 4,
  sps: [Buffer.from([0x67, 1, 2, 3])],
  pps: [Buffer.from([0x68, 9])],
};
/** An FLV video tag body: frame type + codec 7, AVC NALU, no composition offset, one AVCC unit. */
const avcTag = (keyframe: boolean, unit: Buffer) =>
  Buffer.concat([Buffer.from([keyframe ? 0x17 : 0x27, 1, 0, 0, 0, 0, 0, 0, unit.length]), unit]);
const LOOPBACK: WebRtcSettings = { enabled: true, interfaces: ["127.0.0.1"], maxSessions: 2, connectTimeoutMs: 15_000 };

class FakeHub {
  acquired = 0;
  released = 0;
  standby = false;
  keyframe = true;
  acquire(): () => void {
    this.acquired++;
    let done = false;
    return () => {
      if (!done) this.released++;
      done = true;
    };
  }
  state(): StreamHubState {
    return {
      deviceId: CAMERA,
      name: "Nursery",
      watching: this.acquired - this.released,
      keepWarm: false,
      active: true,
      publishing: this.keyframe,
      bytesIn: 0,
      keyframeHeldAt: this.keyframe ? Date.now() : undefined,
      standby: this.standby,
    };
  }
}

describe("WebRTC sender", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-webrtc-"));
  let frames: FlvFileFrames;
  const services: WebRtcService[] = [];
  const viewers: TestViewer[] = [];

  function setup(settings: Partial<WebRtcSettings> = {}, readyTimeoutMs?: number) {
    const hub = new FakeHub();
    const capture = new LogCapture();
    const service = new WebRtcService({
      settings: { ...LOOPBACK, ...settings },
      ffmpeg: "ffmpeg",
      camera: (id) =>
        id === CAMERA
          ? {
              name: "Nursery",
              hub,
              frames,
              status: () => ({ publishing: true, bytesIn: 0, audio: true, video: { codec: "h264", profile: "main" } }),
              audio: true,
            }
          : undefined,
      log: createLogger("debug", { json: true, destination: capture }),
      readyTimeoutMs,
    });
    services.push(service);
    return { hub, capture, service };
  }
  const viewer = (options?: ConstructorParameters<typeof TestViewer>[0]) => {
    const v = new TestViewer(options);
    viewers.push(v);
    return v;
  };

  before(async () => {
    const file = join(dir, "source.flv");
    await encodeSourceFlv(file);
    frames = new FlvFileFrames(file);
  });

  after(async () => {
    await Promise.all(viewers.map((v) => v.close().catch(() => undefined)));
    await Promise.all(services.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers with loopback-only host candidates; sends decodable H.264 from the held keyframe and Opus", async () => {
    const { hub, service, capture } = setup();
    const client = viewer();
    const { id, answer } = await service.open(CAMERA, await client.offer(), "127.0.0.1");
    // A timeout says where the view stood (it failed once under load with nothing else to go on).
    const where = () =>
      `; viewer side ${client.pc.connectionState}/${client.pc.iceConnectionState}, sessions ` +
      `${JSON.stringify(service.list())}, log ${JSON.stringify(capture.lines.map((l) => l.msg))}`;
    const addresses = candidateAddresses(answer);
    assert.ok(addresses.length > 0, "the answer has its candidates (no trickle)");
    assert.deepEqual([...new Set(addresses)], ["127.0.0.1"], "host candidates on the configured address only");
    assert.doesNotMatch(answer, /typ (srflx|relay)/, "no STUN or TURN");
    assert.match(answer, /profile-level-id=4d001f/, "the camera's profile (main) is the one answered");
    assert.equal(hub.acquired, 1, "the viewer holds the camera's stream");
    await client.accept(answer);

    await waitFor(() => client.video.filter((p) => p.marker).length >= 20, 20_000, {
      message: "20 video frames",
    }).catch((error: Error) => Promise.reject(new Error(error.message + where())));
    await waitFor(() => client.audio.length >= 10, 20_000, { message: "10 Opus packets" }).catch((error: Error) =>
      Promise.reject(new Error(error.message + where())),
    );
    const depacketizer = new H264Depacketizer();
    for (const p of client.video) depacketizer.push(p);
    const types = depacketizer.nalTypes;
    assert.deepEqual(types.slice(0, 2), [7, 8], "SPS and PPS first");
    assert.ok(types.indexOf(5) < types.indexOf(1), "then the held keyframe, before any other frame");
    const decoded = await probeH264(depacketizer.annexB(), join(dir, "webrtc.h264"));
    assert.equal(decoded.width, SOURCE.width);
    assert.equal(decoded.height, SOURCE.height);
    assert.ok(decoded.frames >= 15, `decoded ${decoded.frames} frames`);
    assert.equal(decoded.profile, "Main", "the camera's H.264 went through untouched");
    assert.ok(service.opusRunning(CAMERA));

    assert.equal(await service.close(CAMERA, id, "127.0.0.1"), true);
    await waitFor(() => service.sessions === 0, 5_000);
    assert.equal(hub.released, 1, "the camera's stream is let go");
    assert.equal(service.opusRunning(CAMERA), false, "the Opus encoder stops with its last listener");
    await waitFor(() => ffmpegChildren().length === 0, 5_000, { message: "no ffmpeg left" });
  });

  it("answers a video-only offer (a WHEP player without sound) and starts no encoder for it", async () => {
    const { service } = setup();
    const client = viewer({ audio: false });
    const { id, answer } = await service.open(CAMERA, await client.offer(), "127.0.0.1");
    assert.doesNotMatch(answer, /^m=audio/m);
    await client.accept(answer);
    await waitFor(() => client.video.filter((p) => p.marker).length >= 5, 20_000, { message: "video frames" });
    assert.equal(service.opusRunning(CAMERA), false);
    await service.close(CAMERA, id, "127.0.0.1");
  });

  it("two viewers of a camera share one Opus encoder", async () => {
    const { service } = setup();
    const a = viewer();
    const b = viewer();
    const first = await service.open(CAMERA, await a.offer(), "127.0.0.1");
    await a.accept(first.answer);
    const second = await service.open(CAMERA, await b.offer(), "127.0.0.1");
    await b.accept(second.answer);
    await waitFor(() => a.audio.length >= 5 && b.audio.length >= 5, 20_000, { message: "both hear the camera" });
    assert.equal(ffmpegChildren().length, 1, "one encoder for both");
    await service.close(CAMERA, first.id, "127.0.0.1");
    assert.ok(service.opusRunning(CAMERA), "still one listener");
    await service.close(CAMERA, second.id, "127.0.0.1");
    await waitFor(() => ffmpegChildren().length === 0, 5_000, { message: "no ffmpeg left" });
  });

  it("refuses malformed offers, offers without H.264, unknown cameras and sessions, logged once", async () => {
    const { hub, capture, service } = setup();
    const cases: [string, string, number, RegExp][] = [
      [CAMERA, "hello", 400, /not an SDP offer/],
      [CAMERA, "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", 400, /no video/],
      [CAMERA, `v=0\r\n${"a=x\r\n".repeat(10_000)}`, 400, /larger than/],
      ["nanit:nope", "v=0\r\n", 404, /no such camera/],
    ];
    const vp8Only = await viewer()
      .offer()
      .then((sdp) => sdp.replace(/H264\/90000/g, "VP8/90000"));
    cases.push([CAMERA, vp8Only, 400, /no H\.264/]);
    for (const [camera, offer, status, message] of cases) {
      const before = capture.lines.length;
      await assert.rejects(service.open(camera, offer, "192.0.2.7"), (error: WebRtcError) => {
        assert.equal(error.status, status);
        assert.match(error.message, message);
        return true;
      });
      const logged = capture.lines.slice(before).filter((l) => /refused/.test(l.msg));
      assert.equal(logged.length, 1, `one log line for ${message}`);
      assert.equal(logged[0]!.client, "192.0.2.7", "with the client's address");
    }
    assert.equal(await service.close(CAMERA, "no-such-session", "192.0.2.7"), false);
    assert.equal(service.sessions, 0, "nothing kept");
    assert.equal(hub.acquired, hub.released, "every hold let go");
  });

  it("connects through trickled candidates alone: an offer without any, its candidates trickled after", async () => {
    const { service } = setup();
    const client = viewer({ audio: false });
    const full = await client.offer();
    const { id, answer } = await service.open(CAMERA, withoutCandidates(full), "127.0.0.1");
    // Neither side has the other's candidates: only the bridge's checks to the trickled ones can start ICE.
    await client.accept(withoutCandidates(answer));
    service.trickle(CAMERA, id, trickleFragment(full), "127.0.0.1", [id]);
    await waitFor(() => client.video.filter((p) => p.marker).length >= 20, 20_000, { message: "20 video frames" });
    const depacketizer = new H264Depacketizer();
    for (const p of client.video) depacketizer.push(p);
    const decoded = await probeH264(depacketizer.annexB(), join(dir, "trickled.h264"));
    assert.equal(decoded.width, SOURCE.width);
    assert.ok(decoded.frames >= 15, `decoded ${decoded.frames} frames`);
    await service.close(CAMERA, id, "127.0.0.1");
  });

  it("refuses a malformed trickle, or one for another view, ICE session or credentials: the view goes on", async () => {
    const { capture, service } = setup();
    const client = viewer({ audio: false });
    const offer = await client.offer();
    const { id, answer } = await service.open(CAMERA, offer, "127.0.0.1");
    await client.accept(answer);
    await waitFor(() => client.video.filter((p) => p.marker).length >= 5, 20_000, { message: "video frames" });
    const fragment = trickleFragment(offer);
    const otherUfrag = fragment.replace(/^a=ice-ufrag:.*$/m, "a=ice-ufrag:Zz9Zz9Zz");
    const many = Array.from({ length: 101 }, (_, i) => `a=candidate:${i} 1 udp 1 127.0.0.1 ${i + 1} typ host`);
    const cases: [string, string, string, string[] | undefined, number, RegExp][] = [
      [CAMERA, id, "a=candidate:1 1 udp 1 127.0.0.1 9 typ\r\n", undefined, 400, /line 1 is not an ICE candidate/],
      [CAMERA, id, "hello\r\n", undefined, 400, /not an SDP line/],
      [CAMERA, id, `a=mid:7\r\n${fragment.match(/^a=candidate:.*$/m)![0]}\r\n`, undefined, 400, /no media section/],
      [CAMERA, id, many.join("\r\n"), undefined, 400, /more than 100 candidates/],
      [CAMERA, id, otherUfrag, undefined, 422, /ICE restarts are not supported/],
      [CAMERA, id, fragment, ["another-tag"], 412, /If-Match/],
      [CAMERA, "00000000-0000-0000-0000-000000000000", fragment, undefined, 404, /no such live view/],
      ["nanit:other", id, fragment, undefined, 404, /no such live view/],
    ];
    for (const [camera, session, body, match, status, message] of cases) {
      const before = capture.lines.length;
      assert.throws(
        () => service.trickle(camera, session, body, "192.0.2.7", match),
        (error: WebRtcError) => error.status === status && message.test(error.message),
        `${status} ${message}`,
      );
      const logged = capture.lines.slice(before).filter((l) => /refused/.test(l.msg));
      assert.equal(logged.length, 1, `one log line for ${message}`);
      assert.equal(logged[0]!.client, "192.0.2.7", "with the client's address");
    }
    const seen = client.video.length;
    await waitFor(() => client.video.length > seen + 20, 20_000, { message: "the view goes on" });
    assert.equal(service.list()[0]?.connected, true);
    service.trickle(CAMERA, id, fragment, "127.0.0.1", ["another-tag", id]);
    await service.close(CAMERA, id, "127.0.0.1");
    await waitFor(() => service.sessions === 0, 5_000);
    assert.throws(
      () => service.trickle(CAMERA, id, fragment, "127.0.0.1"),
      (error: WebRtcError) => error.status === 404,
      "a trickle after the view ended",
    );
  });

  it("refuses more live views than media.webrtc.maxSessions with 503 until one ends", async () => {
    const { hub, service } = setup({ maxSessions: 1 });
    const a = viewer();
    const first = await service.open(CAMERA, await a.offer(), "127.0.0.1");
    await assert.rejects(service.open(CAMERA, await viewer().offer(), "127.0.0.1"), (error: WebRtcError) => {
      assert.equal(error.status, 503);
      assert.match(error.message, /maxSessions: 1/);
      return true;
    });
    assert.equal(hub.acquired, 1, "the refused one never held the camera");
    await service.close(CAMERA, first.id, "127.0.0.1");
    const again = await service.open(CAMERA, await viewer().offer(), "127.0.0.1");
    await service.close(CAMERA, again.id, "127.0.0.1");
    assert.equal(hub.acquired, hub.released);
  });

  it("ends a view whose ICE never connects after connectTimeoutMs, logged once, with nothing left", async () => {
    const { hub, capture, service } = setup({ connectTimeoutMs: 500 });
    const client = viewer();
    const offer = await client.offer();
    await client.close(); // the viewer vanishes before it ever reads the answer
    await service.open(CAMERA, offer, "127.0.0.1");
    await waitFor(() => service.sessions === 0, 10_000, { message: "the session timed out" });
    const ended = capture.lines.filter((l) => /ended/.test(l.msg));
    assert.equal(ended.length, 1);
    assert.match(ended[0]!.msg, /did not connect within 0\.5 s/);
    assert.equal(ended[0]!.level, 40, "a warning");
    assert.equal(hub.released, 1);
    assert.equal(service.opusRunning(CAMERA), false, "no encoder was started for it");
  });

  it("ends a view whose camera sends no picture with the hub's reason (standby)", async () => {
    const { hub, capture, service } = setup({}, 300);
    hub.keyframe = false;
    hub.standby = true;
    const client = viewer();
    const { answer } = await service.open(CAMERA, await client.offer(), "127.0.0.1");
    await client.accept(answer);
    await waitFor(() => service.sessions === 0, 10_000, { message: "the session ended" });
    const ended = capture.lines.filter((l) => /ended/.test(l.msg));
    assert.equal(ended.length, 1);
    assert.match(ended[0]!.msg, /standby/);
    assert.equal(hub.released, 1);
  });

  it("squeezes the held GOP's times (shown at once) and continues the clock from its newest frame", async () => {
    const feed = new MediaFeed();
    feed.begin();
    feed.setAvc(AVC);
    // A GOP held for 1.4 s: keyframe, then inter frames every 100 ms (FLV tags, 90 kHz = 90 ticks/ms).
    feed.videoTag(avcTag(true, Buffer.from([0x65, 1, 2, 3])), 0, true);
    for (let ms = 100; ms <= 1_400; ms += 100) feed.videoTag(avcTag(false, Buffer.from([0x41, 4, 5])), ms, false);
    const hub = new FakeHub();
    const service = new WebRtcService({
      settings: LOOPBACK,
      ffmpeg: "ffmpeg",
      camera: () => ({ name: "Nursery", hub, frames: feed, status: () => undefined, audio: false }),
      log: createLogger("fatal"),
    });
    services.push(service);
    const client = viewer({ audio: false });
    const { id, answer } = await service.open(CAMERA, await client.offer(), "127.0.0.1");
    await client.accept(answer);
    await waitFor(() => client.video.filter((p) => p.marker).length >= 15, 10_000, { message: "the held GOP" });
    feed.videoTag(avcTag(false, Buffer.from([0x41, 6, 7])), 1_500, false);
    await waitFor(() => client.video.filter((p) => p.marker).length >= 16, 10_000, { message: "a live frame" });
    const stamps = client.video.filter((p) => p.marker).map((p) => p.timestamp);
    const span = (stamps[14]! - stamps[0]!) >>> 0;
    assert.ok(span <= (1_400 * 90) / 10, `the 1.4 s GOP goes out as ${span / 90} ms of video`);
    assert.ok(
      stamps.slice(1, 15).every((t, i) => ((t - stamps[i]!) | 0) > 0),
      "in order",
    );
    assert.equal((stamps[15]! - stamps[14]!) >>> 0, 100 * 90, "a live frame follows the newest at the camera's pace");
    await service.close(CAMERA, id, "127.0.0.1");
  });

  it("is off with media.webrtc.enabled false", async () => {
    const { service } = setup({ enabled: false });
    await assert.rejects(service.open(CAMERA, "v=0\r\n", "127.0.0.1"), (e: WebRtcError) => e.status === 404);
  });
});

describe("WebRTC helpers", () => {
  it("never leaves werift's default STUN server in place; interfaces by name or address", () => {
    assert.deepEqual(iceConfig({ interfaces: [] }).iceServers, []);
    const list = {
      eth0: [
        { address: "192.168.1.20", family: "IPv4", internal: false, netmask: "", mac: "", cidr: null },
        { address: "fe80::1", family: "IPv6", internal: false, netmask: "", mac: "", cidr: null, scopeid: 2 },
      ],
    } as Parameters<typeof iceConfig>[1];
    const config = iceConfig({ interfaces: ["eth0", "127.0.0.1"], stun: "stun:stun.example:3478" }, list);
    assert.deepEqual(config.iceAdditionalHostAddresses, ["192.168.1.20", "127.0.0.1"]);
    assert.equal(config.iceUseIpv4, false, "werift's own address list is off");
    assert.deepEqual(config.iceServers, [{ urls: "stun:stun.example:3478" }]);
    assert.throws(() => iceConfig({ interfaces: ["wlan9"] }, list), /no interface wlan9/);
  });

  it("answers the camera's profile when offered, else the viewer's first", () => {
    assert.equal(pickProfileLevelId(["42e01f", "4d001f", "64001f"], "high"), "64001f");
    assert.equal(pickProfileLevelId(["42e01f", "42001f"], "main"), "42e01f");
    assert.equal(pickProfileLevelId(["42e01f", "4d001f"], undefined), "4d001f");
  });

  it("checks an offer's shape before werift sees it; one without candidates is an offer (they may be trickled)", () => {
    assert.throws(() => checkOffer(""), OfferRefused);
    const offer = [
      ...["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0"],
      ...["m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=mid:0", "a=ice-ufrag:abcd"],
      ...["a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=fingerprint:sha-256 AB:CD", "a=setup:actpass", "a=recvonly"],
      ...["a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f", ""],
    ].join("\r\n");
    assert.deepEqual(checkOffer(offer), { audio: false, h264: ["42e01f"] });
    assert.throws(() => checkOffer("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n"), /ICE/);
  });
});
