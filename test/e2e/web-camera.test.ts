// Cameras on the web page, in real headless Chromium. First the bridge from its CLI against the Nanit
// simulator (its camera kept warm, so it pushes real RTMP to the ingest): the camera's card shows its
// own setup code and a QR that decodes to the camera's setup URI (not the bridge's); pairing it and
// removing the pairing with hap-controller flip its state on the open page; the camera's row follows
// the stream (pushing, refused in standby, pushing again); /health lists it; no stream key reaches
// the browser. Then, in process with a stand-in HomeKit host, a camera published after the page was
// opened gets its card, with a QR that decodes, without a reload. Runs inside test/netns.sh.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { pino } from "pino";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { Driver } from "../../src/core/driver.ts";
import type { StreamHubState } from "../../src/media/hub.ts";
import type { CameraPairing, HomeKitHostEvents } from "../../src/homekit/host.ts";
import { WebServer } from "../../src/web/index.ts";
import type { WebSources } from "../../src/web/status.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { chromiumAvailable, decodeQr, launchChromium } from "../helpers/page-qr.ts";

if (!process.env.HEARTHBRIDGE_NETNS)
  throw new Error("run inside test/netns.sh: this test starts the bridge (mDNS) and pairs with its camera");

const PASSWORD = "correct horse battery";
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

describe("a Nanit camera on the web page: its own HomeKit code and QR, paired state and stream, live", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-camera-"));
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000], streamProfile: "720p" });
  const cameraUid = sim.babies[0]!.cameraUid;
  const deviceId = `nanit:${cameraUid}`;
  const lines: LogLine[] = [];
  let bridge: BridgeProcess;
  let base: string;
  let context: BrowserContext | undefined;
  let page: Page;
  let errors: string[] = [];
  let client: HapClient | undefined;
  let cookie = "";

  const health = async () =>
    (await (await fetch(`${base}/health`)).json()) as {
      cameras?: {
        deviceId: string;
        name: string;
        paired?: boolean;
        watching: number;
        pushing: boolean;
        error?: string;
      }[];
    };
  /** The camera's secret stream key, from the URL the simulated camera was told to push to. */
  const streamKey = () =>
    new URL(
      sim.requests("PUT_STREAMING").find((r) => r.request.streaming?.rtmp_url)!.request.streaming!.rtmp_url!,
    ).pathname
      .split("/")
      .at(-1)!;

  before(async () => {
    const urls = await sim.start();
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Camera Page Bridge",
      discriminator: 3843,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      // Kept warm: the camera pushes from the start, so the page has a stream to show.
      media: { keepWarm: [cameraUid] },
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
  });

  after(async () => {
    const problems = lines.filter((l) => l.level >= 50).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge errors:\n${problems.join("\n")}\n`);
    await client?.close().catch(() => undefined);
    await context?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("in Chromium: the camera's card shows the camera's own code and setup URI QR, not the bridge's", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    const bridgeLine = await bridge.waitForLine((l) => l.event === "homekit-pairing");
    const cameraLine = await bridge.waitForLine((l) => l.event === "camera-pairing" && l.deviceId === deviceId, 20_000);
    assert.equal(cameraLine.paired, false);
    ({ context, page, errors } = await launchChromium(dir));
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);
    await page.waitForSelector("#live.on");

    const card = page.locator(`[data-camera="${deviceId}"]`);
    assert.equal(await card.locator(".camera-name").textContent(), "Robin Nanit");
    assert.equal(await card.locator(".camera-code").textContent(), cameraLine.setupCode);
    assert.notEqual(cameraLine.setupCode, bridgeLine.setupCode);
    assert.equal(
      await card.locator(".camera-status").textContent(),
      "not paired: add it in the Home app with this code",
    );
    const cameraQr = await decodeQr(page, `[data-camera="${deviceId}"] .qr`);
    assert.equal(cameraQr, cameraLine.setupURI, "the camera's QR decodes to the setup URI the bridge logged for it");
    assert.equal(await decodeQr(page, "#homekit-qr"), bridgeLine.setupURI);
    assert.notEqual(cameraQr, bridgeLine.setupURI, "and is not the bridge's");
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });

  it("pairing the camera and removing the pairing show on the open page without a reload", async (t) => {
    if (!page) return t.skip("no Chromium");
    const cameraLine = await bridge.waitForLine((l) => l.event === "camera-pairing" && l.deviceId === deviceId);
    await page.evaluate("window.notReloaded = true");
    const status = page.locator(`[data-camera="${deviceId}"] .camera-status`);
    client = await HapClient.pair(cameraLine.port as number, cameraLine.setupCode as string);
    await status.filter({ hasText: /^paired with Apple Home$/ }).waitFor({ timeout: 10_000 });
    assert.equal((await health()).cameras?.find((c) => c.deviceId === deviceId)?.paired, true);

    await client.http.removePairing(client.pairingData.iOSDevicePairingID);
    await status.filter({ hasText: /^not paired/ }).waitFor({ timeout: 10_000 });
    assert.equal((await health()).cameras?.find((c) => c.deviceId === deviceId)?.paired, false);
    assert.equal(await page.evaluate("window.notReloaded"), true, "updated in place");
    await client.close().catch(() => undefined);
    client = undefined;
  });

  it("the camera's row follows its stream: pushing while kept warm, refused in standby, pushing again", async (t) => {
    if (!page) return t.skip("no Chromium");
    const stream = page.locator(`article[data-device="${deviceId}"] .stream`);
    await stream.filter({ hasText: "video: pushing, 1 watching (kept warm)" }).waitFor({ timeout: 20_000 });
    assert.deepEqual((await health()).cameras, [
      { deviceId, name: "Robin Nanit", paired: false, watching: 1, pushing: true },
    ]);

    sim.setStandbyFromApp(true);
    await stream
      .filter({ hasText: /^video: not pushing, 1 watching \(kept warm\): .*standby/ })
      .waitFor({ timeout: 15_000 });
    assert.equal(await stream.getAttribute("class"), "stream stream-error");
    const refused = (await health()).cameras?.[0];
    assert.equal(refused?.pushing, false);
    assert.match(refused?.error ?? "", /standby/);

    sim.setStandbyFromApp(false);
    await stream.filter({ hasText: "video: pushing, 1 watching (kept warm)" }).waitFor({ timeout: 15_000 });
    assert.equal(await page.evaluate("window.notReloaded"), true, "updated in place");

    // The stream key is the one secret of a camera: it is in no page, event or status the browser gets.
    const key = streamKey();
    assert.ok(key.length >= 16);
    const status = await (await fetch(`${base}/api/status`, { headers: { Cookie: cookie } })).text();
    for (const [what, text] of [
      ["page", await page.content()],
      ["/api/status", status],
      ["/health", JSON.stringify(await health())],
      ["/metrics", await (await fetch(`${base}/metrics`)).text()],
    ] as const) {
      assert.ok(!text.includes(key), `the stream key is not in ${what}`);
    }
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "web-page-camera.png"), fullPage: true });
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });
});

/** The parts of HomeKitHost the page uses, with cameras set by the test. */
class StandInHomeKit extends EventEmitter<HomeKitHostEvents> {
  readonly pincode = "031-45-154";
  cameras: CameraPairing[] = [];
  readonly bridges = [
    { index: 0, name: "Stand-in Bridge", username: "0E:00:00:00:00:02", port: 51826, accessories: 0, pairedClients: 0 },
  ];
  setupURI(): string {
    return "X-HM://0023ISYWYSTND";
  }
  cameraPairings(): CameraPairing[] {
    return this.cameras.map((c) => ({ ...c }));
  }
}

describe("a camera published after the page was opened gets its card live", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-camera-late-"));
  const homekit = new StandInHomeKit();
  const registry = new DeviceRegistry(pino({ level: "silent" }));
  let hub: StreamHubState = {
    deviceId: "nanit:LATE0001",
    name: "Late Nanit",
    watching: 0,
    keepWarm: false,
    active: false,
    publishing: false,
    bytesIn: 0,
    standby: false,
  };
  let server: WebServer;
  let context: BrowserContext | undefined;

  before(async () => {
    server = new WebServer({
      sources: {
        registry,
        accounts: [{ name: "nursery", vendor: "nanit" }],
        homekit: homekit as unknown as WebSources["homekit"],
        media: { liveSessions: 0, state: () => [hub] },
        startedAt: Date.now(),
      },
      log: pino({ level: "silent" }),
      dataDir: dir,
      config: { host: "127.0.0.1", port: 0 },
    });
    await server.start();
  });

  after(async () => {
    await context?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("in Chromium: no camera section at first; then its card (QR, paired state) and row's stream line", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    let page: Page;
    let errors: string[];
    ({ context, page, errors } = await launchChromium(dir));
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.waitForSelector("#live.on");
    assert.equal(await page.locator("#cameras").isHidden(), true, "no camera yet: no section");
    await page.evaluate("window.notReloaded = true");

    // The camera's device arrives, then the host publishes its accessory.
    const driver: Driver = {
      vendor: "nanit",
      accountName: "nursery",
      start: async () => undefined,
      stop: async () => undefined,
      command: async () => undefined,
    };
    const sink = registry.sinkFor(driver);
    sink.deviceFound(
      {
        id: "nanit:LATE0001",
        vendor: "nanit",
        account: "nursery",
        kind: "baby-camera",
        name: "Late Nanit",
        manufacturer: "Nanit",
        model: "Nanit camera",
        serialNumber: "LATE0001",
        capabilities: { camera: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: true } },
      },
      {},
    );
    const setupURI = "X-HM://00KCAMERALATE";
    homekit.cameras = [
      { deviceId: "nanit:LATE0001", name: "Late Nanit", pincode: "517-38-264", setupURI, port: 51927, paired: false },
    ];
    homekit.emit("camera-listening", "nanit:LATE0001", 51927);

    const card = page.locator('[data-camera="nanit:LATE0001"]');
    await card.locator(".qr svg").waitFor({ timeout: 5000 });
    assert.equal(await page.locator("#cameras").isVisible(), true);
    assert.equal(await card.locator(".camera-code").textContent(), "517-38-264");
    assert.equal(await decodeQr(page, '[data-camera="nanit:LATE0001"] .qr'), setupURI);
    assert.equal(await decodeQr(page, "#homekit-qr"), homekit.setupURI());

    homekit.cameras[0]!.paired = true;
    homekit.emit("camera-paired", "nanit:LATE0001");
    await card.locator(".camera-status", { hasText: /^paired with Apple Home$/ }).waitFor({ timeout: 5000 });

    const stream = page.locator('article[data-device="nanit:LATE0001"] .stream');
    assert.equal(await stream.textContent(), "video: idle");
    hub = { ...hub, active: true, watching: 1, lastError: "no push to rtmp://192.0.2.7:1935" };
    await stream
      .filter({
        hasText:
          "video: not pushing, 1 watching: the camera did not push to rtmp://192.0.2.7:1935: " +
          "is media.rtmpHost reachable from the camera?",
      })
      .waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate("window.notReloaded"), true, "all of it without a reload");
    assert.equal(await card.count(), 1, "one card per camera");
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });
});
