// `login fansync|xsense` checks the configured credentials by logging in once against the
// (loopback) vendor simulators: accepted, refused (bad password) and unreachable are told apart.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { XSenseSimulator } from "../../sim/xsense/index.ts";
import { validateConfig, type AccountConfig } from "../../src/core/config.ts";
import { verifyAccount } from "../../src/cli/verify-login.ts";

const fansync = new FanSyncSimulator({ devices: [{ profile: "continuous" }] });
const xsense = new XSenseSimulator({
  houses: [
    {
      name: "Home",
      region: "eu-central-1",
      stations: [{ sn: "13B96457", category: "SBS50", devices: [{ sn: "00000001", type: "XS01-M" }] }],
    },
  ],
});
let fansyncUrls: { apiUrl: string; wsUrl: string };
let xsenseUrls: { api: string; cognito: string; iotData: string; mqtt: string };

before(async () => {
  fansyncUrls = await fansync.start();
  xsenseUrls = await xsense.start();
});
after(async () => {
  await fansync.stop();
  await xsense.stop();
});

function accounts(fansyncPassword: string, xsensePassword: string): AccountConfig[] {
  return validateConfig({
    accounts: [
      {
        vendor: "fansync",
        name: "fans",
        email: fansync.email,
        password: fansyncPassword,
        endpoints: { api: fansyncUrls.apiUrl, websocket: fansyncUrls.wsUrl },
      },
      { vendor: "xsense", name: "alarms", email: xsense.email, password: xsensePassword, endpoints: xsenseUrls },
    ],
  }).accounts;
}

test("the right passwords are accepted", async () => {
  for (const account of accounts(fansync.password, xsense.password)) {
    const result = await verifyAccount(account, 5000);
    assert.equal(result.ok, true, `${account.name}: ${result.message}`);
  }
});

test("wrong passwords are reported as refused, not as a network problem", async () => {
  for (const account of accounts("wrong-password", "Wrong-Password-9")) {
    const result = await verifyAccount(account, 5000);
    assert.equal(result.ok, false);
    assert.equal(result.refused, true, `${account.name}: ${result.message}`);
    assert.match(result.message, /refused/);
  }
});

test("an unreachable endpoint is 'could not check'", async () => {
  const [account] = validateConfig({
    accounts: [
      { vendor: "fansync", email: "a@b.invalid", password: "x", endpoints: { api: "http://127.0.0.1:9/api:1" } },
    ],
  }).accounts;
  const result = await verifyAccount(account!, 2000);
  assert.deepEqual([result.ok, result.refused], [false, false]);
  assert.match(result.message, /could not check/);
});

test("the command exits 0 on success and 1 on a refused password, naming the account", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-login-"));
  const config = join(dir, "config.yaml");
  const write = (password: string) =>
    writeFileSync(
      config,
      `accounts:\n  - vendor: fansync\n    name: fans\n    email: ${fansync.email}\n` +
        `    password: "${password}"\n    endpoints:\n      api: ${fansyncUrls.apiUrl}\n`,
      { mode: 0o600 },
    );
  const root = new URL("../..", import.meta.url).pathname;
  // Not spawnSync: the simulator runs in this process and must keep answering.
  const run = () =>
    new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn(
        process.execPath,
        ["src/cli/login.ts", "fansync", "--config", config, "--data", join(dir, "data")],
        { cwd: root },
      );
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.on("exit", (code) => done({ code, out }));
    });
  write(fansync.password);
  const good = await run();
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /fans \(.*\): logging in\.\.\. OK/);
  write("not-the-password");
  const bad = await run();
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /FAILED, refused/);
  assert.ok(!bad.out.includes("not-the-password"), "the password is not echoed");
});
