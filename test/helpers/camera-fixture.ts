// What the HomeKit camera tests share: a camera device, a CameraSource that runs the real
// startLiveSession on a looping H.264 (main) + AAC FLV, and the controller's side of a HomeKit live
// view (SetupEndpoints, START / RECONFIGURE / END, SRTP receivers) on one hap-controller client.
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { Driver, DriverContext, DriverSink } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import type { CameraSource, LiveStream, LiveStreamRequest } from "../../src/core/camera.ts";
import { FfmpegProcess } from "../../src/media/ffmpeg.ts";
import { startLiveSession, type VideoRelayMode } from "../../src/media/live-session.ts";
import { FlvFileFrames } from "./flv-frames.ts";
import type { CharacteristicQuery, HapCharacteristic, HapClient } from "./hap-client.ts";
import { SrtpSink } from "./rtp-receiver.ts";
import { H264Depacketizer, probeH264, type DecodedVideo } from "./rtp-h264.ts";
import {
  AUDIO_CODEC_OPUS,
  parseSetupEndpointsResponse,
  parseStreamingStatus,
  selectedStreamConfiguration,
  setupEndpointsRequest,
  type SelectedVideo,
  type SetupEndpointsResponse,
} from "./camera-tlv.ts";

const execFileAsync = promisify(execFile);
const silent = pino({ level: "silent" });

export const CAMERA_ID = "nanit:cam-1";
export const SOURCE = { width: 1280, height: 720, fps: 15 };
export const VIDEO_PT = 99;
export const AUDIO_PT = 110;

export const cameraInfo: DeviceInfo = {
  id: CAMERA_ID,
  vendor: "nanit",
  account: "test",
  kind: "baby-camera",
  name: "Nursery Camera",
  manufacturer: "Nanit",
  model: "Nanit Pro",
  serialNumber: "CAM-0001",
  capabilities: {
    camera: { profiles: [SOURCE], audio: true },
    temperature: {},
    switches: { nightLight: { label: "Night Light", presentAs: "light" } },
  },
};

/** A driver that only lists devices. */
export class CameraDriver implements Driver {
  readonly vendor = "nanit";
  readonly accountName = "test";
  #sink: DriverSink | undefined;
  get sink(): DriverSink {
    if (!this.#sink) throw new Error("not started");
    return this.#sink;
  }
  async start(ctx: DriverContext): Promise<void> {
    this.#sink = ctx.sink;
  }
  async command(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** A few seconds of what a Nanit pushes: H.264 main (CABAC, so not baseline), 2 s GOP, AAC. */
export async function encodeSourceFlv(path: string): Promise<void> {
  await execFileAsync("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${SOURCE.width}x${SOURCE.height}:rate=${SOURCE.fps}`,
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=44100",
    "-t",
    "4",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-profile:v",
    "main",
    "-pix_fmt",
    "yuv420p",
    "-g",
    String(SOURCE.fps * 2),
    "-c:a",
    "aac",
    "-b:a",
    "64k",
    "-y",
    path,
  ]);
}

/** Copy mode's video relay in the camera tests: HEARTHBRIDGE_TEST_VIDEO_RELAY=ffmpeg runs the old path. */
export const TEST_VIDEO_RELAY: VideoRelayMode =
  process.env.HEARTHBRIDGE_TEST_VIDEO_RELAY === "ffmpeg" ? "ffmpeg" : "native";

/** The media layer's part, played by startLiveSession on a looping FLV file (its frames played in
 * real time in this process too, as the ingest has them, for the native video relay). */
export class FileCameraSource implements CameraSource {
  readonly deviceId = CAMERA_ID;
  readonly streams: LiveStream[] = [];
  readonly requests: LiveStreamRequest[] = [];
  readonly #file: string;
  #frames: FlvFileFrames | undefined;
  constructor(file: string) {
    this.#file = file;
  }
  async snapshot(width: number, height: number): Promise<Buffer> {
    const args = [
      "-hide_banner",
      "-loglevel",
      "error",
      "-i",
      this.#file,
      "-frames:v",
      "1",
      "-vf",
      `scale=${width}:${height}`,
      "-f",
      "image2pipe",
      "-c:v",
      "mjpeg",
      "pipe:1",
    ];
    const ffmpeg = new FfmpegProcess("ffmpeg", args, { label: "snapshot", log: silent, stdout: "pipe" });
    const chunks: Buffer[] = [];
    ffmpeg.child.stdout!.on("data", (chunk: Buffer) => chunks.push(chunk));
    const exit = await ffmpeg.exited;
    if (exit.code !== 0) throw new Error(`snapshot failed: ${exit.stderrTail.join(" | ")}`);
    return Buffer.concat(chunks);
  }
  async startLive(request: LiveStreamRequest): Promise<LiveStream> {
    this.requests.push(request);
    const stream = await startLiveSession({
      ffmpeg: "ffmpeg",
      input: {
        args: ["-re", "-stream_loop", "-1", "-i", this.#file],
        video: { ...SOURCE, profile: "main", level: "3.1" },
        audio: true,
        frames: (this.#frames ??= new FlvFileFrames(this.#file)),
      },
      request,
      transcode: "auto",
      videoRelay: TEST_VIDEO_RELAY,
      label: `live test #${this.streams.length + 1}`,
      log: silent,
    });
    this.streams.push(stream);
    return stream;
  }
}

/** ffmpeg processes whose parent is this test process (setpriv execs ffmpeg in place). */
export function ffmpegChildren(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === process.pid && comm === "ffmpeg") pids.push(Number(name));
  }
  return pids;
}

/** Width and height from a JPEG's start-of-frame marker. */
export function jpegSize(jpeg: Buffer): { width: number; height: number } {
  let offset = 2;
  while (offset + 9 < jpeg.length) {
    if (jpeg[offset] !== 0xff) throw new Error(`not a JPEG marker at ${offset}`);
    const marker = jpeg[offset + 1]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: jpeg.readUInt16BE(offset + 5), width: jpeg.readUInt16BE(offset + 7) };
    }
    offset += 2 + jpeg.readUInt16BE(offset + 2);
  }
  throw new Error("no start-of-frame marker");
}

/** The Opus frame duration in ms from a packet's TOC byte (RFC 6716 3.1). */
export function opusFrameMs(packet: Buffer): number {
  const config = packet[0]! >> 3;
  if (config < 12) return [10, 20, 40, 60][config % 4]!;
  if (config < 16) return [10, 20][config % 2]!;
  return [2.5, 5, 10, 20][config % 4]!;
}

export interface Size {
  width: number;
  height: number;
}

/** One live view as a HomeKit controller runs it on one RTP stream management service. */
export class Viewer {
  readonly sessionId = Buffer.from(randomUUID().replaceAll("-", ""), "hex");
  readonly depacketizer = new H264Depacketizer();
  readonly video: SrtpSink;
  readonly audio: SrtpSink;
  response!: SetupEndpointsResponse;
  #frames = 0;
  readonly #client: HapClient;
  readonly #find: (characteristic: string) => Promise<HapCharacteristic>;
  readonly #dir: string;

  private constructor(
    client: HapClient,
    find: (characteristic: string) => Promise<HapCharacteristic>,
    video: SrtpSink,
    audio: SrtpSink,
    dir: string,
  ) {
    this.video = video;
    this.audio = audio;
    this.#client = client;
    this.#find = find;
    this.#dir = dir;
    video.on("packet", (packet) => {
      this.depacketizer.push(packet);
      if (packet.marker) this.#frames++;
    });
  }

  /** SetupEndpoints on stream service `index` of an accessory (default: the only camera), read back. */
  static async setUp(
    client: HapClient,
    options: { index: number; dir: string; accessory?: CharacteristicQuery["accessory"] },
  ): Promise<Viewer> {
    const find = (characteristic: string) =>
      client.find({
        service: Service.CameraRTPStreamManagement.UUID,
        characteristic,
        index: options.index,
        ...(options.accessory !== undefined ? { accessory: options.accessory } : {}),
      });
    const viewer = new Viewer(client, find, await SrtpSink.open(), await SrtpSink.open(), options.dir);
    const setup = await find(Characteristic.SetupEndpoints.UUID);
    const { video, audio } = viewer;
    await client.write([
      setup,
      setupEndpointsRequest({
        sessionId: viewer.sessionId,
        address: "127.0.0.1",
        videoPort: video.port,
        audioPort: audio.port,
        video: video.keys,
        audio: audio.keys,
      }),
    ]);
    const [value] = await client.read(setup);
    viewer.response = parseSetupEndpointsResponse(value as string);
    return viewer;
  }

  /** Video frames completed so far (RTP marker bits). */
  get frames(): number {
    return this.#frames;
  }

  static videoParams(size: Size, maxBitrate = 1000): SelectedVideo {
    return {
      profile: "main",
      level: "4.0",
      width: size.width,
      height: size.height,
      fps: 15,
      payloadType: VIDEO_PT,
      ssrc: randomBytes(4).readUInt32BE(0),
      maxBitrate,
      rtcpInterval: 0.5,
      mtu: 1378,
    };
  }

  async start(size: Size): Promise<void> {
    const value = selectedStreamConfiguration({
      sessionId: this.sessionId,
      command: "start",
      video: Viewer.videoParams(size),
      audio: {
        codec: AUDIO_CODEC_OPUS,
        sampleRateKHz: 24,
        packetTimeMs: 20,
        payloadType: AUDIO_PT,
        ssrc: randomBytes(4).readUInt32BE(0),
        maxBitrate: 24,
        rtcpInterval: 5,
        comfortNoisePayloadType: 13,
      },
    });
    await this.#client.write([await this.#find(Characteristic.SelectedRTPStreamConfiguration.UUID), value]);
  }

  async reconfigure(size: Size, maxBitrate: number): Promise<void> {
    const value = selectedStreamConfiguration({
      sessionId: this.sessionId,
      command: "reconfigure",
      video: Viewer.videoParams(size, maxBitrate),
    });
    await this.#client.write([await this.#find(Characteristic.SelectedRTPStreamConfiguration.UUID), value]);
  }

  async stop(): Promise<void> {
    await this.#client.write([
      await this.#find(Characteristic.SelectedRTPStreamConfiguration.UUID),
      selectedStreamConfiguration({ sessionId: this.sessionId, command: "end" }),
    ]);
  }

  /** StreamingStatus of this viewer's service: 0 available, 1 in use. */
  async streamingStatus(): Promise<number> {
    const [value] = await this.#client.read(await this.#find(Characteristic.StreamingStatus.UUID));
    return parseStreamingStatus(value as string);
  }

  /** Wait for `frames` more video frames, then decode what `depacketizer` holds. */
  async decoded(frames: number, name: string, depacketizer = this.depacketizer): Promise<DecodedVideo> {
    const base = this.#frames;
    await this.video.until(() => this.#frames - base >= frames, 15_000, `${frames} video frames`);
    return probeH264(depacketizer.annexB(), join(this.#dir, `${name}.h264`));
  }

  close(): void {
    this.video.close();
    this.audio.close();
  }
}
