// The guard for vendor JSON merges: "__proto__", "constructor" and "prototype" never become keys.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assignSafe, copySafe, isUnsafeKey, ownValue } from "../../src/core/safe-keys.ts";

test("assignSafe and copySafe skip the keys that reach prototype machinery", () => {
  const text = '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"prototype":3,"H00":1}';
  const hostile = JSON.parse(text) as Record<string, unknown>;
  const into: Record<string, unknown> = { H01: 0 };
  assignSafe(into, hostile);
  assert.deepEqual(Object.keys(into), ["H01", "H00"]);
  assert.equal(Object.getPrototypeOf(into), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const copy = copySafe(hostile);
  assert.deepEqual(copy, { H00: 1 });
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  // What the guard prevents: Object.assign with the same input swaps the target's prototype.
  assert.equal((Object.assign({}, hostile) as Record<string, unknown>).polluted, 1);
});

test("ownValue never reads inherited members; isUnsafeKey names the three keys", () => {
  const pins: Record<string, string> = { cam1: "pin" };
  assert.equal(ownValue(pins, "cam1"), "pin");
  for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    assert.equal(ownValue(pins, key), undefined, key);
  }
  const keys = ["__proto__", "constructor", "prototype", "proto", "H00"];
  assert.deepEqual(keys.map(isUnsafeKey), [true, true, true, false, false]);
});
