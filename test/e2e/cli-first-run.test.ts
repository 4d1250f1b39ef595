// First start with no config file: the bridge writes the commented example config (0600) at the
// config path, starts with no accounts, prints the pairing codes and (with a web section) the status
// page's URL; a second bridge on the same data directory is refused. Runs inside test/netns.sh,
// where the default ports and ciao advertising stay on lo.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BridgeProcess } from "../helpers/bridge-process.ts";
import { exampleConfig } from "../../src/cli/example-config.ts";
import { hasWebSection } from "../../src/cli/first-run.ts";
import { loadConfig, validateConfig } from "../../src/core/config.ts";
import { PID_FILE } from "../../src/cli/pidfile.ts";

if (!process.env.HEARTHBRIDGE_NETNS)
  throw new Error("run inside test/netns.sh: this test starts a bridge on the default ports");

describe("first start without a config file", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-first-"));
  const configFile = join(dir, "config.yaml");
  const dataDir = join(dir, "data");
  let bridge: BridgeProcess | undefined;

  after(async () => {
    await bridge?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes the example config, starts with no accounts and prints the codes and the page's URL", async () => {
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    const ready = await bridge.ready(60_000);
    assert.equal(ready.devices, 0);
    const written = bridge.lines.find((l) => l.event === "example-config");
    assert.equal(written?.path, configFile);
    assert.equal(statSync(configFile).mode & 0o777, 0o600);
    const web = hasWebSection(validateConfig({}));
    assert.equal(readFileSync(configFile, "utf8"), exampleConfig({ web }));
    assert.deepEqual(loadConfig(configFile).config.accounts, []);
    assert.ok(bridge.lines.some((l) => l.event === "homekit-pairing" && /^X-HM:\/\//.test(String(l.setupURI))));
    assert.ok(bridge.lines.some((l) => l.event === "matter-pairing" && /^MT:/.test(String(l.qrCode))));
    const url = bridge.lines.find((l) => l.event === "web-url");
    if (web) assert.match(String(url?.url), /^http:\/\/[^/]+:8581\/$/);
    else assert.equal(url, undefined);
  });

  it("refuses a second bridge on the same data directory", async () => {
    const second = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    assert.equal(await second.exited(), 2);
    assert.match(second.stderr.join("\n"), /another bridge \(pid \d+\) is running/);
    assert.ok(existsSync(join(dataDir, PID_FILE)), "the running bridge's pid file stays");
  });

  it("leaves an existing config alone on the next start", async () => {
    assert.equal(await bridge!.stop(), 0);
    assert.equal(existsSync(join(dataDir, PID_FILE)), false);
    const before = readFileSync(configFile, "utf8");
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    await bridge.ready(60_000);
    assert.equal(
      bridge.lines.some((l) => l.event === "example-config"),
      false,
    );
    assert.equal(readFileSync(configFile, "utf8"), before);
  });
});
