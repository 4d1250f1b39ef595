// Accounts added on the web page (issue 19): their 0600 store, entries checked with the config's own
// vendor schema, and the registry forgetting a removed account's devices (a late report of its stopped
// driver does not bring them back).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { PageAccounts } from "../../src/core/page-accounts.ts";
import { checkAccountEntry } from "../../src/core/config.ts";
import { DeviceRegistry, type DeviceEntry } from "../../src/core/registry.ts";
import type { Driver } from "../../src/core/driver.ts";

test("page accounts: 0600, checked with the vendor's schema, password kept and replaced, removed", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hb-page-accounts-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new PageAccounts(dir);
  const checked = checkAccountEntry({
    vendor: "fansync",
    name: "garage",
    email: "a@b.c",
    password: "pw1",
    endpoints: { api: "http://127.0.0.1:1/api:1" },
  });
  assert.ok("account" in checked);
  store.save(checked.account);
  assert.equal(statSync(store.path).mode & 0o777, 0o600);
  assert.ok(store.has("garage"));
  assert.ok(store.setPassword("garage", "pw2"));
  assert.equal(new PageAccounts(dir).load().accounts[0]!.password, "pw2");
  assert.equal(store.setPassword("nobody", "x"), false);
  assert.ok(store.remove("garage"));
  assert.deepEqual(store.load(), { accounts: [], problems: [] });

  assert.deepEqual(checkAccountEntry({ vendor: "nope", email: "a@b.c" }), {
    problems: ["vendor: must be one of fansync, xsense, nanit"],
  });
  const bad = checkAccountEntry({ vendor: "fansync", email: "a@b.c", password: "x", endpoints: { api: "ftp://x" } });
  assert.ok("problems" in bad && /endpoints\.api: must be an http/.test(bad.problems.join()));
  assert.ok("problems" in checkAccountEntry({ vendor: "fansync", email: "a@b.c", passwordFile: "/etc/shadow" }));
  writeFileSync(
    store.path,
    JSON.stringify({ accounts: [{ vendor: "fansync", email: "x@y.z", password: "p", surprise: 1 }, 7] }),
  );
  const loaded = new PageAccounts(dir).load();
  assert.equal(loaded.accounts.length, 0);
  assert.equal(loaded.problems.length, 2);
});

test("registry: removing an account takes its devices out and ignores its stopped driver's late reports", () => {
  const registry = new DeviceRegistry(pino({ level: "silent" }));
  const driver = (name: string): Driver => ({
    vendor: "test",
    accountName: name,
    start: async () => {},
    command: async () => {},
    stop: async () => {},
  });
  const a = driver("a");
  const b = driver("b");
  const info = (id: string, account: string) => ({
    id,
    vendor: "test",
    account,
    kind: "switch",
    name: id,
    manufacturer: "T",
    model: "M",
    serialNumber: id,
    capabilities: {},
  });
  const sinkA = registry.sinkFor(a);
  sinkA.deviceFound(info("test:1", "a"), {});
  sinkA.linkStateChanged("connected");
  registry.sinkFor(b).deviceFound(info("test:2", "b"), {});
  const removed: DeviceEntry[] = [];
  registry.on("removed", (e) => removed.push(e));
  assert.deepEqual(
    registry.removeAccount("a").map((e) => e.info.id),
    ["test:1"],
  );
  assert.deepEqual(
    removed.map((e) => e.info.id),
    ["test:1"],
  );
  assert.deepEqual(
    registry.devices.map((e) => e.info.id),
    ["test:2"],
  );
  assert.equal(registry.linkState("a"), undefined);
  sinkA.deviceFound(info("test:1", "a"), {});
  assert.equal(registry.get("test:1"), undefined, "a late report of the stopped driver is dropped");
});
