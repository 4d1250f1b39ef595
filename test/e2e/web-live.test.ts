// The web page's live view in real headless Chromium: the bridge from its CLI against the Nanit
// simulator (its camera kept warm, pushing real RTMP), host candidates on 127.0.0.1 only, no STUN.
// The camera's "Live" button plays decoded frames (totalVideoFrames grows) with an audio track and
// shows when it started, its candidates trickled (PATCH) after an offer sent at once; Stop, leaving the
// page, and a viewer that just closes its connection each end the bridge's session (no Opus encoder, no
// hold on the camera left). A WHEP player that trickles connects through its PATCHed candidates alone.
// WHEP refusals: a malformed offer or fragment, an unknown session, a foreign Origin, no login, the wrong
// content type, a body too large, a PATCH after the view ended. Runs inside test/netns.sh.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { chromiumAvailable, launchChromium } from "../helpers/page-qr.ts";
import { waitFor } from "../helpers/wait.ts";
import { H264Depacketizer, probeH264 } from "../helpers/rtp-h264.ts";
import { TestViewer, trickleFragment, withoutCandidates } from "../helpers/whep-client.ts";
import { setTimeout as delay } from "node:timers/promises";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (mDNS)");

const PASSWORD = "correct horse battery";
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
/** Chromium offers no loopback candidates and hides host addresses behind mDNS names unless told. */
const CHROMIUM_LOOPBACK = ["--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"];

/** ffmpeg processes whose parent is `pid` (setpriv execs ffmpeg in place). */
function ffmpegOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid && comm === "ffmpeg") out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Poll a state only reachable asynchronously (the page, the bridge's /health): no event tells of it. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await delay(100);
  }
}

describe("the web page's live view (WebRTC over WHEP) in Chromium", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-live-"));
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000], streamProfile: "720p" });
  const cameraUid = sim.babies[0]!.cameraUid;
  const deviceId = `nanit:${cameraUid}`;
  const lines: LogLine[] = [];
  let bridge: BridgeProcess;
  let base: string;
  let context: BrowserContext | undefined;
  let page: Page;
  let errors: string[] = [];
  let cookie = "";

  const watching = async () =>
    (
      (await (await fetch(`${base}/health`)).json()) as { cameras?: { deviceId: string; watching: number }[] }
    ).cameras?.find((c) => c.deviceId === deviceId)?.watching;
  const ended = () => lines.filter((l) => l.event === "webrtc-end");
  const whep = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { Cookie: cookie, Origin: base, ...(init.headers ?? {}) } });

  before(async () => {
    const urls = await sim.start();
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Live View Bridge",
      discriminator: 3844,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      media: { keepWarm: [cameraUid], webrtc: { interfaces: ["127.0.0.1"], maxSessions: 3 } },
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${E2E_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_WEB_PASSWORD: PASSWORD,
      E2E_NANIT_PASSWORD: sim.password,
    });
    bridge.on("line", (l) => lines.push(l));
    const web = await bridge.waitForLine((l) => l.event === "web", 60_000);
    base = `http://127.0.0.1:${web.port as number}`;
    await bridge.ready(60_000);
    const login = await fetch(`${base}/login`, {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams({ password: PASSWORD }).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    await eventually(async () => (await watching()) === 1, 30_000, "the camera kept warm");
  });

  after(async () => {
    const problems = lines.filter((l) => l.level >= 50).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge errors:\n${problems.join("\n")}\n`);
    await context?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("Live plays decoded frames with an audio track and its start time; Stop ends the bridge's session", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    ({ context, page, errors } = await launchChromium(dir, CHROMIUM_LOOPBACK));
    // Chromium gathers host candidates for a page allowed the camera; otherwise only the default route's
    // address, and the test's network namespace has no route: no candidates to trickle at all.
    await context.grantPermissions(["camera", "microphone"], { origin: base });
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);
    await page.waitForSelector("#live.on");
    const card = page.locator(`article[data-device="${deviceId}"]`);
    await card.locator(".stream").filter({ hasText: "pushing" }).waitFor({ timeout: 30_000 });
    const patches: { status: number; body: string }[] = [];
    page.on("response", (r) => {
      if (r.request().method() === "PATCH") patches.push({ status: r.status(), body: r.request().postData() ?? "" });
    });
    await card.locator(".live-view button").click();
    const video = `document.querySelector('article[data-device="${deviceId}"] .live-view video')`;
    const frames = async () =>
      (await page.evaluate(`${video}?.getVideoPlaybackQuality().totalVideoFrames ?? 0`)) as number;
    await eventually(async () => (await frames()) > 5, 30_000, "decoded frames");
    const first = await frames();
    await eventually(async () => (await frames()) > first + 10, 30_000, "ten more decoded frames");
    assert.equal(await page.evaluate(`${video}.srcObject.getAudioTracks().length`), 1, "an audio track");
    // The offer went without candidates; they were trickled, the last PATCH ending them.
    await eventually(async () => patches.some((p) => p.body.includes("a=end-of-candidates")), 10_000, "all trickled");
    assert.ok(
      patches.some((p) => /^a=candidate:/m.test(p.body)),
      "candidates trickled",
    );
    assert.deepEqual(
      patches.map((p) => p.status),
      patches.map(() => 204),
    );
    assert.ok(((await page.evaluate(`${video}.videoWidth`)) as number) > 0, "a picture with a size");
    assert.match((await card.locator(".live-status").textContent()) ?? "", /^live since \d\d:\d\d:\d\d/);
    assert.equal(await watching(), 2, "kept warm and the live view");
    mkdirSync(artifacts, { recursive: true });
    await card.screenshot({ path: join(artifacts, "web-page-live.png") });
    const start = lines.find((l) => l.event === "webrtc-start");
    assert.equal(start?.client, "127.0.0.1");

    await card.locator(".live-view button").click();
    await bridge.waitForLine((l) => l.event === "webrtc-end", 10_000);
    assert.equal(ended()[0]!.reason, "the viewer left");
    await eventually(async () => (await watching()) === 1, 10_000, "the view's hold let go");
    await waitFor(() => ffmpegOf(bridge.child.pid!).length === 0, 10_000, { message: "no Opus encoder left" });
    assert.equal(await page.locator(`article[data-device="${deviceId}"] .live-view video`).count(), 0);
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });

  it("leaving the page ends its live view", async (t) => {
    if (!page) return t.skip("no Chromium");
    const card = page.locator(`article[data-device="${deviceId}"]`);
    await card.locator(".live-view button").click();
    const video = `document.querySelector('article[data-device="${deviceId}"] .live-view video')`;
    const frames = async () =>
      (await page.evaluate(`${video}?.getVideoPlaybackQuality().totalVideoFrames ?? 0`)) as number;
    await eventually(async () => (await frames()) > 5, 30_000, "decoded frames");
    const before = ended().length;
    await page.goto("about:blank");
    await waitFor(() => ended().length > before, 10_000, { message: "the session ended" });
    await eventually(async () => (await watching()) === 1, 10_000, "the view's hold let go");
    await waitFor(() => ffmpegOf(bridge.child.pid!).length === 0, 10_000, { message: "no Opus encoder left" });
  });

  it("a viewer that closes its connection without DELETE ends its session too", async (t) => {
    if (!page) return t.skip("no Chromium");
    await page.goto(`${base}/`);
    const before = ended().length;
    // A bare WHEP client in the page: offer, answer, wait for frames, then close() and nothing else.
    await page.evaluate(`(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver("video", { direction: "recvonly" });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((r) => {
        if (pc.iceGatheringState === "complete") return r();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && r();
      });
      const res = await fetch("/api/whep/${encodeURIComponent(deviceId)}", {
        method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
      });
      await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
      await new Promise((r) => { pc.onconnectionstatechange = () => pc.connectionState === "connected" && r(); });
      window.barePc = pc;
    })()`);
    await page.evaluate("window.barePc.close()");
    await waitFor(() => ended().length > before, 40_000, { message: "the session ended" });
    assert.match(ended().at(-1)!.reason as string, /closed|failed/);
    await eventually(async () => (await watching()) === 1, 10_000, "the view's hold let go");
  });

  it("a WHEP player that trickles connects through its PATCHed candidates; refusals leave it running", async () => {
    const path = `/api/whep/${encodeURIComponent(deviceId)}`;
    const client = new TestViewer({ audio: false });
    try {
      const full = await client.offer();
      const posted = await whep(path, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: withoutCandidates(full),
      });
      assert.equal(posted.status, 201);
      const location = posted.headers.get("location")!;
      const etag = posted.headers.get("etag")!;
      assert.match(etag, /^"[^"]+"$/, "a strong entity tag for the PATCHes' If-Match");
      assert.equal(posted.headers.get("accept-patch"), "application/trickle-ice-sdpfrag");
      // Without the bridge's candidates the player cannot check first: only the trickled ones can connect.
      await client.accept(withoutCandidates(await posted.text()));
      const patch = (body: string, headers: Record<string, string> = {}, at = location) =>
        whep(at, {
          method: "PATCH",
          headers: { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": etag, ...headers },
          body,
        });
      const fragment = trickleFragment(full);
      assert.equal((await patch(fragment)).status, 204);
      await waitFor(() => client.video.filter((p) => p.marker).length >= 40, 30_000, { message: "40 video frames" });
      const depacketizer = new H264Depacketizer({ fromKeyframe: true });
      for (const p of client.video) depacketizer.push(p);
      const decoded = await probeH264(depacketizer.annexB(), join(dir, "trickled.h264"));
      assert.deepEqual([decoded.width, decoded.height], [1280, 720], "the simulator's resolution");
      assert.ok(decoded.frames >= 10, `decoded ${decoded.frames} frames`);

      const malformed = await patch("hello\r\n");
      assert.equal(malformed.status, 400);
      assert.match(((await malformed.json()) as { error: string }).error, /line 1 is not an SDP line/);
      const session = location.slice(location.lastIndexOf("/") + 1);
      const refusals: [string, Response, number][] = [
        ["wrong content type", await patch(fragment, { "Content-Type": "application/sdp" }), 415],
        ["too large", await patch(`a=mid:0\r\n${"a=x\r\n".repeat(5_000)}`), 413],
        ["another ICE session", await patch(fragment, { "If-Match": '"another"' }), 412],
        ["ICE restart", await patch(fragment.replace(/^a=ice-ufrag:.*$/m, "a=ice-ufrag:Zz9Zz9Zz")), 422],
        ["another session", await patch(fragment, {}, `${path}/00000000-0000-0000-0000-000000000000`), 404],
        ["another camera", await patch(fragment, {}, `/api/whep/${encodeURIComponent("nanit:other")}/${session}`), 404],
        ["a foreign Origin", await patch(fragment, { Origin: "http://evil.example" }), 403],
        [
          "no login",
          await fetch(`${base}${location}`, {
            method: "PATCH",
            headers: { "Content-Type": "application/trickle-ice-sdpfrag", Origin: base },
            body: fragment,
          }),
          401,
        ],
      ];
      for (const [what, response, status] of refusals) assert.equal(response.status, status, what);
      const seen = client.video.length;
      await waitFor(() => client.video.length > seen + 20, 30_000, { message: "the view goes on" });
      assert.equal(await watching(), 2, "kept warm and this view");

      assert.equal((await whep(location, { method: "DELETE" })).status, 200);
      await eventually(async () => (await watching()) === 1, 10_000, "the view's hold let go");
      assert.equal((await patch(fragment)).status, 404, "a PATCH after the view ended");
    } finally {
      await client.close();
    }
  });

  it("WHEP refuses a malformed offer, an unknown session, a foreign Origin and a request without login", async () => {
    const path = `/api/whep/${encodeURIComponent(deviceId)}`;
    const bad = await whep(path, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: "v=1\r\n" });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /not an SDP offer/);
    const wrongType = await whep(path, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "v=0" });
    assert.equal(wrongType.status, 415);
    const unknown = await whep(`${path}/00000000-0000-0000-0000-000000000000`, { method: "DELETE" });
    assert.equal(unknown.status, 404);
    const foreign = await whep(path, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Origin: "http://evil.example" },
      body: "v=0\r\n",
    });
    assert.equal(foreign.status, 403);
    const anonymous = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Origin: base },
      body: "v=0\r\n",
    });
    assert.equal(anonymous.status, 401);
    const huge = await whep(path, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: `v=0\r\n${"a=x\r\n".repeat(20_000)}`,
    });
    assert.equal(huge.status, 413);
    assert.equal(await watching(), 1, "none of them held the camera");
  });
});
