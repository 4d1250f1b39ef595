// Secrets never reach a log line, and files hold only what they must (issue 7, part 4).
//
// The bridge runs from its CLI at debug level (JSON logs) against the three simulators: a FanSync
// login, an X-Sense Cognito SRP login with a token refresh and an AWS credential renewal, a Nanit
// login with MFA (the login CLI), token refreshes, a Nanit MFA login again from the web page, a
// FanSync token expiry (HTTP login again), an X-Sense session and credential expiry (SRP again), and
// config errors; then a live view of the standalone camera (paired with its own setup code: START,
// SRTP that verifies, a snapshot, STOP). Then every secret the simulators issued or checked
// (passwords, access / refresh / id tokens, the MFA code, X-Sense request MACs, SECRET_HASH and SRP
// claim signatures, AWS keys and session tokens, SigV4 and presigned-URL signatures, Nanit uc_tokens
// and the MFA token), the live view's (the SRTP keys and salts of both directions, the camera's RTMP
// stream key) and the bridge's own (the web password and session cookie, the HomeKit long-term
// secret key) are searched for, as is and URL- / base64-encoded, in every log line, every console
// output, the web page's answers and every file under the data directory. Session tokens may sit
// only in the account stores (data/accounts/*.json, 0600); everything else nowhere. Every directory
// is 0700 and every file 0600.
// Runs inside test/netns.sh (loopback-only namespace: the bridge runs Matter).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { XSenseSimulator } from "../../sim/xsense/index.ts";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { ChaosProxy } from "../../sim/chaos-proxy.ts";
import { BridgeProcess } from "../helpers/bridge-process.ts";
import { writeE2EConfig } from "../helpers/e2e-config.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { jpegSize, Viewer } from "../helpers/camera-fixture.ts";
import { SETUP_STATUS } from "../helpers/camera-tlv.ts";
import { ffmpegChildrenOf, pairCamera, streamSecrets } from "../helpers/camera-live.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";
import { found, type Secret } from "../helpers/secret-search.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test starts the bridge (Matter)");

const root = fileURLToPath(new URL("../..", import.meta.url));
const WEB_PASSWORD = "web page secret 7731";
const MFA_CODE = "735190";
const WRONG_MFA_CODE = "551234";
const NANIT = "nursery";
const FANSYNC = "fans";
const XSENSE = "alarms";

/** Files (relative to the data directory) where a secret may legitimately be stored. */
const ACCOUNT_STORES = /^accounts\/[^/]+\.json$/;
const HOMEKIT_STORE = /^homekit\//;

/** JSON string values whose key names a secret, from HTTP traffic the proxy saw (a Nanit answer's
 * tokens, the uc_token, the MFA token), and bearer Authorization headers: [name, value]. */
function secretsInTraffic(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const m of text.matchAll(/"([A-Za-z_]*(?:token|password|mfa_code)[A-Za-z_]*)"\s*:\s*"([^"\\]{6,})"/gi))
    out.push([m[1]!, m[2]!]);
  for (const m of text.matchAll(/^authorization:\s*(?:Bearer |token )?(\S{6,})\r?$/gim))
    out.push(["authorization", m[1]!]);
  return out;
}

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

function walk(dir: string): { path: string; dir: boolean }[] {
  const out: { path: string; dir: boolean }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const isDir = statSync(path).isDirectory();
    out.push({ path, dir: isDir });
    if (isDir) out.push(...walk(path));
  }
  return out;
}

describe("secrets stay out of logs and loose files", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-secrets-"));
  const dataDir = join(dir, "data");
  const configFile = join(dir, "config.yaml");
  const fansync = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Porch" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  // Short lives: the driver refreshes the Cognito tokens and renews the AWS credentials within ~10 s.
  const xsense = new XSenseSimulator({ accessTokenTtlS: 20, credentialTtlS: 20, reportDelayMs: 10 });
  // Nanit access tokens shorter than the driver's refresh margin: every use refreshes (rotates) the session.
  const nanit = new NanitSimulator({ mfaCode: MFA_CODE, accessTokenLifetimeS: 60, sensorPushMs: [600_000, 900_000] });
  let nanitApi: ChaosProxy;
  /** Everything sent over the Nanit REST API and cloud socket, per connection, both directions. */
  const nanitTraffic = new Map<number, string>();
  /** Every log line and console output, labelled. */
  const outputs: { what: string; text: string }[] = [];
  const extraSecrets: Secret[] = [];
  let bridge: BridgeProcess;
  /** The controller paired with the standalone camera, and its live views. */
  let camera: HapClient | undefined;
  const viewers: Viewer[] = [];
  let rawStdout = "";
  let web: string;
  let cookie = "";
  const env = () => ({
    SECRETS_FANSYNC_PASSWORD: fansync.password,
    SECRETS_XSENSE_PASSWORD: xsense.password,
    SECRETS_NANIT_PASSWORD: nanit.password,
    SECRETS_WEB_PASSWORD: WEB_PASSWORD,
  });

  before(async () => {
    const f = await fansync.start();
    const x = await xsense.start();
    const n = await nanit.start();
    nanitApi = new ChaosProxy(Number(new URL(n.apiUrl).port));
    await nanitApi.start();
    nanitApi.on("data", (_direction, chunk, id) =>
      nanitTraffic.set(id, (nanitTraffic.get(id) ?? "") + chunk.toString("latin1")),
    );
    const api = `http://127.0.0.1:${nanitApi.port}`;
    await writeE2EConfig(configFile, {
      name: "Secrets Bridge",
      discriminator: 3845,
      logLevel: "debug",
      web: { host: "127.0.0.1", port: 0, password: "${SECRETS_WEB_PASSWORD}" },
      accounts: [
        {
          vendor: "fansync",
          name: FANSYNC,
          email: fansync.email,
          password: "${SECRETS_FANSYNC_PASSWORD}",
          endpoints: { api: f.apiUrl, websocket: f.wsUrl },
        },
        {
          vendor: "xsense",
          name: XSENSE,
          email: xsense.email,
          password: "${SECRETS_XSENSE_PASSWORD}",
          endpoints: { api: x.api, cognito: x.cognito, iotData: x.iotData, mqtt: x.mqtt },
        },
        {
          vendor: "nanit",
          name: NANIT,
          email: nanit.email,
          password: "${SECRETS_NANIT_PASSWORD}",
          endpoints: { api, websocket: `ws://127.0.0.1:${nanitApi.port}/focus/cameras/{camera_uid}/user_connect` },
        },
      ],
    });
  });

  after(async () => {
    for (const v of viewers) v.close();
    await camera?.close().catch(() => undefined);
    await bridge?.stop();
    await nanitApi?.stop();
    await Promise.allSettled([fansync.stop(), xsense.stop(), nanit.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("config errors name the key and never show a secret", async () => {
    const cases: Record<string, unknown> = {
      // A list written as a mapping (the dash forgotten): the whole account is the offending value.
      "mapping instead of a list": {
        accounts: { vendor: "fansync", email: fansync.email, password: fansync.password },
      },
      "secrets in wrong places": {
        web: { password: 12345678 },
        accounts: [
          { vendor: "xsense", email: xsense.email, password: ["list", xsense.password] },
          {
            vendor: "nanit",
            email: nanit.email,
            password: nanit.password,
            endpoints: { api: `ftp://parent:${nanit.password}@127.0.0.1/` },
          },
          { vendor: "fansync", email: fansync.email, passwrd: fansync.password },
        ],
      },
    };
    const files: [string, string][] = Object.entries(cases).map(([what, doc]) => {
      const file = join(dir, `bad-${what.replaceAll(" ", "-")}.yaml`);
      writeFileSync(file, stringify(doc));
      return [what, file];
    });
    // A YAML syntax error in the password's own line.
    const broken = join(dir, "bad-yaml.yaml");
    writeFileSync(
      broken,
      `accounts:\n  - vendor: fansync\n    email: ${fansync.email}\n    password: "${fansync.password}\n`,
    );
    files.push(["YAML syntax", broken]);
    const runs = await Promise.all(
      files.map(([, file]) => run(["src/main.ts", "--config", file, "--data", join(dir, "unused")], {})),
    );
    runs.forEach(({ code, output }, i) => {
      const what = files[i]![0];
      assert.equal(code, 2, `${what}: exit status 2\n${output}`);
      assert.match(output, /the config has problems/);
      outputs.push({ what: `config error (${what})`, text: output });
    });
    assert.match(runs[0]!.output, /^ {2}accounts: /m, "the mapping is named");
    assert.match(
      runs[1]!.output,
      /accounts\[1\]\.endpoints\.api: .*\(got "ftp:\/\/parent:\(hidden\)@127\.0\.0\.1\/"\)/,
      "the URL is shown without its password",
    );
    assert.match(runs[1]!.output, /accounts\[2\]\.passwrd: unknown key \(did you mean "password"\?\)/);
  });

  it("the Nanit login CLI logs in with the MFA code and keeps the session in a 0600 file", async () => {
    const sms = nextEvent(nanit, "sms", () => true, 20_000);
    const { code, output } = await run(
      ["src/cli/login.ts", "nanit", "--config", configFile, "--data", dataDir],
      env(),
      `${MFA_CODE}\n`,
    );
    outputs.push({ what: "login CLI", text: output });
    assert.equal(code, 0, output);
    assert.deepEqual(await sms, [MFA_CODE]);
    assert.equal(statSync(join(dataDir, "accounts", `${NANIT}.json`)).mode & 0o777, 0o600);
  });

  it("the bridge logs in to all three accounts at debug level", async () => {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir], env());
    bridge.child.stdout!.on("data", (d: Buffer) => (rawStdout += d.toString()));
    const webLine = await bridge.waitForLine((l) => l.event === "web", 90_000);
    web = `http://127.0.0.1:${webLine.port as number}`;
    const ready = await bridge.ready(90_000);
    for (const account of [FANSYNC, XSENSE, NANIT])
      await bridge.waitForLine((l) => l.account === account && l.link === "connected", 60_000);
    assert.ok(
      bridge.lines.some((l) => l.level === 20),
      "debug lines are logged",
    );
    // A HomeKit pairing writes the bridge's long-term keys: they are files with secrets too.
    const hap = await HapClient.pair(ready.homekitPort as number, "031-45-154");
    await hap.close();
  });

  it("tokens rotate: FanSync logs in again, X-Sense refreshes and renews, Nanit refreshes", async () => {
    // X-Sense: a refresh (REFRESH_TOKEN_AUTH) and renewed AWS credentials come by themselves (~10 s).
    const refreshed = nextEvent(xsense, "refresh", (e: { ok: boolean }) => e.ok, 40_000);
    await refreshed;
    await waitFor(() => bridge.lines.some((l) => /AWS credentials renewed/.test(l.msg)), 40_000, {
      message: "X-Sense credentials renewed",
    });
    // FanSync: the token expires; the next connect logs in over HTTP with the password again.
    const issued = fansync.tokensIssued;
    fansync.expireTokens();
    fansync.dropSockets();
    await waitFor(() => fansync.tokensIssued > issued && fansync.wsLogins >= 2, 30_000, {
      message: "FanSync logged in again",
    });
    // X-Sense: an answer of the "session gone" kind, then sessions and credentials expire: the session is
    // renewed (a refresh; an SRP login when that is refused) and the credentials fetched again.
    const mark = bridge.lines.length;
    const srp = Promise.race([
      nextEvent(xsense, "login", () => true, 60_000),
      nextEvent(xsense, "refresh", (e: { ok: boolean }) => e.ok, 60_000),
    ]);
    xsense.failNextApp("http500");
    xsense.expireSessions();
    xsense.expireCredentials();
    await srp;
    await bridge.waitForLine(
      (l) => bridge.lines.indexOf(l) >= mark && l.account === XSENSE && /MQTT connected \(reconnect\)/.test(l.msg),
      60_000,
    );
    // Nanit: every REST call refreshes the short-lived access token.
    await waitFor(() => nanit.refreshes >= 2, 60_000, { message: "Nanit refreshed its session" });
  });

  it("the Nanit MFA log-in from the web page", async () => {
    const post = (path: string, form: Record<string, string>) =>
      fetch(`${web}${path}`, {
        method: "POST",
        redirect: "manual",
        body: new URLSearchParams(form).toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie },
      });
    const login = await post("/login", { password: WEB_PASSWORD });
    assert.equal(login.status, 303);
    cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    extraSecrets.push({ value: cookie.split("=")[1]!, what: "web session cookie" });
    assert.equal((await post(`/accounts/${NANIT}/login`, { password: nanit.password })).status, 303);
    assert.equal((await post(`/accounts/${NANIT}/login/code`, { code: WRONG_MFA_CODE })).status, 303);
    assert.equal((await post(`/accounts/${NANIT}/login/code`, { code: MFA_CODE })).status, 303);
    const status = (await (await fetch(`${web}/api/status`, { headers: { Cookie: cookie } })).json()) as {
      nanit: { account: string; step: string; message?: string }[];
    };
    assert.equal(status.nanit.find((n) => n.account === NANIT)?.step, "done", JSON.stringify(status.nanit));
    // What the browser gets must hold no vendor secret either.
    for (const path of ["/", "/api/status", "/health", "/metrics"])
      outputs.push({
        what: `web page ${path}`,
        text: await (await fetch(`${web}${path}`, { headers: { Cookie: cookie } })).text(),
      });
  });

  it("a live view and snapshot of the standalone camera: START, SRTP verified with negotiated keys, STOP", async () => {
    camera = await pairCamera(bridge, `nanit:${nanit.babies[0]!.cameraUid}`);
    const pushes = nanit.requests("PUT_STREAMING").length;
    const live = await Viewer.setUp(camera, { index: 0, dir });
    viewers.push(live);
    assert.equal(live.response.status, SETUP_STATUS.success, "SetupEndpoints accepted");
    await live.start({ width: 1280, height: 720 });
    await live.video.until(() => live.video.packets.length >= 10, 20_000, "SRTP video");
    assert.ok(live.video.packets.length >= 10, "video packets verify and decrypt with the negotiated key");
    assert.equal(live.video.authFailures, 0);
    const jpeg = await camera.http.getImage(640, 360);
    assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 }, "a JPEG snapshot");
    // The page shows the stream's state while it runs: its answers are searched too.
    for (const path of ["/", "/api/status", "/health", "/metrics"])
      outputs.push({
        what: `web page ${path} (live view)`,
        text: await (await fetch(`${web}${path}`, { headers: { Cookie: cookie } })).text(),
      });
    await live.stop();
    assert.deepEqual(ffmpegChildrenOf(bridge.child.pid!), [], "STOP ended the viewer's ffmpeg");
    const urls = nanit.requests("PUT_STREAMING").map((r) => r.request.streaming?.rtmp_url ?? "");
    assert.ok(urls.slice(pushes).some(Boolean), "the camera was told where to push");
    const secrets = streamSecrets(viewers, urls);
    for (const keys of [live.response.video!, live.response.audio!]) {
      assert.ok(
        secrets.some((s) => s.value === Buffer.concat([keys.key, keys.salt]).toString("base64")),
        "the accessory's keys are searched for too",
      );
    }
    extraSecrets.push(...secrets);
  });

  it("no secret appears in any log line or console output", async () => {
    assert.equal(await bridge.stop(), 0, "the bridge stopped cleanly");
    outputs.push(
      { what: "bridge stdout (JSON log)", text: rawStdout },
      { what: "bridge stderr", text: bridge.stderr.join("\n") },
    );
    const secrets = collectSecrets();
    assert.ok(secrets.length > 40, `collected ${secrets.length} secrets`);
    for (const needed of [
      "FanSync token",
      "X-Sense secret",
      "Nanit refresh token",
      "Nanit token (traffic, token)",
      "Nanit token (traffic, mfa_token)",
      "password",
      "MFA code",
      "SRTP controller video key",
      "SRTP controller audio salt",
      "RTMP stream key",
    ])
      assert.ok(
        secrets.some((s) => s.what.includes(needed)),
        `collected a ${needed}`,
      );
    const leaks: string[] = [];
    for (const output of outputs) {
      for (const secret of secrets) {
        const where = found(output.text, secret);
        if (where) leaks.push(`${secret.what} in ${output.what}: …${where}…`);
      }
    }
    assert.deepEqual(leaks, []);
    for (const vendor of ["fansync", "xsense", "nanit"])
      assert.ok(
        bridge.lines.some((l) => l.level === 20 && l.vendor === vendor),
        `${vendor} debug lines were searched`,
      );
  });

  it("files hold secrets only where they must, 0600 in 0700 directories", () => {
    const secrets = collectSecrets();
    const leaks: string[] = [];
    const modes: string[] = [];
    assert.equal(statSync(dataDir).mode & 0o777, 0o700, "the data directory is 0700");
    const entries = walk(dataDir);
    assert.ok(entries.some((e) => e.path.includes(join("accounts", `${NANIT}.json`))));
    assert.ok(
      entries.some((e) => e.path.includes("homekit")),
      "the HomeKit pairing was written",
    );
    for (const entry of entries) {
      const name = relative(dataDir, entry.path);
      const mode = statSync(entry.path).mode & 0o777;
      if (entry.dir) {
        if (mode !== 0o700) modes.push(`${name}/ is ${mode.toString(8)}`);
        continue;
      }
      if (mode !== 0o600) modes.push(`${name} is ${mode.toString(8)}`);
      const text = readFileSync(entry.path).toString("latin1");
      for (const secret of secrets) {
        if (secret.storedIn?.test(name)) continue;
        const where = found(text, secret);
        if (where) leaks.push(`${secret.what} in ${name}: …${where}…`);
      }
    }
    assert.deepEqual(modes, [], "every file 0600, every directory 0700");
    assert.deepEqual(leaks, []);
  });

  /** Every secret the run used, from the simulators, the Nanit traffic and the bridge's own files. */
  function collectSecrets(): Secret[] {
    const out = new Map<string, Secret>();
    const add = (value: string | undefined, what: string, storedIn?: RegExp) => {
      if (value && value.length >= 6 && !out.has(value)) out.set(value, { value, what, storedIn });
    };
    add(fansync.password, "FanSync password");
    add(xsense.password, "X-Sense password");
    add(nanit.password, "Nanit password");
    add(WEB_PASSWORD, "web page password");
    add(MFA_CODE, "Nanit MFA code");
    add(WRONG_MFA_CODE, "Nanit MFA code (a wrong one)");
    for (const t of fansync.issuedTokens) add(t, "FanSync token", ACCOUNT_STORES);
    // The refresh token is kept in the account's store (0600) so a restart needs no SRP login.
    for (const s of xsense.issuedSecrets) {
      const refresh = s.startsWith("simrefresh.");
      add(
        s,
        refresh ? "X-Sense refresh token" : "X-Sense secret (token, AWS key, MAC, SRP proof or signature)",
        refresh ? ACCOUNT_STORES : undefined,
      );
    }
    for (const t of [...nanit.validRefreshTokens, ...nanit.usedRefreshTokens])
      add(t, "Nanit refresh token", ACCOUNT_STORES);
    for (const r of nanit.httpRequests)
      add(r.authorization?.replace(/^(Bearer|token) /, ""), "Nanit access token", ACCOUNT_STORES);
    // Stored Nanit sessions hold the access and refresh tokens; every other token seen on the wire
    // (uc_token, the MFA token, the login answer's `token`) is used once and kept nowhere.
    const session = new Set(["access_token", "refresh_token", "authorization"]);
    for (const text of nanitTraffic.values())
      for (const [name, v] of secretsInTraffic(text))
        add(v, `Nanit token (traffic, ${name})`, session.has(name) ? ACCOUNT_STORES : undefined);
    // The HomeKit bridge's long-term secret key.
    for (const entry of walk(dataDir)) {
      if (entry.dir || !/AccessoryInfo/.test(entry.path)) continue;
      const info = JSON.parse(readFileSync(entry.path, "utf8")) as { signSk?: string };
      add(info.signSk, "HomeKit long-term secret key", HOMEKIT_STORE);
    }
    for (const s of extraSecrets) add(s.value, s.what, s.storedIn);
    return [...out.values()];
  }
});
