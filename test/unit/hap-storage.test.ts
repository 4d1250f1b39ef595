// HAP-NodeJS's pairing files go through AtomicHapStorage: atomic, fsynced, 0600, and what a killed
// process leaves behind (temp files) is neither loaded nor kept.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AccessoryInfo, HAPStorage } from "@homebridge/hap-nodejs";
import { AtomicHapStorage, useHapStorage } from "../../src/homekit/storage.ts";

const fresh = () => join(mkdtempSync(join(tmpdir(), "hb-hap-storage-")), "hap");
const mode = (file: string) => statSync(file).mode & 0o777;

describe("AtomicHapStorage", () => {
  it("writes one 0600 JSON file per key in a 0700 directory and reads it back after a restart", () => {
    const dir = fresh();
    const storage = new AtomicHapStorage(dir);
    storage.initSync();
    storage.setItemSync("AccessoryInfo.AABBCCDDEEFF.json", { pairedClients: { a: 1 } });
    storage.setItemSync("AccessoryInfo.AABBCCDDEEFF.json", { pairedClients: { a: 2 } });
    assert.deepEqual(readdirSync(dir), ["AccessoryInfo.AABBCCDDEEFF.json"], "no temp file left");
    assert.equal(mode(join(dir, "AccessoryInfo.AABBCCDDEEFF.json")), 0o600);
    assert.equal(mode(dir), 0o700);
    assert.equal(
      readFileSync(join(dir, "AccessoryInfo.AABBCCDDEEFF.json"), "utf8"),
      JSON.stringify({ pairedClients: { a: 2 } }),
      "HAPFileStorage's layout: bare JSON.stringify",
    );

    const again = new AtomicHapStorage(dir);
    again.initSync();
    assert.deepEqual(again.getItem("AccessoryInfo.AABBCCDDEEFF.json"), { pairedClients: { a: 2 } });
    again.removeItemSync("AccessoryInfo.AABBCCDDEEFF.json");
    assert.equal(again.getItem("AccessoryInfo.AABBCCDDEEFF.json"), undefined);
    assert.deepEqual(readdirSync(dir), []);
  });

  it("after a kill mid-write: loads the intact file, ignores and removes the half-written temp files", () => {
    const dir = fresh();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = "AccessoryInfo.112233445566.json";
    writeFileSync(join(dir, key), JSON.stringify({ pairedClients: { phone: "key" } }), { mode: 0o600 });
    // Ours (<key>.<pid>.tmp) and HAPFileStorage's (.<key>.<pid>.tmp), truncated.
    writeFileSync(join(dir, `${key}.99999999.tmp`), '{"pairedClients":');
    writeFileSync(join(dir, `.${key}.99999999.tmp`), '{"pai');
    const storage = new AtomicHapStorage(dir);
    storage.initSync();
    assert.deepEqual(storage.getItem(key), { pairedClients: { phone: "key" } });
    assert.equal(storage.getItem(`${key}.99999999.tmp`), undefined);
    assert.deepEqual(readdirSync(dir), [key]);
  });

  it("tightens files an older version wrote with the umask", () => {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "IdentifierCache.112233445566.json"), "{}");
    chmodSync(join(dir, "IdentifierCache.112233445566.json"), 0o644);
    chmodSync(dir, 0o755);
    new AtomicHapStorage(dir).initSync();
    assert.equal(mode(join(dir, "IdentifierCache.112233445566.json")), 0o600);
    assert.equal(mode(dir), 0o700);
  });

  it("a write that fails keeps the old value in memory and on disk, and leaves no temp file", () => {
    const dir = fresh();
    const storage = new AtomicHapStorage(dir);
    storage.initSync();
    storage.setItemSync("k.json", { v: 1 });
    // A directory where the new file should be: the rename fails.
    mkdirSync(join(dir, "blocked.json"));
    assert.throws(() => storage.setItemSync("blocked.json", { v: 2 }));
    assert.equal(storage.getItem("blocked.json"), undefined);
    assert.deepEqual(readdirSync(dir).sort(), ["blocked.json", "k.json"]);
  });

  it("refuses keys that are not plain file names", () => {
    const storage = new AtomicHapStorage(fresh());
    storage.initSync();
    for (const key of ["", ".hidden", "a/b", "..\\x", "x.json.123.tmp"])
      assert.throws(() => storage.setItemSync(key, 1), /plain file name/, key);
  });
});

describe("useHapStorage", () => {
  it("makes HAP-NodeJS save its pairings through the atomic storage", () => {
    const dir = fresh();
    const storage = useHapStorage(dir);
    assert.equal(HAPStorage.storage() as unknown, storage);
    assert.equal(useHapStorage(dir), storage, "idempotent for the same directory");
    assert.throws(() => useHapStorage(fresh()), /one process serves one HomeKit data directory/);

    const info = AccessoryInfo.create("AA:BB:CC:11:22:33");
    info.addPairedClient("C0FFEE00-0000-4000-8000-000000000001", Buffer.alloc(32, 7), 1 as never);
    info.save();
    const file = join(dir, "AccessoryInfo.AABBCC112233.json");
    assert.equal(mode(file), 0o600);
    assert.deepEqual(readdirSync(dir), ["AccessoryInfo.AABBCC112233.json"]);
    const saved = JSON.parse(readFileSync(file, "utf8")) as { pairedClients: Record<string, unknown> };
    assert.ok(saved.pairedClients["C0FFEE00-0000-4000-8000-000000000001"], "the pairing is on disk");
    // A new process would read it through a fresh storage on the same directory.
    const reread = new AtomicHapStorage(dir);
    reread.initSync();
    assert.deepEqual(reread.getItem("AccessoryInfo.AABBCC112233.json"), saved);
    assert.equal(AccessoryInfo.load("AA:BB:CC:11:22:33")?.isPaired("C0FFEE00-0000-4000-8000-000000000001"), true);
  });
});
