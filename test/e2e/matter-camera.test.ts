// A Matter camera through the whole bridge process: the bridge from its CLI with `matter.cameras: true`
// and no account; the Nanit account (simulator) is added on the web page after start, so the camera
// is found after start and gets its node then. Its pairing code is read from the log and commissioned
// by a matter.js controller hosting a WebRtcTransportRequestor (test/helpers/matter-camera-rig.ts).
// ProvideOffer from a werift viewer plays the simulator's real RTMP push (ffprobe decodes it at the
// simulator's resolution); CaptureSnapshot gives a JPEG of the asked size; EndSession lets the camera
// go (the simulator is told to stop pushing once the hub's linger is over); removing the account on
// the page stops the camera's node. Runs inside test/netns.sh (commissioning needs mDNS on lo).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CameraAvStreamManagement } from "@matter/main/clusters/camera-av-stream-management";
import { WebRtcTransportDefinitions } from "@matter/main/clusters/web-rtc-transport-definitions";
import type { WebRtcTransportRequestor } from "@matter/main/clusters/web-rtc-transport-requestor";
import { EndpointNumber, StreamUsage } from "@matter/main/types";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { STREAM_PROFILES } from "../../sim/nanit/stream.ts";
import { jpegSize } from "../helpers/camera-fixture.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { CameraControllerRig } from "../helpers/matter-camera-rig.ts";
import { H264Depacketizer, probeH264 } from "../helpers/rtp-h264.ts";
import { TestViewer } from "../helpers/whep-client.ts";
import { waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test commissions over mDNS");

const PASSWORD = "a page password for cameras";
/** The hub's linger after the last viewer, shortened for this test (30 s in real use). */
const LINGER_MS = 1500;
const { WebRtcEndReason } = WebRtcTransportDefinitions;

/** Whether a UDP port on :: can be bound (the camera node's port is free once the node stopped). */
async function udpPortFree(port: number): Promise<boolean> {
  const socket = createSocket({ type: "udp6", reuseAddr: false });
  return new Promise((resolve) => {
    socket.once("error", () => resolve(false));
    socket.bind(port, "::", () => socket.close(() => resolve(true)));
  });
}

describe("a Matter camera through the bridge process (matter.cameras: true)", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-matter-camera-"));
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000], streamProfile: "720p" });
  const deviceId = `nanit:${sim.babies[0]!.cameraUid}`;
  const lines: LogLine[] = [];
  const streamEvents: string[] = [];
  let bridge: BridgeProcess;
  let base: string;
  let cookie = "";
  let rig: CameraControllerRig | undefined;
  let cameraPort: number;
  const viewers: TestViewer[] = [];

  const watching = async () =>
    (
      (await (await fetch(`${base}/health`)).json()) as { cameras?: { deviceId: string; watching: number }[] }
    ).cameras?.find((c) => c.deviceId === deviceId)?.watching;
  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${base}${path}`, {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams(fields).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie, Origin: base },
    });

  before(async () => {
    const urls = await sim.start();
    for (const type of ["stream-start", "stream-stop"] as const) sim.on(type, () => streamEvents.push(type));
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Matter Camera Bridge",
      discriminator: 3845,
      matter: { cameras: true },
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      media: { webrtc: { interfaces: ["127.0.0.1"] } },
      accounts: [],
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_WEB_PASSWORD: PASSWORD,
      HEARTHBRIDGE_TEST_HUB_LINGER_MS: String(LINGER_MS),
    });
    bridge.on("line", (l) => lines.push(l));
    const web = await bridge.waitForLine((l) => l.event === "web", 60_000);
    base = `http://127.0.0.1:${web.port as number}`;
    await bridge.ready(60_000);
    const login = await form("/login", { password: PASSWORD });
    cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    assert.match(cookie, /=/, "logged in to the page");
    // The camera's account arrives after start, as on a first visit.
    const added = await form("/accounts", {
      vendor: "nanit",
      name: "nursery",
      email: sim.email,
      password: sim.password,
      settings: JSON.stringify({ endpoints: { api: urls.apiUrl, websocket: urls.wsUrl } }),
    });
    assert.equal(added.status, 303, "the account form is taken");
  });

  after(async () => {
    const problems = lines.filter((l) => l.level >= 50).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge errors:\n${problems.join("\n")}\n`);
    await Promise.all(viewers.map((v) => v.close().catch(() => undefined)));
    await rig?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the camera found after start gets its node; its logged pairing code commissions it", async () => {
    const codes = await bridge.waitForLine(
      (l) => l.device === deviceId && typeof l.manualPairingCode === "string",
      60_000,
    );
    cameraPort = codes.port as number;
    rig = await CameraControllerRig.commission({
      dir,
      port: cameraPort + 100,
      camera: { pairingCode: codes.manualPairingCode as string },
    });
    const ep = rig.peer.endpoints.require(1);
    const descriptor = ep.stateOf("descriptor" as never) as { deviceTypeList: { deviceType: number }[] };
    assert.equal(descriptor.deviceTypeList[0]!.deviceType, 0x0142, "a Camera");
  });

  it("ProvideOffer plays the camera's push at its resolution; EndSession lets the camera go", async () => {
    assert.ok(rig, "commissioned");
    const { videoStreamId } = await rig.streams().videoStreamAllocate({
      streamUsage: StreamUsage.LiveView,
      videoCodec: CameraAvStreamManagement.VideoCodec.H264,
      minFrameRate: 5,
      maxFrameRate: 30,
      minResolution: { width: 640, height: 360 },
      maxResolution: { width: 1920, height: 1080 },
      minBitRate: 200_000,
      maxBitRate: 4_000_000,
      keyFrameInterval: 2000,
    });
    const client = new TestViewer({ audio: false });
    viewers.push(client);
    const startsBefore = streamEvents.filter((e) => e === "stream-start").length;
    const { webRtcSessionId } = await rig.provider().provideOffer({
      webRtcSessionId: null,
      sdp: await client.offer(),
      streamUsage: StreamUsage.LiveView,
      originatingEndpointId: EndpointNumber(rig.requestorEndpoint),
      videoStreams: [videoStreamId],
    });
    const answer = await rig.nextCall("answer", webRtcSessionId, 30_000);
    await client.accept((answer.request as WebRtcTransportRequestor.AnswerRequest).sdp);
    await waitFor(() => client.video.filter((p) => p.marker).length >= 20, 60_000, { message: "20 video frames" });
    assert.ok(streamEvents.filter((e) => e === "stream-start").length > startsBefore, "the camera was asked to push");
    const depacketizer = new H264Depacketizer({ fromKeyframe: true });
    for (const p of client.video) depacketizer.push(p);
    const decoded = await probeH264(depacketizer.annexB(), join(dir, "matter.h264"));
    const { width, height } = STREAM_PROFILES["720p"];
    assert.deepEqual([decoded.width, decoded.height], [width, height], "the simulator's resolution");
    assert.ok(decoded.frames >= 10, `decoded ${decoded.frames} frames`);
    assert.equal(await watching(), 1, "the Matter view holds the camera");

    const stopsBefore = streamEvents.filter((e) => e === "stream-stop").length;
    await rig.provider().endSession({ webRtcSessionId, reason: WebRtcEndReason.UserHangup });
    await waitFor(() => streamEvents.filter((e) => e === "stream-stop").length > stopsBefore, 30_000, {
      on: [[sim, "stream-stop"]],
      message: "the simulator told to stop pushing",
    });
    assert.equal(await watching(), 0, "no viewer holds the camera");
  });

  it("CaptureSnapshot answers a JPEG of the asked size", async () => {
    assert.ok(rig, "commissioned");
    const { snapshotStreamId } = await rig.streams().snapshotStreamAllocate({
      imageCodec: CameraAvStreamManagement.ImageCodec.Jpeg,
      maxFrameRate: 1,
      minResolution: { width: 320, height: 180 },
      maxResolution: { width: 1280, height: 720 },
      quality: 80,
    });
    const shot = await rig.streams().captureSnapshot({
      snapshotStreamId,
      requestedResolution: { width: 640, height: 360 },
    });
    const jpeg = Buffer.from(shot.data);
    assert.equal(jpeg.readUInt16BE(0), 0xffd8, "a JPEG");
    assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 });
  });

  it("removing the account on the page stops the camera's node", async () => {
    assert.ok(cameraPort, "the node ran");
    assert.equal(await udpPortFree(cameraPort), false, "the node listens");
    const removed = await form("/accounts/nursery/remove", {});
    assert.equal(removed.status, 303);
    await bridge.waitForLine((l) => l.device === deviceId && /Matter camera .* stopped/.test(l.msg), 30_000);
    assert.equal(await udpPortFree(cameraPort), true, "the node's port is closed");
  });
});
