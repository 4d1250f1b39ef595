// End to end, the whole camera chain: the bridge started from its CLI against the Nanit simulator,
// whose camera answers PUT_STREAMING by pushing real RTMP (H.264 main 1280x720 at 15 fps + AAC) with
// ffmpeg to the bridge's ingest; hap-controller paired with the standalone camera accessory plays
// Apple Home's side (SetupEndpoints, SelectedRTPStreamConfiguration START / END, snapshots), and UDP
// receivers verify every SRTP authentication tag with the negotiated keys, decrypt, and hand the
// H.264 to ffprobe. Then the failure modes: a control-socket drop and a stalled push during a live
// view (the push is re-requested and the same viewer's video resumes), STOP (ffmpeg gone, the camera
// told to stop after the hub's linger), SIGTERM and SIGKILL of the bridge during a live view (no
// ffmpeg of the bridge survives). Runs inside test/netns.sh (loopback-only namespace).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { H264Depacketizer } from "../helpers/rtp-h264.ts";
import { SrtpReceiver, type RtpPacket } from "../helpers/srtp.ts";
import { SETUP_STATUS } from "../helpers/camera-tlv.ts";
import { AUDIO_PT, jpegSize, opusFrameMs, VIDEO_PT, Viewer } from "../helpers/camera-fixture.ts";
import { cameraPairingLine, ffmpegChildrenOf, streamSecrets } from "../helpers/camera-live.ts";
import { waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs with the camera");

/** The hub's linger after the last viewer, shortened for this test (30 s in real use). */
const LINGER_MS = 1500;
const NAL_SPS = 7;
const NAL_IDR = 5;

interface SimStreamEvent {
  type: "stream-start" | "stream-stop" | "stream-renew";
  at: number;
  url: string;
  reason?: string;
}

/** Frames per second from the RTP timestamps (90 kHz) of the frames' last packets. */
function rtpFps(packets: RtpPacket[]): number {
  const stamps = [...new Set(packets.filter((p) => p.marker).map((p) => p.timestamp))];
  const span = (stamps.at(-1)! - stamps[0]!) >>> 0;
  return ((stamps.length - 1) * 90_000) / span;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe("a Nanit camera's live view in Apple Home, end to end", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-nanit-camera-"));
  const dataDir = join(dir, "data");
  const configFile = join(dir, "config.yaml");
  const pairingFile = join(dir, "camera-pairing.json");
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000], streamProfile: "720p" });
  const deviceId = `nanit:${sim.babies[0]!.cameraUid}`;
  const simEvents: SimStreamEvent[] = [];
  const allLines: LogLine[] = [];
  const stderr: string[] = [];
  const viewers: Viewer[] = [];
  const clients: HapClient[] = [];
  const figures: string[] = [];
  let bridge: BridgeProcess;
  let client: HapClient;
  /** The viewer the live-view tests share (START, snapshot, drop, stall, STOP). */
  let live: Viewer;

  const eventsSince = (mark: number, type: SimStreamEvent["type"]) =>
    simEvents.slice(mark).filter((e) => e.type === type);
  const awaitSim = (
    mark: number,
    type: SimStreamEvent["type"],
    timeoutMs: number,
    predicate: (e: SimStreamEvent) => boolean = () => true,
  ): Promise<SimStreamEvent> =>
    waitFor(() => eventsSince(mark, type).find(predicate), timeoutMs, {
      on: [[sim, type]],
      message: `simulator ${type} (${JSON.stringify(simEvents.slice(mark).map((e) => [e.type, e.reason]))})`,
    });
  const streamingRequests = (mark: number) =>
    sim
      .requests("PUT_STREAMING")
      .slice(mark)
      .map((r) => r.request.streaming?.status ?? "STARTED");

  /** Start the bridge on the shared config and data; resolves with the camera's HAP port once it listens. */
  async function startBridge(): Promise<{ port: number; setupCode: string; paired: boolean }> {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir], {
      E2E_NANIT_PASSWORD: sim.password,
      HEARTHBRIDGE_TEST_HUB_LINGER_MS: String(LINGER_MS),
    });
    bridge.on("line", (line) => allLines.push(line));
    bridge.child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
    await bridge.ready(60_000);
    const pairing = await cameraPairingLine(bridge, deviceId);
    await bridge.waitForLine((l) => /Robin Nanit is reachable again/.test(l.msg), 20_000);
    return pairing;
  }

  async function viewer(on: HapClient): Promise<Viewer> {
    const v = await Viewer.setUp(on, { index: 0, dir });
    viewers.push(v);
    assert.equal(v.response.status, SETUP_STATUS.success, "SetupEndpoints accepted");
    return v;
  }

  /** Wait for a keyframe (SPS then IDR) at the viewer's receiver, from a depacketizer attached now. */
  function nextKeyframe(
    v: Viewer,
    timeoutMs: number,
    what: string,
  ): { depacketizer: H264Depacketizer; keyframe: Promise<number> } {
    const depacketizer = new H264Depacketizer({ fromKeyframe: true });
    v.video.on("packet", (packet) => depacketizer.push(packet));
    const keyframe = v.video
      .until(() => depacketizer.nalTypes.includes(NAL_SPS) && depacketizer.nalTypes.includes(NAL_IDR), timeoutMs, what)
      .then(() => performance.now());
    return { depacketizer, keyframe };
  }

  before(async () => {
    const urls = await sim.start();
    for (const type of ["stream-start", "stream-stop", "stream-renew"] as const) {
      sim.on(type, (e: { url: string; reason?: string }) =>
        simEvents.push({ type, at: performance.now(), url: e.url, reason: e.reason }),
      );
    }
    await writeE2EConfig(configFile, {
      name: "E2E Camera Bridge",
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${E2E_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
      web: { enabled: false },
      logLevel: "debug",
    });
    // Matter plays no part in a HomeKit live view: off, to keep the file fast.
    const config = parse(readFileSync(configFile, "utf8")) as { matter: Record<string, unknown> };
    config.matter.enabled = false;
    writeFileSync(configFile, stringify(config));

    const camera = await startBridge();
    assert.equal(camera.paired, false);
    client = await HapClient.pair(camera.port, camera.setupCode, { file: pairingFile });
    clients.push(client);
  });

  after(async () => {
    const problems = allLines.filter((l) => l.level >= 40).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge warnings/errors:\n${problems.join("\n")}\n`);
    if (figures.length) process.stderr.write(`camera figures:\n  ${figures.join("\n  ")}\n`);
    if (process.env.E2E_DUMP) writeFileSync(process.env.E2E_DUMP, allLines.map((l) => JSON.stringify(l)).join("\n"));
    for (const v of viewers) v.close();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "cold START at 1280x720 (copy): the camera is asked to push, every SRTP tag verifies, ffprobe decodes H.264 " +
      "main 1280x720 at 15 fps, audio is Opus",
    async () => {
      live = await viewer(client);
      const mark = simEvents.length;
      const requests = sim.requests("PUT_STREAMING").length;
      const startAt = performance.now();
      const first = firstPacket(live);
      const { keyframe } = nextKeyframe(live, 15_000, "first keyframe");
      await live.start({ width: 1280, height: 720 });
      const writeDone = performance.now();
      const pushStarted = await awaitSim(mark, "stream-start", 1000);
      const [firstPacketAt, keyframeAt] = await Promise.all([first, keyframe]);
      figures.push(
        `cold START write -> camera's ffmpeg spawned ${Math.round(pushStarted.at - startAt)} ms, -> write answered ` +
          `${Math.round(writeDone - startAt)} ms, -> first SRTP packet ${Math.round(firstPacketAt - startAt)} ms, -> ` +
          `first keyframe ${Math.round(keyframeAt - startAt)} ms`,
      );

      // The camera was asked once, over its control socket, to push to the bridge's ingest with a key.
      assert.deepEqual(streamingRequests(requests), ["STARTED"]);
      const pushUrl = sim.requests("PUT_STREAMING").at(-1)!.request.streaming!.rtmp_url!;
      assert.match(pushUrl, /^rtmp:\/\/127\.0\.0\.1:\d+\/live\/[\w-]{16,}$/);
      assert.equal(pushStarted.url, pushUrl);
      const session = allLines.find((l) => /: live stream \(/.test(l.msg) && l.mode !== undefined);
      assert.equal(session?.mode, "copy", "the camera's 1280x720 main fits the request: copied");

      const video = await live.decoded(30, "cold");
      assert.deepEqual([video.width, video.height], [1280, 720]);
      assert.ok(video.frames >= 30, `decoded ${video.frames} frames`);
      assert.equal(video.profile, "Main", "untouched: the camera's main profile");
      const fps = rtpFps(live.video.packets);
      assert.ok(Math.abs(fps - 15) < 1.5, `15 fps requested and sent (RTP timestamps say ${fps.toFixed(2)})`);
      assert.equal(live.video.authFailures, 0, "every video authentication tag verifies with the negotiated key");
      assert.ok(live.video.packets.every((p) => p.ssrc === live.response.videoSsrc && p.payloadType === VIDEO_PT));
      const stranger = new SrtpReceiver({ key: Buffer.alloc(16, 7), salt: Buffer.alloc(14, 7) });
      assert.throws(() => stranger.unprotect(live.video.raw[0]!), /does not verify/, "the tags really are checked");

      await live.audio.until(() => live.audio.packets.length >= 25, 5000, "Opus packets");
      assert.equal(live.audio.authFailures, 0);
      assert.ok(live.audio.packets.every((p) => p.payloadType === AUDIO_PT && p.ssrc === live.response.audioSsrc));
      assert.ok(
        live.audio.packets.every((p) => opusFrameMs(p.payload) === 20),
        "20 ms Opus frames (TOC byte)",
      );
      assert.equal(ffmpegChildrenOf(bridge.child.pid!).length, 1, "one ffmpeg for the one viewer");
    },
  );

  it("answers snapshots with JPEGs of the requested size from the pushing camera", async () => {
    for (const [width, height] of [
      [1280, 720],
      [640, 360],
    ] as const) {
      const asked = performance.now();
      const jpeg = await client.http.getImage(width, height);
      figures.push(`snapshot ${width}x${height} (warm) ${Math.round(performance.now() - asked)} ms`);
      assert.deepEqual(
        [jpeg[0], jpeg[1], jpeg.at(-2), jpeg.at(-1)],
        [0xff, 0xd8, 0xff, 0xd9],
        "JPEG start and end markers",
      );
      assert.deepEqual(jpegSize(jpeg), { width, height });
    }
  });

  it("a control-socket drop in live view: the push is re-requested, the same viewer's video resumes", async () => {
    const mark = simEvents.length;
    const requests = sim.requests("PUT_STREAMING").length;
    const [ffmpeg] = ffmpegChildrenOf(bridge.child.pid!);
    const dropAt = performance.now();
    sim.dropSockets();
    await awaitSim(mark, "stream-stop", 5000, (e) => e.reason === "control-closed");
    const pushAgain = await awaitSim(mark, "stream-start", 15_000);
    const { depacketizer, keyframe } = nextKeyframe(live, 10_000, "a keyframe of the new push");
    const keyframeAt = await keyframe;
    figures.push(
      `control-socket drop -> push re-requested and started ${Math.round(pushAgain.at - dropAt)} ms, -> keyframe at ` +
        `the viewer ${Math.round(keyframeAt - dropAt)} ms`,
    );
    // Asked again (the push's end and the reconnect may both lead to a request; a second is a renewal).
    const again = streamingRequests(requests);
    assert.ok(
      again.length >= 1 && again.every((s) => s === "STARTED"),
      `PUT_STREAMING after the drop: ${again.join(", ")}`,
    );

    const video = await live.decoded(15, "after-drop", depacketizer);
    assert.deepEqual([video.width, video.height], [1280, 720]);
    assert.ok(video.frames >= 15, `decoded ${video.frames} frames after the drop`);
    assert.equal(live.video.authFailures, 0);
    assert.deepEqual(ffmpegChildrenOf(bridge.child.pid!), [ffmpeg], "the viewer's ffmpeg rode through the gap");
  });

  it("a stalled push is seen from the byte count, the camera told to stop and start, video resumes", async () => {
    const mark = simEvents.length;
    const requests = sim.requests("PUT_STREAMING").length;
    const lines = allLines.length;
    assert.equal(sim.stallStream(), true);
    const stallAt = performance.now();
    await bridge.waitForLine((l) => allLines.indexOf(l) >= lines && /push stalled/.test(l.msg), 10_000);
    const noticedAt = performance.now();
    await awaitSim(mark, "stream-stop", 10_000, (e) => e.reason === "stopped");
    const pushAgain = await awaitSim(mark, "stream-start", 10_000);
    const { depacketizer, keyframe } = nextKeyframe(live, 10_000, "a keyframe after the stall");
    const keyframeAt = await keyframe;
    figures.push(
      `stall -> noticed ${Math.round(noticedAt - stallAt)} ms, -> new push ${Math.round(pushAgain.at - stallAt)} ` +
        `ms, -> keyframe at the viewer ${Math.round(keyframeAt - stallAt)} ms`,
    );
    // A STARTED alone would be a renewal to a camera that thinks it still pushes to that URL.
    assert.deepEqual(streamingRequests(requests), ["STOPPED", "STARTED"]);
    assert.equal(sim.streams().filter((s) => s.stalled).length, 0, "the stalled push is gone");

    const video = await live.decoded(15, "after-stall", depacketizer);
    assert.deepEqual([video.width, video.height], [1280, 720]);
    assert.ok(video.frames >= 15, `decoded ${video.frames} frames after the stall`);
    assert.equal(live.video.authFailures, 0);
  });

  it("STOP ends the viewer's ffmpeg at once, and the camera is told to stop after the linger", async () => {
    const mark = simEvents.length;
    const requests = sim.requests("PUT_STREAMING").length;
    const pids = ffmpegChildrenOf(bridge.child.pid!);
    assert.equal(pids.length, 1, "the viewer's audio ffmpeg");
    const stopAt = performance.now();
    await live.stop();
    const answered = performance.now();
    assert.deepEqual(pids.filter(existsAlive), [], "no ffmpeg sends to the viewer once STOP is answered");
    assert.deepEqual(ffmpegChildrenOf(bridge.child.pid!), [], "no ffmpeg child of the bridge");
    assert.equal(await live.streamingStatus(), 0, "the stream service is available again");
    const stopped = await awaitSim(mark, "stream-stop", LINGER_MS + 5000);
    figures.push(
      `STOP write answered (ffmpeg gone) ${Math.round(answered - stopAt)} ms; camera's push stopped ` +
        `${Math.round(stopped.at - stopAt)} ms after STOP (linger ${LINGER_MS} ms)`,
    );
    assert.equal(stopped.reason, "stopped", "told to stop (PUT_STREAMING STOPPED), not dropped");
    assert.ok(stopped.at - stopAt >= LINGER_MS - 50, "not before the linger");
    assert.deepEqual(streamingRequests(requests), ["STOPPED"]);
    assert.equal(sim.livePushes, 0);
  });

  it("SIGTERM during a live view: the bridge exits 0, tells the camera to stop, and leaves no ffmpeg", async () => {
    const v = await viewer(client);
    await v.start({ width: 1280, height: 720 });
    await v.video.until(() => v.frames >= 5, 10_000, "video");
    const pids = ffmpegChildrenOf(bridge.child.pid!);
    assert.equal(pids.length, 1);
    const mark = simEvents.length;
    assert.equal(await bridge.stop("SIGTERM"), 0);
    assert.deepEqual(pids.filter(existsAlive), [], "not even as an orphan");
    const stopped = await awaitSim(mark, "stream-stop", 5000);
    assert.equal(stopped.reason, "stopped", "media stops first: the camera is told while its driver still runs");
    assert.equal(sim.livePushes, 0, "the camera's push is over too");
  });

  it(
    "SIGKILL during a live view: the bridge's ffmpeg dies with it (pdeathsig), and the camera's push ends with its " +
      "control socket",
    async () => {
      const camera = await startBridge();
      assert.equal(camera.paired, true, "the camera's pairing survived the restart");
      client = HapClient.load(pairingFile, camera.port);
      clients.push(client);
      const v = await viewer(client);
      await v.start({ width: 1280, height: 720 });
      await v.video.until(() => v.frames >= 5, 10_000, "video after the restart");
      assert.equal(v.video.authFailures, 0);
      const pids = ffmpegChildrenOf(bridge.child.pid!);
      assert.equal(pids.length, 1);
      const mark = simEvents.length;
      const killedAt = performance.now();
      await bridge.stop("SIGKILL");
      await waitFor(() => !pids.some(existsAlive), 5000, { message: "the orphaned ffmpeg is killed by the kernel" });
      figures.push(`SIGKILL -> bridge ffmpeg gone ${Math.round(performance.now() - killedAt)} ms`);
      await awaitSim(mark, "stream-stop", 10_000, (e) => e.reason === "control-closed");
      assert.equal(sim.livePushes, 0);
    },
  );

  it("keeps the SRTP keys and the camera's RTMP stream key out of the logs and the data directory", () => {
    const urls = sim.requests("PUT_STREAMING").map((r) => r.request.streaming?.rtmp_url ?? "");
    const secrets = streamSecrets(viewers, urls).map((s) => s.value);
    assert.ok(urls.filter(Boolean).length >= 3);
    const logs = allLines.map((l) => JSON.stringify(l)).join("\n") + stderr.join("");
    const files = filesUnder(dataDir)
      .map((f) => readFileSync(f, "latin1"))
      .join("\n");
    for (const secret of secrets) {
      assert.ok(!logs.includes(secret), "a stream secret reached the logs");
      assert.ok(!files.includes(secret), "a stream secret reached the data directory");
    }
  });
});

/** Resolves with the time of the viewer's first video packet. */
function firstPacket(v: Viewer): Promise<number> {
  return v.video.until(() => v.video.packets.length > 0, 15_000, "first SRTP packet").then(() => performance.now());
}

/** Is `pid` a running (not zombie) process? */
function existsAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
