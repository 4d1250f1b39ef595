// The diagnostics bundle (issue 18): GET /api/diagnostics behind the page's login (or the CLI's key
// from <data>/diagnostics-access.json) and `doctor --bundle`, from a bridge logged in to the three
// simulators (FanSync, X-Sense, Nanit with MFA) whose web password was chosen with the setup token
// from its log. Each bundle has its sections (versions, the config with secrets as "(set)", accounts
// with link states and since when, devices with state, recent logs, the data directory's listing)
// and holds none of: the vendor passwords, tokens and secrets the simulators issued, the web password
// and session, the setup token (it is in the log ring), and the pairing secrets (HomeKit setup codes
// and X-HM:// payloads, the Matter passcode, manual code and QR payload). Searched as secrets.test.ts
// searches logs (test/helpers/secret-search.ts).
// Runs inside test/netns.sh (loopback-only namespace: the bridge runs Matter; 0.0.0.0 is loopback here).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { XSenseSimulator } from "../../sim/xsense/index.ts";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { BridgeProcess } from "../helpers/bridge-process.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../helpers/e2e-config.ts";
import { found, type Secret } from "../helpers/secret-search.ts";
import { DIAGNOSTICS_ACCESS_FILE, DIAGNOSTICS_FORMAT } from "../../src/web/diagnostics.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (Matter)");

const root = fileURLToPath(new URL("../..", import.meta.url));
const WEB_PASSWORD = "diagnostics page secret 4417";
const MFA_CODE = "630418";
const ACCOUNTS = { fansync: "fans", xsense: "alarms", nanit: "nursery" } as const;

function run(
  args: string[],
  env: Record<string, string>,
  stdin = "",
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.stdin.end(stdin);
    child.on("exit", (code) => resolve({ code, output }));
  });
}

interface Bundle {
  format: string;
  source: string;
  versions: Record<string, string>;
  config: {
    accounts: { name: string; password?: string }[];
    homekit: { pincode?: string };
    matter: { passcode?: string };
  };
  accounts?: { name: string; link: string; since: string; changes: { at: string; state: string }[] }[];
  devices?: { id: string; account: string; state: Record<string, unknown> }[];
  logs: { text: string }[];
  dataDir: { files: { name: string; mode: string }[] };
  doctor?: { status: string; title: string }[];
}

describe("the diagnostics bundle", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-diagnostics-"));
  const dataDir = join(dir, "data");
  const configFile = join(dir, "config.yaml");
  const fansync = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Porch" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  const xsense = new XSenseSimulator({ reportDelayMs: 10 });
  const nanit = new NanitSimulator({ mfaCode: MFA_CODE, sensorPushMs: [600_000, 900_000] });
  let bridge: BridgeProcess;
  let web = "";
  let cookie = "";
  let setupToken = "";
  /** Every bundle made, labelled, as text. */
  const bundles: { what: string; text: string }[] = [];
  /** Pairing secrets the page shows (setup codes, QR payloads). */
  const pairing: Secret[] = [];
  const env = () => ({
    DIAG_FANSYNC_PASSWORD: fansync.password,
    DIAG_XSENSE_PASSWORD: xsense.password,
    DIAG_NANIT_PASSWORD: nanit.password,
  });

  before(async () => {
    const f = await fansync.start();
    const x = await xsense.start();
    const n = await nanit.start();
    await writeE2EConfig(configFile, {
      name: "Diagnostics Bridge",
      discriminator: 3851,
      // No password and not loopback only: the page needs one, chosen with the setup token.
      web: { host: "0.0.0.0", port: 0 },
      accounts: [
        {
          vendor: "fansync",
          name: ACCOUNTS.fansync,
          email: fansync.email,
          password: "${DIAG_FANSYNC_PASSWORD}",
          endpoints: { api: f.apiUrl, websocket: f.wsUrl },
        },
        {
          vendor: "xsense",
          name: ACCOUNTS.xsense,
          email: xsense.email,
          password: "${DIAG_XSENSE_PASSWORD}",
          endpoints: { api: x.api, cognito: x.cognito, iotData: x.iotData, mqtt: x.mqtt },
        },
        {
          vendor: "nanit",
          name: ACCOUNTS.nanit,
          email: nanit.email,
          password: "${DIAG_NANIT_PASSWORD}",
          endpoints: { api: n.apiUrl, websocket: n.wsUrl },
        },
      ],
    });
    const login = await run(
      ["src/cli/login.ts", "nanit", "--config", configFile, "--data", dataDir],
      env(),
      `${MFA_CODE}\n`,
    );
    assert.equal(login.code, 0, login.output);
  });

  after(async () => {
    await bridge?.stop();
    await Promise.allSettled([fansync.stop(), xsense.stop(), nanit.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("the bridge logs in to all three accounts; the page's password is chosen with the setup token", async () => {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir], env());
    const webLine = await bridge.waitForLine((l) => l.event === "web", 90_000);
    web = `http://127.0.0.1:${webLine.port as number}`;
    const setup = await bridge.waitForLine((l) => l.event === "web-setup", 30_000);
    setupToken = new URL(setup.url as string).searchParams.get("token") ?? "";
    assert.match(setupToken, /^[A-Za-z0-9_-]{32}$/);
    await bridge.ready(90_000);
    for (const account of Object.values(ACCOUNTS))
      await bridge.waitForLine((l) => l.account === account && l.link === "connected", 60_000);
    const body = new URLSearchParams({ token: setupToken, password: WEB_PASSWORD, confirm: WEB_PASSWORD }).toString();
    const chosen = await fetch(`${web}/setup`, {
      method: "POST",
      redirect: "manual",
      body,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    assert.equal(chosen.status, 303);
    cookie = (chosen.headers.get("set-cookie") ?? "").split(";")[0]!;
    const status = (await (await fetch(`${web}/api/status`, { headers: { Cookie: cookie } })).json()) as {
      pairing: {
        homekit?: { setupCode: string; setupURI?: string };
        matter?: { manualCode?: string; qrCode?: string };
      };
      cameras: { setupCode: string; setupURI?: string }[];
    };
    const add = (value: string | undefined, what: string) => value && pairing.push({ value, what });
    add(status.pairing.homekit?.setupCode, "HomeKit setup code");
    add(status.pairing.homekit?.setupURI, "HomeKit setup payload");
    add(status.pairing.matter?.manualCode, "Matter manual code");
    add(status.pairing.matter?.qrCode, "Matter QR payload");
    for (const c of status.cameras) {
      add(c.setupCode, "camera setup code");
      add(c.setupURI, "camera setup payload");
    }
    assert.ok(
      pairing.some((p) => p.what === "Matter manual code") && pairing.some((p) => p.what === "camera setup code"),
      JSON.stringify(status),
    );
  });

  it("GET /api/diagnostics needs the login (or the CLI's key) and has every section", async () => {
    assert.equal((await fetch(`${web}/api/diagnostics`)).status, 401, "no session");
    assert.equal(
      (await fetch(`${web}/api/diagnostics`, { headers: { Authorization: "Bearer not-the-key" } })).status,
      401,
      "a wrong key",
    );
    const page = await (await fetch(`${web}/`, { headers: { Cookie: cookie } })).text();
    assert.match(
      page,
      /<a [^>]*href="\/api\/diagnostics"[^>]*download[^>]*>Download diagnostics<\/a>/,
      "the page links to it",
    );

    const response = await fetch(`${web}/api/diagnostics`, { headers: { Cookie: cookie } });
    assert.equal(response.status, 200);
    assert.match(
      response.headers.get("content-disposition") ?? "",
      /^attachment; filename="hearthbridge-diagnostics-[\dT-]+Z\.json"$/,
    );
    const text = await response.text();
    bundles.push({ what: "GET /api/diagnostics (session)", text });
    const bundle = JSON.parse(text) as Bundle;
    assert.equal(bundle.format, DIAGNOSTICS_FORMAT);
    assert.equal(bundle.source, "running bridge");
    assert.equal(bundle.versions.node, process.version);
    for (const key of ["hearthbridge", "matter.js", "hap-nodejs", "ffmpeg"])
      assert.ok(bundle.versions[key], `version of ${key}`);
    assert.match(bundle.versions.ffmpeg!, /^ffmpeg version /);
    assert.deepEqual(
      bundle.config.accounts.map((a) => [a.name, a.password]),
      Object.values(ACCOUNTS).map((n) => [n, "(set)"]),
      "passwords: present, not shown",
    );
    assert.equal(bundle.config.homekit.pincode, "(set)");
    assert.equal(bundle.config.matter.passcode, "(set)");
    for (const name of Object.values(ACCOUNTS)) {
      const account = bundle.accounts?.find((a) => a.name === name);
      assert.equal(account?.link, "connected", `${name}: ${JSON.stringify(account)}`);
      assert.ok(
        account.changes.some((c) => c.state === "connected"),
        `${name}: its link changes`,
      );
      assert.equal(account.since, account.changes.at(-1)!.at, `${name}: connected since its last change`);
      assert.ok(
        bundle.devices?.some((d) => d.account === name && Object.keys(d.state).length > 0),
        `${name}: devices with state`,
      );
    }
    assert.ok(
      bundle.logs.some((l) => /web page has no password yet/.test(l.text)),
      "the log ring, with the setup line (its token scrubbed)",
    );
    assert.ok(
      bundle.dataDir.files.some((f) => f.name === `accounts/${ACCOUNTS.nanit}.json` && f.mode === "0600"),
      "the data directory's listing",
    );

    const access = JSON.parse(readFileSync(join(dataDir, DIAGNOSTICS_ACCESS_FILE), "utf8")) as { key: string };
    assert.equal(statSync(join(dataDir, DIAGNOSTICS_ACCESS_FILE)).mode & 0o777, 0o600);
    const byKey = await fetch(`${web}/api/diagnostics`, { headers: { Authorization: `Bearer ${access.key}` } });
    assert.equal(byKey.status, 200, "the CLI's key");
    bundles.push({ what: "GET /api/diagnostics (key)", text: await byKey.text() });
  });

  it("doctor --bundle takes the running bridge's bundle and adds its checks; 0600", async () => {
    const file = join(dir, "live.json");
    const { output } = await run(
      ["src/cli/doctor.ts", "--config", configFile, "--data", dataDir, "--bundle", file],
      env(),
    );
    assert.match(output, /Diagnostics bundle \(from the running bridge\)/, output);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, "utf8");
    bundles.push({ what: "doctor --bundle (bridge running)", text, ...{} });
    const bundle = JSON.parse(text) as Bundle;
    assert.equal(bundle.source, "running bridge");
    assert.ok(bundle.devices?.length, "devices from the bridge");
    assert.ok(
      bundle.doctor?.some((c) => /a bridge \(pid \d+\) is running/.test(c.title)),
      "the doctor's checks",
    );
  });

  it("with the bridge stopped, doctor --bundle has the config, versions and data directory only", async () => {
    assert.equal(await bridge.stop(), 0);
    assert.equal(existsSync(join(dataDir, DIAGNOSTICS_ACCESS_FILE)), false, "the access file goes with the bridge");
    const { output } = await run(
      ["src/cli/doctor.ts", "--config", configFile, "--data", dataDir, "--bundle", "-"],
      env(),
    );
    const bundle = JSON.parse(output) as Bundle;
    assert.match(bundle.source, /^command line/);
    assert.equal(bundle.devices, undefined);
    assert.deepEqual(
      bundle.config.accounts.map((a) => a.password),
      ["(set)", "(set)", "(set)"],
    );
    assert.ok(bundle.doctor?.length);
    bundles.push({ what: "doctor --bundle - (no bridge)", text: output });
  });

  it("no bundle holds a password, token, setup token or pairing secret", () => {
    const secrets: Secret[] = [];
    const add = (value: string | undefined, what: string) =>
      value && value.length >= 6 && secrets.push({ value, what });
    add(fansync.password, "FanSync password");
    add(xsense.password, "X-Sense password");
    add(nanit.password, "Nanit password");
    add(WEB_PASSWORD, "web page password");
    add(cookie.split("=")[1], "web session cookie");
    add(setupToken, "web setup token");
    add(MFA_CODE, "Nanit MFA code");
    add(E2E_PIN, "HomeKit setup code (config)");
    add(String(E2E_PASSCODE), "Matter passcode (config)");
    for (const t of fansync.issuedTokens) add(t, "FanSync token");
    for (const s of xsense.issuedSecrets) add(s, "X-Sense secret (token, AWS key, MAC, SRP proof or signature)");
    for (const t of [...nanit.validRefreshTokens, ...nanit.usedRefreshTokens]) add(t, "Nanit refresh token");
    for (const r of nanit.httpRequests) add(r.authorization?.replace(/^(Bearer|token) /, ""), "Nanit access token");
    for (const p of pairing) add(p.value, p.what);
    for (const needed of [
      "FanSync token",
      "X-Sense secret",
      "Nanit refresh token",
      "Nanit access token",
      "setup token",
      "Matter manual code",
      "camera setup code",
    ]) {
      assert.ok(
        secrets.some((s) => s.what.includes(needed)),
        `collected a ${needed}`,
      );
    }
    assert.equal(bundles.length, 4);
    const leaks: string[] = [];
    for (const bundle of bundles) {
      for (const secret of secrets) {
        const where = found(bundle.text, secret);
        if (where) leaks.push(`${secret.what} in ${bundle.what}: …${where}…`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});
