// WebRTC live view (issue 16), web and Matter, against the HomeKit live view, in the same run on the same camera:
// how fast a picture appears (warm and cold) and what a viewer costs. Figures are printed, not asserted.
//
// The camera is the Nanit simulator's (720p H.264 main, 15 fps, 2 s GOP, AAC over RTMP). The bridge's
// pieces run in a child process (bench/_camera-bridge.ts: media layer with media.webrtc on 127.0.0.1,
// HomeKit host with the camera as its own accessory, hub linger 250 ms); WebRTC offers reach its
// WebRtcService over IPC, as the WHEP route hands them over (the HTTP hop is left out).
//   HomeKit: hap-controller; t0 = the SetupEndpoints write, where the Home app starts when the tile is
//     tapped (then the SetupEndpoints read, then the START write of SelectedRTPStreamConfiguration);
//     t1 = the SRTP packet that completes the first access unit holding SPS, PPS and an IDR (decodable;
//     decoded by ffprobe outside the timed path). Earlier runs started at the START write, after SetupEndpoints
//     had run: that left out a round trip and the bridge's set-up of ports and keys, so it was not comparable
//     with the WebRTC request -> first frame.
//   WebRTC (werift viewer): t0 = the offer handed over; t1 = the same first decodable access unit.
//   Matter WebRTC (werift viewer; the camera as its own Matter node, commissioned once by a matter.js
//     controller, test/helpers/matter-camera-rig.ts): t0 = ProvideOffer sent; t1 = the same first
//     decodable access unit (the Answer command comes back to the controller's requestor in between).
//     Each sample ends with EndSession.
//   WebRTC (Chromium): t0 = in the page, before the offer is made; t1 = the first decoded frame the
//     video element presents (requestVideoFrameCallback): what a user sees.
//   warm: the camera pushes all along (keep warm). cold: it does not push (the hub stopped it), so the
//   request makes the bridge ask the camera first.
// CPU per viewer: the bridge process's CPU time from /proc (its own utime+stime, its reaped children's
// cutime+cstime, and each live ffmpeg child's utime+stime, so a child that starts or exits inside a window
// counts for exactly the time it ran there), the camera pushing all along. Measured in --cpu-rounds rounds
// per kind of viewer; each round has three back-to-back windows of --cpu-seconds: no viewer, one viewer,
// two viewers (HomeKit: one, the accessory has one stream service). The first viewer's cost is the one-viewer
// window minus that round's idle window, the second viewer's the two-viewer window minus the one-viewer one:
// paired within a round, so a slow change of the machine's load cancels out. The median over the rounds is
// printed with the spread (lowest..highest); a median inside its own spread around zero reads as noise.
// HomeKit viewers ask for Opus (as the Home app does); WebRTC viewers get Opus.
// os.loadavg() is printed with the figures; a run with a 1-minute load above 3 is marked loaded.
//
// Run: npm run bench -- webrtc [--runs 10] [--cpu-seconds 10] [--cpu-rounds 5] [--no-chromium] [--no-matter]
//   or test/netns.sh node_modules/.bin/node bench/webrtc.ts
//   BENCH_CHILD_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds node options to the bridge child (a CPU profile
//   of the viewers' windows: what a viewer costs, by function).
import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { Environment } from "@matter/main";
import { WebRtcTransportDefinitions } from "@matter/main/clusters/web-rtc-transport-definitions";
import type { WebRtcTransportRequestor } from "@matter/main/clusters/web-rtc-transport-requestor";
import { EndpointNumber, StreamUsage } from "@matter/main/types";
import type { Page } from "playwright-core";
import { stringify } from "yaml";
import { NanitSimulator } from "../sim/nanit/index.ts";
import {
  AUDIO_CODEC_OPUS,
  parseSetupEndpointsResponse,
  selectedStreamConfiguration,
  setupEndpointsRequest,
  SETUP_STATUS,
} from "../test/helpers/camera-tlv.ts";
import { E2E_PIN } from "../test/helpers/e2e-config.ts";
import { HapClient, type HapCharacteristic } from "../test/helpers/hap-client.ts";
import { CameraControllerRig, type RequestorCall } from "../test/helpers/matter-camera-rig.ts";
import { chromiumAvailable, launchChromium } from "../test/helpers/page-qr.ts";
import { H264Depacketizer } from "../test/helpers/rtp-h264.ts";
import { SrtpSink } from "../test/helpers/rtp-receiver.ts";
import type { RtpPacket } from "../test/helpers/srtp.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { TestViewer } from "../test/helpers/whep-client.ts";
import { CameraBridgeChild } from "./_camera-bridge.ts";
import { argValue, deferred, fmt, sleep, stats, table, withTimeout, writeSummary, type SummaryRow } from "./lib.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh (npm run bench does)");

const RUNS = Number(argValue("--runs", "10"));
const CPU_SECONDS = Number(argValue("--cpu-seconds", "10"));
const CPU_ROUNDS = Number(argValue("--cpu-rounds", "5"));
const CHROMIUM = !process.argv.includes("--no-chromium") && chromiumAvailable();
const CPU = !process.argv.includes("--no-cpu");
const MATTER = !process.argv.includes("--no-matter");
/** The bridge's Matter port in the bench config: the camera node gets + 10, the controller + 100. */
const MATTER_PORT = 5540;
/** A 1-minute load above this marks the figures as taken on a loaded machine. */
const LOADED = 3;
const LINGER_MS = 250;
const CLK_TCK = 100;
const dir = mkdtempSync(join(tmpdir(), "hb-bench-webrtc-"));
const cleanups: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];

/** SPS and PPS seen, then an IDR slice: the access unit just closed decodes alone. */
function keyframeComplete(types: readonly number[]): boolean {
  const sps = types.indexOf(7);
  const pps = types.indexOf(8);
  const idr = types.indexOf(5);
  return sps >= 0 && pps >= 0 && idr > Math.max(sps, pps);
}

/** Resolves with performance.now() of the packet that completes the first decodable access unit. */
function firstKeyframe(packets: RtpPacket[] | SrtpSink): Promise<number> {
  const depacketizer = new H264Depacketizer({ fromKeyframe: true });
  const done = deferred<number>();
  const look = (packet: RtpPacket) => {
    depacketizer.push(packet);
    if (packet.marker && keyframeComplete(depacketizer.nalTypes)) done.resolve(performance.now());
  };
  if (packets instanceof SrtpSink) packets.on("packet", look);
  else {
    // werift's track pushes into the viewer's array: watch it grow.
    const push = packets.push.bind(packets);
    packets.push = (...items: RtpPacket[]) => {
      for (const item of items) look(item);
      return push(...items);
    };
  }
  return done.promise;
}

/** Clock ticks of the bridge: its own, its reaped children's (an ffmpeg that exited), its live children's. */
function ticks(pid: number): number {
  const read = (p: number) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      // Fields after "(comm) ": state, ppid, ... utime (14), stime (15), cutime (16), cstime (17).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return {
        ppid: Number(fields[1]),
        own: Number(fields[11]) + Number(fields[12]),
        reaped: Number(fields[13]) + Number(fields[14]),
      };
    } catch {
      return undefined;
    }
  };
  const bridge = read(pid);
  let total = bridge ? bridge.own + bridge.reaped : 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = read(Number(name));
    if (s?.ppid === pid) total += s.own;
  }
  return total;
}

/** CPU-s per minute of the bridge and its children over one window. */
async function cpuPerMinute(pid: number): Promise<number> {
  const before = ticks(pid);
  const started = performance.now();
  await sleep(CPU_SECONDS * 1000);
  const seconds = (performance.now() - started) / 1000;
  return ((ticks(pid) - before) / CLK_TCK / seconds) * 60;
}

/** One kind's rounds: idle windows, and the first and second viewer's cost paired within each round. */
interface CpuRounds {
  idle: number[];
  first: number[];
  second: number[];
}

/** Median with the spread over the rounds: "0.42 (0.30..0.55)". */
function spread(samples: number[]): string {
  if (!samples.length) return "-";
  const s = stats(samples);
  return `${fmt(s.p50)} (${fmt(s.min)}..${fmt(s.max)})`;
}

const median = (samples: number[]) => (samples.length ? stats(samples).p50 : Number.NaN);

// ---- HomeKit: one live view with hap-controller ----------------------------------------------------

async function homekitView(
  client: HapClient,
): Promise<{ t0: number; keyframe: Promise<number>; stop: () => Promise<void> }> {
  const find = (characteristic: string) =>
    client.find({ service: Service.CameraRTPStreamManagement.UUID, characteristic });
  const sessionId = Buffer.from(randomUUID().replaceAll("-", ""), "hex");
  const [video, audio] = [await SrtpSink.open(), await SrtpSink.open()];
  const setup = await find(Characteristic.SetupEndpoints.UUID);
  const selected: HapCharacteristic = await find(Characteristic.SelectedRTPStreamConfiguration.UUID);
  const request = { sessionId, address: "127.0.0.1", videoPort: video.port, audioPort: audio.port };
  const keyframe = firstKeyframe(video);
  // The user's tap: the Home app's SetupEndpoints write is the first request of a live view.
  const t0 = performance.now();
  await client.write([setup, setupEndpointsRequest({ ...request, video: video.keys, audio: audio.keys })]);
  const [value] = await client.read(setup);
  if (parseSetupEndpointsResponse(value as string).status !== SETUP_STATUS.success)
    throw new Error("SetupEndpoints failed");
  const ssrc = () => randomBytes(4).readUInt32BE(0);
  const start = selectedStreamConfiguration({
    sessionId,
    command: "start",
    video: {
      ...{ profile: "main", level: "4.0", width: 1280, height: 720, fps: 15, payloadType: 99, ssrc: ssrc() },
      ...{ maxBitrate: 2000, rtcpInterval: 0.5, mtu: 1378 },
    },
    audio: {
      ...{ codec: AUDIO_CODEC_OPUS, sampleRateKHz: 24, packetTimeMs: 20, payloadType: 110, ssrc: ssrc() },
      ...{ maxBitrate: 24, rtcpInterval: 5, comfortNoisePayloadType: 13 },
    },
  });
  await client.write([selected, start]);
  const stop = async () => {
    await client.write([selected, selectedStreamConfiguration({ sessionId, command: "end" })]).catch(() => undefined);
    video.close();
    audio.close();
  };
  return { t0, keyframe, stop };
}

// ---- WebRTC: a werift viewer, and Chromium ----------------------------------------------------------

async function weriftView(
  bridge: CameraBridgeChild,
): Promise<{ t0: number; keyframe: Promise<number>; stop: () => Promise<void> }> {
  const viewer = new TestViewer();
  const offer = await viewer.offer();
  const keyframe = firstKeyframe(viewer.video);
  const t0 = performance.now();
  const { id, answer } = await bridge.webrtcOpen(offer);
  await viewer.accept(answer);
  return {
    t0,
    keyframe,
    stop: async () => {
      await bridge.webrtcClose(id).catch(() => undefined);
      await viewer.close();
    },
  };
}

// ---- Matter WebRTC: a werift viewer through the camera's Matter node --------------------------------

/** The controller's rig and an emitter that fires at each command the camera sends its requestor. */
interface MatterSide {
  rig: CameraControllerRig;
  calls: EventEmitter;
}

async function commissionMatter(pairingCode: string): Promise<MatterSide> {
  // The bench owns signals and cleanup (the finally below), as the bridge does.
  Environment.default.vars.set("runtime.signals", false);
  const rig = await CameraControllerRig.commission({
    dir,
    port: MATTER_PORT + 100,
    camera: { pairingCode },
    id: "bench-controller",
  });
  const calls = new EventEmitter();
  // Seen as it lands, not on a poll: the answer's arrival is inside the timed path.
  const push = rig.calls.push.bind(rig.calls);
  rig.calls.push = (...items: RequestorCall[]) => {
    const length = push(...items);
    calls.emit("call");
    return length;
  };
  return { rig, calls };
}

async function matterView({
  rig,
  calls,
}: MatterSide): Promise<{ t0: number; keyframe: Promise<number>; stop: () => Promise<void> }> {
  const viewer = new TestViewer();
  const offer = await viewer.offer();
  const keyframe = firstKeyframe(viewer.video);
  const t0 = performance.now();
  // videoStreamId / audioStreamId null: the camera picks its own streams, nothing to allocate first.
  const { webRtcSessionId } = await rig.provider().provideOffer({
    webRtcSessionId: null,
    sdp: offer,
    streamUsage: StreamUsage.LiveView,
    originatingEndpointId: EndpointNumber(rig.requestorEndpoint),
    videoStreamId: null,
    audioStreamId: null,
  });
  const answer = await waitFor(
    () => rig.calls.find((c) => c.command === "answer" && c.request.webRtcSessionId === webRtcSessionId),
    30_000,
    { on: [[calls, "call"]], message: `the camera's answer for session ${webRtcSessionId}` },
  );
  await viewer.accept((answer.request as WebRtcTransportRequestor.AnswerRequest).sdp);
  return {
    t0,
    keyframe,
    stop: async () => {
      const reason = WebRtcTransportDefinitions.WebRtcEndReason.UserHangup;
      await rig
        .provider()
        .endSession({ webRtcSessionId, reason })
        .catch(() => undefined);
      await viewer.close();
    },
  };
}

/** In the page, as the web page does (src/web/static/live.js): the offer goes at once, the candidates follow
 * as they are gathered (trickled, one hand-over at a time with all queued); ms until the first decoded frame
 * is presented. */
const CHROMIUM_VIEW = `(async () => {
  const t0 = performance.now();
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  const pending = [];
  let id;
  let busy = false;
  const frag = (list) => {
    const sdp = pc.localDescription.sdp;
    const lines = [sdp.match(/^a=ice-ufrag:.*$/m)[0], sdp.match(/^a=ice-pwd:.*$/m)[0]];
    for (const c of list) {
      if (c === null) lines.push("a=end-of-candidates");
      else if (c.candidate) lines.push("a=mid:" + c.sdpMid, "a=" + c.candidate);
    }
    return lines.join("\\r\\n") + "\\r\\n";
  };
  const trickle = () => {
    if (id === undefined || busy || pending.length === 0) return;
    busy = true;
    window.benchWhepPatch(id, frag(pending.splice(0))).catch((e) => console.warn(e.message))
      .finally(() => { busy = false; trickle(); });
  };
  pc.onicecandidate = (e) => { pending.push(e.candidate); trickle(); };
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const video = document.createElement("video");
  video.muted = true; video.autoplay = true; document.body.append(video);
  const stream = new MediaStream(); video.srcObject = stream;
  pc.ontrack = (e) => stream.addTrack(e.track);
  await pc.setLocalDescription(await pc.createOffer());
  const offered = performance.now() - t0;
  let connected = 0;
  pc.onconnectionstatechange = () => { if (pc.connectionState === "connected") connected = performance.now() - t0; };
  const answer = await window.benchWhep(pc.localDescription.sdp);
  id = answer.id;
  const answered = performance.now() - t0;
  trickle();
  await pc.setRemoteDescription({ type: "answer", sdp: answer.answer });
  await new Promise((r) => video.requestVideoFrameCallback(() => r()));
  const ms = performance.now() - t0;
  pc.close(); video.remove();
  return { ms, id, phases: [offered, answered, connected] };
})()`;

interface ChromiumRun {
  ms: number;
  id: string;
  /** ms after t0: offer ready (sent without candidates, which are trickled), answer back, connected (ICE + DTLS). */
  phases: [number, number, number];
}

const chromiumPhases: ChromiumRun["phases"][] = [];

async function chromiumView(page: Page): Promise<ChromiumRun> {
  const run = (await withTimeout(page.evaluate(CHROMIUM_VIEW), 30_000, "Chromium's first frame")) as ChromiumRun;
  chromiumPhases.push(run.phases);
  return run;
}

// ---- the run -------------------------------------------------------------------------------------

interface Timings {
  homekit: number[];
  werift: number[];
  matter: number[];
  chromium: number[];
  /** Cold runs: from the ingest holding the camera's first keyframe to the viewer's first picture. */
  afterHeld: { homekit: number[]; werift: number[]; matter: number[] };
}

async function main(): Promise<void> {
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [3_600_000, 3_600_000] });
  const urls = await sim.start();
  cleanups.push(() => sim.stop());
  process.env.BENCH_NANIT_PASSWORD = sim.password;
  const configFile = join(dir, "config.yaml");
  writeFileSync(
    configFile,
    stringify({
      homekit: { port: 0, advertiser: "none", pincode: E2E_PIN, name: "Bench Camera" },
      matter: { enabled: false, port: MATTER_PORT },
      web: { enabled: false },
      media: {
        ...{ rtmpHost: "127.0.0.1", bind: "127.0.0.1", rtmpPort: 0 },
        webrtc: { interfaces: ["127.0.0.1"], maxSessions: 8 },
      },
      accounts: [
        {
          ...{ vendor: "nanit", name: "nursery", email: sim.email, password: "${BENCH_NANIT_PASSWORD}" },
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
      log: { level: "warn" },
    }),
  );
  const progress = (what: string) => process.stderr.write(`\r  ${what}            `);
  const bridge = new CameraBridgeChild({
    ...{ configFile, dataDir: join(dir, "data"), lingerMs: LINGER_MS },
    matterCamera: MATTER,
  });
  cleanups.push(() => bridge.stop());
  const ready = await withTimeout(bridge.ready, 60_000, "the bridge ready");
  const client = await HapClient.pair(ready.cameraPort, ready.pincode);
  cleanups.push(() => client.close());
  let matter: MatterSide | undefined;
  if (ready.matterPairingCode) {
    progress("commissioning the Matter camera");
    matter = await withTimeout(commissionMatter(ready.matterPairingCode), 120_000, "the Matter camera commissioned");
    const { rig } = matter;
    cleanups.push(() => rig.close());
  }
  let page: Page | undefined;
  if (CHROMIUM) {
    const chromium = await launchChromium(dir, [
      "--allow-loopback-in-peer-connection",
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--autoplay-policy=no-user-gesture-required",
    ]);
    cleanups.push(() => chromium.context.close());
    page = chromium.page;
    // Chromium gathers host candidates (here 127.0.0.1) for a page allowed the camera, as a LAN browser
    // gathers its own; otherwise only the default route's address, and the namespace has no route. The page
    // is served by Playwright itself (nothing listens on that port).
    const origin = "http://127.0.0.1:9";
    await page.route(`${origin}/**`, (route) =>
      route.fulfill({ contentType: "text/html", body: "<title>bench</title>" }),
    );
    await chromium.context.grantPermissions(["camera", "microphone"], { origin });
    await page.goto(`${origin}/`);
    await page.exposeFunction("benchWhep", (offer: string) => bridge.webrtcOpen(offer));
    await page.exposeFunction("benchWhepPatch", (id: string, fragment: string) => bridge.webrtcTrickle(id, fragment));
  }
  const idle = async () => {
    for (;;) {
      const state = await bridge.state();
      if (!state.active && !state.publishing && sim.livePushes === 0) return;
      await sleep(50);
    }
  };

  const measure = async (warm: boolean): Promise<Timings> => {
    const t: Timings = {
      ...{ homekit: [], werift: [], matter: [], chromium: [] },
      afterHeld: { homekit: [], werift: [], matter: [] },
    };
    for (let i = 0; i < RUNS; i++) {
      progress(`${warm ? "warm" : "cold"} ${i + 1}/${RUNS}`);
      for (const kind of ["homekit", "werift", "matter", "chromium"] as const) {
        if ((kind === "chromium" && !page) || (kind === "matter" && !matter)) continue;
        if (!warm) await idle();
        if (kind === "chromium") {
          const { ms, id } = await chromiumView(page!);
          t.chromium.push(ms);
          await bridge.webrtcClose(id).catch(() => undefined);
          continue;
        }
        const view = await open(kind);
        const at = await withTimeout(view.keyframe, 30_000, `${kind}'s first keyframe`);
        t[kind].push(at - view.t0);
        // Cold: how long the camera took is the camera's; from its first keyframe on it is the bridge's.
        const held = (await bridge.state()).keyframeHeldAt;
        if (!warm && held !== undefined) t.afterHeld[kind].push(at - (held - performance.timeOrigin));
        await view.stop();
      }
    }
    return t;
  };

  const open = (kind: "homekit" | "werift" | "matter") =>
    kind === "homekit" ? homekitView(client) : kind === "werift" ? weriftView(bridge) : matterView(matter!);
  const loads: Record<string, number> = { start: loadavg()[0]! };
  await bridge.keepWarm(true);
  await measure(true); // warm-up: code paths compiled, Chromium started
  chromiumPhases.length = 0;
  const warm = await measure(true);
  const warmPhases = [...chromiumPhases];
  loads.warm = loadavg()[0]!;
  await bridge.keepWarm(false);
  const cold = await measure(false);
  loads.cold = loadavg()[0]!;

  // CPU: the camera pushing all along; rounds of no viewer, one, two (paired windows, see the header).
  await bridge.keepWarm(true);
  const cpu: Record<"homekit" | "werift" | "matter", CpuRounds> = {
    homekit: { idle: [], first: [], second: [] },
    werift: { idle: [], first: [], second: [] },
    matter: { idle: [], first: [], second: [] },
  };
  // One HomeKit viewer: a second one would need the accessory's second stream service.
  for (const kind of ["homekit", "werift", "matter"] as const) {
    if (!CPU || (kind === "matter" && !matter)) continue;
    for (let round = 0; round < CPU_ROUNDS; round++) {
      progress(`cpu ${kind} round ${round + 1}/${CPU_ROUNDS}`);
      const windows = [await cpuPerMinute(bridge.pid)];
      const views = [];
      for (let i = 0; i < (kind === "homekit" ? 1 : 2); i++) {
        const view = await open(kind);
        await withTimeout(view.keyframe, 30_000, "first keyframe");
        views.push(view);
        // Past the held GOP's burst and the Opus encoder's start.
        await sleep(2_000);
        windows.push(await cpuPerMinute(bridge.pid));
      }
      for (const view of views) await view.stop();
      const [idle, one, two] = windows as [number, number, number | undefined];
      cpu[kind].idle.push(idle);
      cpu[kind].first.push(one - idle);
      if (two !== undefined) cpu[kind].second.push(two - one);
    }
  }
  loads.cpu = loadavg()[0]!;
  process.stderr.write("\n");
  const loaded = Math.max(...Object.values(loads)) > LOADED;
  const loadNote =
    `1-minute load (os.loadavg) at start ${fmt(loads.start!)}, after warm ${fmt(loads.warm!)}, ` +
    `after cold ${fmt(loads.cold!)}, after CPU ${fmt(loads.cpu!)}` +
    (loaded ? `: LOADED run (load > ${LOADED}), figures pessimistic` : "");

  const row = (label: string, samples: number[]) => {
    if (!samples.length) return [label, "-", "-", "-", "-"];
    const s = stats(samples);
    return [label, fmt(s.p50 / 1000), fmt(s.p99 / 1000), fmt(s.min / 1000), fmt(s.max / 1000)];
  };
  console.log(`\nRequest -> first picture, seconds (${RUNS} runs each; 720p H.264 main camera)`);
  console.log(
    table([
      ["", "p50", "p99", "min", "max"],
      row("HomeKit warm, from the SetupEndpoints write (first decodable frame received)", warm.homekit),
      row("WebRTC warm, werift viewer (same measure)", warm.werift),
      row("Matter WebRTC warm, werift viewer (same measure)", warm.matter),
      row("WebRTC warm, Chromium (first decoded frame shown)", warm.chromium),
      row("HomeKit cold", cold.homekit),
      row("WebRTC cold, werift viewer", cold.werift),
      row("Matter WebRTC cold, werift viewer", cold.matter),
      row("WebRTC cold, Chromium", cold.chromium),
      row("HomeKit cold, after the first keyframe is held", cold.afterHeld.homekit),
      row("WebRTC cold, werift, after the first keyframe is held", cold.afterHeld.werift),
      row("Matter WebRTC cold, werift, after the first keyframe is held", cold.afterHeld.matter),
    ]),
  );
  if (warmPhases.length) {
    const p50 = (i: number) => fmt(stats(warmPhases.map((p) => p[i]!)).p50 / 1000);
    console.log(
      `Chromium warm, p50 seconds after the request: offer ready ${p50(0)}, answer back ${p50(1)}, ` +
        `ICE+DTLS up ${p50(2)}, first frame shown ${fmt(stats(warm.chromium).p50 / 1000)}`,
    );
  }
  const idleWindows = [...cpu.homekit.idle, ...cpu.werift.idle, ...cpu.matter.idle];
  const first = (kind: keyof typeof cpu) => median(cpu[kind].first);
  const second = (kind: keyof typeof cpu) => median(cpu[kind].second);
  console.log(
    `\nCPU-s per viewer-minute (bridge + its ffmpeg), median of ${CPU_ROUNDS} rounds of ${CPU_SECONDS} s windows ` +
      `(lowest..highest); idle with the camera pushing: ${spread(idleWindows)}`,
  );
  console.log(
    table([
      ["", "1st viewer", "2nd viewer", "idle windows"],
      ["HomeKit (native relay + Opus ffmpeg per viewer)", spread(cpu.homekit.first), "-", spread(cpu.homekit.idle)],
      [
        "WebRTC (werift, one Opus ffmpeg per camera)",
        spread(cpu.werift.first),
        spread(cpu.werift.second),
        spread(cpu.werift.idle),
      ],
      [
        "Matter WebRTC (werift, same sender)",
        spread(cpu.matter.first),
        spread(cpu.matter.second),
        spread(cpu.matter.idle),
      ],
    ]),
  );
  console.log(
    `A second WebRTC viewer of the same camera adds ${fmt(second("werift"))} CPU-s/min (its Opus is shared).`,
  );
  const extra = first("werift") - first("homekit");
  const warmP50 = warm.chromium.length ? stats(warm.chromium).p50 : stats(warm.werift).p50;
  const p50 = (samples: number[]) => (samples.length ? `${fmt(stats(samples).p50 / 1000)} s` : "-");
  const mark = loaded ? " (loaded)" : "";
  // The three paths side by side (issue 16): warm <= 0.3 s; each viewer <= HomeKit's CPU + 0.2 CPU-s/min.
  console.log(`\nAll three live-view paths, same run, same camera${mark}`);
  console.log(
    table([
      ["", "warm p50", "cold p50", "CPU-s/min, 1st viewer", "CPU-s/min, 2nd viewer", "above HomeKit"],
      [
        "HomeKit (hap-controller, from SetupEndpoints)",
        p50(warm.homekit),
        p50(cold.homekit),
        fmt(first("homekit")),
        "-",
        "-",
      ],
      ...(["werift", "matter"] as const).map((kind) => [
        kind === "werift" ? "web WebRTC (WHEP offer, werift)" : "Matter WebRTC (ProvideOffer, werift)",
        p50(warm[kind]),
        p50(cold[kind]),
        fmt(first(kind)),
        fmt(second(kind)),
        fmt(first(kind) - first("homekit")),
      ]),
    ]),
  );
  console.log(loadNote);
  const rows: SummaryRow[] = [
    { metric: "WebRTC warm first picture p50", value: `${fmt(warmP50 / 1000)} s`, target: "<= 0.3 s" },
    {
      metric: "HomeKit warm first picture p50 (from SetupEndpoints)",
      value: `${fmt(stats(warm.homekit).p50 / 1000)} s`,
    },
    {
      metric: "WebRTC cold first picture p50",
      value: `${fmt(stats(cold.chromium.length ? cold.chromium : cold.werift).p50 / 1000)} s`,
    },
    { metric: "WebRTC first viewer CPU-s/min above HomeKit's", value: fmt(extra), target: "<= 0.2" },
    {
      metric: "WebRTC extra viewer CPU-s/min (median, spread)",
      value: spread(cpu.werift.second),
      baseline: `HomeKit ${fmt(first("homekit"))}`,
    },
    { metric: `Matter WebRTC warm first picture p50${mark}`, value: p50(warm.matter), target: "<= 0.3 s" },
    { metric: `Matter WebRTC cold first picture p50${mark}`, value: p50(cold.matter) },
    {
      metric: "Matter WebRTC first viewer CPU-s/min above HomeKit's",
      value: fmt(first("matter") - first("homekit")),
      target: "<= 0.2",
    },
    { metric: "Matter WebRTC extra viewer CPU-s/min (median, spread)", value: spread(cpu.matter.second) },
    { metric: "1-minute load, highest during the run", value: fmt(Math.max(...Object.values(loads))) },
  ];
  writeSummary("webrtc", rows);
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
}
process.exit(0);
