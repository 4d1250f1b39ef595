// The web page end to end: the bridge started from its CLI against the FanSync simulator with the
// page on 127.0.0.1 and a configured password. /health and /metrics, the password gate and bad
// input over plain HTTP; then the page in real headless Chromium (playwright-core driving Debian's
// /usr/bin/chromium): log in, the QR codes decode to the bridge's own pairing payloads, and a wall
// remote change shows up without a reload. Runs inside test/netns.sh (loopback-only namespace).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { pino } from "pino";
import { WebServer } from "../../src/web/index.ts";
import { createLogger } from "../../src/core/logger.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess, type LogLine } from "../helpers/bridge-process.ts";
import { chromiumAvailable, decodeQr, launchChromium } from "../helpers/page-qr.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (mDNS)");

const PIN = E2E_PIN;
const DISCRIMINATOR = 3841;
const PASSWORD = "correct horse battery";
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

/** Send raw bytes and return what the server answers before closing. */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    let out = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (out += d));
    socket.on("end", () => resolve(out));
    socket.on("error", reject);
  });
}

describe("the web page, /health and /metrics", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-"));
  const sim = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Living Room" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  let bridge: BridgeProcess;
  let base: string;
  let port: number;
  /** The simulator's id of the fan, and the bridge's (registry) id. */
  let living: string;
  let deviceId: string;
  let context: BrowserContext | undefined;
  const lines: LogLine[] = [];

  const get = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { redirect: "manual", ...init });
  const postForm = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    get(path, {
      method: "POST",
      body: new URLSearchParams(form).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    });
  const metric = (text: string, series: string): number | undefined => {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  before(async () => {
    const urls = await sim.start();
    [living] = sim.deviceIds as [string];
    deviceId = `fansync:${living}`;
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "Web Bridge",
      discriminator: DISCRIMINATOR,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      accounts: [
        {
          vendor: "fansync",
          name: "home",
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
    port = web.port as number;
    base = `http://127.0.0.1:${port}`;
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

  it("the configured password never reaches the log; the page is on the chosen loopback port", () => {
    assert.ok(port > 0);
    assert.ok(!lines.some((l) => JSON.stringify(l).includes(PASSWORD)), "the web password appears in a log line");
  });

  it("/health answers without a password with the bridge's real state", async () => {
    const res = await get("/health");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ["accounts", "devices", "homekit", "matter", "status", "uptimeS"]);
    assert.equal(body.status, "ok");
    assert.ok(typeof body.uptimeS === "number" && body.uptimeS >= 0);
    assert.deepEqual(body.homekit, { running: true, paired: false });
    assert.deepEqual(body.matter, { running: true, commissioned: false });
    assert.deepEqual(body.accounts, [{ name: "home", vendor: "fansync", link: "connected" }]);
    assert.deepEqual(body.devices, { total: 1, unavailable: 0 });
  });

  it("/metrics answers Prometheus text with link, availability, reconnects and placeholders", async () => {
    const res = await get("/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(metric(text, 'hearthbridge_account_link{account="home",vendor="fansync",state="connected"}'), 1);
    assert.equal(metric(text, 'hearthbridge_account_link{account="home",vendor="fansync",state="disconnected"}'), 0);
    assert.equal(
      metric(text, `hearthbridge_device_available{device="${deviceId}",vendor="fansync",account="home"}`),
      1,
    );
    assert.equal(metric(text, 'hearthbridge_account_reconnects_total{account="home"}'), 0);
    assert.equal(metric(text, "hearthbridge_stream_sessions"), 0);
    assert.equal(metric(text, "hearthbridge_devices"), 1);
    assert.equal(metric(text, "hearthbridge_matter_fabrics"), 0);
    assert.equal(metric(text, 'hearthbridge_homekit_paired_controllers{bridge="0"}'), 0);
    assert.match(text, /# TYPE hearthbridge_command_duration_seconds histogram/);
    assert.match(text, /# TYPE hearthbridge_event_duration_seconds histogram/);
    assert.notEqual(metric(text, 'hearthbridge_event_duration_seconds_count{ecosystem="homekit"}'), undefined);
    assert.notEqual(metric(text, 'hearthbridge_event_duration_seconds_count{ecosystem="matter"}'), undefined);
    assert.match(text, /^hearthbridge_process_resident_memory_bytes \d+/m);
  });

  it("a dropped vendor link counts one reconnect", async () => {
    const mark = lines.length;
    const reconnected = bridge.waitForLine(
      (l) => lines.indexOf(l) >= mark && l.account === "home" && l.link === "connected",
      30_000,
    );
    sim.dropSockets();
    await reconnected;
    assert.ok(
      lines.slice(mark).some((l) => l.account === "home" && l.link === "disconnected"),
      "the drop was seen as a disconnect",
    );
    const text = await (await get("/metrics")).text();
    assert.equal(metric(text, 'hearthbridge_account_reconnects_total{account="home"}'), 1);
    assert.equal(metric(text, 'hearthbridge_account_link{account="home",vendor="fansync",state="connected"}'), 1);
  });

  it("without the password the page redirects to the log-in and the data endpoints answer 401", async () => {
    const page = await get("/");
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/login");
    for (const path of ["/events", "/api/status", "/api/session"]) assert.equal((await get(path)).status, 401, path);
    assert.equal((await get("/setup")).status, 303, "a configured password cannot be replaced from the page");
    assert.equal((await postForm("/setup", { password: "something else", confirm: "something else" })).status, 409);
    const wrong = await postForm("/login", { password: "not it at all" });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    const forged = await get("/api/status", { headers: { Cookie: "hb_session=forged-token" } });
    assert.equal(forged.status, 401);
  });

  it("the right password gives an HttpOnly SameSite=Strict session that opens the data endpoints", async () => {
    const res = await postForm("/login", { password: PASSWORD });
    assert.equal(res.status, 303);
    const cookie = res.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^hb_session=[A-Za-z0-9_-]{40,};/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const session = cookie.split(";")[0]!;
    const status = await get("/api/status", { headers: { Cookie: session } });
    assert.equal(status.status, 200);
    const body = await status.text();
    assert.ok(!body.includes(sim.password), "the vendor password reached the browser");
    assert.ok(!body.includes(PASSWORD));
    const json = JSON.parse(body) as {
      devices: { id: string; available: boolean }[];
      pairing: { homekit: { setupCode: string } };
    };
    assert.deepEqual(
      json.devices.map((d) => [d.id, d.available]),
      [[deviceId, true]],
    );
    assert.equal(json.pairing.homekit.setupCode, PIN);
    // A cross-site form post is refused even with the session.
    assert.equal((await postForm("/logout", {}, { Cookie: session, Origin: "http://evil.example" })).status, 403);
    const out = await postForm("/logout", {}, { Cookie: session });
    assert.equal(out.status, 303);
    assert.equal(
      (await get("/api/status", { headers: { Cookie: session } })).status,
      401,
      "the session ended at log-out",
    );
  });

  it("bad HTTP input gets a clear 4xx and the bridge keeps serving", async () => {
    assert.equal(
      (
        await get("/login", {
          method: "POST",
          body: '{"password":"x"}',
          headers: { "Content-Type": "application/json" },
        })
      ).status,
      415,
    );
    assert.equal((await postForm("/login", { password: "x".repeat(20_000) })).status, 413);
    assert.equal((await get("/nope")).status, 401, "unknown paths are behind the password too");
    assert.equal((await get("/health", { method: "POST" })).status, 405);
    assert.match(await rawRequest(port, "GARBAGE\r\n\r\n"), /^HTTP\/1\.1 400/);
    assert.match(
      await rawRequest(port, `GET /health HTTP/1.1\r\nHost: x\r\n${"X-Long: y\r\n".repeat(200)}\r\n`),
      /^HTTP\/1\.1 4\d\d/,
    );
    // A DNS-rebinding page in the owner's browser sends its own name as Host: refused on every path.
    for (const path of ["/health", "/login", "/api/status"]) {
      const head = `GET ${path} HTTP/1.1\r\nHost: rebind.evil.example:${port}\r\nConnection: close\r\n\r\n`;
      assert.match(await rawRequest(port, head), /^HTTP\/1\.1 403/, path);
    }
    assert.equal((await get("/health")).status, 200);
    assert.equal(bridge.exitCode, undefined);
  });

  it("in Chromium: log in, the QR codes decode to the bridge's payloads, a remote change appears live", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    const homekitLine = await bridge.waitForLine((l) => l.event === "homekit-pairing");
    const matterLine = await bridge.waitForLine((l) => l.event === "matter-pairing");
    let page: Page;
    let errors: string[];
    ({ context, page, errors } = await launchChromium(dir));
    const started = performance.now();
    const step = (name: string) => t.diagnostic(`${name}: ${Math.round(performance.now() - started)} ms`);

    step("browser up");
    await page.goto(`${base}/`);
    assert.equal(new URL(page.url()).pathname, "/login");
    step("login page");
    await page.fill("input[name=password]", "wrong password here");
    await page.click("#login button");
    assert.match((await page.textContent("body")) ?? "", /Wrong password/);
    step("wrong password refused");
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);

    step("logged in");
    assert.equal(await page.textContent("#homekit-code"), homekitLine.setupCode);
    assert.equal(await page.textContent("#matter-code"), matterLine.manualCode);
    assert.equal(await page.locator("#homekit-qr svg").count(), 1);
    assert.equal(await page.locator("#matter-qr svg").count(), 1);
    // Decode both QR codes as a phone would, from pixels.
    for (const [id, expected] of [
      ["homekit-qr", homekitLine.setupURI],
      ["matter-qr", matterLine.qrCode],
    ] as const) {
      assert.equal(await decodeQr(page, `#${id}`), expected, `${id} decodes to the logged payload`);
    }
    assert.equal(await page.locator("#cameras").isHidden(), true, "no camera: no camera section");

    step("QR codes decoded");
    await page.waitForSelector("#live.on");
    const row = page.locator(`article[data-device="${deviceId}"]`);
    assert.equal(await row.locator(".available").textContent(), "reachable");
    await page.evaluate("window.notReloaded = true");
    await sim.remote(living, { H00: 1, H02: 30 });
    await row.locator(".summary", { hasText: "fan on 30%" }).waitFor({ timeout: 10_000 });
    step("live state shown");
    assert.equal(await page.evaluate("window.notReloaded"), true, "the page was updated in place, not reloaded");
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "web-page.png"), fullPage: true });
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
  });

  it("a vendor report raises both hosts' latency histograms (HomeKit at once, Matter once its queue ran)", async () => {
    const counts = async () => {
      const text = await (await get("/metrics")).text();
      return [
        metric(text, 'hearthbridge_event_duration_seconds_count{ecosystem="homekit"}') ?? 0,
        metric(text, 'hearthbridge_event_duration_seconds_count{ecosystem="matter"}') ?? 0,
      ];
    };
    const [homekit, matter] = await counts();
    await sim.remote(living, { H02: 45 });
    const deadline = Date.now() + 10_000;
    let now = await counts();
    while ((now[0]! <= homekit! || now[1]! <= matter!) && Date.now() < deadline) now = await counts();
    assert.ok(now[0]! > homekit!, `homekit count ${homekit} -> ${now[0]}`);
    assert.ok(now[1]! > matter!, `matter count ${matter} -> ${now[1]}`);
  });

  it("failed log-ins are rate limited per client", async () => {
    let status = 0;
    for (let i = 0; i < 6 && status !== 429; i++)
      status = (await postForm("/login", { password: `wrong ${i}` })).status;
    assert.equal(status, 429);
    const res = await postForm("/login", { password: PASSWORD });
    assert.equal(res.status, 429, "even the right password waits out the lock");
    assert.ok(Number(res.headers.get("retry-after")) > 0);
  });
});

// In process, bound to 0.0.0.0 (safe here: the namespace has only lo): with no password anywhere, the
// password is chosen with the one-time setup token from the log (not by whoever comes first), in
// Chromium as a user would; then the Nanit log-in with its MFA step, from the page's forms.
describe("the web page on a LAN address: the setup token, the first password and the Nanit MFA log-in", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-lan-"));
  const nanit = new NanitSimulator();
  const registry = new DeviceRegistry(pino({ level: "silent" }));
  const logs = new LogCapture();
  const CHOSEN = "long enough one";
  let server: WebServer;
  let base: string;
  let cookie = "";
  let setupUrl: URL;
  let context: BrowserContext | undefined;
  const makeServer = () =>
    new WebServer({
      sources: { registry, accounts: [{ name: "nursery", vendor: "nanit" }], startedAt: Date.now() },
      log: createLogger("debug", { json: true, destination: logs }),
      dataDir: dir,
      config: { host: "0.0.0.0", port: 0 },
      loginAccounts: [{ vendor: "nanit", name: "nursery", email: nanit.email, endpoints: { api: nanitApi } }],
    });
  let nanitApi = "";

  const request = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      redirect: "manual",
      ...init,
      headers: { Cookie: cookie, ...(init.headers as Record<string, string>) },
    });
  const postForm = (path: string, form: Record<string, string>) =>
    request(path, {
      method: "POST",
      body: new URLSearchParams(form).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
  const loginStep = async () =>
    ((await (await request("/api/status")).json()) as { nanit: { account: string; step: string; message?: string }[] })
      .nanit[0]!;

  before(async () => {
    nanitApi = (await nanit.start()).apiUrl;
    const announced = logs.next(/no password yet/);
    server = makeServer();
    base = `http://127.0.0.1:${await server.start()}`;
    setupUrl = new URL((await announced).url as string);
  });

  after(async () => {
    await context?.close();
    await server?.stop();
    await nanit.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs a one-time setup link; a restart logs the same one; web.json holding it is 0600", async () => {
    const line = logs.lines.find((l) => l.event === "web-setup")!;
    assert.equal(line.level, 40);
    assert.equal(setupUrl.pathname, "/setup");
    assert.equal(Number(setupUrl.port), server.port);
    const token = setupUrl.searchParams.get("token") ?? "";
    assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    assert.ok(line.msg.includes(setupUrl.href), "the message itself holds the link (docker logs shows messages)");
    assert.equal(statSync(join(dir, "web.json")).mode & 0o777, 0o600);
    await server.stop();
    const again = logs.next(/no password yet/);
    server = makeServer();
    base = `http://127.0.0.1:${await server.start()}`;
    setupUrl = new URL((await again).url as string);
    assert.equal(setupUrl.searchParams.get("token"), token, "the same token until it is used");
  });

  it("without the token nobody can choose the password: not the first visitor, not a wrong token", async () => {
    const page = await request("/");
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/setup");
    assert.equal((await request("/login")).headers.get("location"), "/setup");
    assert.equal((await request("/api/status")).status, 401);
    const form = await (await request("/setup")).text();
    assert.match(form, /Choose the password/);
    assert.match(form, /<input name="token" required/, "without the link the form asks for the token");
    const mark = logs.lines.length;
    assert.equal((await postForm("/setup", { password: "first visitor", confirm: "first visitor" })).status, 403);
    const guessed = { token: "A".repeat(32), password: "first visitor", confirm: "first visitor" };
    assert.equal((await postForm("/setup", guessed)).status, 403);
    const warned = logs.lines.slice(mark).filter((l) => l.msg === "web page: wrong setup token");
    assert.deepEqual(
      warned.map((l) => l.client),
      ["127.0.0.1", "127.0.0.1"],
      "logged with the client address",
    );
    assert.equal((await request("/api/status")).status, 401, "still nothing set");
    const token = setupUrl.searchParams.get("token")!;
    assert.equal((await postForm("/setup", { token, password: "short", confirm: "short" })).status, 400);
    assert.equal((await postForm("/setup", { token, password: CHOSEN, confirm: "long enough two" })).status, 400);
    const linked = await (await request(`/setup?token=${token}`)).text();
    assert.ok(linked.includes(`<input type="hidden" name="token" value="${token}">`), "the link fills the token in");
  });

  it("in Chromium: the link from the log opens the form, the password is set, the token is used up", async (t) => {
    const token = setupUrl.searchParams.get("token")!;
    const mark = logs.lines.length;
    if (chromiumAvailable()) {
      let page: Page;
      let errors: string[];
      ({ context, page, errors } = await launchChromium(dir));
      // The logged link names this machine; inside the test namespace it is reached on 127.0.0.1.
      await page.goto(`${base}${setupUrl.pathname}${setupUrl.search}`);
      await page.fill("input[name=password]", CHOSEN);
      await page.fill("input[name=confirm]", CHOSEN);
      await Promise.all([page.waitForURL(`${base}/`), page.click("#setup button")]);
      await page.waitForSelector("#live.on");
      assert.deepEqual(errors, [], "no script or CSP errors in the page");
    } else {
      t.diagnostic("no Chromium: the form is posted with fetch");
      assert.equal((await postForm("/setup", { token, password: CHOSEN, confirm: CHOSEN })).status, 303);
    }
    const set = logs.lines.slice(mark).find((l) => /^web page: password set/.test(l.msg));
    assert.equal(set?.client, "127.0.0.1", "the client address of the set-up is logged");
    assert.ok(!readFileSync(join(dir, "web.json"), "utf8").includes(token), "the token is gone from web.json");
    const again = { token, password: "attacker pass", confirm: "attacker pass" };
    assert.equal((await postForm("/setup", again)).status, 409);
    // The token is in exactly one log line: the one made to show it.
    const holding = logs.raw.filter((l) => l.includes(token)).map((l) => (JSON.parse(l) as { event?: string }).event);
    assert.deepEqual(holding, ["web-setup", "web-setup"], "both starts' announcements, nothing else");
    // Everyone else must log in with the chosen password.
    assert.equal((await request("/")).headers.get("location"), "/login");
    const login = await postForm("/login", { password: CHOSEN });
    assert.equal(login.status, 303);
    cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    assert.equal((await request("/")).status, 200);
  });

  it("logs a Nanit account in with its MFA code and saves the session, never echoing the password", async () => {
    const page = await (await request("/")).text();
    assert.match(page, /action="\/accounts\/nursery\/login"/);
    assert.equal(
      (await postForm("/accounts/nursery/login/code", { code: "1" })).status,
      409,
      "no login waits for a code yet",
    );
    assert.equal((await postForm("/accounts/nobody/login", { password: "x" })).status, 404);
    assert.equal((await postForm("/accounts/nursery/login", { password: nanit.password })).status, 303);
    let step = await loginStep();
    assert.equal(step.step, "code");
    assert.match(step.message ?? "", /ending 42/);
    assert.match(await (await request("/")).text(), /name="code"/);
    assert.equal((await postForm("/accounts/nursery/login/code", { code: "000000" })).status, 303);
    step = await loginStep();
    assert.equal(step.step, "code");
    assert.match(step.message ?? "", /refused/);
    assert.equal((await postForm("/accounts/nursery/login/code", { code: nanit.mfaCode })).status, 303);
    step = await loginStep();
    assert.equal(step.step, "done", step.message);
    const store = join(dir, "accounts", "nursery.json");
    assert.equal(statSync(store).mode & 0o777, 0o600);
    const saved = readFileSync(store, "utf8");
    assert.match(saved, /refresh/i);
    assert.ok(!saved.includes(nanit.password), "the password is not stored");
    assert.ok(!(await (await request("/")).text()).includes(nanit.password), "the password is not sent back");
  });

  it("a wrong Nanit password fails with the vendor's reason", async () => {
    assert.equal((await postForm("/accounts/nursery/login", { password: "not the password" })).status, 303);
    const step = await loginStep();
    assert.equal(step.step, "failed");
    assert.match(step.message ?? "", /Log-in failed/);
  });
});

// A FanSync account whose configured password is wrong (changed at the vendor): needs-login on the
// page; the page's password form checks the right one with the vendor, keeps it in the data
// directory and restarts only that account, whose device then appears; a restarted bridge uses it.
describe("the web page's FanSync password form for an account in needs-login", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-pw-"));
  const sim = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Attic Fan" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  const configFile = join(dir, "config.yaml");
  const dataDir = join(dir, "data");
  const WRONG = "the old fansync password";
  let bridge: BridgeProcess;
  let base: string;
  let deviceId: string;
  let context: BrowserContext | undefined;
  const lines: LogLine[] = [];

  const start = async () => {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir], {
      E2E_WEB_PASSWORD: PASSWORD,
      E2E_FANSYNC_PASSWORD: WRONG,
    });
    bridge.on("line", (l) => lines.push(l));
    const web = await bridge.waitForLine((l) => l.event === "web", 60_000);
    base = `http://127.0.0.1:${web.port as number}`;
    await bridge.ready();
  };
  const status = async (cookie: string) =>
    (await (await fetch(`${base}/api/status`, { headers: { Cookie: cookie } })).json()) as {
      accounts: { name: string; link: string }[];
      devices: { id: string }[];
    };
  const logIn = async () => {
    const res = await fetch(`${base}/login`, {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams({ password: PASSWORD }).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    return (res.headers.get("set-cookie") ?? "").split(";")[0]!;
  };

  before(async () => {
    const urls = await sim.start();
    deviceId = `fansync:${sim.deviceIds[0]!}`;
    await writeE2EConfig(configFile, {
      name: "Password Bridge",
      discriminator: 3842,
      web: { host: "127.0.0.1", port: 0, password: "${E2E_WEB_PASSWORD}" },
      accounts: [
        {
          vendor: "fansync",
          name: "attic",
          email: sim.email,
          password: "${E2E_FANSYNC_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
        },
      ],
    });
    await start();
  });

  after(async () => {
    await context?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows needs-login, and the form needs the page's session", async () => {
    await bridge.waitForLine((l) => l.account === "attic" && l.link === "needs-login", 30_000);
    const health = (await (await fetch(`${base}/health`)).json()) as {
      accounts: unknown[];
      devices: { total: number };
    };
    assert.deepEqual(health.accounts, [{ name: "attic", vendor: "fansync", link: "needs-login" }]);
    assert.equal(health.devices.total, 0);
    const anonymous = await fetch(`${base}/accounts/attic/password`, {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams({ password: sim.password }).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    assert.equal(anonymous.status, 401);
    assert.ok(!existsSync(join(dataDir, "account-secrets.json")), "nothing stored without a session");
    const cookie = await logIn();
    const nanitPath = await fetch(`${base}/accounts/nobody/password`, {
      method: "POST",
      redirect: "manual",
      body: "password=x",
      headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
    });
    assert.equal(nanitPath.status, 404);
  });

  // All without a restart of the bridge.
  it("in Chromium: a wrong password is refused; the right one connects the account, its device appears", async (t) => {
    if (!chromiumAvailable()) return t.skip("no Chromium");
    const pid = bridge.child.pid;
    let page: Page;
    let errors: string[];
    ({ context, page, errors } = await launchChromium(dir));
    await page.goto(`${base}/`);
    await page.fill("input[name=password]", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/`), page.click("#login button")]);
    await page.waitForSelector("#live.on");

    const account = page.locator('tr[data-account="attic"] .link');
    assert.equal(await account.textContent(), "needs-login");
    const form = page.locator('details[data-password-login="attic"]');
    assert.equal(await form.getAttribute("open"), "", "the form is unfolded for an account that needs its password");
    assert.equal(await page.locator(`article[data-device="${deviceId}"]`).count(), 0);

    await form.locator("input[name=password]").fill("not it either");
    await Promise.all([page.waitForURL(`${base}/`), form.locator("button").click()]);
    assert.match(
      (await page.locator('details[data-password-login="attic"] .msg').textContent()) ?? "",
      /FanSync refused this password/,
    );
    assert.equal(await page.locator('tr[data-account="attic"] .link').textContent(), "needs-login");

    await page.locator('details[data-password-login="attic"] input[name=password]').fill(sim.password);
    await Promise.all([
      page.waitForURL(`${base}/`),
      page.locator('details[data-password-login="attic"] button').click(),
    ]);
    assert.match(
      (await page.locator('details[data-password-login="attic"] .msg').textContent()) ?? "",
      /accepted the password/,
    );
    await page.locator('tr[data-account="attic"] .link', { hasText: /^connected$/ }).waitFor({ timeout: 10_000 });
    await page
      .locator(`article[data-device="${deviceId}"] .name`, { hasText: "Attic Fan" })
      .waitFor({ timeout: 10_000 });
    assert.equal(await page.locator(`article[data-device="${deviceId}"] .available`).textContent(), "reachable");
    const html = await page.content();
    assert.ok(!html.includes(sim.password), "the vendor password is never sent back to the browser");
    assert.deepEqual(errors, [], "no script or CSP errors in the page");
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "web-page-password-form.png"), fullPage: true });

    assert.equal(bridge.exitCode, undefined);
    assert.equal(bridge.child.pid, pid);
    assert.equal(lines.filter((l) => l.event === "ready").length, 1, "the bridge itself was not restarted");
    const health = (await (await fetch(`${base}/health`)).json()) as { status: string; accounts: unknown[] };
    assert.deepEqual(health.accounts, [{ name: "attic", vendor: "fansync", link: "connected" }]);
    const secrets = join(dataDir, "account-secrets.json");
    assert.equal(statSync(secrets).mode & 0o777, 0o600);
    assert.ok(readFileSync(secrets, "utf8").includes(sim.password));
    assert.ok(!readFileSync(configFile, "utf8").includes(sim.password), "the config file is left alone");
    assert.ok(
      !lines.some((l) => JSON.stringify(l).includes(sim.password)),
      "the vendor password never reaches the log",
    );
  });

  it("after a restart the bridge logs in with the stored password though the config holds the old one", async (t) => {
    if (!existsSync(join(dataDir, "account-secrets.json"))) {
      t.skip("the form step did not run (no Chromium)");
      return;
    }
    await bridge.stop();
    const mark = lines.length;
    await start();
    await bridge.waitForLine(
      (l) => lines.indexOf(l) >= mark && l.account === "attic" && l.link === "connected",
      30_000,
    );
    const state = await status(await logIn());
    assert.deepEqual(state.accounts, [{ name: "attic", vendor: "fansync", link: "connected" }]);
    assert.deepEqual(
      state.devices.map((d) => d.id),
      [deviceId],
    );
    assert.ok(!lines.some((l) => lines.indexOf(l) >= mark && l.account === "attic" && l.link === "needs-login"));
  });
});
