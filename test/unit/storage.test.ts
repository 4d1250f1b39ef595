import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDataDir, JsonStore, protectTree, writeFileAtomic } from "../../src/core/storage.ts";

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

test("protectTree makes a library's tree 0700 directories and 0600 files, however deep", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-tree-"));
  mkdirSync(join(dir, "node", "sub"), { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, "node", "fabric.json"), "{}", { mode: 0o644 });
  writeFileSync(join(dir, "node", "sub", "keys"), "k", { mode: 0o666 });
  protectTree(dir);
  const mode = (...parts: string[]) => statSync(join(dir, ...parts)).mode & 0o777;
  assert.deepEqual(
    [mode("node"), mode("node", "sub"), mode("node", "fabric.json"), mode("node", "sub", "keys")],
    [0o700, 0o700, 0o600, 0o600],
  );
  protectTree(join(dir, "missing"));
});
