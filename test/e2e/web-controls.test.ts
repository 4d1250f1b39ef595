// The page's device controls end to end (issue 19): the bridge started from its CLI against the FanSync
// simulator, the page in headless Chromium (Debian's, through playwright-core). A fan switched on from
// the page reaches the simulator as exactly one frame, the speed set with the keyboard as one more, and
// the state comes back over /events; the account filter hides other accounts' devices. Screenshots go
// to test-artifacts/. Runs inside test/netns.sh (loopback-only namespace).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { chromiumAvailable, launchChromium } from "../helpers/page-qr.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (mDNS)");

const PASSWORD = "correct horse battery";
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

describe("the page's device controls", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-controls-"));
  const sim = new FanSyncSimulator({ devices: [{ profile: "continuous", displayName: "Study Fan" }], deviceAckDelayMs: 20, pushDelayMs: 10 });
  let bridge: BridgeProcess;
  let base: string;
  let fan: string;
  let deviceId: string;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  let errors: string[] = [];
  const lines: LogLine[] = [];

  const setsFor = (device: string) => sim.requests("set", device).map((f) => f.data);
  const shot = async (name: string) => {
    mkdirSync(artifacts, { recursive: true });
    await page!.screenshot({ path: join(artifacts, `web-${name}.png`), fullPage: true });
  };

  before(async () => {
    const urls = await sim.start();
    [fan] = sim.deviceIds as [string];
    deviceId = `fansync:${fan}`;
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Controls Bridge",
      discriminator: 3851,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      accounts: [{ vendor: "fansync", name: "study", email: sim.email, password: "${E2E_FANSYNC_PASSWORD}", endpoints: { api: urls.apiUrl, websocket: urls.wsUrl } }],
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], { E2E_WEB_PASSWORD: PASSWORD, E2E_FANSYNC_PASSWORD: sim.password });
    bridge.on("line", (l) => lines.push(l));
    const web = await bridge.waitForLine((l) => l.event === "web", 60_000);
    base = `http://127.0.0.1:${web.port as number}`;
    await bridge.ready();
  });

  after(async () => {
    const problems = lines.filter((l) => l.level >= 50).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge errors:\n${problems.join("\n")}\n`);
    await context?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("in Chromium: the fan switched from the page reaches the simulator as one frame, and its state comes back live", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    ({ context, page, errors } = await launchChromium(dir));
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);
    await page.waitForSelector("#live.on");

    const card = page.locator(`article[data-device="${deviceId}"]`);
    const power = card.locator("button.fan-power");
    await power.waitFor();
    assert.equal(await power.getAttribute("aria-pressed"), "false", "the simulator's fan starts off");
    assert.equal(await card.locator("label", { hasText: "Speed" }).locator("input").count(), 1, "the speed has a label");
    await shot("controls-before");

    const before = setsFor(fan).length;
    const frame = sim.nextFrame((f) => f.request === "set" && f.device === fan, 10_000);
    await power.click();
    // The driver turns "on" into its vendor frame (power with the speed to return to).
    const sent = (await frame).data as Record<string, number>;
    assert.equal(sent.H00, 1);
    await card.locator('button.fan-power[aria-pressed="true"]').waitFor({ timeout: 10_000 });
    await card.locator(".cmd-msg", { hasText: "Done." }).waitFor({ timeout: 10_000 });
    assert.deepEqual(setsFor(fan).slice(before), [sent], "one click, one frame");
    assert.equal(sim.actual(fan).H00, 1);

    // The keyboard alone: focus the speed slider, one arrow key = one command.
    const speed = card.locator("input.fan-speed");
    const was = Number(await speed.inputValue());
    await speed.focus();
    const speedFrame = sim.nextFrame((f) => f.request === "set" && f.device === fan, 10_000);
    await page.keyboard.press("ArrowRight");
    assert.deepEqual((await speedFrame).data, { H02: was + 1 });
    await card.locator(".summary", { hasText: `fan on ${was + 1}%` }).waitFor({ timeout: 10_000 });
    assert.deepEqual(setsFor(fan).slice(before), [sent, { H02: was + 1 }]);

    // A change at the wall reaches the controls without a reload.
    await page.evaluate("window.notReloaded = true");
    await sim.remote(fan, { H00: 0 });
    await card.locator('button.fan-power[aria-pressed="false"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate("window.notReloaded"), true);
    await shot("controls-after");
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });

  it("in Chromium: the account filter hides other accounts' devices", async (t) => {
    if (!page) return t.skip("no Chromium");
    const card = page.locator(`article[data-device="${deviceId}"]`);
    assert.deepEqual(await page.locator("#filter-account option").allTextContents(), ["all accounts", "study"]);
    await page.selectOption("#filter-account", "study");
    assert.equal(await card.isVisible(), true);
    await page.evaluate(`(() => { const o = document.createElement("option"); o.value = "elsewhere"; o.textContent = "elsewhere";
      const f = document.querySelector("#filter-account"); f.append(o); f.value = "elsewhere"; f.dispatchEvent(new Event("change")); })()`);
    assert.equal(await card.isHidden(), true);
    await page.selectOption("#filter-account", "");
    assert.equal(await card.isVisible(), true);
  });
});
