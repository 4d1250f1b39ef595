// `homekit.cameras: bridged`: the camera stays on the bridge (no setup code of its own) with its
// CameraController, streams and snapshots through the bridge's connection, and a bridge stop ends
// its streams. Runs in the loopback-only namespace.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Service } from "@homebridge/hap-nodejs";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { HomeKitHost } from "../../src/homekit/index.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { SETUP_STATUS } from "../helpers/camera-tlv.ts";
import {
  CAMERA_ID,
  CameraDriver,
  cameraInfo,
  encodeSourceFlv,
  ffmpegChildren,
  FileCameraSource,
  jpegSize,
  Viewer,
} from "../helpers/camera-fixture.ts";

const log = pino({ level: "silent" });
const PIN = "031-45-154";

describe("HomeKit camera on the bridge (homekit.cameras: bridged)", () => {
  const dir = mkdtempSync(join(tmpdir(), "hearthbridge-camera-bridged-"));
  const flv = join(dir, "source.flv");
  const registry = new DeviceRegistry(log);
  const driver = new CameraDriver();
  const source = new FileCameraSource(flv);
  let host: HomeKitHost;
  let client: HapClient;
  let aid: number;
  const viewers: Viewer[] = [];

  before(async () => {
    await encodeSourceFlv(flv);
    await driver.start({ sink: registry.sinkFor(driver), log, store: JsonStore.in(dir, "account") });
    driver.sink.deviceFound(cameraInfo, { temperature: 20, switches: { nightLight: true } });
    host = new HomeKitHost({
      registry,
      log,
      dataDir: join(dir, "data"),
      name: "Hearthbridge Test",
      port: 0,
      pincode: PIN,
      advertiser: "none",
      cameras: { sourceFor: (id) => (id === CAMERA_ID ? source : undefined) },
      cameraMode: "bridged",
    });
    await host.start();
    client = await HapClient.pair(host.port, PIN);
    aid = (await client.accessory({ serial: "CAM-0001" })).aid;
  });

  after(async () => {
    for (const v of viewers) v.close();
    await client?.close();
    await host?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the camera on the bridge with its stream services, sensors and switches", async () => {
    assert.deepEqual(host.cameraPairings(), [], "no accessory of its own");
    assert.equal(host.bridges[0]!.accessories, 1);
    const camera = await client.accessory(aid);
    const types = camera.services.map((s) => s.type);
    assert.equal(types.filter((t) => t === Service.CameraRTPStreamManagement.UUID).length, 2);
    for (const service of [Service.TemperatureSensor, Service.Lightbulb])
      assert.ok(types.includes(service.UUID), `has ${service.name}`);
  });

  it("streams SRTP that verifies and decodes, and answers snapshots by aid", async () => {
    const v = await Viewer.setUp(client, { index: 0, dir, accessory: aid });
    viewers.push(v);
    assert.equal(v.response.status, SETUP_STATUS.success);
    await v.start({ width: 1280, height: 720 });
    const video = await v.decoded(10, "bridged");
    assert.deepEqual([video.width, video.height], [1280, 720]);
    assert.ok(video.frames >= 10);
    assert.equal(v.video.authFailures, 0);

    const jpeg = await client.http.getImage(320, 180, aid);
    assert.deepEqual(jpegSize(jpeg), { width: 320, height: 180 });
  });

  it("a bridge stop ends the running stream: no ffmpeg outlives the host", async () => {
    assert.equal(ffmpegChildren().length, 1, "the stream from the previous test still runs");
    const stream = source.streams.at(-1)!;
    await host.stop();
    assert.deepEqual(await stream.ended, { reason: "stopped" });
    assert.deepEqual(ffmpegChildren(), []);
  });
});
