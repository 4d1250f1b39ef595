// End to end, HomeKit Secure Video of a Nanit camera: the bridge started from its CLI against the
// Nanit simulator (real RTMP push: H.264 main 1280x720 15 fps + AAC 44.1 kHz), paired as a standalone
// camera; the test plays the home hub (test/helpers/hds-peer.ts): it selects a recording
// configuration, turns recording on, opens the HomeKit Data Stream, and when the camera's motion
// sensor fires (a MOTION message on the simulator, read by the driver's /messages poll) opens a
// recording stream as a hub does. The clip must decode (ffprobe: size, duration, AAC audio), begin at
// least 3 s before the trigger (the pre-buffer) and end after motion ends, with no ffmpeg run for it.
// The account opts sound in as a trigger (`recordOn: [sound]`): a sound alert alone records a clip too.
// Then the settings survive a restart, and the bad cases end cleanly: the hub closing the stream
// mid-clip, a second hub, and recording turned off mid-clip. Runs inside test/netns.sh (loopback-only namespace).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient, longUUID, type HapCharacteristic } from "../helpers/hap-client.ts";
import { cameraPairingLine, ffmpegChildrenOf } from "../helpers/camera-live.ts";
import {
  CHARACTERISTIC,
  HDS_REASON,
  HdsPeer,
  pairVerifySharedSecret,
  selectedRecordingConfiguration,
  SERVICE,
  timedWrite,
  type RecordingDownload,
} from "../helpers/hds-peer.ts";
import { waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs with the camera");

const execFileAsync = promisify(execFile);
/** The driver reads /messages every 20 s and holds motion for 30 s. */
const MOTION_WAIT_MS = 30_000;
const CLIP_WAIT_MS = 60_000;
const SELECTION = { prebufferMs: 4000, fragmentMs: 4000, width: 1280, height: 720, fps: 15, sampleRate: 4 };

interface Probe {
  streams: {
    codec_type: string;
    codec_name: string;
    width?: number;
    height?: number;
    sample_rate?: string;
    profile?: string;
  }[];
  format: { duration: string };
}

async function probe(mp4: Buffer, file: string): Promise<Probe> {
  writeFileSync(file, mp4);
  const { stdout } = await execFileAsync("ffprobe", [
    "-v",
    "error",
    "-show_streams",
    "-show_format",
    "-of",
    "json",
    file,
  ]);
  return JSON.parse(stdout) as Probe;
}

/** ffprobe decodes every frame of the clip (not only its headers): errors, if any, come back. */
async function decodeErrors(file: string): Promise<string> {
  const { stderr } = await execFileAsync("ffmpeg", ["-v", "error", "-i", file, "-f", "null", "-"]);
  return stderr.trim();
}

describe("HomeKit Secure Video of a Nanit camera, end to end", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-hksv-"));
  const dataDir = join(dir, "data");
  const configFile = join(dir, "config.yaml");
  const pairingFile = join(dir, "camera-pairing.json");
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000], streamProfile: "720p" });
  const deviceId = `nanit:${sim.babies[0]!.cameraUid}`;
  const allLines: LogLine[] = [];
  const clients: HapClient[] = [];
  const peers: HdsPeer[] = [];
  const figures: string[] = [];
  let bridge: BridgeProcess;
  let port: number;
  let hub: HapClient;
  let watcher: HapClient;
  let streamId = 0;

  async function startBridge(): Promise<void> {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir], {
      E2E_NANIT_PASSWORD: sim.password,
      HEARTHBRIDGE_TEST_HUB_LINGER_MS: "1500",
    });
    bridge.on("line", (line) => allLines.push(line));
    await bridge.ready(60_000);
    port = (await cameraPairingLine(bridge, deviceId)).port;
    await bridge.waitForLine((l) => /Robin Nanit is reachable again/.test(l.msg), 20_000);
  }

  const char = (client: HapClient, service: string, characteristic: string): Promise<HapCharacteristic> =>
    client.find({ service, characteristic });

  /** A hub: a controller on its own connection with HDS set up right after its pair-verify. */
  async function connectHub(client: HapClient): Promise<HdsPeer> {
    await client.accessories(true);
    const peer = await HdsPeer.connect(client, pairVerifySharedSecret(client));
    peers.push(peer);
    return peer;
  }

  /** Motion on the simulator; resolves when the bridge's motion sensor says so at the watcher. */
  async function motion(): Promise<{ postedAt: number; detectedAt: number }> {
    const detected = await char(watcher, SERVICE.motionSensor, CHARACTERISTIC.motionDetected);
    // Booleans come back as 1/0 from HAP-NodeJS.
    const event = watcher.waitForValue(detected, 1, MOTION_WAIT_MS);
    const postedAt = performance.now();
    sim.postMessage("MOTION");
    await event;
    return { postedAt, detectedAt: performance.now() };
  }

  function motionEnded(): Promise<number> {
    return char(watcher, SERVICE.motionSensor, CHARACTERISTIC.motionDetected).then((detected) =>
      watcher.waitForValue(detected, 0, CLIP_WAIT_MS).then(() => performance.now()),
    );
  }

  function linesSince(mark: number, re: RegExp): LogLine[] {
    return allLines.slice(mark).filter((l) => re.test(l.msg));
  }

  before(async () => {
    const urls = await sim.start();
    await writeE2EConfig(configFile, {
      name: "E2E HKSV Bridge",
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${E2E_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
          recordOn: ["sound"],
        },
      ],
      web: { enabled: false },
      logLevel: "debug",
    });
    const config = parse(readFileSync(configFile, "utf8")) as { matter: Record<string, unknown> };
    config.matter.enabled = false;
    writeFileSync(configFile, stringify(config));
    await startBridge();
    const camera = await cameraPairingLine(bridge, deviceId);
    hub = await HapClient.pair(camera.port, camera.setupCode, { file: pairingFile });
    clients.push(hub);
    watcher = HapClient.load(pairingFile, port);
    clients.push(watcher);
  });

  after(async () => {
    const problems = allLines.filter((l) => l.level >= 40).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge warnings/errors:\n${problems.join("\n")}\n`);
    if (figures.length) process.stderr.write(`HKSV figures:\n  ${figures.join("\n  ")}\n`);
    for (const peer of peers) peer.destroy();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "offers recording with the motion sensor linked; selecting a configuration and turning recording on keeps the " +
      "camera pushing",
    async () => {
      const supported = await char(
        hub,
        SERVICE.cameraRecordingManagement,
        CHARACTERISTIC.supportedCameraRecordingConfiguration,
      );
      assert.ok(typeof supported.value === "string" && supported.value.length > 0);
      const accessories = await hub.accessories();
      const recording = accessories[0]!.services.find((s) => s.type === longUUID(SERVICE.cameraRecordingManagement))!;
      const motionService = accessories[0]!.services.find((s) => s.type === longUUID(SERVICE.motionSensor))!;
      assert.ok(recording && motionService, "recording management and a motion sensor");
      const linked = (await hub.http.getAccessories()).accessories[0]!.services.find(
        (s) => s.iid === recording.iid,
      ) as {
        linked?: number[];
      };
      assert.ok(linked.linked?.includes(motionService.iid), "the motion sensor is linked to the recording management");
      assert.equal(
        accessories[0]!.services.filter((s) => s.type === motionService.type).length,
        1,
        "one motion sensor, not two",
      );

      const starts = sim.requests("PUT_STREAMING").length;
      const selected = await char(
        hub,
        SERVICE.cameraRecordingManagement,
        CHARACTERISTIC.selectedCameraRecordingConfiguration,
      );
      const active = await char(hub, SERVICE.cameraRecordingManagement, CHARACTERISTIC.active);
      const audio = await char(hub, SERVICE.cameraRecordingManagement, CHARACTERISTIC.recordingAudioActive);
      await hub.write([selected, selectedRecordingConfiguration(SELECTION)], [active, 1]);
      await timedWrite(hub, audio, 1);
      await bridge.waitForLine((l) => /recording enabled/.test(l.msg), 10_000);
      await waitFor(() => sim.requests("PUT_STREAMING").length > starts, 20_000, {
        message: "the camera asked to push (keep warm while recording is on)",
      });
      await bridge.waitForLine((l) => /pre-buffer holds/.test(l.msg), 30_000);
    },
  );

  it("motion records a clip that decodes, begins >= 3 s before the trigger and ends after motion ends", async () => {
    await watcher.subscribe([await char(watcher, SERVICE.motionSensor, CHARACTERISTIC.motionDetected)]);
    const peer = await connectHub(hub);
    const mark = allLines.length;
    const { postedAt, detectedAt } = await motion();
    const ended = motionEnded();
    const download = await peer.openRecording(++streamId);
    await waitFor(() => download.packets.length >= 2, 15_000, {
      on: [[download, "packet"]],
      message: "the first fragment",
    });
    const first = download.packets[1]!.at;
    assert.deepEqual(ffmpegChildrenOf(bridge.child.pid!), [], "no ffmpeg for the clip: the bridge muxes it itself");
    await download.done(CLIP_WAIT_MS);
    const motionEndAt = await ended;
    assert.equal(download.endedBy, "end-of-stream", "the accessory flagged its last packet");
    assert.equal(download.packets[0]!.type, "mediaInitialization");
    assert.ok(download.packets.slice(1).every((p) => p.type === "mediaFragment"));
    const file = join(dir, "clip.mp4");
    const info = await probe(download.mp4, file);
    const video = info.streams.find((s) => s.codec_type === "video");
    const audio = info.streams.find((s) => s.codec_type === "audio");
    assert.equal(video?.codec_name, "h264");
    assert.deepEqual([video?.width, video?.height], [1280, 720]);
    assert.equal(audio?.codec_name, "aac", "the camera's AAC, copied");
    assert.equal(audio?.sample_rate, "44100");
    assert.equal(await decodeErrors(file), "", "every frame decodes");
    const duration = Number(info.format.duration) * 1000;
    // Where the clip sits in time: it began with the pre-buffer the bridge reported, when the stream opened.
    const start = linesSince(mark, /starts with .* s of pre-buffer/)[0];
    assert.ok(start, "the bridge logged the clip's start");
    const prebufferMs = start.prebufferMs as number;
    const openedAt = (start.time as number) - Date.now() + performance.now();
    const clipStart = openedAt - prebufferMs;
    const clipEnd = clipStart + duration;
    figures.push(
      `sim MOTION -> motion event ${Math.round(detectedAt - postedAt)} ms (driver's /messages poll); motion event ` +
        `-> first fragment ${Math.round(first - detectedAt)} ms; clip ${Math.round(duration)} ms with ` +
        `${prebufferMs} ms pre-buffer; ${download.packets.length - 1} fragments`,
    );
    assert.ok(
      detectedAt - clipStart >= 3000,
      `the clip begins ${Math.round(detectedAt - clipStart)} ms before the trigger`,
    );
    assert.ok(clipEnd > motionEndAt, `the clip ends ${Math.round(clipEnd - motionEndAt)} ms after motion ended`);
    await bridge.waitForLine((l) => /recording .*: done/.test(l.msg) && allLines.indexOf(l) >= mark, 10_000);
    assert.equal(linesSince(mark, /recording .*: (done|cut short)/).length, 1, "one line for the finished clip");
  });

  it("a sound alert alone (sound opted in) makes the linked motion sensor fire and records a clip", async () => {
    const detected = await char(watcher, SERVICE.motionSensor, CHARACTERISTIC.motionDetected);
    assert.equal((await watcher.read(detected))[0], 0, "no motion left from the test before");
    const motions = sim.messages.filter((m) => m.type === "MOTION").length;
    const peer = await connectHub(hub);
    const mark = allLines.length;
    const fired = watcher.waitForValue(detected, 1, MOTION_WAIT_MS);
    // On the camera's connection and in /messages, as the camera and the cloud do (either reaches the bridge).
    sim.cameraAlert("sound");
    await fired;
    const ended = motionEnded();
    const download = await peer.openRecording(++streamId);
    await waitFor(() => download.packets.length >= 2, 15_000, {
      on: [[download, "packet"]],
      message: "the first fragment of the sound clip",
    });
    assert.equal(sim.messages.filter((m) => m.type === "MOTION").length, motions, "no motion was involved");
    await download.done(CLIP_WAIT_MS);
    await ended;
    assert.equal(download.endedBy, "end-of-stream", "the clip ended when sound ended (after the post-roll)");
    await bridge.waitForLine((l) => /recording .*: done/.test(l.msg) && allLines.indexOf(l) >= mark, 10_000);
  });

  it("the Home app's recording settings survive a restart, and recording keeps the camera pushing again", async () => {
    for (const peer of peers.splice(0)) peer.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await bridge.stop();
    const starts = sim.requests("PUT_STREAMING").length;
    await startBridge();
    hub = HapClient.load(pairingFile, port);
    clients.push(hub);
    const [selected, active, audio] = await hub.read(
      await char(hub, SERVICE.cameraRecordingManagement, CHARACTERISTIC.selectedCameraRecordingConfiguration),
      await char(hub, SERVICE.cameraRecordingManagement, CHARACTERISTIC.active),
      await char(hub, SERVICE.cameraRecordingManagement, CHARACTERISTIC.recordingAudioActive),
    );
    assert.equal(selected, selectedRecordingConfiguration(SELECTION));
    assert.equal(active, 1);
    assert.equal(audio, 1);
    await waitFor(() => sim.requests("PUT_STREAMING").length > starts, 20_000, {
      message: "kept warm after the restart with no viewer",
    });
    await bridge.waitForLine((l) => /pre-buffer holds/.test(l.msg), 30_000);
    watcher = HapClient.load(pairingFile, port);
    clients.push(watcher);
    await watcher.subscribe([await char(watcher, SERVICE.motionSensor, CHARACTERISTIC.motionDetected)]);
  });

  /** Motion, a recording stream, and its first fragment. */
  async function recordingUnderWay(peer: HdsPeer): Promise<RecordingDownload> {
    const detected = await char(watcher, SERVICE.motionSensor, CHARACTERISTIC.motionDetected);
    // Motion still held from an earlier test may run out in the middle of this clip, which would then end by
    // itself: wait it out and start a fresh 30 s hold.
    if ((await watcher.read(detected))[0] === 1) await motionEnded();
    await motion();
    const download = await peer.openRecording(++streamId);
    await waitFor(() => download.packets.length >= 2, 15_000, {
      on: [[download, "packet"]],
      message: "a first fragment",
    });
    return download;
  }

  it("a second hub is refused while a clip runs; the hub closing the stream mid-clip stops it cleanly", async () => {
    const peer = await connectHub(hub);
    const mark = allLines.length;
    const download = await recordingUnderWay(peer);
    const second = HapClient.load(pairingFile, port);
    clients.push(second);
    const other = await connectHub(second);
    await assert.rejects(
      other.openRecording(++streamId),
      (error: Error & { reason?: number }) => error.reason === HDS_REASON.busy,
    );
    assert.ok(!download.endedBy, "the first clip goes on");
    peer.destroy();
    await download.done(10_000);
    await bridge.waitForLine((l) => /recording .*: cut short/.test(l.msg) && allLines.indexOf(l) >= mark, 10_000);
    await waitFor(() => ffmpegChildrenOf(bridge.child.pid!).length === 0, 10_000, {
      message: "the clip's ffmpeg is gone",
    });
    assert.equal(linesSince(mark, /recording .*: (cut short|done)/).length, 1, "logged once");
  });

  it("recording turned off mid-clip ends the stream with NOT_ALLOWED and stops ffmpeg and the keep-warm", async () => {
    const peer = await connectHub(hub);
    const mark = allLines.length;
    const download = await recordingUnderWay(peer);
    const active = await char(hub, SERVICE.cameraRecordingManagement, CHARACTERISTIC.active);
    await hub.write([active, 0]);
    await download.done(10_000);
    assert.deepEqual(download.endedBy, { closeReason: HDS_REASON.notAllowed });
    await waitFor(() => ffmpegChildrenOf(bridge.child.pid!).length === 0, 10_000, {
      message: "the clip's ffmpeg is gone",
    });
    assert.equal(linesSince(mark, /recording .*: cut short \(recording turned off\)/).length, 1, "logged once");
    await bridge.waitForLine(
      (l) => /nobody watches; stopping the camera's push/.test(l.msg) && allLines.indexOf(l) >= mark,
      60_000,
    );
  });
});
