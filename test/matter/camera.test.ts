// A camera as its own Matter 1.5 node, end to end with real peers: a matter.js ServerNode that is both
// the controller (it commissions the camera over loopback) and a WebRtcTransportRequestor (the
// camera's Answer / Offer / End arrive on it as commands), plus a werift viewer. The camera's video is
// a real H.264 file played through the bridge's WebRTC sender; ffprobe decodes what the viewer got.
// Bad input (malformed SDP, unknown or foreign session ids, too many sessions, an ICE that never
// connects) is refused or timed out with the spec's status, logged once, and leaves nothing running.
// Run inside the loopback namespace: test/netns.sh node --test test/matter/camera.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Endpoint, Environment, ServerNode } from "@matter/main";
import { AccessControlServer } from "@matter/main/behaviors/access-control";
import { CameraAvStreamManagementClient } from "@matter/main/behaviors/camera-av-stream-management";
import { WebRtcTransportProviderClient } from "@matter/main/behaviors/web-rtc-transport-provider";
import { WebRtcTransportRequestorServer } from "@matter/main/behaviors/web-rtc-transport-requestor";
import { CameraAvStreamManagement } from "@matter/main/clusters/camera-av-stream-management";
import { WebRtcTransportDefinitions } from "@matter/main/clusters/web-rtc-transport-definitions";
import type { WebRtcTransportRequestor } from "@matter/main/clusters/web-rtc-transport-requestor";
import { CameraControllerDevice } from "@matter/main/devices/camera-controller";
import { EndpointNumber, Status, StatusResponseError, StreamUsage } from "@matter/main/types";
import type { ClientNode } from "@matter/main";
import { Seconds } from "@matter/main";
import { createLogger } from "../../src/core/logger.ts";
import type { StreamHubState } from "../../src/media/hub.ts";
import { WebRtcService, type WebRtcSettings } from "../../src/media/webrtc/service.ts";
import { MatterCameraNode } from "../../src/matter/camera/camera-node.ts";
import { configureMatter, environmentAt } from "../../src/matter/platform.ts";
import { encodeSourceFlv, ffmpegChildren, FileCameraSource, jpegSize, SOURCE } from "../helpers/camera-fixture.ts";
import { FlvFileFrames } from "../helpers/flv-frames.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { H264Depacketizer, probeH264 } from "../helpers/rtp-h264.ts";
import { TestViewer } from "../helpers/whep-client.ts";
import { waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run this test inside test/netns.sh (it commissions over mDNS)");

const CAMERA = "nanit:cam-1";
const PORT = 5593;
const PASSCODE = 20202031;
const DISCRIMINATOR = 3001;
const { WebRtcEndReason } = WebRtcTransportDefinitions;
const LOOPBACK: WebRtcSettings = { enabled: true, interfaces: ["127.0.0.1"], maxSessions: 2, connectTimeoutMs: 4_000 };

/** What the camera told the controller's requestor, in order. */
type RequestorCall =
  | { command: "offer"; request: WebRtcTransportRequestor.OfferRequest }
  | { command: "answer"; request: WebRtcTransportRequestor.AnswerRequest }
  | { command: "end"; request: WebRtcTransportRequestor.EndRequest };
const calls: RequestorCall[] = [];

class RecordingRequestor extends WebRtcTransportRequestorServer {
  override async offer(request: WebRtcTransportRequestor.OfferRequest): Promise<void> {
    calls.push({ command: "offer", request });
  }
  override async answer(request: WebRtcTransportRequestor.AnswerRequest): Promise<void> {
    calls.push({ command: "answer", request });
  }
  override async iceCandidates(): Promise<void> {}
  override async end(request: WebRtcTransportRequestor.EndRequest): Promise<void> {
    calls.push({ command: "end", request });
  }
}

class AlwaysReadyHub {
  acquired = 0;
  released = 0;
  acquire(): () => void {
    this.acquired++;
    let done = false;
    return () => {
      if (!done) this.released++;
      done = true;
    };
  }
  state(): StreamHubState {
    const at = Date.now();
    return {
      deviceId: CAMERA,
      name: "Nursery",
      watching: 0,
      keepWarm: false,
      active: true,
      publishing: true,
      bytesIn: 0,
      keyframeHeldAt: at,
      standby: false,
    };
  }
}

function statusOf(error: unknown): number | undefined {
  return error instanceof StatusResponseError ? error.code : undefined;
}

describe("a camera as a Matter 1.5 node (WebRTC live view, snapshots)", { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-matter-camera-"));
  const capture = new LogCapture();
  const log = createLogger("debug", { json: true, destination: capture });
  const hub = new AlwaysReadyHub();
  const viewers: TestViewer[] = [];
  let service: WebRtcService;
  let camera: MatterCameraNode;
  let controller: ServerNode;
  let peer: ClientNode;
  let requestorEndpoint: number;

  const streams = () =>
    peer.endpoints.require(1).commandsOf(CameraAvStreamManagementClient) as unknown as {
      videoStreamAllocate(r: object): Promise<{ videoStreamId: number }>;
      videoStreamDeallocate(r: object): Promise<void>;
      audioStreamAllocate(r: object): Promise<{ audioStreamId: number }>;
      snapshotStreamAllocate(r: object): Promise<{ snapshotStreamId: number }>;
      captureSnapshot(
        r: object,
      ): Promise<{ data: Uint8Array; imageCodec: number; resolution: { width: number; height: number } }>;
    };
  const provider = () =>
    peer.endpoints.require(1).commandsOf(WebRtcTransportProviderClient) as unknown as {
      provideOffer(r: object): Promise<{ webRtcSessionId: number }>;
      solicitOffer(r: object): Promise<{ webRtcSessionId: number; deferredOffer: boolean }>;
      provideAnswer(r: object): Promise<void>;
      provideIceCandidates(r: object): Promise<void>;
      endSession(r: object): Promise<void>;
    };
  const viewer = (options?: ConstructorParameters<typeof TestViewer>[0]) => {
    const v = new TestViewer(options);
    viewers.push(v);
    return v;
  };
  const nextCall = (command: RequestorCall["command"], sessionId: number) =>
    waitFor(() => calls.find((c) => c.command === command && c.request.webRtcSessionId === sessionId), 20_000, {
      message: `${command} for session ${sessionId}`,
    });

  before(async () => {
    configureMatter(log);
    Environment.default.vars.set("runtime.signals", false);
    const file = join(dir, "source.flv");
    await encodeSourceFlv(file);
    const frames = new FlvFileFrames(file);
    const source = new FileCameraSource(file);
    service = new WebRtcService({
      settings: LOOPBACK,
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
      log,
    });
    camera = new MatterCameraNode({
      deviceId: CAMERA,
      name: "Nursery",
      capability: { profiles: [SOURCE], audio: true },
      media: { snapshot: (_id, width, height) => source.snapshot(width, height), webrtc: service },
      log,
      storageRoot: join(dir, "matter-cameras"),
      port: PORT,
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
      answerTimeoutMs: 3_000,
    });
    await camera.start();

    controller = await ServerNode.create({
      id: "controller",
      environment: environmentAt("test-camera-controller", join(dir, "controller")),
      network: { port: PORT + 1, tcp: true },
      commissioning: { enabled: false },
      controller: { adminFabricLabel: "hearthbridge camera test" },
    } as never);
    const requestor = new Endpoint(CameraControllerDevice.with(RecordingRequestor), { id: "requestor" });
    await controller.add(requestor);
    await controller.start();
    requestorEndpoint = requestor.number;
    peer = await controller.peers.commission({
      passcode: PASSCODE,
      longDiscriminator: DISCRIMINATOR,
      timeout: Seconds(90),
    } as never);
    // The camera's commands to our requestor arrive as a CASE subject of the shared fabric: allow them.
    await controller.act("grant-camera", (agent) => {
      const acl = agent.get(AccessControlServer);
      const fabricIndex = acl.state.acl[0]?.fabricIndex ?? peer.state.commissioning.peerAddress!.fabricIndex;
      acl.state.acl = [
        ...acl.state.acl,
        {
          fabricIndex,
          privilege: 3,
          authMode: 2,
          subjects: [peer.state.commissioning.peerAddress!.nodeId],
          targets: null,
        },
      ] as never;
    });
  });

  after(async () => {
    await Promise.all(viewers.map((v) => v.close().catch(() => undefined)));
    await controller?.close().catch(() => undefined);
    await camera?.stop();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is a Camera with CameraAvStreamManagement (Video, Audio, Snapshot) and WebRtcTransportProvider", async () => {
    const ep = peer.endpoints.require(1);
    const descriptor = ep.stateOf("descriptor" as never) as { deviceTypeList: { deviceType: number }[] };
    assert.equal(descriptor.deviceTypeList[0]!.deviceType, 0x0142);
    const cavsm = ep.stateOf(CameraAvStreamManagementClient) as unknown as Record<string, unknown>;
    const sensor = cavsm.videoSensorParams as { sensorWidth: number; sensorHeight: number; maxFps: number };
    assert.deepEqual(
      [sensor.sensorWidth, sensor.sensorHeight, sensor.maxFps],
      [SOURCE.width, SOURCE.height, SOURCE.fps],
    );
    assert.deepEqual(cavsm.supportedStreamUsages, [StreamUsage.LiveView]);
    const features = (cavsm.featureMap ?? {}) as Record<string, boolean>;
    assert.ok(features.video && features.audio && features.snapshot, "Video, Audio and Snapshot");
    const dirMode = statSync(join(dir, "matter-cameras")).mode & 0o777;
    assert.equal(dirMode, 0o700, "the camera's storage is private");
  });

  it("allocates the one video and audio stream; refuses what it cannot send with the spec's status", async () => {
    const video = {
      streamUsage: StreamUsage.LiveView,
      videoCodec: CameraAvStreamManagement.VideoCodec.H264,
      minFrameRate: 5,
      maxFrameRate: 30,
      minResolution: { width: 640, height: 360 },
      maxResolution: { width: 1920, height: 1080 },
      minBitRate: 200_000,
      maxBitRate: 4_000_000,
      keyFrameInterval: 2000,
    };
    const { videoStreamId } = await streams().videoStreamAllocate(video);
    assert.equal(
      (await streams().videoStreamAllocate(video)).videoStreamId,
      videoStreamId,
      "one encoder: the same stream",
    );
    await assert.rejects(
      streams().videoStreamAllocate({ ...video, videoCodec: CameraAvStreamManagement.VideoCodec.Hevc }),
      (e) => statusOf(e) === Status.DynamicConstraintError,
    );
    await assert.rejects(
      streams().videoStreamAllocate({
        ...video,
        minResolution: { width: 3840, height: 2160 },
        maxResolution: { width: 3840, height: 2160 },
      }),
      (e) => statusOf(e) === Status.DynamicConstraintError,
    );
    await assert.rejects(
      streams().videoStreamDeallocate({ videoStreamId: 77 }),
      (e) => statusOf(e) === Status.NotFound,
    );
    const audio = {
      streamUsage: StreamUsage.LiveView,
      audioCodec: CameraAvStreamManagement.AudioCodec.Opus,
      channelCount: 1,
      sampleRate: 48_000,
      bitRate: 32_000,
      bitDepth: 16,
    };
    assert.equal((await streams().audioStreamAllocate(audio)).audioStreamId, 1);
  });

  it("CaptureSnapshot answers a JPEG of the asked size from the held keyframe", async () => {
    await assert.rejects(
      streams().captureSnapshot({ snapshotStreamId: null, requestedResolution: { width: 640, height: 360 } }),
      (e) => statusOf(e) === Status.NotFound,
      "no snapshot stream yet",
    );
    const { snapshotStreamId } = await streams().snapshotStreamAllocate({
      imageCodec: CameraAvStreamManagement.ImageCodec.Jpeg,
      maxFrameRate: 1,
      minResolution: { width: 320, height: 180 },
      maxResolution: { width: 1280, height: 720 },
      quality: 80,
    });
    const shot = await streams().captureSnapshot({
      snapshotStreamId,
      requestedResolution: { width: 640, height: 360 },
    });
    const jpeg = Buffer.from(shot.data);
    assert.equal(jpeg.readUInt16BE(0), 0xffd8, "a JPEG");
    assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 });
    assert.deepEqual({ ...shot.resolution }, { width: 640, height: 360 });
    await assert.rejects(
      streams().captureSnapshot({ snapshotStreamId: 9, requestedResolution: { width: 640, height: 360 } }),
      (e) => statusOf(e) === Status.NotFound,
    );
  });

  it("ProvideOffer: answer reaches the requestor, RTP decodes at the camera's size; EndSession ends it", async () => {
    const client = viewer();
    const { webRtcSessionId } = await provider().provideOffer({
      webRtcSessionId: null,
      sdp: await client.offer(),
      streamUsage: StreamUsage.LiveView,
      originatingEndpointId: EndpointNumber(requestorEndpoint),
      videoStreams: [1],
      audioStreams: [1],
    });
    const answer = await nextCall("answer", webRtcSessionId);
    await client.accept((answer.request as WebRtcTransportRequestor.AnswerRequest).sdp);
    await waitFor(() => client.video.filter((p) => p.marker).length >= 20, 30_000, { message: "20 video frames" });
    await waitFor(() => client.audio.length >= 5, 30_000, { message: "Opus packets" });
    const depacketizer = new H264Depacketizer();
    for (const p of client.video) depacketizer.push(p);
    const decoded = await probeH264(depacketizer.annexB(), join(dir, "matter.h264"));
    assert.equal(decoded.width, SOURCE.width);
    assert.equal(decoded.height, SOURCE.height);
    assert.ok(decoded.frames >= 15, `decoded ${decoded.frames} frames`);
    assert.deepEqual(
      camera.link.sessions.attribute().map((s) => s.id),
      [webRtcSessionId],
    );

    await provider().endSession({ webRtcSessionId, reason: WebRtcEndReason.UserHangup });
    await waitFor(() => service.sessions === 0, 10_000, { message: "the viewer stops" });
    assert.equal(camera.link.sessions.size, 0);
    assert.equal(hub.acquired, hub.released, "the camera is let go");
    assert.equal(
      calls.filter((c) => c.command === "end" && c.request.webRtcSessionId === webRtcSessionId).length,
      0,
      "no End back to the one that ended it",
    );
  });

  it("SolicitOffer: our offer reaches the requestor; its ProvideAnswer connects the viewer", async () => {
    const client = new TestViewer();
    viewers.push(client);
    const { webRtcSessionId, deferredOffer } = await provider().solicitOffer({
      streamUsage: StreamUsage.LiveView,
      originatingEndpointId: EndpointNumber(requestorEndpoint),
      videoStreams: [1],
    });
    assert.equal(deferredOffer, false);
    const offer = await nextCall("offer", webRtcSessionId);
    await client.pc.setRemoteDescription({
      type: "offer",
      sdp: (offer.request as WebRtcTransportRequestor.OfferRequest).sdp,
    });
    await client.pc.setLocalDescription(await client.pc.createAnswer());
    await waitFor(() => client.pc.iceGatheringState === "complete", 10_000);
    await provider().provideAnswer({ webRtcSessionId, sdp: client.pc.localDescription!.sdp });
    await waitFor(() => client.video.filter((p) => p.marker).length >= 10, 30_000, { message: "video frames" });
    await provider().endSession({ webRtcSessionId, reason: WebRtcEndReason.UserHangup });
    await waitFor(() => service.sessions === 0, 10_000);
  });

  it("refuses malformed SDP, unknown sessions, one too many; an ICE that never connects ends: IceTimeout", async () => {
    const base = {
      webRtcSessionId: null,
      streamUsage: StreamUsage.LiveView,
      originatingEndpointId: EndpointNumber(requestorEndpoint),
      videoStreams: [1],
    };
    const before = capture.lines.length;
    await assert.rejects(
      provider().provideOffer({ ...base, sdp: "hello" }),
      (e) => statusOf(e) === Status.InvalidCommand,
    );
    assert.equal(capture.lines.slice(before).filter((l) => /refused/.test(l.msg)).length, 1, "logged once");
    await assert.rejects(
      provider().provideOffer({ ...base, videoStreams: [42], sdp: await viewer().offer() }),
      (e) => statusOf(e) === Status.DynamicConstraintError,
    );
    for (const call of [
      () => provider().endSession({ webRtcSessionId: 999, reason: WebRtcEndReason.UserHangup }),
      () =>
        provider().provideIceCandidates({
          webRtcSessionId: 999,
          iceCandidates: [{ candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0", sdpmLineIndex: 0 }],
        }),
      () => provider().provideAnswer({ webRtcSessionId: 999, sdp: "v=0" }),
    ])
      await assert.rejects(call(), (e) => statusOf(e) === Status.NotFound);

    // Two views are the limit (media.webrtc.maxSessions); neither viewer answers: ICE never connects.
    const first = await provider().provideOffer({ ...base, sdp: await viewer().offer() });
    const second = await provider().provideOffer({ ...base, sdp: await viewer().offer() });
    await assert.rejects(
      provider().provideOffer({ ...base, sdp: await viewer().offer() }),
      (e) => statusOf(e) === Status.ResourceExhausted,
    );
    for (const { webRtcSessionId } of [first, second]) {
      const end = await nextCall("end", webRtcSessionId);
      assert.equal((end.request as WebRtcTransportRequestor.EndRequest).reason, WebRtcEndReason.IceTimeout);
    }
    await waitFor(() => service.sessions === 0 && camera.link.sessions.size === 0, 10_000, { message: "nothing left" });
    await waitFor(() => ffmpegChildren().length === 0, 10_000, { message: "no ffmpeg left" });
    assert.equal(hub.acquired, hub.released);
  });
});
