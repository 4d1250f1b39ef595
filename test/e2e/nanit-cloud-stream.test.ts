// End to end, a camera that cannot reach the bridge (media.rtmpHost is an address where nothing
// listens: a camera on another VLAN, or the bridge in Docker bridge networking): with media.source
// auto the bridge started from its CLI asks for the local push, gives up within the cold-start budget
// and reads the camera's stream from the simulated Nanit cloud (RTMPS, the simulator's certificate
// trusted through endpoints.mediaCa). hap-controller plays Apple Home's side: SRTP arrives, every tag
// verifies, ffprobe decodes it. The next cold start goes straight to the cloud. The cloud URL's token
// is in no log line and on no command line. Runs inside test/netns.sh (loopback-only namespace).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { H264Depacketizer } from "../helpers/rtp-h264.ts";
import { SETUP_STATUS } from "../helpers/camera-tlv.ts";
import { Viewer } from "../helpers/camera-fixture.ts";
import { cameraPairingLine, ffmpegChildrenOf } from "../helpers/camera-live.ts";
import { waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs with the camera");

const LINGER_MS = 1500;
const NAL_SPS = 7;
const NAL_IDR = 5;

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

describe("a Nanit camera that cannot reach the bridge: live view via the cloud, end to end", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-nanit-cloud-"));
  const configFile = join(dir, "config.yaml");
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000], streamProfile: "720p" });
  const deviceId = `nanit:${sim.babies[0]!.cameraUid}`;
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const viewers: Viewer[] = [];
  const figures: string[] = [];
  let bridge: BridgeProcess;
  let client: HapClient;
  let mediaUrl: string;

  const streamingUrls = (from = 0) =>
    sim
      .requests("PUT_STREAMING")
      .slice(from)
      .map((r) => (r.request.streaming?.status === "STOPPED" ? "STOPPED" : (r.request.streaming?.rtmp_url ?? "")));

  async function viewer(): Promise<Viewer> {
    const v = await Viewer.setUp(client, { index: 0, dir });
    viewers.push(v);
    assert.equal(v.response.status, SETUP_STATUS.success, "SetupEndpoints accepted");
    return v;
  }

  /** START at 1280x720; resolves with ms from the write to the first keyframe (SPS + IDR) at the receiver. */
  async function coldStart(v: Viewer, timeoutMs: number): Promise<{ depacketizer: H264Depacketizer; ms: number }> {
    const depacketizer = new H264Depacketizer({ fromKeyframe: true });
    v.video.on("packet", (packet) => depacketizer.push(packet));
    const startAt = performance.now();
    const keyframe = v.video.until(
      () => depacketizer.nalTypes.includes(NAL_SPS) && depacketizer.nalTypes.includes(NAL_IDR),
      timeoutMs,
      "first keyframe",
    );
    await v.start({ width: 1280, height: 720 });
    await keyframe;
    return { depacketizer, ms: Math.round(performance.now() - startAt) };
  }

  before(async () => {
    const urls = await sim.start();
    mediaUrl = urls.mediaUrl;
    const caFile = join(dir, "nanit-media-ca.pem");
    writeFileSync(caFile, urls.mediaCert);
    await writeE2EConfig(configFile, {
      name: "E2E Cloud Camera Bridge",
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${E2E_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl, media: urls.mediaUrl, mediaCa: caFile },
        },
      ],
      web: { enabled: false },
      logLevel: "debug",
      // The bridge listens on 127.0.0.1 but tells the camera to push to ::1, where nothing listens.
      media: { rtmpHost: "::1", source: "auto" },
    });
    const config = parse(readFileSync(configFile, "utf8")) as { matter: Record<string, unknown> };
    config.matter.enabled = false;
    writeFileSync(configFile, stringify(config));
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_NANIT_PASSWORD: sim.password,
      HEARTHBRIDGE_TEST_HUB_LINGER_MS: String(LINGER_MS),
    });
    bridge.on("line", (line) => lines.push(line));
    bridge.child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
    await bridge.ready(60_000);
    const camera = await cameraPairingLine(bridge, deviceId);
    await bridge.waitForLine((l) => /Robin Nanit is reachable again/.test(l.msg), 20_000);
    client = await HapClient.pair(camera.port, camera.setupCode, { file: join(dir, "camera-pairing.json") });
  });

  after(async () => {
    if (figures.length) process.stderr.write(`cloud camera figures:\n  ${figures.join("\n  ")}\n`);
    for (const v of viewers) v.close();
    await client?.close().catch(() => undefined);
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("cold START: no local push within 4 s, so the stream comes from the cloud; SRTP verifies, decodes", async () => {
    const live = await viewer();
    const { ms } = await coldStart(live, 30_000);
    figures.push(`cold START with auto's fallback -> first keyframe ${ms} ms`);
    const urls = streamingUrls();
    assert.match(urls[0]!, /^rtmp:\/\/\[::1\]:\d+\/live\//, "the local push was asked for first");
    const cloud = urls.find((u) => u.startsWith("rtmps:"));
    assert.ok(cloud?.startsWith(`${mediaUrl}/${sim.babies[0]!.uid}.`), "then the camera was sent to the cloud");
    assert.ok(
      lines.some((l) =>
        /did not push to rtmp:\/\/\[::1\]:\d+ within 4 s; reading its stream from the cloud/.test(l.msg),
      ),
    );
    assert.ok(lines.some((l) => /is streaming via the cloud \(127\.0\.0\.1\)/.test(l.msg)));
    assert.equal(sim.cloudMedia.plays, 1);

    const video = await live.decoded(30, "via the cloud");
    assert.deepEqual([video.width, video.height], [1280, 720]);
    assert.equal(video.profile, "Main", "copied untouched from the cloud read");
    assert.equal(live.video.authFailures, 0, "every SRTP tag verifies");

    // The token: in no log line (stdout JSON and stderr), on no command line of the bridge's children.
    const token = cloud!
      .slice(cloud!.lastIndexOf("/") + 1)
      .split(".")
      .slice(1)
      .join(".");
    assert.ok(token.length > 100);
    const logged = lines.map((l) => JSON.stringify(l)).join("\n") + stderr.join("");
    assert.equal(logged.includes(token), false);
    assert.equal(logged.includes(`/nanit/${sim.babies[0]!.uid}`), false, "the URL is never logged, not even redacted");
    const children = ffmpegChildrenOf(bridge.child.pid!);
    assert.ok(children.length >= 1, "the audio ffmpeg runs");
    for (const pid of children) assert.equal(cmdline(pid).includes(token), false);
    assert.equal(cmdline(bridge.child.pid!).includes(token), false);
    await live.stop();
  });

  it("the next cold start goes straight to the cloud (auto remembers); no local push is asked for", async () => {
    // The hub lingers, then tells the camera to stop: a real cold start follows.
    await waitFor(() => streamingUrls().at(-1) === "STOPPED", 10_000, { on: [[sim, "request"]] });
    const mark = sim.requests("PUT_STREAMING").length;
    const live = await viewer();
    const { ms } = await coldStart(live, 20_000);
    figures.push(`cold START via the cloud (remembered) -> first keyframe ${ms} ms`);
    const urls = streamingUrls(mark);
    assert.ok(urls.length >= 1);
    assert.ok(
      urls.every((u) => u.startsWith("rtmps:")),
      `only cloud requests: ${urls.map((u) => u.slice(0, 8))}`,
    );
    const video = await live.decoded(15, "cloud again");
    assert.deepEqual([video.width, video.height], [1280, 720]);
    assert.equal(live.video.authFailures, 0);
    await live.stop();
  });
});
