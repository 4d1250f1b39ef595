// The web page's live view in real headless Chromium: the bridge from its CLI against the Nanit
// simulator (its camera kept warm, pushing real RTMP), host candidates on 127.0.0.1 only, no STUN.
// The camera's "Live" button plays decoded frames (totalVideoFrames grows) with an audio track and
// shows when it started; Stop, leaving the page, and a viewer that just closes its connection each
// end the bridge's session (no Opus encoder, no hold on the camera left). WHEP refusals: a malformed
// offer, an unknown session, a foreign Origin, no login. Runs inside test/netns.sh.
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
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);
    await page.waitForSelector("#live.on");
    const card = page.locator(`article[data-device="${deviceId}"]`);
    await card.locator(".stream").filter({ hasText: "pushing" }).waitFor({ timeout: 30_000 });
    await card.locator(".live-view button").click();
    const video = `document.querySelector('article[data-device="${deviceId}"] .live-view video')`;
    const frames = async () =>
      (await page.evaluate(`${video}?.getVideoPlaybackQuality().totalVideoFrames ?? 0`)) as number;
    await eventually(async () => (await frames()) > 5, 30_000, "decoded frames");
    const first = await frames();
    await eventually(async () => (await frames()) > first + 10, 30_000, "ten more decoded frames");
    assert.equal(await page.evaluate(`${video}.srcObject.getAudioTracks().length`), 1, "an audio track");
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
