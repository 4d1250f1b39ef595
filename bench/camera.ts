// Nanit live view in HomeKit (issue 5): how fast a picture appears, what a stream costs, and the same
// source through homebridge-camera-ffmpeg 3.1.4 in the same run. Figures are printed, not asserted.
//
// The camera is the Nanit simulator's (sim/nanit): ffmpeg pushing testsrc2 1280x720 15 fps,
// H.264 main, 2 s GOP, AAC, over RTMP.
//
// Ours: the bridge's pieces in a child process (bench/_camera-bridge.ts: config, Nanit driver, media
// layer, HomeKit host; camera as its own accessory, hub linger 250 ms, snapshot cache off), logged in
// to the simulator (no MFA), media.rtmpHost 127.0.0.1.
// Baseline: homebridge-camera-ffmpeg 3.1.4 in a child process on a Homebridge API shim
// (bench/_homebridge-shim.ts), configured like its README's first example (source "-i <rtmp url>",
// maxStreams 2, maxWidth 1280, maxHeight 720, maxFPS 30; no stillImageSource since a Nanit has none;
// vcodec left at its default libx264 with its default "-preset ultrafast -tune zerolatency"; audio
// left at its default off; unbridge, as its README advises for cameras and as ours is published;
// videoProcessor /usr/bin/ffmpeg since the ffmpeg-for-homebridge download is not installed). Its
// source is the same simulated camera pushing to a plain RTMP server (bench/_rtmp-relay.ts:
// node-media-server's RTMP session with its GOP cache) that the plugin reads with `-i rtmp://...`.
//
// Both are driven by the same hap-controller client code and the same receiver: SetupEndpoints,
// then t0 = the START write (SelectedRTPStreamConfiguration); t1 = the RTP packet that completes the
// first access unit holding an IDR slice preceded by SPS and PPS, every packet's SRTP tag verified
// with the negotiated key and decrypted (test/helpers/srtp.ts), depacketized (rtp-h264.ts). After each
// run ffprobe decodes what arrived (outside the timed path).
//   warm: the camera already pushes (ours: keep-warm on). cold: ours = the camera not pushing (the hub
//   stopped it after its linger), START makes the bridge send PUT_STREAMING and wait for the push;
//   the simulated camera's own connect time (--publish-delay-ms, default 0) adds to that one for one.
//   The baseline cannot ask a camera to start: its "cold" is its own ffmpeg start with the source
//   already up, which is the same measurement as its warm one (one set of runs serves both ratios).
// Snapshots: hap-controller getImage (HAP /resource) 640x360; the plugin caches a snapshot for 3 s
// after it was taken, so its requests are spaced past that.
// CPU and memory per stream: utime+stime of the ffmpeg children of the bridge (resp. the plugin's
// process) over --cpu-seconds, after 3 s of streaming; VmRSS at the end. Copy mode: 1280x720 asked of
// the 720p camera; transcode: 640x360. Ours also once with no audio asked (the controller picks a
// codec we do not serve), which shows the video copy alone.
// Ours runs with media.videoRelay native (the bridge sends copy mode's video itself; ffmpeg only
// transcodes the audio): the relay's CPU is the bridge process's own, so it is measured as the
// bridge's CPU with one video-only viewer minus the bridge's CPU with the camera pushing and nobody
// watching (idle windows before and after, same length, averaged). Then a shorter pass of the
// previous path (media.videoRelay ffmpeg: one ffmpeg reads RTMP, copies the video, transcodes the
// audio) for the comparison; --ffmpeg-relay-runs 0 skips it.
// Because the bridge's own CPU moves by up to 1 CPU-s/min between idle windows (its ingest, HAP,
// the driver, GC), the relay is also measured in this process on its own (--relay-windows pairs of
// --cpu-seconds, 3 by default): an ingest fed by the simulated camera, windows without and with one
// relay sending to a UDP port, and the CPU time spent inside the relay's frame handler (packetizing,
// SRTP, the send syscalls), taken with process.cpuUsage() around each frame. `--only relay-cpu`
// runs just that part.
//
// Run: npm run bench -- camera [--runs 20] [--snapshot-runs 10] [--transcode-runs 10] [--cpu-seconds 10]
//        [--ffmpeg-relay-runs 10] [--cloud-runs 20] [--publish-delay-ms 0] [--no-baseline]
//   or test/netns.sh node_modules/.bin/node bench/camera.ts --runs 20
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { pino } from "pino";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { createSocket } from "node:dgram";
import { RtmpIngest } from "../src/media/ingest.ts";
import type { FeedListener, FrameSource } from "../src/media/feed.ts";
import { VideoRelay } from "../src/media/video-relay.ts";
import { NanitSimulator } from "../sim/nanit/index.ts";
import { CameraPusher, DEFAULT_FFMPEG } from "../sim/nanit/stream.ts";
import { HapClient, type HapCharacteristic } from "../test/helpers/hap-client.ts";
import { SrtpSink } from "../test/helpers/rtp-receiver.ts";
import { H264Depacketizer, probeH264, type DecodedVideo } from "../test/helpers/rtp-h264.ts";
import { E2E_PIN } from "../test/helpers/e2e-config.ts";
import {
  AUDIO_CODEC_AAC_ELD,
  AUDIO_CODEC_OPUS,
  parseSetupEndpointsResponse,
  parseSupportedAudio,
  selectedStreamConfiguration,
  setupEndpointsRequest,
  SETUP_STATUS,
} from "../test/helpers/camera-tlv.ts";
import { CameraBridgeChild, type BridgeLogLine } from "./_camera-bridge.ts";
import { HomebridgeChild } from "./_homebridge-shim.ts";
import { RtmpRelay } from "./_rtmp-relay.ts";
import {
  argValue,
  deferred,
  fmt,
  latencyBenchSetup,
  percentile,
  sleep,
  table,
  withTimeout,
  writeSummary,
  type SummaryRow,
} from "./lib.ts";

latencyBenchSetup("camera");
const RUNS = Number(argValue("--runs", "20"));
const SNAPSHOT_RUNS = Number(argValue("--snapshot-runs", "10"));
/**
 * The warm transcode start is an extra path (not a target): fewer runs keep the bench under bench/run.ts's
 * 6 minutes.
 */
const TRANSCODE_RUNS = Number(argValue("--transcode-runs", "10"));
const CPU_SECONDS = Number(argValue("--cpu-seconds", "10"));
/** Warm and cold starts of the previous copy path (media.videoRelay ffmpeg), for the comparison. */
const FFMPEG_RELAY_RUNS = Number(argValue("--ffmpeg-relay-runs", "10"));
const RELAY_WINDOWS = Number(argValue("--relay-windows", "3"));
const ONLY = argValue("--only");
/** Cold starts with media.source cloud (the simulated Nanit RTMPS host), in the same run as the local ones. */
const CLOUD_RUNS = Number(argValue("--cloud-runs", argValue("--runs", "20")));
const PUBLISH_DELAY_MS = Number(argValue("--publish-delay-ms", "0"));
const BASELINE = !process.argv.includes("--no-baseline");
const LINGER_MS = 250;
const SETTLE_MS = 3_000;
/** The plugin keeps a snapshot for 3 s after it was taken. */
const PLUGIN_SNAPSHOT_CACHE_MS = 3_000;
const COPY = { width: 1280, height: 720 };
const TRANSCODE = { width: 640, height: 360 };
const SNAPSHOT = { width: 640, height: 360 };
const VIDEO_PT = 99;
const AUDIO_PT = 110;
const CLK_TCK = 100;
const PLUGIN = "homebridge-camera-ffmpeg";

const silent = pino({ level: "silent" });
const cleanups: (() => unknown)[] = [];
const dir = mkdtempSync(join(tmpdir(), "hb-bench-camera-"));
cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

// ---- processes ---------------------------------------------------------------------------------

interface ProcStat {
  ppid: number;
  comm: string;
  /** utime + stime, clock ticks. */
  ticks: number;
}

function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "pid (comm) ": state ppid ... utime is field 14 of the whole line, i.e. index 11 here.
  return {
    ppid: Number(fields[1]),
    comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
    ticks: Number(fields[11]) + Number(fields[12]),
  };
}

/** ffmpeg processes whose parent is `ppid` (ours are exec'd in place by setpriv). */
function ffmpegChildren(ppid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const s = procStat(pid);
      return s?.ppid === ppid && s.comm === "ffmpeg";
    });
}

function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Poll `check` (processes and IPC have no event to await) until true. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

// ---- the controller's side: one live view --------------------------------------------------------

const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_PPS = 8;

interface Size {
  width: number;
  height: number;
}

interface LiveRun {
  /** ms after the START write. */
  firstPacketMs: number;
  keyframeMs: number;
  /** performance.timeOrigin + t0: the START write in epoch ms (to place the bridge's log times). */
  t0Epoch: number;
  decoded?: DecodedVideo;
}

class Viewer {
  readonly sessionId = Buffer.from(randomUUID().replaceAll("-", ""), "hex");
  readonly depacketizer = new H264Depacketizer({ fromKeyframe: true });
  frames = 0;
  audioPackets = 0;
  firstPacketAt: number | undefined;
  keyframeAt: number | undefined;
  readonly #keyframe = deferred<number>();
  readonly #client: HapClient;
  readonly #video: SrtpSink;
  readonly #audio: SrtpSink;
  readonly #selected: HapCharacteristic;

  private constructor(client: HapClient, video: SrtpSink, audio: SrtpSink, selected: HapCharacteristic) {
    this.#client = client;
    this.#video = video;
    this.#audio = audio;
    this.#selected = selected;
    video.on("packet", (packet) => {
      const now = performance.now();
      this.firstPacketAt ??= now;
      this.depacketizer.push(packet);
      if (!packet.marker) return;
      this.frames++;
      if (this.keyframeAt === undefined && keyframeComplete(this.depacketizer.nalTypes)) {
        this.keyframeAt = now;
        this.#keyframe.resolve(now);
      }
    });
    audio.on("packet", () => this.audioPackets++);
  }

  /** SetupEndpoints on the first stream service, read back. */
  static async setUp(client: HapClient): Promise<Viewer> {
    const find = (characteristic: string) =>
      client.find({ service: Service.CameraRTPStreamManagement.UUID, characteristic });
    const [video, audio] = [await SrtpSink.open(), await SrtpSink.open()];
    const setup = await find(Characteristic.SetupEndpoints.UUID);
    const viewer = new Viewer(client, video, audio, await find(Characteristic.SelectedRTPStreamConfiguration.UUID));
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
    const response = parseSetupEndpointsResponse(value as string);
    if (response.status !== SETUP_STATUS.success) throw new Error(`SetupEndpoints answered status ${response.status}`);
    return viewer;
  }

  /** START: resolves when the accessory answered the write (ours: once ffmpeg runs). */
  start(size: Size, audioCodec: number): Promise<void> {
    const opus = audioCodec === AUDIO_CODEC_OPUS;
    const value = selectedStreamConfiguration({
      sessionId: this.sessionId,
      command: "start",
      video: {
        profile: "main",
        level: "4.0",
        width: size.width,
        height: size.height,
        fps: 15,
        payloadType: VIDEO_PT,
        ssrc: randomBytes(4).readUInt32BE(0),
        maxBitrate: 2000,
        rtcpInterval: 0.5,
        mtu: 1378,
      },
      audio: {
        codec: audioCodec,
        sampleRateKHz: opus ? 24 : 16,
        packetTimeMs: opus ? 20 : 30,
        payloadType: AUDIO_PT,
        ssrc: randomBytes(4).readUInt32BE(0),
        maxBitrate: 24,
        rtcpInterval: 5,
        comfortNoisePayloadType: 13,
      },
    });
    return this.#client.write([this.#selected, value]);
  }

  keyframe(timeoutMs: number): Promise<number> {
    return withTimeout(
      this.#keyframe.promise,
      timeoutMs,
      `a decodable keyframe (${this.#video.packets.length} packets, ${this.#video.authFailures} failed authentication)`,
    );
  }

  get authFailures(): number {
    return this.#video.authFailures;
  }

  async stop(): Promise<void> {
    try {
      await this.#client.write([
        this.#selected,
        selectedStreamConfiguration({ sessionId: this.sessionId, command: "end" }),
      ]);
    } finally {
      this.#video.close();
      this.#audio.close();
    }
  }
}

/** SPS and PPS seen, then an IDR slice: the access unit the marker bit just closed decodes alone. */
function keyframeComplete(types: readonly number[]): boolean {
  const sps = types.indexOf(NAL_SPS);
  const pps = types.indexOf(NAL_PPS);
  const idr = types.indexOf(NAL_IDR);
  return sps >= 0 && pps >= 0 && idr > Math.max(sps, pps);
}

async function audioCodecOf(client: HapClient): Promise<number> {
  const c = await client.find({
    service: Service.CameraRTPStreamManagement.UUID,
    characteristic: Characteristic.SupportedAudioStreamConfiguration.UUID,
  });
  const [value] = await client.read(c);
  return parseSupportedAudio(value as string).codecs[0]?.codec ?? AUDIO_CODEC_OPUS;
}

/** One timed live start; `during` runs while the stream is up (CPU runs, state queries), then the viewer ends it. */
async function liveRun(
  client: HapClient,
  size: Size,
  audioCodec: number,
  label: string,
  during?: (viewer: Viewer) => Promise<void>,
): Promise<LiveRun> {
  const viewer = await Viewer.setUp(client);
  try {
    const keyframe = viewer.keyframe(30_000);
    const t0 = performance.now();
    const answered = viewer.start(size, audioCodec);
    await Promise.all([answered, keyframe]);
    const run: LiveRun = {
      firstPacketMs: viewer.firstPacketAt! - t0,
      keyframeMs: viewer.keyframeAt! - t0,
      t0Epoch: performance.timeOrigin + t0,
    };
    await during?.(viewer);
    try {
      run.decoded = await probeH264(viewer.depacketizer.annexB(), join(dir, `${label}.h264`));
    } catch {
      // counted as not decoded
    }
    return run;
  } finally {
    await viewer.stop().catch(() => undefined);
  }
}

async function snapshotMs(client: HapClient): Promise<number> {
  const t0 = performance.now();
  const jpeg = await client.http.getImage(SNAPSHOT.width, SNAPSHOT.height, 1);
  const ms = performance.now() - t0;
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8)
    throw new Error(`snapshot is not a JPEG (${jpeg.length} bytes)`);
  return ms;
}

interface CpuFigures {
  /** CPU seconds per minute of the stream's ffmpeg(s) and of the host process (node). */
  ffmpegPerMin: number;
  hostPerMin: number;
  ffmpegRssKb: number;
  hostRssKb: number;
  fps: number;
  audioPackets: number;
  decoded?: DecodedVideo;
}

/** One stream held for SETTLE_MS + CPU_SECONDS; CPU of `hostPid`'s ffmpeg children and of the host. */
async function cpuRun(
  client: HapClient,
  hostPid: number,
  size: Size,
  audioCodec: number,
  label: string,
): Promise<CpuFigures> {
  let figures!: CpuFigures;
  await liveRun(client, size, audioCodec, label, async (viewer) => {
    await sleep(SETTLE_MS);
    const pids = ffmpegChildren(hostPid);
    const ticks = () => pids.reduce((sum, pid) => sum + (procStat(pid)?.ticks ?? 0), 0);
    const [f0, h0, frames0, audio0, t0] = [
      ticks(),
      procStat(hostPid)!.ticks,
      viewer.frames,
      viewer.audioPackets,
      performance.now(),
    ];
    await sleep(CPU_SECONDS * 1000);
    const [f1, h1, frames1, audio1, t1] = [
      ticks(),
      procStat(hostPid)!.ticks,
      viewer.frames,
      viewer.audioPackets,
      performance.now(),
    ];
    const minutes = (t1 - t0) / 60_000;
    figures = {
      ffmpegPerMin: (f1 - f0) / CLK_TCK / minutes,
      hostPerMin: (h1 - h0) / CLK_TCK / minutes,
      ffmpegRssKb: pids.reduce((sum, pid) => sum + rssKb(pid), 0),
      hostRssKb: rssKb(hostPid),
      fps: (frames1 - frames0) / ((t1 - t0) / 1000),
      audioPackets: audio1 - audio0,
    };
  });
  return figures;
}

async function ffmpegGone(pid: number): Promise<void> {
  await until(() => ffmpegChildren(pid).length === 0, 15_000, `ffmpeg children of ${pid} gone`);
}

// ---- ours -----------------------------------------------------------------------------------------

interface ColdBreakdown {
  /**
   * ms after the START write: the bridge got START, sent PUT_STREAMING, the push began, the ingest held a keyframe,
   * ffmpeg spawned.
   */
  startSeen: number;
  requested: number;
  publishing: number;
  keyframeHeld: number;
  spawned: number;
}

interface Ours {
  relay: "native" | "ffmpeg";
  warm: LiveRun[];
  warmSpawn: number[];
  warmStartSeen: number[];
  cold: LiveRun[];
  coldBreakdown: ColdBreakdown[];
  transcodeWarm: LiveRun[];
  snapshotWarm: number[];
  snapshotCold: number[];
  idleHost: CpuFigures;
  /** The bridge with the camera pushing and nobody watching, after the CPU runs. */
  idleHostAfter: CpuFigures;
  copy: CpuFigures;
  copyVideoOnly: CpuFigures;
  transcode?: CpuFigures;
  modes: string[];
}

interface OursPlan {
  relay: "native" | "ffmpeg";
  runs: number;
  transcodeRuns: number;
  snapshotRuns: number;
  transcodeCpu: boolean;
}

function lineAfter(lines: BridgeLogLine[], from: number, pattern: RegExp): BridgeLogLine | undefined {
  return lines.slice(from).find((l) => pattern.test(l.msg));
}

/** The bridge's own CPU (host) with the camera pushing and no viewer, over one window. */
async function idleCpu(pid: number): Promise<CpuFigures> {
  await sleep(SETTLE_MS);
  const [ticks0, t0] = [procStat(pid)!.ticks, performance.now()];
  await sleep(CPU_SECONDS * 1000);
  return {
    ffmpegPerMin: 0,
    hostPerMin: (procStat(pid)!.ticks - ticks0) / CLK_TCK / ((performance.now() - t0) / 60_000),
    ffmpegRssKb: 0,
    hostRssKb: rssKb(pid),
    fps: 0,
    audioPackets: 0,
  };
}

async function benchOurs(plan: OursPlan): Promise<Ours> {
  const { relay } = plan;
  const RUNS = plan.runs;
  const TRANSCODE_RUNS = plan.transcodeRuns;
  const SNAPSHOT_RUNS = plan.snapshotRuns;
  const sim = new NanitSimulator({
    mfa: false,
    sensorPushMs: [3_600_000, 3_600_000],
    publishDelayMs: PUBLISH_DELAY_MS,
  });
  const urls = await sim.start();
  cleanups.push(() => sim.stop());
  const configFile = join(dir, `ours-${relay}.yaml`);
  process.env.BENCH_NANIT_PASSWORD = sim.password;
  writeFileSync(
    configFile,
    stringify({
      homekit: { port: 0, advertiser: "none", pincode: E2E_PIN, name: "Bench Camera" },
      matter: { enabled: false },
      web: { enabled: false },
      media: { rtmpHost: "127.0.0.1", bind: "127.0.0.1", rtmpPort: 0, videoRelay: relay },
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${BENCH_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
      log: { level: "info" },
    }),
  );
  const bridge = new CameraBridgeChild({
    configFile,
    dataDir: join(dir, `ours-${relay}-data`),
    lingerMs: LINGER_MS,
    snapshotCacheMs: 0,
  });
  cleanups.push(() => bridge.stop());
  const ready = await withTimeout(bridge.ready, 60_000, "our bridge ready");
  const client = await HapClient.pair(ready.cameraPort, ready.pincode);
  cleanups.push(() => client.close());
  const audio = await audioCodecOf(client);
  const pid = bridge.pid;
  const idle = () =>
    until(
      async () => sim.livePushes === 0 && ffmpegChildren(pid).length === 0 && !(await bridge.state()).active,
      20_000,
      "camera stopped pushing",
    );
  const modes = new Set<string>();
  const modeOf = (from: number) => {
    const line = lineAfter(bridge.lines, from, /: live stream \(/);
    if (line) modes.add(`${line.width}x${line.height} ${String(line.mode)}`);
    return line;
  };
  const progress = (what: string, i: number, of = RUNS) =>
    process.stderr.write(`\r  ours (${relay} video) ${what}: ${i + 1}/${of}   `);

  // Warm: the camera pushes all along (keep-warm).
  await bridge.keepWarm(true);
  const warm: LiveRun[] = [];
  const warmSpawn: number[] = [];
  const warmStartSeen: number[] = [];
  await liveRun(client, COPY, audio, "warm-up");
  await ffmpegGone(pid);
  for (let i = 0; i < RUNS; i++) {
    progress("warm", i);
    const mark = bridge.lines.length;
    const run = await liveRun(client, COPY, audio, `ours-warm-${i}`);
    warm.push(run);
    const seen = lineAfter(bridge.lines, mark, /HomeKit viewer starts a stream/);
    const spawned = modeOf(mark);
    if (seen) warmStartSeen.push(seen.time - run.t0Epoch);
    if (spawned) warmSpawn.push(spawned.time - run.t0Epoch);
    await ffmpegGone(pid);
  }
  const transcodeWarm: LiveRun[] = [];
  for (let i = 0; i < TRANSCODE_RUNS; i++) {
    progress("warm transcode", i, TRANSCODE_RUNS);
    const mark = bridge.lines.length;
    transcodeWarm.push(await liveRun(client, TRANSCODE, audio, `ours-warm-transcode-${i}`));
    modeOf(mark);
    await ffmpegGone(pid);
  }
  const snapshotWarm: number[] = [];
  for (let i = 0; i < SNAPSHOT_RUNS; i++) snapshotWarm.push(await snapshotMs(client));

  // CPU and memory per stream, camera warm; first the bridge with the camera pushing and nobody watching.
  const idleHost = await idleCpu(pid);
  const copy = await cpuRun(client, pid, COPY, audio, `ours-${relay}-cpu-copy`);
  await ffmpegGone(pid);
  const copyVideoOnly = await cpuRun(client, pid, COPY, AUDIO_CODEC_AAC_ELD, `ours-${relay}-cpu-copy-video`);
  await ffmpegGone(pid);
  const idleHostAfter = await idleCpu(pid);
  let transcode: CpuFigures | undefined;
  if (plan.transcodeCpu) {
    transcode = await cpuRun(client, pid, TRANSCODE, audio, "ours-cpu-transcode");
    await ffmpegGone(pid);
  }

  // Cold: the camera is not pushing; START makes the bridge ask for the push.
  await bridge.keepWarm(false);
  const cold: LiveRun[] = [];
  const coldBreakdown: ColdBreakdown[] = [];
  for (let i = 0; i < RUNS; i++) {
    await idle();
    progress("cold", i);
    const mark = bridge.lines.length;
    let state: Awaited<ReturnType<CameraBridgeChild["state"]>> | undefined;
    const run = await liveRun(client, COPY, audio, `ours-cold-${i}`, async () => {
      state = await bridge.state();
    });
    cold.push(run);
    const seen = lineAfter(bridge.lines, mark, /HomeKit viewer starts a stream/);
    const spawned = modeOf(mark);
    if (seen && spawned && state?.lastStartAt && state.publishStartedAt && state.keyframeHeldAt) {
      coldBreakdown.push({
        startSeen: seen.time - run.t0Epoch,
        requested: state.lastStartAt - run.t0Epoch,
        publishing: state.publishStartedAt - run.t0Epoch,
        keyframeHeld: state.keyframeHeldAt - run.t0Epoch,
        spawned: spawned.time - run.t0Epoch,
      });
    }
  }
  const snapshotCold: number[] = [];
  for (let i = 0; i < SNAPSHOT_RUNS; i++) {
    await idle();
    snapshotCold.push(await snapshotMs(client));
  }
  process.stderr.write("\n");
  await client.close();
  await bridge.stop();
  await sim.stop();
  return {
    relay,
    warm,
    warmSpawn,
    warmStartSeen,
    cold,
    coldBreakdown,
    transcodeWarm,
    snapshotWarm,
    snapshotCold,
    idleHost,
    idleHostAfter,
    copy,
    copyVideoOnly,
    transcode,
    modes: [...modes],
  };
}

/** Cold starts with media.source: cloud: the camera pushes to the simulated Nanit RTMPS host and the
 * bridge reads it back with its own RTMP client (TLS verified against the simulator's certificate). */
async function benchCloudCold(runs: number): Promise<{ cold: LiveRun[]; breakdown: ColdBreakdown[] }> {
  const sim = new NanitSimulator({
    mfa: false,
    sensorPushMs: [3_600_000, 3_600_000],
    publishDelayMs: PUBLISH_DELAY_MS,
  });
  const urls = await sim.start();
  cleanups.push(() => sim.stop());
  const caFile = join(dir, "cloud-media-ca.pem");
  writeFileSync(caFile, urls.mediaCert);
  const configFile = join(dir, "ours-cloud.yaml");
  process.env.BENCH_NANIT_PASSWORD = sim.password;
  writeFileSync(
    configFile,
    stringify({
      homekit: { port: 0, advertiser: "none", pincode: E2E_PIN, name: "Bench Cloud Camera" },
      matter: { enabled: false },
      web: { enabled: false },
      media: { rtmpHost: "127.0.0.1", bind: "127.0.0.1", rtmpPort: 0, source: "cloud" },
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${BENCH_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl, media: urls.mediaUrl, mediaCa: caFile },
        },
      ],
      log: { level: "info" },
    }),
  );
  const bridge = new CameraBridgeChild({
    configFile,
    dataDir: join(dir, "ours-cloud-data"),
    lingerMs: LINGER_MS,
    snapshotCacheMs: 0,
  });
  cleanups.push(() => bridge.stop());
  const ready = await withTimeout(bridge.ready, 60_000, "our cloud bridge ready");
  const client = await HapClient.pair(ready.cameraPort, ready.pincode);
  cleanups.push(() => client.close());
  const audio = await audioCodecOf(client);
  const pid = bridge.pid;
  const cold: LiveRun[] = [];
  const breakdown: ColdBreakdown[] = [];
  for (let i = 0; i < runs; i++) {
    await until(
      async () => sim.livePushes === 0 && ffmpegChildren(pid).length === 0 && !(await bridge.state()).active,
      20_000,
      "camera stopped pushing",
    );
    process.stderr.write(`\r  ours cold via the cloud: ${i + 1}/${runs}   `);
    const mark = bridge.lines.length;
    let state: Awaited<ReturnType<CameraBridgeChild["state"]>> | undefined;
    const run = await liveRun(client, COPY, audio, `ours-cloud-cold-${i}`, async () => {
      state = await bridge.state();
    });
    cold.push(run);
    const seen = lineAfter(bridge.lines, mark, /HomeKit viewer starts a stream/);
    const spawned = lineAfter(bridge.lines, mark, /: live stream \(/);
    if (seen && spawned && state?.lastStartAt && state.publishStartedAt && state.keyframeHeldAt) {
      breakdown.push({
        startSeen: seen.time - run.t0Epoch,
        requested: state.lastStartAt - run.t0Epoch,
        publishing: state.publishStartedAt - run.t0Epoch,
        keyframeHeld: state.keyframeHeldAt - run.t0Epoch,
        spawned: spawned.time - run.t0Epoch,
      });
    }
  }
  process.stderr.write("\n");
  await client.close();
  await bridge.stop();
  await sim.stop();
  return { cold, breakdown };
}

// ---- baseline -------------------------------------------------------------------------------------

interface Baseline {
  warm: LiveRun[];
  /** ms after the START write of the plugin's "Starting video stream" log line (just before its ffmpeg spawn). */
  spawn: number[];
  snapshot: number[];
  copySize: CpuFigures;
  transcode: CpuFigures;
  config: Record<string, unknown>;
}

async function benchBaseline(): Promise<Baseline> {
  // The plain RTMP server the camera pushes to and the plugin reads from.
  const relay = new RtmpRelay();
  const port = await relay.start();
  cleanups.push(() => relay.stop());
  const keyframe = new Promise<void>((resolve) => relay.once("keyframe", () => resolve()));
  // The simulator's camera, pushing the same profile as for ours.
  const camera = new CameraPusher({
    ffmpeg: DEFAULT_FFMPEG,
    publishDelayMs: 0,
    autoStopMs: () => 3_600_000,
    emit: () => undefined,
  });
  cleanups.push(() => camera.stopAll());
  const url = `rtmp://127.0.0.1:${port}/live/baseline`;
  camera.start("baseline-camera", url, 0, "720p");
  await withTimeout(keyframe, 20_000, "baseline source publishing");

  const videoConfig = { source: `-i ${url}`, maxStreams: 2, maxWidth: 1280, maxHeight: 720, maxFPS: 30 };
  const config = {
    platform: "Camera-ffmpeg",
    videoProcessor: "/usr/bin/ffmpeg",
    cameras: [{ name: "Nursery Camera", unbridge: true, videoConfig }],
  };
  const shim = new HomebridgeChild({ plugin: PLUGIN, config, storagePath: join(dir, "homebridge"), pincode: E2E_PIN });
  cleanups.push(() => shim.stop());
  const logs: { message: string; time: number }[] = [];
  shim.on("log", (line) => logs.push(line));
  const [accessory] = await withTimeout(shim.ready, 30_000, "plugin published");
  if (!accessory) throw new Error("the plugin published no accessory");
  const client = await HapClient.pair(accessory.port, accessory.pincode);
  cleanups.push(() => client.close());
  const audio = await audioCodecOf(client);
  const pid = shim.pid;

  const warm: LiveRun[] = [];
  const spawn: number[] = [];
  const snapshot: number[] = [];
  let lastSnapshot = -Infinity;
  const takeSnapshot = async () => {
    // Past the plugin's snapshot cache, so every request makes a new one.
    await sleep(lastSnapshot + PLUGIN_SNAPSHOT_CACHE_MS + 300 - performance.now());
    snapshot.push(await snapshotMs(client));
    lastSnapshot = performance.now();
    await ffmpegGone(pid);
  };
  await liveRun(client, COPY, audio, "baseline-warm-up");
  await ffmpegGone(pid);
  for (let i = 0; i < RUNS; i++) {
    process.stderr.write(`\r  baseline: ${i + 1}/${RUNS}   `);
    const mark = logs.length;
    const run = await liveRun(client, COPY, audio, `baseline-${i}`);
    warm.push(run);
    const line = logs.slice(mark).find((l) => /Starting video stream/.test(l.message));
    if (line) spawn.push(line.time - run.t0Epoch);
    await ffmpegGone(pid);
    // Snapshots between live runs: the cache wait overlaps the runs.
    if (snapshot.length < SNAPSHOT_RUNS) await takeSnapshot();
  }
  while (snapshot.length < SNAPSHOT_RUNS) await takeSnapshot();
  process.stderr.write("\n");
  const copySize = await cpuRun(client, pid, COPY, audio, "baseline-cpu-720");
  await ffmpegGone(pid);
  const transcode = await cpuRun(client, pid, TRANSCODE, audio, "baseline-cpu-360");
  await ffmpegGone(pid);
  await client.close();
  await shim.stop();
  await camera.stopAll();
  await relay.stop();
  return { warm, spawn, snapshot, copySize, transcode, config };
}

// ---- the native relay alone, in this process -------------------------------------------------------

interface RelayCpu {
  /** CPU-s/min of this process without / with the relay, per window pair. */
  without: number[];
  with: number[];
  /** CPU-s/min spent inside the relay's frame handler (direct attribution). */
  inHandler: number;
  packetsPerSecond: number;
  kbps: number;
}

async function benchRelayCpu(): Promise<RelayCpu> {
  const ingest = new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log: silent });
  await ingest.start();
  ingest.register("relay");
  const keyframe = new Promise<void>((resolve) => ingest.once("keyframe-held", () => resolve()));
  const camera = new CameraPusher({
    ffmpeg: DEFAULT_FFMPEG,
    publishDelayMs: 0,
    autoStopMs: () => 3_600_000,
    emit: () => undefined,
  });
  const sink = createSocket("udp4");
  try {
    camera.start("relay-camera", ingest.urlFor("relay"), 0, "720p");
    await withTimeout(keyframe, 20_000, "relay bench source publishing");
    sink.bind(0, "127.0.0.1");
    await new Promise((done) => sink.once("listening", done));
    let received = 0;
    let bytes = 0;
    sink.on("message", (m) => {
      received++;
      bytes += m.length;
    });
    // The relay's handler, timed: user + system CPU of this thread while it packetizes, encrypts, sends.
    let handlerMicros = 0;
    const frames = ingest.frames("relay");
    const timed: FrameSource = {
      subscribe: (listener: FeedListener) =>
        frames.subscribe({
          video: (frame) => {
            const before = process.cpuUsage();
            listener.video?.(frame);
            const used = process.cpuUsage(before);
            handlerMicros += used.user + used.system;
          },
        }),
    };
    const window = async (): Promise<number> => {
      const before = process.cpuUsage();
      const t0 = performance.now();
      await sleep(CPU_SECONDS * 1000);
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1e6 / ((performance.now() - t0) / 60_000);
    };
    await sleep(SETTLE_MS);
    const result: RelayCpu = { without: [], with: [], inHandler: 0, packetsPerSecond: 0, kbps: 0 };
    let relayMs = 0;
    for (let i = 0; i < RELAY_WINDOWS; i++) {
      process.stderr.write(`\r  native relay in-process: window pair ${i + 1}/${RELAY_WINDOWS}   `);
      result.without.push(await window());
      const key = randomBytes(16);
      const relay = await VideoRelay.start({
        source: timed,
        address: "127.0.0.1",
        port: (sink.address() as { port: number }).port,
        key,
        salt: randomBytes(14),
        ssrc: randomBytes(4).readUInt32BE(0),
        payloadType: VIDEO_PT,
        mtu: 1378,
        label: "bench relay",
        log: silent,
      });
      // The held GOP goes out at start: settle past it, then measure the steady stream.
      await sleep(500);
      const [handler0, received0, bytes0, t0] = [handlerMicros, received, bytes, performance.now()];
      result.with.push(await window());
      const ms = performance.now() - t0;
      relayMs += ms;
      result.inHandler += (handlerMicros - handler0) / 1e6;
      result.packetsPerSecond += ((received - received0) * 1000) / ms / RELAY_WINDOWS;
      result.kbps += ((bytes - bytes0) * 8) / ms / RELAY_WINDOWS;
      relay.stop();
    }
    process.stderr.write("\n");
    result.inHandler = result.inHandler / (relayMs / 60_000);
    return result;
  } finally {
    sink.close();
    camera.stopAll();
    await ingest.stop();
  }
}

function reportRelayCpu(r: RelayCpu): { mean: number; handler: number } {
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const mean = avg(r.with) - avg(r.without);
  console.log(
    `\nNative video relay alone, in this process (ingest fed by the simulated 720p camera, one relay to a UDP port ` +
      `on loopback; ${RELAY_WINDOWS} pairs of ${CPU_SECONDS} s windows):`,
  );
  console.log(
    `  process CPU without / with the relay, per pair (CPU-s/min): ` +
      `${r.without.map((w, i) => `${fmt(w, 2)} / ${fmt(r.with[i]!, 2)}`).join(", ")}; ` +
      `difference of the means ${fmt(mean, 2)}`,
  );
  console.log(
    `  inside the relay's frame handler (packetize + SRTP + send): ${fmt(r.inHandler, 3)} CPU-s/min; ` +
      `${fmt(r.packetsPerSecond, 0)} packets/s, ${fmt(r.kbps, 0)} kbit/s`,
  );
  return { mean, handler: r.inHandler };
}

// ---- report ---------------------------------------------------------------------------------------

const p = (values: number[], q: number) =>
  percentile(
    [...values].sort((a, b) => a - b),
    q,
  );
const ms = (n: number) => fmt(n, 0);
const mb = (kb: number) => `${fmt(kb / 1024, 1)} MB`;

function decodedNote(runs: LiveRun[], size: Size): string {
  const ok = runs.filter(
    (r) => r.decoded && r.decoded.frames >= 1 && r.decoded.width === size.width && r.decoded.height === size.height,
  ).length;
  return `${ok}/${runs.length}`;
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  if (ONLY === "relay-cpu") {
    const relay = reportRelayCpu(await benchRelayCpu());
    console.log(
      `load ${load} at the start, ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")} at the end`,
    );
    writeSummary(
      "camera",
      [
        {
          metric: "CPU-s/min native relay, in its handler / process difference",
          value: `${fmt(relay.handler, 3)} / ${fmt(relay.mean, 2)}`,
          target: "copy <= 0.2",
        },
      ],
      [`--only relay-cpu, ${RELAY_WINDOWS} window pairs of ${CPU_SECONDS} s, load ${load}`],
    );
    return;
  }
  const relayCpu = await benchRelayCpu();
  const ours = await benchOurs({
    relay: "native",
    runs: RUNS,
    transcodeRuns: TRANSCODE_RUNS,
    snapshotRuns: SNAPSHOT_RUNS,
    transcodeCpu: true,
  });
  const viaFfmpeg =
    FFMPEG_RELAY_RUNS > 0
      ? await benchOurs({
          relay: "ffmpeg",
          runs: FFMPEG_RELAY_RUNS,
          transcodeRuns: 0,
          snapshotRuns: 0,
          transcodeCpu: false,
        })
      : undefined;
  const cloud = CLOUD_RUNS > 0 ? await benchCloudCold(CLOUD_RUNS) : undefined;
  const base = BASELINE ? await benchBaseline() : undefined;
  const loadEnd = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

  const keyframes = (runs: LiveRun[]) => runs.map((r) => r.keyframeMs);
  const firstPackets = (runs: LiveRun[]) => runs.map((r) => r.firstPacketMs);
  const row = (name: string, values: number[], decoded = "") =>
    values.length
      ? [
          name,
          String(values.length),
          ms(p(values, 50)),
          ms(p(values, 90)),
          ms(Math.min(...values)),
          ms(Math.max(...values)),
          decoded,
        ]
      : [name, "0", "-", "-", "-", "-", decoded];
  console.log(
    `\nNanit camera live view: START write -> first decodable keyframe at the receiver (SRTP verified, H.264 IDR ` +
      `after SPS/PPS); ${cpus().length} CPUs, load ${load} at the start, ${loadEnd} at the end`,
  );
  console.log(
    "camera: simulator 1280x720 15 fps H.264 main, 2 s GOP, AAC; " +
      `its own connect time (publish delay) ${PUBLISH_DELAY_MS} ms\n`,
  );
  const rows: string[][] = [["path", "runs", "p50 ms", "p90 ms", "min ms", "max ms", "ffprobe decoded"]];
  const oursRows = (o: Ours, full: boolean) => {
    const tag = `${o.relay} video`;
    rows.push(row(`ours warm, 1280x720 (copy, ${tag})`, keyframes(o.warm), decodedNote(o.warm, COPY)));
    rows.push(row("  first SRTP packet", firstPackets(o.warm)));
    rows.push(row("  bridge saw START", o.warmStartSeen));
    rows.push(row("  session started", o.warmSpawn));
    if (full)
      rows.push(
        row("ours warm, 640x360 (transcode)", keyframes(o.transcodeWarm), decodedNote(o.transcodeWarm, TRANSCODE)),
      );
    rows.push(row(`ours cold, 1280x720 (copy, ${tag})`, keyframes(o.cold), decodedNote(o.cold, COPY)));
    rows.push(
      row(
        "  bridge saw START",
        o.coldBreakdown.map((b) => b.startSeen),
      ),
    );
    rows.push(
      row(
        "  PUT_STREAMING sent",
        o.coldBreakdown.map((b) => b.requested),
      ),
    );
    rows.push(
      row(
        "  camera publishing (RTMP)",
        o.coldBreakdown.map((b) => b.publishing),
      ),
    );
    rows.push(
      row(
        "  ingest holds keyframe",
        o.coldBreakdown.map((b) => b.keyframeHeld),
      ),
    );
    rows.push(
      row(
        "  session started",
        o.coldBreakdown.map((b) => b.spawned),
      ),
    );
    rows.push(row("  first SRTP packet", firstPackets(o.cold)));
  };
  oursRows(ours, true);
  if (viaFfmpeg) oursRows(viaFfmpeg, false);
  if (cloud) {
    rows.push(
      row("ours cold via the cloud (RTMPS read), 1280x720 copy", keyframes(cloud.cold), decodedNote(cloud.cold, COPY)),
    );
    rows.push(
      row(
        "  PUT_STREAMING sent",
        cloud.breakdown.map((b) => b.requested),
      ),
    );
    rows.push(
      row(
        "  cloud read publishing",
        cloud.breakdown.map((b) => b.publishing),
      ),
    );
    rows.push(
      row(
        "  ingest holds keyframe",
        cloud.breakdown.map((b) => b.keyframeHeld),
      ),
    );
    rows.push(row("  first SRTP packet", firstPackets(cloud.cold)));
  }
  if (base) {
    rows.push(row("homebridge-camera-ffmpeg, 1280x720", keyframes(base.warm), decodedNote(base.warm, COPY)));
    rows.push(row("  ffmpeg spawned", base.spawn));
    rows.push(row("  first SRTP packet", firstPackets(base.warm)));
  }
  rows.push(row(`ours snapshot ${SNAPSHOT.width}x${SNAPSHOT.height}, warm`, ours.snapshotWarm));
  rows.push(row(`ours snapshot ${SNAPSHOT.width}x${SNAPSHOT.height}, cold`, ours.snapshotCold));
  if (base) rows.push(row(`homebridge-camera-ffmpeg snapshot`, base.snapshot));
  console.log(table(rows));

  const cpuRow = (name: string, c: CpuFigures) => [
    name,
    fmt(c.ffmpegPerMin, 2),
    mb(c.ffmpegRssKb),
    fmt(c.hostPerMin, 2),
    mb(c.hostRssKb),
    fmt(c.fps, 1),
    String(c.audioPackets),
  ];
  const cpuRows: string[][] = [
    ["stream (camera warm)", "ffmpeg CPU-s/min", "ffmpeg RSS", "host CPU-s/min", "host RSS", "fps recv", "audio pkts"],
  ];
  const cpuOurs = (o: Ours) => {
    cpuRows.push(cpuRow(`ours (${o.relay} video), camera pushing, no viewer (before)`, o.idleHost));
    cpuRows.push(cpuRow(`ours (${o.relay} video) 1280x720 copy + Opus`, o.copy));
    cpuRows.push(cpuRow(`ours (${o.relay} video) 1280x720 copy, video only`, o.copyVideoOnly));
    cpuRows.push(cpuRow(`ours (${o.relay} video), camera pushing, no viewer (after)`, o.idleHostAfter));
    if (o.transcode) cpuRows.push(cpuRow("ours 640x360 transcode + Opus", o.transcode));
  };
  cpuOurs(ours);
  if (viaFfmpeg) cpuOurs(viaFfmpeg);
  if (base) {
    cpuRows.push(cpuRow("plugin 1280x720 libx264", base.copySize));
    cpuRows.push(cpuRow("plugin 640x360 libx264", base.transcode));
  }
  console.log(
    `\nPer stream over ${CPU_SECONDS} s after ${SETTLE_MS / 1000} s of streaming (host = the bridge's / the ` +
      `plugin's node process; ours runs the ingest, and with native video the relay, in it)`,
  );
  console.log(table(cpuRows));
  const split = (o: Ours) => {
    const idle = (o.idleHost.hostPerMin + o.idleHostAfter.hostPerMin) / 2;
    // Video: what one video-only viewer adds to the bridge process, plus its ffmpeg (none when native).
    const video = o.copyVideoOnly.hostPerMin - idle + o.copyVideoOnly.ffmpegPerMin;
    // Audio: what asking for audio adds (ffmpeg's Opus, and with native video the ADTS feed in the bridge).
    const audio = o.copy.ffmpegPerMin + o.copy.hostPerMin - o.copyVideoOnly.hostPerMin - o.copyVideoOnly.ffmpegPerMin;
    return { idle, video, audio, noise: Math.abs(o.idleHost.hostPerMin - o.idleHostAfter.hostPerMin) };
  };
  const splits = [ours, viaFfmpeg].filter((o): o is Ours => o !== undefined).map((o) => ({ o, ...split(o) }));
  for (const { o, idle, video, audio, noise } of splits) {
    console.log(
      `${o.relay} video relay, per stream: video ${fmt(video, 2)} CPU-s/min, audio ${fmt(audio, 2)} CPU-s/min, ` +
        `total ${fmt(video + audio, 2)} (bridge idle ${fmt(idle, 2)} CPU-s/min; ` +
        `idle before/after differ by ${fmt(noise, 2)}: the noise of the bridge-side figures)`,
    );
  }
  console.log(`our live modes seen: ${[...new Set([...ours.modes, ...(viaFfmpeg?.modes ?? [])])].join(", ")}`);
  // The stream key in the source URL is the (made-up) secret of the bench's RTMP server: not printed.
  if (base)
    console.log(
      `baseline config: ${JSON.stringify(base.config.cameras).replace(/live\/[\w-]+/, "live/<key>")} ` +
        "(videoProcessor /usr/bin/ffmpeg; vcodec default libx264, " +
        'encoderOptions default "-preset ultrafast -tune zerolatency", audio default off)',
    );

  const warm50 = p(keyframes(ours.warm), 50);
  const cold50 = p(keyframes(ours.cold), 50);
  const base50 = base ? p(keyframes(base.warm), 50) : NaN;
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${fmt(a / b, 2)}x` : "-");
  console.log(
    `\nratios ours/baseline (p50): warm ${ratio(warm50, base50)}, cold ${ratio(cold50, base50)} ` +
      "(baseline cold = its own ffmpeg start with the source up), " +
      `snapshot ${ratio(p(ours.snapshotWarm, 50), base ? p(base.snapshot, 50) : NaN)}`,
  );
  if (viaFfmpeg)
    console.log(
      `native / ffmpeg video relay (p50): warm ${ms(warm50)} / ${ms(p(keyframes(viaFfmpeg.warm), 50))} ms, ` +
        `cold ${ms(cold50)} / ${ms(p(keyframes(viaFfmpeg.cold), 50))} ms`,
    );
  console.log(
    "cold includes the simulated camera's own start " +
      '(ffmpeg spawn, x264 init, RTMP connect: "camera publishing" - "PUT_STREAMING sent"); ' +
      "a real camera's connect time (--publish-delay-ms) adds to it one for one.",
  );

  const relayAlone = reportRelayCpu(relayCpu);
  const native = splits[0]!;
  const previous = splits[1];
  const summary: SummaryRow[] = [
    {
      metric: "START -> keyframe, warm p50",
      value: `${ms(warm50)} ms`,
      baseline: base ? `${ms(base50)} ms` : undefined,
      ratio: base ? ratio(warm50, base50) : undefined,
      target: "<= 400 ms, ratio <= 0.3",
    },
    {
      metric: "START -> keyframe, cold p50",
      value: `${ms(cold50)} ms`,
      baseline: base ? `${ms(base50)} ms` : undefined,
      ratio: base ? ratio(cold50, base50) : undefined,
      target: "<= 1500 ms + camera connect",
    },
    ...(viaFfmpeg
      ? [
          {
            metric: "START -> keyframe p50 warm / cold, previous ffmpeg copy path",
            value: `${ms(p(keyframes(viaFfmpeg.warm), 50))} / ${ms(p(keyframes(viaFfmpeg.cold), 50))} ms`,
          },
        ]
      : []),
    ...(cloud
      ? [
          {
            metric: "START -> keyframe p50 (p90) cold: via the cloud / local push",
            value:
              `${ms(p(keyframes(cloud.cold), 50))} (${ms(p(keyframes(cloud.cold), 90))}) / ` +
              `${ms(p(keyframes(ours.cold), 50))} (${ms(p(keyframes(ours.cold), 90))}) ms`,
            target: "cloud <= 2500",
          },
        ]
      : []),
    { metric: "START -> keyframe, warm transcode p50", value: `${ms(p(keyframes(ours.transcodeWarm), 50))} ms` },
    {
      metric: "snapshot p50 (warm / cold)",
      value: `${ms(p(ours.snapshotWarm, 50))} / ${ms(p(ours.snapshotCold, 50))} ms`,
      baseline: base ? `${ms(p(base.snapshot, 50))} ms` : undefined,
      ratio: base ? ratio(p(ours.snapshotWarm, 50), p(base.snapshot, 50)) : undefined,
    },
    {
      metric: "CPU-s/min copy 720p video (native relay / previous ffmpeg)",
      value: `${fmt(native.video)}${previous ? ` / ${fmt(previous.video)}` : ""}`,
      baseline: base ? `${fmt(base.copySize.ffmpegPerMin)}` : undefined,
      ratio: base ? ratio(native.video, base.copySize.ffmpegPerMin) : undefined,
      target: "copy <= 0.2",
    },
    {
      metric: "CPU-s/min native relay alone: in its handler / process difference",
      value: `${fmt(relayAlone.handler, 3)} / ${fmt(relayAlone.mean, 2)}`,
      target: "copy <= 0.2",
    },
    {
      metric: "CPU-s/min copy 720p audio AAC -> Opus (native / previous)",
      value: `${fmt(native.audio)}${previous ? ` / ${fmt(previous.audio)}` : ""}`,
    },
    ...(ours.transcode
      ? [
          {
            metric: "CPU-s/min transcode 360p",
            value: fmt(ours.transcode.ffmpegPerMin),
            baseline: base ? fmt(base.transcode.ffmpegPerMin) : undefined,
            ratio: base ? ratio(ours.transcode.ffmpegPerMin, base.transcode.ffmpegPerMin) : undefined,
          },
        ]
      : []),
    {
      metric: "ffmpeg RSS copy+Opus / transcode",
      value: `${mb(ours.copy.ffmpegRssKb)} / ${ours.transcode ? mb(ours.transcode.ffmpegRssKb) : "-"}`,
      baseline: base ? `${mb(base.copySize.ffmpegRssKb)} / ${mb(base.transcode.ffmpegRssKb)}` : undefined,
    },
  ];
  writeSummary("camera", summary, [
    `${RUNS} runs per path (${TRANSCODE_RUNS} warm transcode, ` +
      `${FFMPEG_RELAY_RUNS} for the previous ffmpeg copy path, ${CLOUD_RUNS} cold via the cloud), ` +
      `${SNAPSHOT_RUNS} snapshots, camera publish delay ${PUBLISH_DELAY_MS} ms, load ${load} -> ${loadEnd}`,
  ]);
}

main()
  .catch((error: Error) => {
    console.error(`\ncamera bench failed: ${error.stack ?? error.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
    process.exit(process.exitCode ?? 0);
  });
