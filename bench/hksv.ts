// HomeKit Secure Video (issue 15): how soon after a motion trigger the home hub gets the first
// fragment, and what recording costs. Figures are printed, not asserted.
//
// In this process: the RTMP ingest, a stream hub whose "camera" is the Nanit simulator's push
// (sim/nanit/stream.ts pushArgs: ffmpeg testsrc2 1280x720 15 fps H.264 main, 2 s GOP, AAC 44.1 kHz,
// over RTMP to the ingest), the recorder, and the camera accessory as the bridge builds it
// (DeviceAccessory with the camera and motion bindings) published on loopback. The home hub is the
// test peer (test/helpers/hds-peer.ts) on a hap-controller pairing: it selects a configuration,
// turns recording on, keeps an HDS connection open, and opens a recording stream when it sees the
// MotionDetected event, as a hub does.
//   trigger -> first fragment: t0 = the motion state change handed to the accessory (what a
//   driver's report does), t1 = the first moof+mdat complete at the hub (after the HAP event, the
//   DATA_SEND OPEN round trip, the pre-buffer through the muxer). The Nanit driver reads motion from
//   the cloud's /messages every 20 s; that poll comes before t0 and is not part of this figure.
//   CPU and memory per recorded minute: one clip of --record-seconds; the clip's ffmpeg if any (utime +
//   stime from /proc, VmRSS) and this process's own CPU during the clip minus an idle window of the
//   same length with recording on (camera pushing, pre-buffer filling, no clip).
// Both muxers in one run: "before" is the recorder's `muxer: "ffmpeg"` (an ffmpeg per clip copying the
// codecs, as every clip was muxed before), "now" the default (in the bridge); latency clips alternate.
// homebridge-camera-ffmpeg 3.1.4 (installed for bench/camera.ts) has no HomeKit Secure Video (its
// recording delegate came in 4.x), so it offers no comparison.
//
// Run: npm run bench -- hksv [--runs 10] [--record-seconds 30]
//   or test/netns.sh node_modules/.bin/node bench/hksv.ts
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { CameraSource } from "../src/core/camera.ts";
import type { DeviceEntry } from "../src/core/registry.ts";
import { publishBridge } from "../src/homekit/advertiser.ts";
import { DeviceAccessory } from "../src/homekit/device-accessory.ts";
import { useHapStorage } from "../src/homekit/storage.ts";
import { StreamHub } from "../src/media/hub.ts";
import { RtmpIngest } from "../src/media/ingest.ts";
import type { FlvTagData } from "../src/media/feed.ts";
import { FlvFmp4Muxer } from "../src/media/fmp4-muxer.ts";
import { FLV_SCRIPT, flvHeader, flvTag } from "../src/media/protocol/flv.ts";
import { MediaCameraRecorder, type RecorderOptions } from "../src/media/recorder.ts";
import { recordingArgs } from "../src/media/recording.ts";
import { DEFAULT_FFMPEG, pushArgs } from "../sim/nanit/stream.ts";
import { HapClient } from "../test/helpers/hap-client.ts";
import {
  CHARACTERISTIC,
  HdsPeer,
  pairVerifySharedSecret,
  selectedRecordingConfiguration,
  SERVICE,
  timedWrite,
} from "../test/helpers/hds-peer.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { argValue, fmt, stats, table, writeSummary, type SummaryRow } from "./lib.ts";

const RUNS = Number(argValue("--runs") ?? 10);
const RECORD_S = Number(argValue("--record-seconds") ?? 30);
const DEVICE = "nanit:bench-cam";
const PIN = "031-45-154";
const TICKS = 100; // /proc clock ticks per second on Linux

type Muxer = "ffmpeg" | "auto";
const MUXERS: Muxer[] = ["ffmpeg", "auto"];
const LABEL: Record<Muxer, string> = { ffmpeg: "ffmpeg per clip (copy)", auto: "muxed in the bridge" };

const cleanups: (() => Promise<void> | void)[] = [];
const log = pino({ level: process.env.BENCH_LOG ?? "silent" });

function procCpuS(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function procRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

function childPids(): number[] {
  try {
    const out = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim();
    return out ? out.split(" ").map(Number) : [];
  } catch {
    return [];
  }
}

const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hb-bench-hksv-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  useHapStorage(join(dir, "hap"));

  const ingest = new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log });
  await ingest.start();
  cleanups.push(() => ingest.stop());
  ingest.register(DEVICE);
  let push: ChildProcess | undefined;
  const hub = new StreamHub({
    deviceId: DEVICE,
    name: "Bench Camera",
    ingest,
    log,
    requestStream: async ({ action, url }) => {
      if (action === "start" && !push) {
        push = spawn(DEFAULT_FFMPEG, pushArgs(url, "720p"), { stdio: "ignore" });
        push.once("exit", () => (push = undefined));
      } else if (action === "stop") push?.kill("SIGKILL");
    },
  });
  cleanups.push(async () => {
    await hub.close(500);
    push?.kill("SIGKILL");
  });
  const recorderOptions: RecorderOptions = {
    deviceId: DEVICE,
    name: "Bench Camera",
    ffmpeg: DEFAULT_FFMPEG,
    hub,
    ingest,
    log,
  };
  const recorder = new MediaCameraRecorder(recorderOptions);
  cleanups.push(() => recorder.close());
  const source: CameraSource = {
    deviceId: DEVICE,
    recorder,
    snapshot: () => Promise.reject(new Error("no snapshots in this bench")),
    startLive: () => Promise.reject(new Error("no live view in this bench")),
  };
  let entry: DeviceEntry = {
    info: {
      id: DEVICE,
      vendor: "nanit",
      account: "bench",
      kind: "baby-camera",
      name: "Bench Camera",
      manufacturer: "Nanit",
      model: "Nanit Pro",
      serialNumber: "BENCH-1",
      capabilities: { camera: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: true }, motion: {} },
    },
    state: { motion: false },
    available: true,
  };
  const accessory = new DeviceAccessory({ entry: () => entry, command: async () => undefined, log, camera: source });
  const hap = accessory.accessory;
  const listening = new Promise<number>((resolve) => hap.once("listening", (port: number) => resolve(port)));
  await publishBridge(
    hap,
    {
      username: "0E:B5:C0:00:00:15",
      pincode: PIN,
      category: 17,
      port: 0,
      bind: "127.0.0.1",
      addIdentifyingMaterial: false,
    },
    "none",
  );
  const port = await listening;
  cleanups.push(async () => {
    await accessory.close();
    await hap.unpublish();
  });
  const setMotion = (on: boolean): void => {
    entry = { ...entry, state: { ...entry.state, motion: on } };
    accessory.update(entry.state, { motion: on });
  };

  const client = await HapClient.pair(port, PIN);
  cleanups.push(() => client.close());
  const find = (service: string, characteristic: string) => client.find({ service, characteristic });
  await client.write(
    [
      await find(SERVICE.cameraRecordingManagement, CHARACTERISTIC.selectedCameraRecordingConfiguration),
      selectedRecordingConfiguration({
        prebufferMs: 4000,
        fragmentMs: 4000,
        width: 1280,
        height: 720,
        fps: 15,
        sampleRate: 4,
      }),
    ],
    [await find(SERVICE.cameraRecordingManagement, CHARACTERISTIC.active), 1],
  );
  await timedWrite(client, await find(SERVICE.cameraRecordingManagement, CHARACTERISTIC.recordingAudioActive), 1);
  const warmAt = performance.now();
  await waitFor(() => (recorder.prebufferStats()?.durationMs ?? 0) >= 4000, 30_000, {
    message: "the pre-buffer filled",
  });
  const warmMs = performance.now() - warmAt;
  const peer = await HdsPeer.connect(client, pairVerifySharedSecret(client));
  cleanups.push(() => peer.destroy());
  const watcher = new HapClient(port, client.pairingData);
  cleanups.push(() => watcher.close());
  const motionDetected = await watcher.find({
    service: SERVICE.motionSensor,
    characteristic: CHARACTERISTIC.motionDetected,
  });
  await watcher.subscribe([motionDetected]);

  let streamId = 0;
  /** One clip per trigger, read as the hub does; returns trigger -> first fragment, ms. */
  const clipLatency = async (): Promise<number> => {
    const event = watcher.waitForValue(motionDetected, 1, 10_000);
    const t0 = performance.now();
    setMotion(true);
    await event;
    const download = await peer.openRecording(++streamId);
    await waitFor(() => download.packets.length >= 2, 15_000, {
      on: [[download, "packet"]],
      message: "first fragment",
    });
    const latency = download.packets[1]!.at - t0;
    const ended = watcher.waitForValue(motionDetected, 0, 10_000);
    setMotion(false);
    await ended;
    await download.done(20_000);
    return latency;
  };
  // Both muxers in the same run, alternating clip by clip (the recorder reads its option per clip).
  const latencies: Record<Muxer, number[]> = { ffmpeg: [], auto: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const muxer of MUXERS) {
      recorderOptions.muxer = muxer;
      latencies[muxer].push(await clipLatency());
    }
  }

  // Cost of recording, per muxer: an idle window (recording on, no clip), then one clip of the same length.
  // The idle rate is measured right before each clip: on a shared machine it drifts.
  const pushPid = push?.pid;
  // The camera's tags of the first idle window are kept for the muxers alone (below).
  const captured: FlvTagData[] = [];
  const stopCapture = ingest.frames(DEVICE).subscribeTags!((tag) => void captured.push(tag));
  const idleRate = async (): Promise<number> => {
    const idleCpu0 = cpuS();
    const idleAt = performance.now();
    await new Promise((r) => setTimeout(r, RECORD_S * 1000));
    return (cpuS() - idleCpu0) / ((performance.now() - idleAt) / 1000);
  };
  const prebufferBytes = recorder.prebufferStats()?.bytes ?? 0;
  const prebufferS = (recorder.prebufferStats()?.durationMs ?? 0) / 1000;
  const rssBefore = process.memoryUsage().rss / 1024 / 1024;

  const costOf = async (muxer: Muxer) => {
    const idleCpuPerS = await idleRate();
    stopCapture();
    recorderOptions.muxer = muxer;
    const event = watcher.waitForValue(motionDetected, 1, 10_000);
    setMotion(true);
    await event;
    const download = await peer.openRecording(++streamId);
    const clipCpu0 = cpuS();
    const clipAt = performance.now();
    await waitFor(() => download.packets.length >= 2, 15_000, {
      on: [[download, "packet"]],
      message: "first fragment",
    });
    const ffmpegPid = childPids().find(
      (pid) => pid !== pushPid && /ffmpeg/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8")),
    );
    await new Promise((r) => setTimeout(r, RECORD_S * 1000));
    // No ffmpeg (the in-process muxer): it costs nothing.
    const ffmpegCpu = ffmpegPid ? procCpuS(ffmpegPid) : 0;
    const ffmpegRss = ffmpegPid ? procRssMb(ffmpegPid) : 0;
    const clipS = (performance.now() - clipAt) / 1000;
    const ownCpu = cpuS() - clipCpu0 - idleCpuPerS * clipS;
    const rssDuring = process.memoryUsage().rss / 1024 / 1024;
    setMotion(false);
    await download.done(20_000);
    const perMinute = (v: number) => (v / clipS) * 60;
    return {
      clipS,
      ffmpeg: perMinute(ffmpegCpu),
      own: perMinute(ownCpu),
      total: perMinute(ffmpegCpu + ownCpu),
      ffmpegRss,
      rssDuring,
      processes: ffmpegPid ? 1 : 0,
    };
  };
  const costs = { ffmpeg: await costOf("ffmpeg"), auto: await costOf("auto") };
  const alone = await muxersAlone(captured);

  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const lat = { ffmpeg: stats(latencies.ffmpeg), auto: stats(latencies.auto) };
  console.log(
    `\nHomeKit Secure Video: motion trigger -> first fragment at the hub, ${lat.auto.n} clips per muxer ` +
      `(alternating); ${cpus().length} CPUs, load ${load}\n`,
  );
  const latencyRow = (label: string, l: ReturnType<typeof stats>) => [
    label,
    fmt(l.p50, 0),
    fmt(l.p99, 0),
    fmt(l.mean, 0),
    fmt(l.max, 0),
  ];
  console.log(
    table([
      ["trigger -> first fragment", "p50 ms", "p99 ms", "mean ms", "max ms"],
      latencyRow(`before: ${LABEL.ffmpeg}`, lat.ffmpeg),
      latencyRow(`now: ${LABEL.auto}`, lat.auto),
    ]),
  );
  console.log(`\nOne clip of ${costs.auto.clipS.toFixed(1)} s per muxer (1280x720 15 fps H.264 + AAC-LC, copied):`);
  const costRow = (label: string, c: typeof costs.auto) => [
    label,
    `${fmt(c.ffmpeg)} CPU-s`,
    `${fmt(c.own)} CPU-s`,
    `${fmt(c.total)} CPU-s`,
    c.processes ? `${fmt(c.ffmpegRss, 1)} MB` : "none",
    `${fmt(c.rssDuring, 1)} MB`,
  ];
  console.log(
    table([
      [
        "per recorded minute",
        "ffmpeg CPU",
        "bridge CPU (minus idle)",
        "total (target <= 0.5)",
        "ffmpeg RSS",
        "bridge RSS",
      ],
      costRow(`before: ${LABEL.ffmpeg}`, costs.ffmpeg),
      costRow(`now: ${LABEL.auto}`, costs.auto),
    ]),
  );
  console.log(
    `\nThe muxing alone, per recorded minute (the camera's ${fmt(alone.spanS, 1)} s of tags from the idle ` +
      "window, muxed as fast as it goes, the in-process muxer's least of 5 runs; no HAP, no idle to subtract): " +
      `ffmpeg ${fmt(alone.ffmpeg)} CPU-s, ` +
      `in the bridge ${fmt(alone.inProcess)} CPU-s.`,
  );
  console.log(
    `\nBridge RSS before the clips ${fmt(rssBefore, 1)} MB. ` +
      "Pre-buffer (4 s asked, 4 s more for a late request, whole GOPs kept): " +
      `${prebufferS.toFixed(1)} s held in ${fmt(prebufferBytes / 1024 / 1024, 2)} MB; recording on -> pre-buffer ` +
      `full ${Math.round(warmMs)} ms (camera started cold).`,
  );
  console.log(
    "Baseline: homebridge-camera-ffmpeg 3.1.4 has no HomeKit Secure Video (added in its 4.x): the comparison is " +
      "this bridge's own ffmpeg path.",
  );
  const rows: SummaryRow[] = [
    {
      metric: "trigger -> first fragment p50/p99",
      value: `${fmt(lat.auto.p50, 0)} / ${fmt(lat.auto.p99, 0)} ms`,
      baseline: `${fmt(lat.ffmpeg.p50, 0)} / ${fmt(lat.ffmpeg.p99, 0)} ms (ffmpeg per clip)`,
      target: "<= 1000 ms",
    },
    {
      metric: "muxing CPU per recorded minute",
      value: `${fmt(alone.inProcess)} CPU-s (in the bridge, offline)`,
      baseline: `${fmt(costs.ffmpeg.ffmpeg)} CPU-s (the clip's ffmpeg)`,
      target: "<= 0.5 CPU-s",
    },
    {
      metric: "bench process CPU per clip minute, minus idle",
      value: `${fmt(costs.auto.total)} CPU-s`,
      baseline: `${fmt(costs.ffmpeg.total)} CPU-s (ffmpeg's included)`,
      target: "noisy: the test hub runs in it",
    },
    { metric: "processes per clip", value: String(costs.auto.processes), baseline: String(costs.ffmpeg.processes) },
    { metric: "pre-buffer memory", value: `${fmt(prebufferBytes / 1024 / 1024, 2)} MB for ${prebufferS.toFixed(1)} s` },
  ];
  writeSummary("hksv", rows, [
    "baseline: the same bridge with ffmpeg muxing each clip (recorder option muxer: ffmpeg)",
  ]);
}

/** CPU per minute of media for each muxer on the same tags, offline: ffmpeg (its CPU from bash's `times`)
 * and the in-process muxer (this process's CPU while it runs). */
async function muxersAlone(tags: FlvTagData[]): Promise<{ spanS: number; ffmpeg: number; inProcess: number }> {
  const media = tags.filter((t) => t.type !== FLV_SCRIPT);
  const spanS = (media.at(-1)!.dts - media.find((t) => t.body[1] !== 0)!.dts) / 1000;
  const flv = Buffer.concat([flvHeader(true, true), ...tags.map((t) => flvTag(t.type, t.dts, t.body))]);
  const script = 'exec 3>&1; "$0" "$@" >/dev/null; times >&3';
  const run = spawnSync("bash", ["-c", script, DEFAULT_FFMPEG, ...recordingArgs(true, 4000)], { input: flv });
  const [user, sys] = (run.stdout.toString().trim().split("\n")[1] ?? "").split(/\s+/).map((v) => {
    const [m, sec] = v.replace("s", "").split("m");
    return Number(m) * 60 + Number(sec);
  });
  // Five times, the least: a bridge that has run a while has the muxer's code compiled (the first run here
  // costs up to three times more).
  const runs: number[] = [];
  for (let run = 0; run < 5; run++) {
    const cpu0 = cpuS();
    const muxer = new FlvFmp4Muxer({ audio: true, fragmentMs: 4000, onSegment: () => undefined });
    for (const tag of tags) muxer.push(tag);
    await muxer.finish();
    runs.push(cpuS() - cpu0);
  }
  return { spanS, ffmpeg: ((user! + sys!) / spanS) * 60, inProcess: (Math.min(...runs) / spanS) * 60 };
}

main()
  .catch((error: Error) => {
    console.error(`hksv failed: ${error.stack ?? error.message}`);
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
