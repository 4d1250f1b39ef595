import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BridgeProcess } from "../helpers/bridge-process.ts";

test("a bad config exits non-zero with one line per problem and starts nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-cli-"));
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    "homekit:\n  prot: 1\nmatter:\n  passcode: 12345678\naccounts:\n  - vendor: fansync\n" +
      "    email: a@b.invalid\n    password: s3cret-value\n    endpoints: { api: 'ftp://nope' }\n",
  );
  const bridge = new BridgeProcess(["--config", config, "--data", join(dir, "data")]);
  const code = await bridge.exited();
  assert.equal(code, 2);
  const problems = bridge.stderr.filter((l) => l.startsWith("  "));
  assert.deepEqual(
    problems.map((l) => l.trim().split(":")[0]),
    ["homekit.prot", "matter.passcode", "accounts[0].endpoints.api"],
  );
  assert.ok(problems[0]!.includes('did you mean "port"'));
  assert.ok(!bridge.stderr.join("\n").includes("s3cret-value"), "the password never appears");
  assert.equal(existsSync(join(dir, "data")), false, "no data directory was created: nothing started");
});

test("HEARTHBRIDGE_CONFIG is honoured like --config", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-cli-"));
  const config = join(dir, "env.yaml");
  writeFileSync(config, "log:\n  levle: debug\n");
  const bridge = new BridgeProcess(["--data", join(dir, "data")], { HEARTHBRIDGE_CONFIG: config });
  assert.equal(await bridge.exited(), 2);
  assert.ok(
    bridge.stderr.some((l) => l.includes('log.levle: unknown key (did you mean "level"?)')),
    bridge.stderr.join("\n"),
  );
});
