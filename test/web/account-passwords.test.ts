// Passwords entered on the web page for FanSync / X-Sense accounts: the 0600 store in the data
// directory, how the config loader chooses between it and the config's password, and the page's
// log-in flow (vendor check stubbed here; test/e2e/web.test.ts runs it against the simulator).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { ACCOUNT_SECRETS_FILE, AccountSecrets } from "../../src/core/account-secrets.ts";
import { ConfigError, loadConfig, type AccountConfig } from "../../src/core/config.ts";
import { scrub } from "../../src/core/logger.ts";
import { PasswordWebLogin } from "../../src/web/account-login.ts";
import type { VerifyResult } from "../../src/cli/verify-login.ts";

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "hb-account-pw-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = join(dir, "config.yaml");
  const dataDir = join(dir, "data");
  const writeConfig = (password: string | undefined) =>
    writeFileSync(
      configFile,
      "accounts:\n  - vendor: fansync\n    name: home\n    email: fan@example.invalid\n" +
        (password === undefined ? "" : `    password: "${password}"\n`) +
        '  - vendor: xsense\n    email: alarm@example.invalid\n    password: "xsense pw"\n',
    );
  const passwordOf = (name: string) =>
    loadConfig(configFile, { dataDir }).config.accounts.find((a) => a.name === name)?.password;
  return { dir, configFile, dataDir, writeConfig, passwordOf };
}

test(
  "a saved password replaces the config's until the config's password is edited; " +
    "0600; read only with the data directory",
  (t) => {
    const { configFile, dataDir, writeConfig, passwordOf } = setup(t);
    writeConfig("old password");
    const { secrets } = loadConfig(configFile, { dataDir });
    assert.ok(secrets);
    assert.equal(passwordOf("home"), "old password", "nothing stored yet: the config's password");
    secrets.save("home", "new password");
    const file = join(dataDir, ACCOUNT_SECRETS_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const stored = readFileSync(file, "utf8");
    assert.ok(stored.includes("new password"));
    assert.ok(!stored.includes("old password"), "the replaced password is kept only as a digest");
    assert.equal(passwordOf("home"), "new password", "the config still holds the replaced password: the page's wins");
    assert.equal(passwordOf("xsense:alarm@example.invalid"), "xsense pw", "other accounts keep theirs");
    assert.equal(
      loadConfig(configFile).config.accounts[0]!.password,
      "old password",
      "without the data directory the config alone counts",
    );
    writeConfig("edited in the config");
    assert.equal(passwordOf("home"), "edited in the config", "an edited config password wins over the stale page one");
    writeConfig(undefined);
    assert.equal(passwordOf("home"), "new password", "no password in the config: the stored one");
  },
);

test("a password saved again keeps replacing the config's; an account with neither is still a config problem", (t) => {
  const { configFile, dataDir, writeConfig, passwordOf } = setup(t);
  writeConfig("old password");
  loadConfig(configFile, { dataDir }).secrets!.save("home", "second");
  // The bridge now runs with "second"; a later page entry still replaces the config's "old password".
  loadConfig(configFile, { dataDir }).secrets!.save("home", "third");
  assert.equal(passwordOf("home"), "third");
  rmSync(join(dataDir, ACCOUNT_SECRETS_FILE));
  writeConfig(undefined);
  assert.throws(
    () => loadConfig(configFile, { dataDir }),
    (e: ConfigError) => e.problems.some((p) => p.startsWith("accounts[0]: a password is required")),
  );
});

test("a corrupt secrets file is a config problem naming the file, not a crash", (t) => {
  const { configFile, dataDir, writeConfig } = setup(t);
  writeConfig("pw");
  new AccountSecrets(dataDir).save("home", "x1234");
  writeFileSync(join(dataDir, ACCOUNT_SECRETS_FILE), "{ not json");
  assert.throws(
    () => loadConfig(configFile, { dataDir }),
    (e: ConfigError) => e instanceof ConfigError && e.problems.some((p) => p.includes(ACCOUNT_SECRETS_FILE)),
  );
  // Entries of the wrong shape are ignored.
  writeFileSync(join(dataDir, ACCOUNT_SECRETS_FILE), JSON.stringify({ home: { password: 42 } }));
  assert.equal(loadConfig(configFile, { dataDir }).config.accounts[0]!.password, "pw");
});

const fansync: AccountConfig = {
  vendor: "fansync",
  name: "home",
  email: "fan@example.invalid",
  password: "old password",
};
const nanit: AccountConfig = { vendor: "nanit", name: "nursery", email: "n@example.invalid" };

test(
  "the page's log-in: a refused password changes nothing; " +
    "an accepted one is saved, the driver restarted, never shown",
  async (t) => {
    const { configFile, dataDir, writeConfig } = setup(t);
    writeConfig("old password");
    const { secrets } = loadConfig(configFile, { dataDir });
    const checked: string[] = [];
    const restarts: [string, string][] = [];
    const changed: string[] = [];
    let release: (() => void) | undefined;
    const login = new PasswordWebLogin({
      accounts: [fansync, nanit],
      log: pino({ level: "silent" }),
      secrets,
      restart: async (account, password) => void restarts.push([account, password]),
      changed: (account) => changed.push(account),
      verify: async (account): Promise<VerifyResult> => {
        checked.push(account.password!);
        if (release) await new Promise<void>((resolve) => (release = resolve));
        return account.password === "right one"
          ? { ok: true, refused: false, message: "accepted" }
          : { ok: false, refused: true, message: "refused: wrong e-mail or password" };
      },
    });
    assert.equal(login.has("home"), true);
    assert.equal(login.has("nursery"), false, "Nanit has its own MFA flow");
    assert.deepEqual(login.views(), [
      { account: "home", vendor: "fansync", email: "fan@example.invalid", step: "idle" },
    ]);

    await login.submit("home", "wrong one");
    assert.equal(login.views()[0]!.step, "failed");
    assert.match(login.views()[0]!.message!, /FanSync refused this password/);
    assert.deepEqual(restarts, []);
    assert.equal(secrets!.get("home"), undefined, "a refused password is not stored");

    // One check at a time per account.
    release = () => undefined;
    const first = login.submit("home", "right one");
    await assert.rejects(login.submit("home", "right one"), /being checked already/);
    release();
    await first;
    assert.deepEqual(checked, ["wrong one", "right one"]);
    assert.deepEqual(restarts, [["home", "right one"]]);
    assert.equal(login.views()[0]!.step, "done");
    assert.equal(secrets!.get("home")?.password, "right one");
    assert.equal(
      loadConfig(configFile, { dataDir }).config.accounts[0]!.password,
      "right one",
      "the next start uses it",
    );
    assert.equal(scrub("it was right one"), "it was [redacted]", "registered with the log scrubber");
    assert.ok(!JSON.stringify(login.views()).includes("right one"), "never sent back to the page");
    assert.deepEqual(changed, ["home", "home"], "the page is told when each attempt ends");
    await assert.rejects(login.submit("nursery", "x"), /no FanSync or X-Sense account/);
  },
);

test(
  "a restart that fails after the vendor accepted is reported, " + "with the password kept for the next start",
  async (t) => {
    const { configFile, dataDir, writeConfig } = setup(t);
    writeConfig("old password");
    const { secrets } = loadConfig(configFile, { dataDir });
    const login = new PasswordWebLogin({
      accounts: [fansync],
      log: pino({ level: "silent" }),
      secrets,
      restart: async () => {
        throw new Error("the bridge is stopping");
      },
      changed: () => undefined,
      verify: async () => ({ ok: true, refused: false, message: "accepted" }),
    });
    await login.submit("home", "accepted pw");
    assert.equal(login.views()[0]!.step, "failed");
    assert.match(login.views()[0]!.message!, /the bridge is stopping/);
    assert.equal(secrets!.get("home")?.password, "accepted pw");
  },
);
