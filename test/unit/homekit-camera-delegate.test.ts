// The HomeKit streaming delegate on its own, with a fake CameraSource: how HAP's requests map onto
// LiveStreamRequests, and the failure modes (STOP during a slow start, a stream that dies, a viewer
// that goes silent, a suite we never offered). Return ports are real UDP sockets on 127.0.0.1.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { pino } from "pino";
import type {
  CameraController,
  PrepareStreamRequest,
  PrepareStreamResponse,
  StreamingRequest,
} from "@homebridge/hap-nodejs";
import type { CameraSource, LiveStream, LiveStreamRequest, LiveStreamVideo } from "../../src/core/camera.ts";
import { HomeKitCameraDelegate } from "../../accessories/camera/homekit-delegate.ts";
import { waitFor } from "../helpers/wait.ts";

const log = pino({ level: "silent" });

class FakeStream implements LiveStream {
  readonly id = "s";
  readonly mode = "copy" as const;
  readonly ended: Promise<{ reason: string }>;
  readonly reconfigures: Partial<LiveStreamVideo>[] = [];
  stops = 0;
  end!: (reason: string) => void;
  constructor() {
    this.ended = new Promise((done) => {
      this.end = (reason) => done({ reason });
    });
  }
  async reconfigure(video: Partial<LiveStreamVideo>): Promise<void> {
    this.reconfigures.push(video);
  }
  async stop(): Promise<void> {
    this.stops++;
    this.end("stopped");
  }
}

class FakeSource implements CameraSource {
  readonly deviceId = "cam";
  readonly requests: LiveStreamRequest[] = [];
  readonly streams: FakeStream[] = [];
  /** Hold startLive until released (a cold camera). */
  gate: Promise<void> | undefined;
  async snapshot(): Promise<Buffer> {
    return Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
  }
  async startLive(request: LiveStreamRequest): Promise<LiveStream> {
    this.requests.push(request);
    await this.gate;
    const stream = new FakeStream();
    this.streams.push(stream);
    return stream;
  }
}

function prepareRequest(sessionID: string, suite = 0): PrepareStreamRequest {
  const source = () => ({ port: 40000, srtpCryptoSuite: suite, srtp_key: randomBytes(16), srtp_salt: randomBytes(14) });
  return {
    sessionID,
    sourceAddress: "127.0.0.1",
    targetAddress: "127.0.0.1",
    addressVersion: "ipv4",
    video: source() as PrepareStreamRequest["video"],
    audio: source() as PrepareStreamRequest["audio"],
  };
}

function startRequest(sessionID: string): StreamingRequest {
  return {
    sessionID,
    type: "start",
    video: {
      codec: 0,
      profile: 2,
      level: 1,
      packetizationMode: 0,
      width: 640,
      height: 360,
      fps: 30,
      pt: 99,
      ssrc: 1,
      max_bit_rate: 299,
      rtcp_interval: 0.5,
      mtu: 1378,
    },
    audio: {
      codec: "OPUS",
      channel: 1,
      bit_rate: 0,
      sample_rate: 16,
      packet_time: 20,
      pt: 110,
      ssrc: 2,
      max_bit_rate: 24,
      rtcp_interval: 5,
      comfort_pt: 13,
      comfortNoiseEnabled: false,
    },
  } as unknown as StreamingRequest;
}

const request = (sessionID: string, type: "stop" | "reconfigure", video?: object) =>
  ({ sessionID, type, ...(video ? { video } : {}) }) as unknown as StreamingRequest;

function setup(options: { audio?: boolean; rtcpTimeoutMs?: number } = {}) {
  const source = new FakeSource();
  const delegate = new HomeKitCameraDelegate({
    name: "cam",
    source,
    audio: options.audio ?? true,
    log,
    rtcpTimeoutMs: options.rtcpTimeoutMs,
  });
  const forced: string[] = [];
  delegate.controller = { forceStopStreamingSession: (id: string) => forced.push(id) } as unknown as CameraController;
  const prepare = (r: PrepareStreamRequest) =>
    new Promise<PrepareStreamResponse>((resolve, reject) =>
      delegate.prepareStream(r, (error, response) => (error ? reject(error) : resolve(response!))),
    );
  const stream = (r: StreamingRequest) =>
    new Promise<void>((resolve, reject) =>
      delegate.handleStreamRequest(r, (error) => (error ? reject(error) : resolve())),
    );
  return { source, delegate, forced, prepare, stream };
}

describe("HomeKit camera delegate", () => {
  it(
    "answers SetupEndpoints with its own ports and SSRCs and echoes the keys; " + "START becomes a LiveStreamRequest",
    async () => {
      const { source, delegate, prepare, stream } = setup();
      const r = prepareRequest("s1");
      const response = await prepare(r);
      const video = response.video as { port: number; ssrc: number; srtp_key: Buffer };
      const audio = response.audio as { port: number; ssrc: number; srtp_key: Buffer };
      assert.ok(video.port > 0 && audio.port > 0 && video.port !== audio.port);
      assert.notEqual(video.ssrc, audio.ssrc);
      assert.deepEqual(video.srtp_key, r.video.srtp_key);

      await stream(startRequest("s1"));
      const live = source.requests[0]!;
      assert.deepEqual(live.target, {
        address: "127.0.0.1",
        videoPort: 40000,
        videoSrtpKey: r.video.srtp_key,
        videoSrtpSalt: r.video.srtp_salt,
        videoSsrc: video.ssrc,
        audioPort: 40000,
        audioSrtpKey: r.audio.srtp_key,
        audioSrtpSalt: r.audio.srtp_salt,
        audioSsrc: audio.ssrc,
      });
      assert.deepEqual(live.video, {
        width: 640,
        height: 360,
        fps: 30,
        maxBitrate: 299,
        payloadType: 99,
        mtu: 1378,
        profile: "high",
        level: "3.2",
      });
      assert.deepEqual(live.audio, {
        codec: "opus",
        sampleRateKHz: 16,
        channels: 1,
        maxBitrate: 24,
        payloadType: 110,
        packetTimeMs: 20,
      });

      await stream(
        request("s1", "reconfigure", { width: 320, height: 240, fps: 15, max_bit_rate: 132, rtcp_interval: 0.5 }),
      );
      assert.deepEqual(source.streams[0]!.reconfigures, [{ width: 320, height: 240, fps: 15, maxBitrate: 132 }]);
      await stream(request("s1", "stop"));
      assert.equal(source.streams[0]!.stops, 1);
      assert.equal(delegate.sessions, 0);
    },
  );

  it("a camera without audio gets video only", async () => {
    const { source, prepare, stream } = setup({ audio: false });
    const response = await prepare(prepareRequest("s1"));
    assert.equal(response.audio, undefined);
    await stream(startRequest("s1"));
    assert.equal(source.requests[0]!.audio, undefined);
    assert.equal(source.requests[0]!.target.audioPort, undefined);
    await stream(request("s1", "stop"));
  });

  it("refuses an SRTP suite it never offered", async () => {
    const { prepare, delegate } = setup();
    await assert.rejects(prepare(prepareRequest("s1", 1)), /only AES_CM_128_HMAC_SHA1_80/);
    assert.equal(delegate.sessions, 0);
  });

  it("STOP while the camera is still starting stops the stream as soon as it exists", async () => {
    const { source, prepare, stream } = setup();
    let release!: () => void;
    source.gate = new Promise((done) => {
      release = done;
    });
    await prepare(prepareRequest("s1"));
    const starting = stream(startRequest("s1"));
    await waitFor(() => source.requests.length === 1);
    await Promise.all([stream(request("s1", "stop")), (async () => release())()]);
    await starting;
    assert.equal(source.streams[0]!.stops, 1, "no stream left running");
  });

  it("a stream that dies releases HomeKit's session", async () => {
    const { source, forced, prepare, stream, delegate } = setup();
    await prepare(prepareRequest("s1"));
    await stream(startRequest("s1"));
    source.streams[0]!.end("ffmpeg exited with code 1");
    await waitFor(() => forced.length === 1);
    assert.deepEqual(forced, ["s1"]);
    assert.equal(delegate.sessions, 0);
  });

  it("a viewer whose RTCP stops is dropped; one that never sent RTCP is not", async () => {
    const { source, forced, prepare, stream } = setup({ rtcpTimeoutMs: 300 });
    const response = await prepare(prepareRequest("s1"));
    await stream(startRequest("s1"));
    const socket = createSocket("udp4");
    socket.send(Buffer.from([0x80, 0xc9, 0, 1, 0, 0, 0, 1]), (response.video as { port: number }).port, "127.0.0.1");
    await waitFor(() => forced.length === 1, 3000, { message: "dropped after the RTCP timeout" });
    assert.equal(source.streams[0]!.stops, 1);
    socket.close();

    await prepare(prepareRequest("s2"));
    await stream(startRequest("s2"));
    const quiet = source.streams[1]!;
    await assert.rejects(
      waitFor(() => quiet.stops > 0, 600),
      /timed out/,
      "no RTCP ever: the timeout is not armed",
    );
    await stream(request("s2", "stop"));
  });
});
