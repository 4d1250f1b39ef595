import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDataDir, JsonStore, writeFileAtomic } from "../../src/core/storage.ts";

test("atomic writes leave no temp files and are 0600", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-store-"));
  const file = join(dir, "x.json");
  writeFileAtomic(file, "one");
  writeFileAtomic(file, "two");
  assert.deepEqual(readdirSync(dir), ["x.json"]);
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test("a store round-trips values and survives reopening", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-store-"));
  const store = JsonStore.in(dir, "acct");
  store.set("token", "abc");
  store.set("n", 3);
  store.set("n", undefined);
  const again = JsonStore.in(dir, "acct");
  assert.equal(again.get("token"), "abc");
  assert.equal(again.get("n"), undefined);
});

test("a corrupt store is a clear error, not a crash later", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-store-"));
  writeFileSync(join(dir, "bad.json"), "{not json");
  assert.throws(() => JsonStore.in(dir, "bad"), /bad\.json is not valid JSON/);
});

test("the data directory is made private", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "hb-store-")), "data");
  ensureDataDir(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
});
