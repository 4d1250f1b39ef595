// Renaming an account added on the web page (issue 19): POST /api/accounts/<name>/rename against a real
// WebServer and registry on 127.0.0.1 (the driver restart of main.ts played by a small runtime), the
// store's move surviving a crash between any two of its steps, and the registry keeping the devices
// (same ids and entries, no 'removed') while a late report of the stopped driver is dropped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { checkAccountEntry, type AccountConfig } from "../../src/core/config.ts";
import { hashPasswordSync } from "../../src/core/password.ts";
import { PAGE_ACCOUNTS_FILE, PageAccounts } from "../../src/core/page-accounts.ts";
import { DeviceRegistry, type DeviceEntry } from "../../src/core/registry.ts";
import { accountStore } from "../../src/core/storage.ts";
import type { Driver } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import type { AccountRuntime } from "../../src/web/account-admin.ts";
import { WebServer } from "../../src/web/server.ts";

const PASSWORD = "the page password";
const HASH = hashPasswordSync(PASSWORD);
const silent = pino({ level: "silent" });
type Context = { after(fn: () => unknown): void };

function account(name: string, email = `${name}@example.invalid`): AccountConfig {
  const checked = checkAccountEntry({
    vendor: "fansync",
    name,
    email,
    password: `pw of ${name}`,
    endpoints: { api: "http://127.0.0.1:1/api" },
  });
  assert.ok("account" in checked, JSON.stringify(checked));
  return checked.account;
}

function fakeDriver(accountName: string): Driver {
  return { vendor: "fansync", accountName, start: async () => {}, command: async () => {}, stop: async () => {} };
}

function info(id: string, accountName: string): DeviceInfo {
  return {
    id,
    vendor: "fansync",
    account: accountName,
    kind: "ceiling-fan",
    name: id,
    manufacturer: "T",
    model: "M",
    serialNumber: id,
    capabilities: {},
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function send(
  port: number,
  path: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const all = { host: `127.0.0.1:${port}`, ...headers };
    const req = httpRequest({ host: "127.0.0.1", port, path, method, headers: all }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A bridge with the config account "home" and the page accounts "garage" (one fan) and "shed". */
async function bridge(t: Context) {
  const dataDir = mkdtempSync(join(tmpdir(), "hb-account-rename-"));
  const registry = new DeviceRegistry(silent);
  const store = new PageAccounts(dataDir);
  const accounts = [account("home"), account("garage"), account("shed")];
  store.save(accounts[1]!);
  store.save(accounts[2]!);
  accountStore(dataDir, "garage").set("session", "garage's token");
  const drivers = new Map(accounts.map((a) => [a.name, fakeDriver(a.name)]));
  registry.sinkFor(drivers.get("garage")!).deviceFound(info("fansync:fan1", "garage"), { switches: { power: false } });
  registry.sinkFor(drivers.get("garage")!).linkStateChanged("connected");
  const renames: string[] = [];
  // What main.ts does: stop the driver, move the state, tell the registry, start it under the new name.
  const runtime: AccountRuntime = {
    add: async () => assert.fail("no add here"),
    remove: async () => assert.fail("no remove here"),
    rename: async (from, to, move) => {
      const old = drivers.get(from)!;
      await old.stop();
      move();
      const index = accounts.findIndex((a) => a.name === from);
      accounts[index] = { ...accounts[index]!, name: to };
      registry.renameAccount(from, to, old);
      const next = fakeDriver(to);
      drivers.delete(from);
      drivers.set(to, next);
      renames.push(`${from} -> ${to}`);
    },
  };
  const web = new WebServer({
    sources: { registry, accounts, startedAt: Date.now() },
    log: silent,
    dataDir,
    config: { host: "127.0.0.1", port: 0, passwordHash: HASH },
    loginAccounts: accounts,
    accountRuntime: runtime,
    pageAccounts: store,
    configAccountNames: new Set(["home"]),
  });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const body = new URLSearchParams({ password: PASSWORD }).toString();
  const login = await send(port, "/login", "POST", { "content-type": "application/x-www-form-urlencoded" }, body);
  assert.equal(login.status, 303, login.text);
  const cookie = String((login.headers["set-cookie"] as string[])[0]).split(";")[0]!;
  const rename = (from: string, json: string, headers: Record<string, string> = {}) =>
    send(
      port,
      `/api/accounts/${encodeURIComponent(from)}/rename`,
      "POST",
      { cookie, "content-type": "application/json", origin: `http://127.0.0.1:${port}`, ...headers },
      json,
    );
  const status = async () =>
    JSON.parse((await send(port, "/api/status", "GET", { cookie })).text) as {
      accounts: { name: string; link: string }[];
      logins: { account: string }[];
    };
  return { port, cookie, dataDir, registry, store, drivers, renames, rename, status };
}

const name = (to: string) => JSON.stringify({ name: to });

test("rename: the page account, its stored entry and session move; its device stays, same id and entry", async (t) => {
  const b = await bridge(t);
  const page = await send(b.port, "/", "GET", { cookie: b.cookie });
  assert.match(page.text, /<form data-rename="garage">/);
  assert.match(page.text, /in the config file \(rename or remove it there\)/);
  const fan = b.registry.get("fansync:fan1")!;
  const removed: DeviceEntry[] = [];
  b.registry.on("removed", (e) => removed.push(e));

  const res = await b.rename("garage", name("  workshop "));
  assert.equal(res.status, 200, res.text);
  assert.match(JSON.parse(res.text).message, /"garage" is now "workshop"; its devices stay/);
  assert.deepEqual(b.renames, ["garage -> workshop"]);

  assert.deepEqual(
    new PageAccounts(b.dataDir).load().accounts.map((a) => a.name),
    ["workshop", "shed"],
    "renamed in its place",
  );
  assert.equal(accountStore(b.dataDir, "workshop").get("session"), "garage's token", "the session moved");
  assert.equal(existsSync(join(b.dataDir, "accounts", "garage.json")), false, "nothing left under the old name");
  assert.equal(statSync(join(b.dataDir, "accounts", "workshop.json")).mode & 0o777, 0o600);
  assert.equal(statSync(join(b.dataDir, PAGE_ACCOUNTS_FILE)).mode & 0o777, 0o600);
  assert.doesNotMatch(readFileSync(join(b.dataDir, PAGE_ACCOUNTS_FILE), "utf8"), /moving/, "no move left pending");

  assert.equal(b.registry.get("fansync:fan1"), fan, "the same entry: HomeKit and Matter keep their accessory");
  assert.equal(fan.info.account, "workshop");
  assert.deepEqual(removed, [], "no device left");
  const s = await b.status();
  assert.deepEqual(
    s.accounts.map((a) => [a.name, a.link]),
    [
      ["home", "unknown"],
      ["workshop", "connected"],
      ["shed", "unknown"],
    ],
  );
  assert.deepEqual(s.logins.map((l) => l.account).sort(), ["home", "shed", "workshop"], "its password form follows");
  const after = await send(b.port, "/", "GET", { cookie: b.cookie });
  assert.match(after.text, /&#34;garage&#34; is now &#34;workshop&#34;/, "the notice above the form");
  assert.match(after.text, /<form data-rename="workshop">/);
});

test("rename: bad, taken and too-close names are 400 with the reason; nothing changes", async (t) => {
  const b = await bridge(t);
  const cases: [string, RegExp][] = [
    [name(""), /The name is empty\./],
    [name("   "), /The name is empty\./],
    [name("x".repeat(65)), /The name is longer than 64 characters\./],
    [name("garage\u0007bell"), /A name is letters, digits, spaces and \. _ - @ : \+/],
    [name("a/b"), /A name is letters, digits, spaces and/],
    [name("-dash first"), /starting with a letter or digit/],
    [name("home"), /An account named "home" exists already/],
    [name("shed"), /An account named "shed" exists already/],
    [name("Shed"), /"Shed" is too close to the account "shed" \(they would share one data file\)/],
    [name("garage"), /the account is named "garage" already/],
    [JSON.stringify({ nom: "x" }), /send \{"name": "the new name"\}/],
    [JSON.stringify({ name: 7 }), /send \{"name"/],
    ["not json", /the body is not JSON/],
  ];
  for (const [body, reason] of cases) {
    const res = await b.rename("garage", body);
    assert.equal(res.status, 400, `${body}: ${res.text}`);
    assert.match(JSON.parse(res.text).error, reason, body);
  }
  assert.deepEqual(b.renames, []);
  assert.deepEqual(
    b.store.load().accounts.map((a) => a.name),
    ["garage", "shed"],
  );
  assert.equal(accountStore(b.dataDir, "garage").get("session"), "garage's token");
});

test("add: the same name rules (characters, taken, sharing a session file) before the vendor is asked", async (t) => {
  const b = await bridge(t);
  const add = async (name: string) => {
    // Loopback endpoints: should a check ever reach the vendor step, it goes nowhere.
    const settings = JSON.stringify({ endpoints: { api: "http://127.0.0.1:1/api" } });
    const form = { vendor: "fansync", name, email: "new@example.invalid", password: "pw", settings };
    const headers = { cookie: b.cookie, "content-type": "application/x-www-form-urlencoded" };
    const res = await send(b.port, "/accounts", "POST", headers, new URLSearchParams(form).toString());
    assert.equal(res.status, 303, res.text);
    const page = await send(b.port, "/", "GET", { cookie: b.cookie });
    return /<p class="msg msg-failed" role="status">([^<]*)<\/p>/.exec(page.text)?.[1] ?? "(no failure shown)";
  };
  assert.match(await add("a/b"), /A name is letters, digits, spaces and/);
  assert.match(await add("Shed"), /&#34;Shed&#34; is too close to the account &#34;shed&#34;/);
  assert.match(await add("home"), /An account named &#34;home&#34; exists already/);
  assert.deepEqual(
    b.store.load().accounts.map((a) => a.name),
    ["garage", "shed"],
    "nothing stored",
  );
});

test("rename: a config account is 409 with the reason, an unknown one 404", async (t) => {
  const b = await bridge(t);
  const config = await b.rename("home", name("house"));
  assert.equal(config.status, 409);
  assert.match(JSON.parse(config.text).error, /"home" is in the config file: it cannot be renamed on this page/);
  const unknown = await b.rename("nobody", name("someone"));
  assert.equal(unknown.status, 404);
  assert.match(JSON.parse(unknown.text).error, /no account "nobody" was added on this page/);
  assert.deepEqual(b.renames, []);
});

test("rename: refused without a session, from another site, as a form, or for a foreign Host", async (t) => {
  const b = await bridge(t);
  const refused: [Record<string, string>, number, RegExp][] = [
    [{ cookie: "" }, 401, /log in first/],
    [{ origin: "http://evil.example" }, 403, /cross-site request refused/],
    [{ "sec-fetch-site": "cross-site" }, 403, /cross-site request refused/],
    [{ "content-type": "application/x-www-form-urlencoded" }, 415, /as application\/json/],
    [{ host: "evil.example" }, 403, /not allowed/],
  ];
  for (const [headers, code, reason] of refused) {
    const res = await b.rename("garage", name("workshop"), headers);
    assert.equal(res.status, code, `${JSON.stringify(headers)}: ${res.text}`);
    assert.match(res.text, reason);
  }
  const get = await send(b.port, "/api/accounts/garage/rename", "GET", { cookie: b.cookie });
  assert.equal(get.status, 405);
  assert.deepEqual(b.renames, [], "nothing was renamed");
  assert.ok(b.store.has("garage"));
});

test("store: a rename interrupted after any step is finished or undone at the next start, never half", (t) => {
  for (let done = 0; done <= 5; done++) {
    const dataDir = mkdtempSync(join(tmpdir(), "hb-rename-crash-"));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const store = new PageAccounts(dataDir);
    store.save(account("garage"));
    store.save(account("shed"));
    accountStore(dataDir, "garage").set("session", "garage's token");
    // A file a former account of the new name left behind.
    accountStore(dataDir, "workshop").set("session", "someone else's token");
    const all = store.renameSteps("garage", "workshop");
    assert.equal(all.length, 5);
    for (const step of all.slice(0, done)) step(); // then the process dies

    const restarted = new PageAccounts(dataDir);
    const names = restarted.load().accounts.map((a) => a.name);
    const committed = done >= 3;
    assert.deepEqual(names, [committed ? "workshop" : "garage", "shed"], `after ${done} steps`);
    const live = committed ? "workshop" : "garage";
    assert.equal(accountStore(dataDir, live).get("session"), "garage's token", `after ${done} steps: its session`);
    const gone = committed ? "garage" : "workshop";
    if (done >= 1) assert.equal(existsSync(join(dataDir, "accounts", `${gone}.json`)), false, `after ${done} steps`);
    assert.doesNotMatch(readFileSync(restarted.path, "utf8"), /moving/, `after ${done} steps: nothing pending`);
    // The bridge goes on: the rename can be done (again) from here.
    if (!committed) restarted.rename("garage", "workshop");
    assert.equal(accountStore(dataDir, "workshop").get("session"), "garage's token");
  }
});

test("store: a rename that keeps the store file (case only, or a character the name drops) keeps the session", (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "hb-rename-same-"));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const store = new PageAccounts(dataDir);
  store.save(account("my garage"));
  accountStore(dataDir, "my garage").set("session", "token");
  store.rename("my garage", "my_garage");
  assert.equal(accountStore(dataDir, "my_garage").get("session"), "token");
  store.rename("my_garage", "My_Garage");
  assert.equal(accountStore(dataDir, "My_Garage").get("session"), "token");
  assert.deepEqual(
    new PageAccounts(dataDir).load().accounts.map((a) => a.name),
    ["My_Garage"],
  );
  assert.throws(() => store.rename("nobody", "x"), /no account "nobody"/);
  store.save(account("shed"));
  assert.throws(() => store.rename("shed", "My_Garage"), /an account named "My_Garage" exists/);
});

test("registry: a renamed account keeps its devices; the stopped driver's late reports are dropped", () => {
  const registry = new DeviceRegistry(silent);
  const old = fakeDriver("garage");
  const sinkOld = registry.sinkFor(old);
  sinkOld.deviceFound(info("fansync:fan1", "garage"), { switches: { power: false } });
  sinkOld.linkStateChanged("connected");
  const entry = registry.get("fansync:fan1")!;
  const events: string[] = [];
  registry.on("removed", (e) => events.push(`removed ${e.info.id}`));
  registry.on("device", (e) => events.push(`device ${e.info.id} ${e.info.account}`));
  registry.on("account-renamed", (from, to) => events.push(`renamed ${from} ${to}`));

  assert.deepEqual(
    registry.renameAccount("garage", "workshop", old).map((e) => e.info.id),
    ["fansync:fan1"],
  );
  assert.deepEqual(events, ["renamed garage workshop", "device fansync:fan1 workshop"]);
  assert.equal(registry.get("fansync:fan1"), entry);
  assert.equal(registry.linkState("workshop"), "connected");
  assert.equal(registry.linkState("garage"), undefined);

  // The old driver, stopped, still had reports on their way: none lands.
  sinkOld.deviceFound(info("fansync:fan1", "garage"), { switches: { power: true } });
  sinkOld.stateChanged("fansync:fan1", { switches: { power: true } });
  sinkOld.availabilityChanged(undefined, false);
  sinkOld.linkStateChanged("disconnected");
  assert.equal(entry.info.account, "workshop");
  assert.deepEqual(entry.state, { switches: { power: false } });
  assert.equal(entry.available, true);
  assert.equal(registry.linkState("garage"), undefined);

  // The new driver's reports land on the same entry.
  const sinkNew = registry.sinkFor(fakeDriver("workshop"));
  sinkNew.deviceFound(info("fansync:fan1", "workshop"), { switches: { power: true } });
  assert.equal(registry.get("fansync:fan1"), entry);
  assert.deepEqual(entry.state, { switches: { power: true } });
  assert.ok(!events.some((e) => e.startsWith("removed")));
});
