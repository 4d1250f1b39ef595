// The page's device controls end to end (issue 19): the bridge started from its CLI against the FanSync
// simulator, the page in headless Chromium (Debian's, through playwright-core). A fan switched on from
// the page reaches the simulator as exactly one frame, the speed set with the keyboard as one more, and
// the state comes back over /events; a Nanit Sound & Light Machine's volume slider and sound machine
// (on/off, track) reach its simulator as one Settings delta each and follow the app's changes live; the
// account filter hides other accounts' devices. Screenshots go
// to test-artifacts/. Runs inside test/netns.sh (loopback-only namespace).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { existsSync, readFileSync, statSync } from "node:fs";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { chromiumAvailable, launchChromium } from "../helpers/page-qr.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (mDNS)");

const PASSWORD = "correct horse battery";
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

describe("the page's device controls", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-controls-"));
  const sim = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Study Fan" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  const SPEAKER = "S1SIM0000002";
  const nanit = new NanitSimulator({
    mfa: false,
    sensorPushMs: [600_000, 900_000],
    babies: [{ uid: "b4c0ffee", name: "Robin", cameraUid: "N301SIM0000002", speakerUid: SPEAKER }],
  });
  const speaker = nanit.speakers.get(SPEAKER)!;
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
    const nanitUrls = await nanit.start();
    [fan] = sim.deviceIds as [string];
    deviceId = `fansync:${fan}`;
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Controls Bridge",
      discriminator: 3851,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      accounts: [
        {
          vendor: "fansync",
          name: "study",
          email: sim.email,
          password: "${E2E_FANSYNC_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
        {
          vendor: "nanit",
          name: "nursery",
          email: nanit.email,
          password: "${E2E_NANIT_PASSWORD}",
          endpoints: { api: nanitUrls.apiUrl, websocket: nanitUrls.wsUrl, speakers: nanitUrls.speakersUrl },
        },
      ],
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_WEB_PASSWORD: PASSWORD,
      E2E_FANSYNC_PASSWORD: sim.password,
      E2E_NANIT_PASSWORD: nanit.password,
    });
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
    await nanit.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("in Chromium: a fan switched on the page reaches the simulator as one frame, its state comes back", async (t) => {
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
    assert.equal(
      await card.locator("label", { hasText: "Speed" }).locator("input").count(),
      1,
      "the speed has a label",
    );
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

  it("in Chromium: Sound & Light Machine volume and sound machine, one Settings delta each, and live", async (t) => {
    if (!page) return t.skip("no Chromium");
    const card = page.locator(`article[data-device="nanit:${SPEAKER}"]`);
    const volume = card.locator("input.volume");
    await volume.waitFor({ timeout: 30_000 });
    await card.locator("input.volume:not([disabled])").waitFor({ timeout: 30_000 });
    assert.equal(await card.locator("label", { hasText: "Volume" }).locator("input").count(), 1, "labelled");
    assert.equal(await volume.inputValue(), "40", "the machine's 0.4");
    const settingsSince = (mark: number) =>
      speaker.received
        .slice(mark)
        .filter((r) => r.request.settings)
        .map((r) => r.request.settings);
    const mark = speaker.received.length;

    // The keyboard alone: one arrow key on the slider = one volume delta.
    await volume.focus();
    await page.keyboard.press("ArrowRight");
    await card.locator(".cmd-msg", { hasText: "Done." }).waitFor({ timeout: 10_000 });
    assert.deepEqual(settingsSince(mark), [{ volume: Math.fround(0.41) }]);

    // A track picked plays it; the sound switch comes back on over /events.
    await card.locator(".cmd-msg").evaluate((n) => {
      n.textContent = "";
    });
    await card.locator("select.sound-track").selectOption({ label: "Birds" });
    await card.locator('button.sound-power[aria-pressed="true"]').waitFor({ timeout: 10_000 });
    await card.locator(".cmd-msg", { hasText: "Done." }).waitFor({ timeout: 10_000 });
    await card.locator(".cmd-msg").evaluate((n) => {
      n.textContent = "";
    });
    await card.locator("button.sound-power").click();
    await card.locator('button.sound-power[aria-pressed="false"]').waitFor({ timeout: 10_000 });
    await card.locator(".cmd-msg", { hasText: "Done." }).waitFor({ timeout: 10_000 });
    assert.deepEqual(settingsSince(mark), [
      { volume: Math.fround(0.41) },
      { sound: { no_sound: false, track: "Birds" }, is_on: true },
      { sound: { no_sound: true } },
    ]);

    // Changes made in the Sound & Light app reach the controls without a reload.
    await page.evaluate("window.notReloaded = true");
    speaker.setFromApp({ volume: 0.6, sound: { no_sound: false, track: "Lullaby" } });
    await card.locator('button.sound-power[aria-pressed="true"]').waitFor({ timeout: 10_000 });
    const selector = `article[data-device="nanit:${SPEAKER}"]`;
    await page.waitForFunction(
      `(() => { const c = document.querySelector('${selector}');
        return c?.querySelector("input.volume")?.value === "60"
          && c?.querySelector("select.sound-track")?.value === "Lullaby"; })()`,
      undefined,
      { timeout: 10_000 },
    );
    assert.equal(await page.evaluate("window.notReloaded"), true);
    await shot("controls-sound-light");
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });

  it("in Chromium: the account filter hides other accounts' devices", async (t) => {
    if (!page) return t.skip("no Chromium");
    const card = page.locator(`article[data-device="${deviceId}"]`);
    assert.deepEqual(await page.locator("#filter-account option").allTextContents(), [
      "all accounts",
      "study",
      "nursery",
    ]);
    await page.selectOption("#filter-account", "study");
    assert.equal(await card.isVisible(), true);
    await page.evaluate(`(() => {
      const o = document.createElement("option"); o.value = "elsewhere"; o.textContent = "elsewhere";
      const f = document.querySelector("#filter-account"); f.append(o); f.value = "elsewhere";
      f.dispatchEvent(new Event("change"));
    })()`);
    assert.equal(await card.isHidden(), true);
    await page.selectOption("#filter-account", "");
    assert.equal(await card.isVisible(), true);
  });
});

// An account added on the page while Apple Home and a Matter controller are paired: its device appears
// in hap-controller's accessory list and in the matter.js controller without a restart; renamed on the
// page, its device stays the same accessory (aid) and the same endpoint (number), still paired and
// controllable; it leaves both when the account is removed on the page; the config account's device
// keeps its accessory id throughout.
describe("accounts added, renamed and removed on the page, without a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-accounts-"));
  const home = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Hall Fan" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  const garage = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Garage Fan", id: "b4cf120009005f0e0009aa77" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  const dataDir = join(dir, "data");
  let bridge: BridgeProcess;
  let base: string;
  let garageUrls: { apiUrl: string; wsUrl: string };
  let hap: HapClient | undefined;
  let matter: MatterTestClient | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  let errors: string[] = [];
  const lines: LogLine[] = [];
  const shot = async (name: string) => {
    mkdirSync(artifacts, { recursive: true });
    await page!.screenshot({ path: join(artifacts, `web-${name}.png`), fullPage: true });
  };
  const hasMatterDevice = (id: string) => {
    try {
      matter!.bridged(uniqueIdFor(id));
      return true;
    } catch {
      return false;
    }
  };
  /** Wait for the controller's view of the bridge's endpoints to (not) hold a device. */
  const matterStructure = async (id: string, present: boolean) => {
    const deadline = Date.now() + 60_000;
    while (hasMatterDevice(id) !== present) {
      if (Date.now() > deadline)
        throw new Error(`Matter controller: ${id} ${present ? "never appeared" : "never left"}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        matter!.node.events.structureChanged.once(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };

  before(async () => {
    const urls = await home.start();
    garageUrls = await garage.start();
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Accounts Bridge",
      discriminator: 3852,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      accounts: [
        {
          vendor: "fansync",
          name: "home",
          email: home.email,
          password: "${E2E_FANSYNC_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir], {
      E2E_WEB_PASSWORD: PASSWORD,
      E2E_FANSYNC_PASSWORD: home.password,
    });
    bridge.on("line", (l) => lines.push(l));
    const web = await bridge.waitForLine((l) => l.event === "web", 60_000);
    base = `http://127.0.0.1:${web.port as number}`;
    const ready = await bridge.ready();
    hap = await HapClient.pair(ready.homekitPort as number, E2E_PIN);
    matter = await MatterTestClient.commission({
      port: ready.matterPort as number,
      passcode: E2E_PASSCODE,
      discriminator: 3852,
    });
  });

  after(async () => {
    const problems = lines.filter((l) => l.level >= 50).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge errors:\n${problems.join("\n")}\n`);
    await context?.close();
    await hap?.close();
    await matter?.close();
    await bridge?.stop();
    await home.stop();
    await garage.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Added, its devices show up in HomeKit and Matter; renamed, it keeps them there; removed, they leave both.
  it("in Chromium: a FanSync account added, renamed and removed on the page, seen in HomeKit and Matter", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    const homeDevice = `fansync:${home.deviceIds[0]!}`;
    const garageDevice = `fansync:${garage.deviceIds[0]!}`;
    const pid = bridge.child.pid;
    const hallAid = (await hap!.accessory({ name: "Hall Fan" })).aid;
    assert.ok(hasMatterDevice(homeDevice));
    assert.ok(!hasMatterDevice(garageDevice));

    ({ context, page, errors } = await launchChromium(dir));
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);
    await page.waitForSelector("#live.on");
    assert.deepEqual(await page.locator("#add-account-form select[name=vendor] option").allTextContents(), [
      "FanSync",
      "X-Sense",
      "Nanit (asks for a code)",
    ]);

    const form = page.locator("#add-account-form");
    await page.locator("#add-account > summary").click();
    const fill = async (password: string) => {
      await form.locator("select[name=vendor]").selectOption("fansync");
      await form.locator("input[name=name]").fill("garage");
      await form.locator("input[name=email]").fill(garage.email);
      await form.locator("input[name=password]").fill(password);
      if (!(await form.locator("textarea[name=settings]").isVisible())) await form.locator("details > summary").click();
      await form
        .locator("textarea[name=settings]")
        .fill(JSON.stringify({ endpoints: { api: garageUrls.apiUrl, websocket: garageUrls.wsUrl } }));
    };
    await fill("not the password");
    await Promise.all([page.waitForURL(`${base}/`), form.locator("button").click()]);
    assert.match(
      (await page.locator("#add-account .msg").textContent()) ?? "",
      /FanSync refused the e-mail and password/,
    );
    assert.equal(existsSync(join(dataDir, "page-accounts.json")), false, "nothing stored for a refused account");

    await fill(garage.password);
    await shot("account-add");
    await Promise.all([page.waitForURL(`${base}/`), page.locator("#add-account-form button").click()]);
    assert.match((await page.locator("#add-account .msg").textContent()) ?? "", /"garage" is added/);
    await page
      .locator(`article[data-device="${garageDevice}"] .name`, { hasText: "Garage Fan" })
      .waitFor({ timeout: 15_000 });
    await page.locator('tr[data-account="garage"] .link', { hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    await shot("account-added");

    const stored = join(dataDir, "page-accounts.json");
    assert.equal(statSync(stored).mode & 0o777, 0o600);
    assert.ok(
      readFileSync(stored, "utf8").includes(garage.password),
      "a FanSync driver logs in with its password: kept (0600)",
    );
    assert.ok(!lines.some((l) => JSON.stringify(l).includes(garage.password)), "the password never reaches the log");

    // Apple Home: the bridge's accessory list holds the new fan; the old fan kept its accessory id.
    const accessories = await hap!.accessories(true);
    assert.ok(
      accessories.some((a) => a.name === "Garage Fan"),
      "HomeKit sees the added account's fan",
    );
    assert.equal(accessories.find((a) => a.name === "Hall Fan")?.aid, hallAid);
    await matterStructure(garageDevice, true);
    assert.ok(hasMatterDevice(homeDevice));

    // Rename it: a new name on the page, the same accessory in Apple Home and endpoint in Matter.
    const garageAid = accessories.find((a) => a.name === "Garage Fan")!.aid;
    const garageEndpoint = matter!.bridged(uniqueIdFor(garageDevice)).number;
    const renamedAt = lines.length;
    const renameRow = page.locator('tr[data-account="garage"]');
    await renameRow.locator("details.rename > summary").click();
    await renameRow.locator("form[data-rename] input[name=name]").fill("workshop");
    await shot("account-rename");
    await renameRow.locator("form[data-rename] button").click();
    await page.locator('tr[data-account="workshop"] .link', { hasText: /^connected$/ }).waitFor({ timeout: 15_000 });
    await page.locator("#add-account .msg", { hasText: '"garage" is now "workshop"' }).waitFor();
    await page.waitForSelector("#live.on");
    assert.equal(await page.locator('tr[data-account="garage"]').count(), 0);
    assert.equal(await page.locator(`article[data-device="${garageDevice}"]`).getAttribute("data-account"), "workshop");
    await shot("account-renamed");
    assert.ok(readFileSync(join(dataDir, "page-accounts.json"), "utf8").includes('"name": "workshop"'));
    // Apple Home: a fresh accessory list over the same pairing; the fan kept its accessory id.
    const renamed = await hap!.accessories(true);
    assert.equal(renamed.find((a) => a.name === "Garage Fan")?.aid, garageAid);
    assert.equal(renamed.find((a) => a.name === "Hall Fan")?.aid, hallAid);
    // Matter: the same endpoint number, read from the bridge (not the cache), over the same fabric.
    const endpoint = matter!.bridged(uniqueIdFor(garageDevice));
    assert.equal(endpoint.number, garageEndpoint);
    const basic = await matter!.read(endpoint, "bridgedDeviceBasicInformation", ["uniqueId", "reachable"]);
    assert.equal(basic.uniqueId, uniqueIdFor(garageDevice));
    // And it is controlled through the restarted driver: a Matter speed write reaches the simulator.
    const garageFan = garage.deviceIds[0]!;
    const frame = garage.nextFrame((f) => f.request === "set" && f.device === garageFan, 15_000);
    await matter!.write(matter!.withCluster(endpoint, "fanControl"), "fanControl", { percentSetting: 50 });
    assert.equal(((await frame).data as Record<string, number>).H02, 50);
    const left = lines.slice(renamedAt).filter((l) => /Garage Fan (left|removed)/.test(l.msg));
    assert.deepEqual(left, [], "the fan never left Apple Home or Matter");

    // Remove it again, with the confirmation step.
    const row = page.locator('tr[data-account="workshop"]');
    await row.locator("details.remove > summary").click();
    await Promise.all([page.waitForURL(`${base}/`), row.locator("button.danger").click()]);
    assert.match((await page.locator("#add-account .msg").textContent()) ?? "", /"workshop" is removed/);
    assert.equal(await page.locator(`article[data-device="${garageDevice}"]`).count(), 0);
    assert.equal(await page.locator('tr[data-account="workshop"]').count(), 0);
    assert.equal(
      await page.locator('tr[data-account="home"] .actions').textContent(),
      "in the config file (rename or remove it there)",
    );
    const after = await hap!.accessories(true);
    assert.ok(!after.some((a) => a.name === "Garage Fan"), "HomeKit no longer lists it");
    assert.equal(after.find((a) => a.name === "Hall Fan")?.aid, hallAid);
    await matterStructure(garageDevice, false);
    assert.ok(hasMatterDevice(homeDevice));
    assert.ok(!readFileSync(stored, "utf8").includes(garage.email), "the page account is forgotten");
    await shot("account-removed");

    assert.equal(bridge.child.pid, pid);
    assert.equal(lines.filter((l) => l.event === "ready").length, 1, "the bridge itself was not restarted");
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });
});
