// The page's device and log filters in headless Chromium against a real WebServer (issue 19): devices
// filtered by room (shown only when a vendor names rooms) and by account, both kept while devices
// change live; the log filtered by account and device, with the download link taking the same filter;
// the keyboard reaches the filters; at 390 px nothing is wider than the screen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { DriverSink } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { LogRing } from "../../src/web/log-ring.ts";
import { WebServer } from "../../src/web/server.ts";
import { chromiumAvailable, launchChromium } from "../helpers/page-qr.ts";
import { LogCapture } from "../helpers/log-capture.ts";

const device = (id: string, account: string, name: string, room?: string): DeviceInfo => ({
  id,
  vendor: "test",
  account,
  kind: "sensor",
  name,
  manufacturer: "T",
  model: "S1",
  serialNumber: id,
  ...(room ? { room } : {}),
  capabilities: { temperature: {} },
});

test("in Chromium: devices by room and account, the log by account and device; 390 px wide at most", async (t) => {
  if (!chromiumAvailable()) return t.skip("no Chromium");
  const dir = mkdtempSync(join(tmpdir(), "hb-web-filters-"));
  const ring = new LogRing(100);
  const log = createLogger("info", { json: true, destination: new LogCapture(), tap: ring });
  const registry = new DeviceRegistry(log);
  const sinks: Record<string, DriverSink> = {};
  for (const account of ["home", "cabin"]) {
    sinks[account] = registry.sinkFor({ vendor: "test", accountName: account } as never);
    sinks[account].linkStateChanged("connected");
  }
  sinks.home!.deviceFound(device("test:kitchen", "home", "Kitchen Sensor", "Kitchen"), { temperature: 21 });
  sinks.home!.deviceFound(device("test:hall", "home", "Hall Sensor", "Hall"), { temperature: 19 });
  sinks.cabin!.deviceFound(device("test:porch", "cabin", "Porch Sensor"), { temperature: 7 });
  log.child({ account: "home" }).info({ device: "test:kitchen" }, "kitchen reported");
  log.child({ account: "cabin" }).info("cabin connected");
  const sources = {
    registry,
    accounts: [
      { name: "home", vendor: "test" },
      { name: "cabin", vendor: "test" },
    ],
    startedAt: Date.now(),
  };
  const web = new WebServer({ sources, log, dataDir: dir, config: { host: "127.0.0.1", port: 0 }, logs: ring });
  const port = await web.start();
  const { context, page, errors } = await launchChromium(dir);
  t.after(async () => {
    await context.close();
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector("#live.on");
  const visible = async () =>
    (await page.locator("#devices article.device:visible .name").allTextContents()).sort().join(", ");

  assert.deepEqual(await page.locator("#filter-room option").allTextContents(), ["all rooms", "Hall", "Kitchen"]);
  await page.selectOption("#filter-room", "Kitchen");
  assert.equal(await visible(), "Kitchen Sensor");
  // A device that moves room live follows the filter, and the new room joins the list.
  sinks.home!.deviceFound(device("test:hall", "home", "Hall Sensor", "Kitchen"), { temperature: 19 });
  await page.locator('#devices article[data-device="test:hall"][data-room="Kitchen"]').waitFor();
  assert.equal(await visible(), "Hall Sensor, Kitchen Sensor");
  assert.deepEqual(await page.locator("#filter-room option").allTextContents(), ["all rooms", "Kitchen"]);
  await page.selectOption("#filter-room", "");
  await page.selectOption("#filter-account", "cabin");
  assert.equal(await visible(), "Porch Sensor");
  // The keyboard reaches the account filter and changes it.
  await page.focus("#filter-account");
  await page.keyboard.press("ArrowUp");
  assert.equal(await page.inputValue("#filter-account"), "home");
  assert.equal(await visible(), "Hall Sensor, Kitchen Sensor");

  // A device found later joins the log's device filter too.
  sinks.cabin!.deviceFound(device("test:shed", "cabin", "Shed Sensor"), {});
  await page.locator('#log-device option[value="test:shed"]').waitFor({ state: "attached" });
  assert.equal(await page.locator('#log-device option[value="test:shed"]').textContent(), "Shed Sensor");

  const logLines = async () => (await page.locator("#logs li:visible").allTextContents()).join("\n");
  await page.selectOption("#log-device", "test:kitchen");
  assert.match(await logLines(), /kitchen reported/);
  assert.doesNotMatch(await logLines(), /cabin connected/);
  assert.equal(await page.getAttribute("#log-download", "href"), "/api/logs/download?device=test%3Akitchen");
  await page.selectOption("#log-device", "");
  await page.selectOption("#log-account", "cabin");
  assert.match(await logLines(), /cabin connected/);
  assert.doesNotMatch(await logLines(), /kitchen reported/);
  log.child({ account: "home" }).info("a later line of home");
  log.child({ account: "cabin" }).info("a later line of cabin");
  await page.locator("#logs li", { hasText: "a later line of cabin" }).waitFor();
  assert.equal(await page.locator("#logs li", { hasText: "a later line of home" }).isHidden(), true);

  await page.evaluate(`document.querySelectorAll("details").forEach((d) => { d.open = true; })`);
  const width = await page.evaluate("document.documentElement.scrollWidth");
  assert.ok((width as number) <= 390, `the page is ${width} px wide at 390 px`);
  assert.deepEqual(errors, [], "no script or CSP errors in the page");
});

test("without rooms the room filter stays hidden", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-filters-"));
  const log = createLogger("warn");
  const registry = new DeviceRegistry(log);
  const sink = registry.sinkFor({ vendor: "test", accountName: "home" } as never);
  sink.deviceFound(device("test:a", "home", "A"), {});
  const sources = { registry, accounts: [{ name: "home", vendor: "test" }], startedAt: Date.now() };
  const web = new WebServer({ sources, log, dataDir: dir, config: { host: "127.0.0.1", port: 0 } });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  assert.match(html, /<label class="filter" id="filter-room-label" hidden>/);
  assert.doesNotMatch(html, /data-room=/);
});
