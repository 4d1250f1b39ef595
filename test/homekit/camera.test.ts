// A camera in HomeKit end to end: the standalone camera accessory paired with hap-controller, the
// controller's side of SetupEndpoints and SelectedRTPStreamConfiguration written by hand, and UDP
// receivers that verify every SRTP authentication tag with the negotiated key, decrypt, and hand the
// H.264 to ffprobe. The source is a real H.264 (main) + AAC FLV through startLiveSession, so copy mode
// really copies. Runs in the loopback-only namespace: test/netns.sh node --test test/homekit/camera.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { isValidPincode } from "../../src/core/config.ts";
import { HomeKitHost } from "../../src/homekit/index.ts";
import { readCameraPairings } from "../../src/homekit/setup-uri.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { SrtpReceiver } from "../helpers/srtp.ts";
import { H264Depacketizer } from "../helpers/rtp-h264.ts";
import {
  AUDIO_CODEC_OPUS,
  parseSupportedAudio,
  parseSupportedRTP,
  parseSupportedVideo,
  SETUP_STATUS,
  SRTP_AES_CM_128_HMAC_SHA1_80,
} from "../helpers/camera-tlv.ts";
import {
  AUDIO_PT,
  CAMERA_ID,
  CameraDriver,
  cameraInfo,
  encodeSourceFlv,
  ffmpegChildren,
  FileCameraSource,
  jpegSize,
  opusFrameMs,
  VIDEO_PT,
  Viewer,
} from "../helpers/camera-fixture.ts";
import { waitFor } from "../helpers/wait.ts";

const log = pino({ level: "silent" });
const BRIDGE_PIN = "031-45-154";

/**
 * The test's ffmpeg children once there are `count` of them. A session's start resolves when its
 * child has spawned, and that child is setpriv, which execs ffmpeg a moment later (checked: at the
 * `spawn` event /proc shows "setpriv" every time): reading the list right after a start can miss it.
 */
function ffmpegCount(count: number): Promise<number[]> {
  return waitFor(
    () => {
      const pids = ffmpegChildren();
      return pids.length === count && pids;
    },
    10_000,
    { message: `${count} ffmpeg child(ren) of this test` },
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

describe("HomeKit camera (standalone accessory, SRTP to a controller)", () => {
  const dir = mkdtempSync(join(tmpdir(), "hearthbridge-camera-"));
  const flv = join(dir, "source.flv");
  const registry = new DeviceRegistry(log);
  const driver = new CameraDriver();
  const source = new FileCameraSource(flv);
  let host: HomeKitHost;
  let client: HapClient;
  const viewers: Viewer[] = [];

  const rtp = (characteristic: string) =>
    client.find({ service: Service.CameraRTPStreamManagement.UUID, characteristic });
  async function viewer(index: number, on = client): Promise<Viewer> {
    const v = await Viewer.setUp(on, { index, dir });
    viewers.push(v);
    return v;
  }

  before(async () => {
    await encodeSourceFlv(flv);
    await driver.start({ sink: registry.sinkFor(driver), log, store: JsonStore.in(dir, "account") });
    driver.sink.deviceFound(cameraInfo, { temperature: 21.5, switches: { nightLight: false } });
    host = new HomeKitHost({
      registry,
      log,
      dataDir: join(dir, "data"),
      name: "Hearthbridge Camera Test",
      port: 0,
      pincode: BRIDGE_PIN,
      advertiser: "none",
      cameras: { sourceFor: (id) => (id === CAMERA_ID ? source : undefined) },
    });
    await host.start();
    const [camera] = host.cameraPairings();
    assert.ok(camera?.port, "the camera listens");
    client = await HapClient.pair(camera.port, camera.pincode);
  });

  after(async () => {
    for (const v of viewers) v.close();
    await client?.close();
    await host?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is an accessory of its own (camera category, own setup code) with its sensors and switches", async () => {
    const pairings = host.cameraPairings();
    assert.equal(pairings.length, 1);
    const camera = pairings[0]!;
    assert.equal(camera.deviceId, CAMERA_ID);
    assert.equal(camera.name, "Nursery Camera");
    assert.ok(isValidPincode(camera.pincode) && camera.pincode !== BRIDGE_PIN, "its own valid setup code");
    assert.notEqual(camera.port, host.port, "its own port");
    assert.equal(camera.paired, true);
    const uri = /^X-HM:\/\/([0-9A-Z]{9})[0-9A-Z]{4}$/.exec(camera.setupURI ?? "");
    assert.ok(uri, `setup URI ${camera.setupURI}`);
    assert.equal(Number((BigInt(parseInt(uri[1]!, 36)) >> 31n) & 0xffn), 17, "category IP camera in the QR code");
    assert.equal(host.bridges[0]!.accessories, 0, "not on the bridge");

    const accessories = await client.accessories(true);
    assert.equal(accessories.length, 1);
    assert.equal(accessories[0]!.name, "Nursery Camera");
    const types = accessories[0]!.services.map((s) => s.type);
    assert.equal(types.filter((t) => t === Service.CameraRTPStreamManagement.UUID).length, 2, "two viewers at once");
    for (const service of [Service.Microphone, Service.TemperatureSensor, Service.Lightbulb])
      assert.ok(types.includes(service.UUID), `has ${service.name}`);
    assert.ok(!accessories[0]!.services.some((s) => s.primary), "no sensor takes the camera's tile");
  });

  it("offers H.264 baseline/main/high up to 1080p, Opus at 16 and 24 kHz, AES_CM_128_HMAC_SHA1_80", async () => {
    const [videoValue] = await client.read(await rtp(Characteristic.SupportedVideoStreamConfiguration.UUID));
    const [video] = parseSupportedVideo(videoValue as string);
    assert.ok(video);
    assert.deepEqual(video.profiles, [0, 1, 2]);
    assert.deepEqual(video.levels, [0, 1, 2]);
    for (const size of [
      [1920, 1080],
      [1280, 720],
      [640, 360],
      [480, 270],
      [320, 240],
    ]) {
      for (const fps of [15, 30])
        assert.ok(
          video.resolutions.some(([w, h, f]) => w === size[0] && h === size[1] && f === fps),
          `${size.join("x")}@${fps}`,
        );
    }
    const [audioValue] = await client.read(await rtp(Characteristic.SupportedAudioStreamConfiguration.UUID));
    const audio = parseSupportedAudio(audioValue as string);
    assert.deepEqual(
      audio.codecs.map((c) => [c.codec, c.sampleRates]),
      [[AUDIO_CODEC_OPUS, [1, 2]]],
    );
    const [rtpValue] = await client.read(await rtp(Characteristic.SupportedRTPConfiguration.UUID));
    assert.deepEqual(parseSupportedRTP(rtpValue as string).cryptoSuites, [SRTP_AES_CM_128_HMAC_SHA1_80]);
  });

  it(
    "copy mode at 1280x720: every SRTP tag verifies, " +
      "H.264 decodes at the requested size, audio is Opus; STOP ends ffmpeg",
    async () => {
      const v = await viewer(0);
      const { response } = v;
      assert.equal(response.status, SETUP_STATUS.success);
      assert.equal(response.address, "127.0.0.1");
      assert.ok(response.videoPort! > 0 && response.audioPort! > 0, "return ports");
      assert.deepEqual(
        [response.video!.key, response.video!.salt],
        [v.video.keys.key, v.video.keys.salt],
        "SRTP parameters echoed",
      );
      assert.notEqual(response.videoSsrc, response.audioSsrc);
      assert.equal(await v.streamingStatus(), 1, "in use");

      const started = source.streams.length;
      await v.start({ width: 1280, height: 720 });
      const stream = source.streams[started]!;
      assert.equal(stream.mode, "copy", "the camera's H.264 fits: copied");
      const request = source.requests[started]!;
      assert.deepEqual(
        [
          request.video.width,
          request.video.height,
          request.video.profile,
          request.video.level,
          request.video.payloadType,
        ],
        [1280, 720, "main", "4.0", VIDEO_PT],
      );

      const video = await v.decoded(20, "copy");
      assert.deepEqual([video.width, video.height], [1280, 720]);
      assert.ok(video.frames >= 20, `decoded ${video.frames} frames`);
      assert.equal(video.profile, "Main", "untouched: still the camera's main profile");
      assert.equal(v.video.authFailures, 0, "every authentication tag verifies");
      assert.ok(v.video.packets.every((p) => p.ssrc === response.videoSsrc && p.payloadType === VIDEO_PT));

      await v.audio.until(() => v.audio.packets.length >= 10, 5000, "Opus packets");
      assert.equal(v.audio.authFailures, 0);
      assert.ok(v.audio.packets.every((p) => p.payloadType === AUDIO_PT && p.ssrc === response.audioSsrc));
      assert.ok(
        v.audio.packets.every((p) => opusFrameMs(p.payload) === 20),
        "20 ms Opus frames",
      );

      // The tags really are checked: another key and a flipped bit both fail.
      const stranger = new SrtpReceiver({ key: randomBytes(16), salt: randomBytes(14) });
      for (const packet of v.video.raw.slice(0, 20)) assert.throws(() => stranger.unprotect(packet), /does not verify/);
      const tampered = Buffer.from(v.video.raw[5]!);
      tampered[20]! ^= 0x01;
      assert.throws(() => new SrtpReceiver(v.video.keys).unprotect(tampered), /does not verify/);

      await v.stop();
      assert.deepEqual(await stream.ended, { reason: "stopped" });
      assert.deepEqual(ffmpegChildren(), [], "no ffmpeg left");
      assert.equal(await v.streamingStatus(), 0, "available again");
    },
  );

  it("transcode mode at 640x360, then RECONFIGURE to 480x270 restarts the encoder at the new size", async () => {
    const v = await viewer(0);
    const started = source.streams.length;
    await v.start({ width: 640, height: 360 });
    const stream = source.streams[started]!;
    assert.equal(stream.mode, "transcode", "a smaller picture is re-encoded");
    const first = await v.decoded(15, "transcode");
    assert.deepEqual([first.width, first.height], [640, 360]);
    assert.ok(first.frames >= 15, `decoded ${first.frames} frames`);
    assert.equal(v.video.authFailures, 0);

    const reconfigured = new H264Depacketizer({ fromKeyframe: true });
    v.video.on("packet", (packet) => reconfigured.push(packet));
    await v.reconfigure({ width: 480, height: 270 }, 500);
    const second = await v.decoded(15, "reconfigured", reconfigured);
    assert.deepEqual([second.width, second.height], [480, 270]);
    assert.ok(second.frames >= 10, `decoded ${second.frames} frames after the reconfigure`);
    assert.equal(v.video.authFailures, 0, "the restarted encoder keeps the negotiated key and SSRC");
    assert.equal(ffmpegChildren().length, 1, "the old encoder is gone");

    await v.stop();
    await stream.ended;
    assert.deepEqual(ffmpegChildren(), []);
  });

  it("serves two viewers at once, each with its own keys; a third setup is told busy", async () => {
    const [a, b] = [await viewer(0), await viewer(1)];
    const started = source.streams.length;
    await a.start({ width: 1280, height: 720 });
    await b.start({ width: 1280, height: 720 });
    await ffmpegCount(2); // one ffmpeg per viewer
    await Promise.all([a, b].map((v) => v.video.until(() => v.frames >= 10, 10_000, "frames")));
    for (const v of [a, b]) assert.equal(v.video.authFailures, 0);
    assert.throws(
      () => new SrtpReceiver(b.video.keys).unprotect(a.video.raw[0]!),
      /does not verify/,
      "a's stream is not decryptable with b's key",
    );

    const busy = await viewer(0);
    assert.equal(busy.response.status, SETUP_STATUS.busy);

    await Promise.all([a.stop(), b.stop()]);
    await Promise.all(source.streams.slice(started).map((s) => s.ended));
    assert.deepEqual(ffmpegChildren(), []);
  });

  it("answers a snapshot with a JPEG of the requested size", async () => {
    const jpeg = await client.http.getImage(640, 360);
    assert.deepEqual(
      [jpeg[0], jpeg[1], jpeg.at(-2), jpeg.at(-1)],
      [0xff, 0xd8, 0xff, 0xd9],
      "JPEG start and end markers",
    );
    assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 });
  });

  it("ends HomeKit's session when ffmpeg dies, and the stream when the viewer's connection closes", async () => {
    const v = await viewer(0);
    const started = source.streams.length;
    await v.start({ width: 1280, height: 720 });
    await v.video.until(() => v.video.packets.length > 0, 5000, "first packet");
    const [pid] = await ffmpegCount(1);
    process.kill(pid!, "SIGKILL");
    const { reason } = await source.streams[started]!.ended;
    assert.match(reason, /SIGKILL/);
    // The delegate reacted to `ended` before this test could: HomeKit's side is free again.
    assert.equal(await v.streamingStatus(), 0, "session released");

    // A second controller connection starts a stream, then goes away without STOP.
    const other = new HapClient(client.port, client.pairingData);
    const w = await viewer(1, other);
    await w.start({ width: 1280, height: 720 });
    await w.video.until(() => w.video.packets.length > 0, 5000, "first packet on the second connection");
    await other.close();
    const { reason: closed } = await source.streams.at(-1)!.ended;
    assert.equal(closed, "stopped");
    assert.deepEqual(ffmpegChildren(), [], "ffmpeg gone with the connection");
  });

  it("a restart keeps the camera's setup code and pairing, and a configured camera port", async () => {
    const before = host.cameraPairings()[0]!;
    await client.close();
    await host.stop();
    const port = await freePort();
    host = new HomeKitHost({
      registry,
      log,
      dataDir: join(dir, "data"),
      name: "Hearthbridge Camera Test",
      port: 0,
      pincode: BRIDGE_PIN,
      advertiser: "none",
      cameraPort: port,
      cameras: { sourceFor: () => source },
    });
    await host.start();
    const now = host.cameraPairings()[0]!;
    assert.deepEqual([now.pincode, now.setupURI, now.paired], [before.pincode, before.setupURI, true]);
    assert.equal(now.port, port);
    const saved = JSON.parse(readFileSync(join(dir, "data", "homekit", "bridges.json"), "utf8")) as {
      cameras: Record<string, { username: string; port?: number; pincode: string }>;
    };
    const identity = saved.cameras[CAMERA_ID]!;
    assert.match(identity.username, /^([0-9A-F]{2}:){5}[0-9A-F]{2}$/);
    assert.deepEqual([identity.pincode, identity.port], [before.pincode, port], "kept in bridges.json");
    assert.deepEqual(
      readCameraPairings(join(dir, "data")),
      [
        {
          deviceId: CAMERA_ID,
          pincode: before.pincode,
          username: identity.username,
          port,
          setupURI: before.setupURI,
          pairedControllers: 1,
        },
      ],
      "what the pairing command shows",
    );
    client = new HapClient(port, client.pairingData);
    const [value] = await client.read(
      await client.find({
        service: Service.TemperatureSensor.UUID,
        characteristic: Characteristic.CurrentTemperature.UUID,
      }),
    );
    assert.equal(value, 21.5, "the old pairing still verifies");
  });
});
