// The first visit, timed, on a phone-sized screen (issue 19): the bridge started from its CLI with no
// account and no page password, against the Nanit simulator (a vendor that asks for a code); headless
// Chromium at 390 px opens the one-time setup link from the log, chooses the page password, adds the
// account (vendor from the list, e-mail, password, the code the simulator "sends"), sees the devices
// and the pairing codes. The time is printed (not asserted: the machine may be loaded); every step is
// a screenshot in test-artifacts/ and, on every view, nothing is wider than the screen
// (document.documentElement.scrollWidth <= 390). Runs inside test/netns.sh.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { chromiumAvailable, launchChromium } from "../helpers/page-qr.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (mDNS)");

const PASSWORD = "a page password for the phone";
const PHONE = { width: 390, height: 844 };
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

describe("the first visit on a phone: setup link, password, first account, devices, pairing codes", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-onboarding-"));
  const sim = new NanitSimulator({
    mfa: true,
    babies: [{ uid: "ob000001", name: "Robin", cameraUid: "N301ONBOARD0001" }],
    sensorPushMs: [1_000, 120_000],
  });
  let bridge: BridgeProcess;
  let base: string;
  let setupPath: string;
  let urls: { apiUrl: string; wsUrl: string };
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  let errors: string[] = [];
  const shots: string[] = [];
  const lines: LogLine[] = [];

  /** A screenshot of the whole page, and the check that nothing is wider than the phone's screen. */
  const step = async (name: string) => {
    mkdirSync(artifacts, { recursive: true });
    const file = join(artifacts, `web-onboarding-${shots.length + 1}-${name}.png`);
    await page!.screenshot({ path: file, fullPage: true });
    shots.push(file);
    await fitsThePhone(name);
  };
  const fitsThePhone = async (view: string) => {
    const { width, wider } = (await page!.evaluate(`(() => {
      const limit = document.documentElement.clientWidth;
      const wider = [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().right > limit + 0.5 && e.getClientRects().length)
        .slice(0, 5)
        .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + e.className);
      return { width: document.documentElement.scrollWidth, wider };
    })()`)) as { width: number; wider: string[] };
    assert.ok(width <= PHONE.width, `${view}: ${width} px wide at ${PHONE.width} px (${wider.join(", ")})`);
  };

  before(async () => {
    urls = await sim.start();
    const configFile = join(dir, "config.yaml");
    // No web.password and a LAN address: the page asks for the password with the one-time link.
    await writeE2EConfig(configFile, {
      name: "Onboarding Bridge",
      discriminator: 3854,
      web: { host: "0.0.0.0", port: 0 },
      accounts: [],
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")]);
    bridge.on("line", (l) => lines.push(l));
    const web = await bridge.waitForLine((l) => l.event === "web", 60_000);
    base = `http://127.0.0.1:${web.port as number}`;
    const setup = await bridge.waitForLine((l) => l.event === "web-setup", 60_000);
    // The link names this machine; the namespace reaches it on loopback.
    setupPath = new URL(setup.url as string).pathname + new URL(setup.url as string).search;
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

  it("in Chromium at 390 px: setup link to pairing codes, timed, nothing wider than the screen", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    ({ context, page, errors } = await launchChromium(dir));
    await page.setViewportSize(PHONE);
    const started = performance.now();
    const marks: [string, number][] = [];
    const mark = (name: string) => marks.push([name, Math.round(performance.now() - started)]);

    await page.goto(`${base}${setupPath}`);
    await step("setup");
    await page.fill("#setup input[name=password]", PASSWORD);
    await page.fill("#setup input[name=confirm]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#setup button")]);
    mark("password chosen");
    await page.waitForSelector("#live.on");
    assert.equal(await page.locator("#add-account").getAttribute("open"), "", "unfolded on the first visit");
    await step("first-visit");

    const form = page.locator("#add-account-form");
    await form.locator("select[name=vendor]").selectOption({ label: "Nanit (asks for a code)" });
    await form.locator("input[name=name]").fill("nursery");
    await form.locator("input[name=email]").fill(sim.email);
    await form.locator("input[name=password]").fill(sim.password);
    await form.locator("details > summary").click();
    await form
      .locator("textarea[name=settings]")
      .fill(JSON.stringify({ endpoints: { api: urls.apiUrl, websocket: urls.wsUrl } }));
    await step("account");
    const sms = new Promise<string>((resolve) => sim.once("sms", resolve));
    await Promise.all([page.waitForURL(`${base}/`), form.locator("button").click()]);
    const code = await sms;
    const codeInput = page.locator('details[data-mfa-login="nursery"] input[name=code]');
    await codeInput.waitFor({ timeout: 30_000 });
    mark("account checked, code asked");
    await codeInput.fill(code);
    await step("code");
    await Promise.all([page.waitForURL(`${base}/`), page.locator('form[data-login="nursery"] button').click()]);

    const camera = page.locator('#devices article[data-device^="nanit:"]').first();
    await camera.waitFor({ timeout: 60_000 });
    mark("devices shown");
    await step("devices");

    await page.locator("#homekit-code").scrollIntoViewIfNeeded();
    assert.match((await page.locator("#homekit-code").textContent()) ?? "", /^\d{3}-\d{2}-\d{3}$/);
    assert.match((await page.locator("#matter-code").textContent()) ?? "", /^\d{11}$/);
    await page.locator("#cameras .camera-code").first().waitFor({ timeout: 60_000 });
    assert.match((await page.locator("#cameras .camera-code").first().textContent()) ?? "", /^\d{3}-\d{2}-\d{3}$/);
    mark("pairing codes shown");
    const total = Math.round(performance.now() - started);
    await step("pairing-codes");
    process.stdout.write(
      `onboarding in Chromium (390 px): ${total} ms from the setup link to the pairing codes (${marks
        .map(([name, ms]) => `${name} ${ms} ms`)
        .join(", ")}), including the test's own typing and screenshots\n`,
    );

    // The camera's tile: a picture while the page is visible.
    await camera.locator("img.snapshot:not([hidden])").waitFor({ timeout: 60_000 });
    assert.match((await camera.locator("img.snapshot").getAttribute("src")) ?? "", /^data:image\/jpeg;base64,/);
    await step("camera-tile");

    // The other views at the same width: every disclosure open, the dark theme, the log-in page.
    await page.evaluate(`document.querySelectorAll("details").forEach((d) => { d.open = true; })`);
    await fitsThePhone("everything unfolded");
    await page.click("#theme");
    await page.click("#theme");
    assert.equal(await page.evaluate("document.documentElement.dataset.theme"), "dark");
    await step("dark");
    await Promise.all([page.waitForURL(`${base}/login`), page.click("header form button")]);
    assert.equal(await page.evaluate("document.documentElement.dataset.theme"), "dark", "the choice is kept");
    await step("login");
    process.stdout.write(`screenshots:\n${shots.map((s) => `  ${s}`).join("\n")}\n`);
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });
});
