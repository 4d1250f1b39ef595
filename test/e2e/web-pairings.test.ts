// The page's "Paired controllers" (issue 19), end to end: the bridge started from its CLI against the
// FanSync simulator, paired with hap-controller and commissioned by two matter.js controllers (the
// second through a commissioning window the first opened, as a second ecosystem would be). A Matter
// fabric removed from the page in Chromium (with its confirmation) can no longer talk to the bridge
// while the other fabric and HomeKit keep working; the HomeKit controller removed from the page then
// fails pair-verify, and the remaining fabric still works. No restart. Runs inside test/netns.sh.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { ManualPairingCodeCodec } from "@matter/main/types";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { chromiumAvailable, launchChromium } from "../helpers/page-qr.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (mDNS)");

const PASSWORD = "correct horse battery";
const DISCRIMINATOR = 3853;
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

/** Settles with "timeout" when `work` neither resolves nor rejects in time (a controller that keeps
 * retrying a peer that no longer knows it). */
async function outcome(work: Promise<unknown>, ms: number): Promise<"ok" | "failed" | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => "ok" as const,
        () => "failed" as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe("pairings removed on the page, without a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-pairings-"));
  const sim = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Porch Fan" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  let bridge: BridgeProcess;
  let base: string;
  let homekitPort: number;
  let matterPort: number;
  let deviceId: string;
  let hap: HapClient | undefined;
  let first: MatterTestClient | undefined;
  let second: MatterTestClient | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  let errors: string[] = [];
  let fabricRemoved = false;
  const lines: LogLine[] = [];
  const shot = async (name: string) => {
    mkdirSync(artifacts, { recursive: true });
    await page!.screenshot({ path: join(artifacts, `web-${name}.png`), fullPage: true });
  };
  const logIn = async () => {
    const login = await fetch(`${base}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ password: PASSWORD }),
    });
    return (login.headers.get("set-cookie") ?? "").split(";")[0]!;
  };
  const readFan = async (client: MatterTestClient) => {
    const fan = client.withCluster(client.bridged(uniqueIdFor(deviceId)), "fanControl");
    return client.read(fan, "fanControl", ["percentSetting"]);
  };

  before(async () => {
    const urls = await sim.start();
    deviceId = `fansync:${sim.deviceIds[0]!}`;
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Pairings Bridge",
      discriminator: DISCRIMINATOR,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      accounts: [
        {
          vendor: "fansync",
          name: "porch",
          email: sim.email,
          password: "${E2E_FANSYNC_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_WEB_PASSWORD: PASSWORD,
      E2E_FANSYNC_PASSWORD: sim.password,
    });
    bridge.on("line", (l) => lines.push(l));
    const web = await bridge.waitForLine((l) => l.event === "web", 60_000);
    base = `http://127.0.0.1:${web.port as number}`;
    const ready = await bridge.ready();
    homekitPort = ready.homekitPort as number;
    hap = await HapClient.pair(homekitPort, E2E_PIN);
    matterPort = ready.matterPort as number;
    first = await MatterTestClient.commission({
      port: matterPort,
      passcode: E2E_PASSCODE,
      discriminator: DISCRIMINATOR,
      fabricLabel: "first home",
    });
    // The first ecosystem shares the bridge: a commissioning window with a fresh passcode.
    const { manualPairingCode } = await first.node.openEnhancedCommissioningWindow();
    const code = ManualPairingCodeCodec.decode(manualPairingCode);
    second = await MatterTestClient.commission({
      port: matterPort,
      passcode: code.passcode,
      discriminator: DISCRIMINATOR,
      shortDiscriminator: code.shortDiscriminator,
      fabricLabel: "second home",
      controllerId: "second-controller",
    });
  });

  after(async () => {
    const problems = lines.filter((l) => l.level >= 50).map((l) => `${l.level} ${l.msg}`);
    if (problems.length) process.stderr.write(`bridge errors:\n${problems.join("\n")}\n`);
    await context?.close();
    await hap?.close();
    await first?.close();
    await second?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("in Chromium: a fabric removed on the page is cut off; the other fabric and HomeKit keep working", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    const pid = bridge.child.pid;
    ({ context, page, errors } = await launchChromium(dir));
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);
    await page.waitForSelector("#live.on");

    const fabrics = page.locator("#pairings-matter li[data-fabric]");
    await fabrics.nth(1).waitFor({ timeout: 15_000 });
    const texts = await fabrics.allTextContents();
    assert.equal(texts.length, 2);
    assert.match(texts[0]!, /test vendor "first home", fabric 1/);
    assert.match(texts[1]!, /test vendor "second home", fabric 2/);
    const controllers = page.locator('#pairings-homekit ul[data-target="bridge-0"] li[data-controller]');
    assert.equal(await controllers.count(), 1);
    assert.match((await controllers.first().textContent()) ?? "", /Pairings Bridge: controller \w{8} \(admin\)/);
    await shot("pairings-before");

    // Remove the first fabric; the page asks first (a dismissed question changes nothing).
    const remove = fabrics.nth(0).getByRole("button", { name: /Remove test vendor \(fabric 1\)/ });
    page.once("dialog", (d) => void d.dismiss());
    await remove.click();
    assert.equal(await fabrics.count(), 2, "a dismissed confirmation removes nothing");
    const question = new Promise<string>((resolve) =>
      page!.once("dialog", (d) => {
        resolve(d.message());
        void d.accept();
      }),
    );
    await remove.click();
    assert.match(await question, /Remove test vendor \(fabric 1\)\? The bridge leaves that ecosystem/);
    await page.locator("#pairings-msg", { hasText: "Done." }).waitFor({ timeout: 20_000 });
    assert.deepEqual(
      (await fabrics.allTextContents()).map((s) => s.replace(/ Remove…$/, "")),
      ['test vendor "second home", fabric 2'],
    );
    fabricRemoved = true;
    await shot("pairings-fabric-removed");

    assert.equal(await outcome(readFan(first!), 30_000).then((r) => r !== "ok"), true, "first fabric cut off");
    assert.ok("percentSetting" in (await readFan(second!)), "the second fabric still reads the fan");
    assert.ok(
      (await hap!.accessories(true)).some((a) => a.name === "Porch Fan"),
      "HomeKit still works",
    );

    // Now the HomeKit controller: after its removal hap-controller's pair-verify fails.
    const data = hap!.pairingData;
    await hap!.close();
    hap = undefined;
    const hkRemove = controllers.first().getByRole("button", { name: /Remove controller/ });
    page.once("dialog", (d) => {
      assert.match(d.message(), /last admin/);
      void d.accept();
    });
    await hkRemove.click();
    await page.locator('#pairings-homekit ul[data-target="bridge-0"] li.hint').waitFor({ timeout: 20_000 });
    await page.locator("#homekit-status", { hasText: "not paired" }).waitFor({ timeout: 20_000 });
    const stale = new HapClient(homekitPort, data);
    try {
      await assert.rejects(stale.accessories(true), "pair-verify with the removed pairing fails");
    } finally {
      await stale.close();
    }
    assert.ok("percentSetting" in (await readFan(second!)), "Matter is untouched by the HomeKit removal");
    await shot("pairings-homekit-removed");

    assert.equal(bridge.child.pid, pid);
    assert.equal(lines.filter((l) => l.event === "ready").length, 1, "the bridge itself was not restarted");
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });

  it("the pairing API refuses bad input, cross-site posts and anonymous callers", async () => {
    const anonymous = await fetch(`${base}/api/pairings`);
    assert.equal(anonymous.status, 401);
    const cookie = await logIn();
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { Cookie: cookie, "Content-Type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    const cases: [string, unknown, Record<string, string>, number, RegExp][] = [
      ["/api/pairings/matter/remove", { fabricIndex: 2 }, { Origin: "http://evil.example" }, 403, /cross-site/],
      ["/api/pairings/matter/remove", { fabricIndex: 2 }, { "Content-Type": "text/plain" }, 415, /application\/json/],
      ["/api/pairings/matter/remove", { fabricIndex: "2" }, {}, 400, /fabricIndex/],
      ["/api/pairings/matter/remove", { fabricIndex: 9 }, {}, 404, /no such fabric/],
      ["/api/pairings/matter/reset", { confirm: true }, {}, 400, /confirm/],
      ["/api/pairings/homekit/remove", { target: "bridge-0", controller: "x", more: 1 }, {}, 400, /bad request/],
      ["/api/pairings/homekit/remove", { target: "bridge-7", controller: "x" }, {}, 404, /no such HomeKit/],
      ["/api/pairings/matter/remove", "{not json", {}, 400, /not JSON/],
      ["/api/pairings/matter/remove", "x".repeat(9000), {}, 413, /too large/],
    ];
    for (const [path, body, headers, status, message] of cases) {
      const res = await post(path, body, headers);
      assert.equal(res.status, status, `${path} ${JSON.stringify(body).slice(0, 60)}`);
      assert.match(((await res.json()) as { error: string }).error, message);
    }
    const view = (await (await fetch(`${base}/api/pairings`, { headers: { Cookie: cookie } })).json()) as {
      matter: { fabrics: unknown[] };
    };
    assert.equal(view.matter.fabrics.length, fabricRemoved ? 1 : 2, "none of those changed anything");
  });

  it("a reset of each ecosystem removes every pairing; both pair again with their codes, no restart", async () => {
    const cookie = await logIn();
    const pid = bridge.child.pid;
    hap ??= await HapClient.pair(homekitPort, E2E_PIN);
    const reset = async (ecosystem: string) => {
      const res = await fetch(`${base}/api/pairings/${ecosystem}/reset`, {
        method: "POST",
        headers: { Cookie: cookie, "Content-Type": "application/json" },
        body: JSON.stringify({ confirm: "reset" }),
      });
      assert.equal(res.status, 200, `${ecosystem}: ${await res.clone().text()}`);
      return (await res.json()) as { homekit?: { controllers: unknown[] }[]; matter?: { fabrics: unknown[] } };
    };
    assert.deepEqual((await reset("homekit")).homekit?.[0]?.controllers, []);
    assert.deepEqual((await reset("matter")).matter?.fabrics, []);
    await hap.close();
    hap = await HapClient.pair(homekitPort, E2E_PIN);
    assert.ok(
      (await hap.accessories(true)).some((a) => a.name === "Porch Fan"),
      "HomeKit pairs again",
    );
    await second?.close();
    second = undefined;
    await first?.close();
    first = undefined;
    // matter.js resets the node once its last fabric is gone; it is commissionable again with the same code.
    first = await MatterTestClient.commission({
      port: matterPort,
      passcode: E2E_PASSCODE,
      discriminator: DISCRIMINATOR,
      controllerId: "third-controller",
    });
    assert.ok("percentSetting" in (await readFan(first)), "a new Matter controller sees the fan");
    assert.equal(bridge.child.pid, pid);
    assert.equal(lines.filter((l) => l.event === "ready").length, 1, "the bridge itself was not restarted");
  });
});
