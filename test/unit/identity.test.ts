import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadIdentity, randomPincode, randomPasscode } from "../../src/core/identity.ts";
import { isValidMatterPasscode, isValidPincode, validateConfig } from "../../src/core/config.ts";

test("generated codes are valid and persisted once", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-id-"));
  const config = validateConfig({});
  const first = loadIdentity(dir, config);
  assert.ok(isValidPincode(first.homekit.pincode));
  assert.ok(isValidMatterPasscode(first.matter.passcode));
  assert.ok(first.matter.discriminator >= 0 && first.matter.discriminator <= 4095);
  assert.match(first.homekit.username, /^([0-9A-F]{2}:){5}[0-9A-F]{2}$/);
  assert.deepEqual(loadIdentity(dir, config), first, "a restart keeps the same codes");
  assert.equal(statSync(join(dir, "identity.json")).mode & 0o777, 0o600);
});

test("codes from the config win and are not written to the data directory", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-id-"));
  const generated = loadIdentity(dir, validateConfig({}));
  const configured = loadIdentity(
    dir,
    validateConfig({ homekit: { pincode: "031-45-154" }, matter: { passcode: 20202021, discriminator: 3840 } }),
  );
  assert.equal(configured.homekit.pincode, "031-45-154");
  assert.equal(configured.matter.passcode, 20202021);
  assert.equal(configured.matter.discriminator, 3840);
  assert.equal(configured.homekit.username, generated.homekit.username);
  assert.deepEqual(
    loadIdentity(dir, validateConfig({})),
    generated,
    "removing the config codes brings back the generated ones",
  );
});

test("random codes never hit the forbidden lists", () => {
  for (let i = 0; i < 2000; i++) {
    assert.ok(isValidPincode(randomPincode()));
    assert.ok(isValidMatterPasscode(randomPasscode()));
  }
});
