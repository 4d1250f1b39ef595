// What a process killed in the middle of writeFileAtomic leaves behind: the target intact, and a
// temp file that the next write or open removes (only a dead process's; a live writer's stays).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonStore, removeStaleTemps, writeFileAtomic } from "../../src/core/storage.ts";

/** A pid that is certainly not running: above Linux's pid_max limit (4194304). */
const DEAD_PID = 4_194_999;

test("a temp file of a killed writer is removed by the next write, a live writer's is kept", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-store-crash-"));
  const file = join(dir, "session.json");
  writeFileSync(file, '{"token":"old"}');
  writeFileSync(`${file}.${DEAD_PID}.tmp`, '{"tok');
  writeFileSync(`${file}.${process.ppid}.tmp`, "a live process is writing this");
  writeFileSync(join(dir, `other.json.${DEAD_PID}.tmp`), "another file's temp");
  writeFileAtomic(file, '{"token":"new"}');
  assert.deepEqual(
    readdirSync(dir).sort(),
    [`other.json.${DEAD_PID}.tmp`, "session.json", `session.json.${process.ppid}.tmp`].sort(),
  );
  assert.equal(readFileSync(file, "utf8"), '{"token":"new"}');
});

test("opening a store removes its stale temp files and reads the intact file", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-store-crash-"));
  const file = join(dir, "acct.json");
  writeFileSync(file, '{"session":{"refreshToken":"r1"}}');
  writeFileSync(`${file}.${DEAD_PID}.tmp`, '{"session":{"refr');
  writeFileSync(`${file}.${process.pid}.tmp`, "this process's own: no write of it is in flight");
  const store = new JsonStore(file);
  assert.deepEqual(store.get("session"), { refreshToken: "r1" });
  assert.deepEqual(readdirSync(dir), ["acct.json"]);
});

test("a failed write leaves the old file and no temp file", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-store-crash-"));
  const blocked = join(dir, "blocked.json");
  mkdirSync(blocked);
  assert.throws(() => writeFileAtomic(blocked, "x"));
  assert.deepEqual(readdirSync(dir), ["blocked.json"]);
});

test("names that only look like temp files are left alone", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-store-crash-"));
  const file = join(dir, "a.json");
  for (const name of ["a.json.tmp", "a.json.x1.tmp", "a.jsonx.123.tmp", `b.json.${DEAD_PID}.tmp`])
    writeFileSync(join(dir, name), "");
  removeStaleTemps(file);
  assert.deepEqual(
    readdirSync(dir).sort(),
    ["a.json.tmp", "a.json.x1.tmp", "a.jsonx.123.tmp", `b.json.${DEAD_PID}.tmp`].sort(),
  );
});
