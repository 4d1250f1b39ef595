// Quirk: Alexa only looks for Matter bridges on UDP port 5540, and fails to add a bridge with more
// than about 50 bridged devices (RN002 or missing devices), with nothing in the bridge's log.
//   https://github.com/FezVrasta/node-red-matter/issues/12 ("Alexa only searches for Port 5540")
//   https://github.com/Luligu/matterbridge/issues/44 (Alexa cannot find a bridge not bound to 5540)
//   https://github.com/sammachin/node-red-matter-bridge/issues/11 (51 devices: RN002 in one ecosystem)
//   https://github.com/t0bst4r/matterbridge-home-assistant/issues/53 (Alexa fails past 100; "Maybe a
//   warning would make sense?")
// Choice (README "Matter and Alexa"): the Matter host logs a warning for each limit broken (once while
// it holds), lists them in `warnings` for the status page, and `doctor` checks the configured port.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { Driver } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { checkAlexaPort } from "../../src/cli/doctor.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: the Matter node advertises over mDNS");

const driver: Driver = {
  vendor: "test",
  accountName: "lamps",
  start: async () => {},
  command: async () => {},
  stop: async () => {},
};

function lamp(n: number): DeviceInfo {
  return {
    id: `test:lamp-${n}`,
    vendor: "test",
    account: "lamps",
    kind: "light",
    name: `Lamp ${n}`,
    manufacturer: "Test",
    model: "Lamp",
    serialNumber: `lamp-${n}`,
    capabilities: { light: { dimmable: true } },
  };
}

describe("the bridge warns when Alexa cannot pair with it", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-alexa-"));
  const logs = new LogCapture();
  const log = createLogger("info", { json: true, destination: logs });
  const registry = new DeviceRegistry(log);
  const sink = registry.sinkFor(driver);
  let host: MatterHost;

  before(async () => {
    for (let n = 1; n <= 50; n++) sink.deviceFound(lamp(n), { light: { on: false, brightness: 50 } });
    host = new MatterHost({
      registry,
      log,
      dataDir: dir,
      name: "Alexa Limits",
      port: 5623,
      passcode: 20202021,
      discriminator: 3855,
    });
    await host.start();
  });
  after(async () => {
    await host?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a port other than 5540 is a warning in the log, in `warnings` and from doctor", () => {
    assert.deepEqual(
      host.warnings.map((w) => w.key),
      ["alexa-port"],
      "50 devices are still within Alexa's limit",
    );
    const logged = logs.matching(/Alexa only finds Matter bridges on port 5540/);
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.level, 40);
    assert.equal(checkAlexaPort(5623).status, "warn");
    assert.match(checkAlexaPort(5623).detail ?? "", /set matter\.port to 5540/);
    assert.equal(checkAlexaPort(5540).status, "ok");
  });

  it("the 51st device is a warning, logged once while it holds", async () => {
    sink.deviceFound(lamp(51), { light: { on: false, brightness: 50 } });
    await waitFor(() => logs.matching(/shows 51 devices; Alexa takes at most 50/).length === 1, 30_000, {
      on: [[logs, "line"]],
    });
    assert.deepEqual(
      host.warnings.map((w) => w.key),
      ["alexa-port", "alexa-devices"],
    );
    sink.deviceFound(lamp(52), { light: { on: false, brightness: 50 } });
    await waitFor(() => host.warnings.find((w) => w.key === "alexa-devices")?.message.includes("52"), 30_000, {
      on: [[logs, "line"]],
    });
    assert.equal(logs.matching(/Alexa takes at most 50/).length, 1, "logged once while it holds");
    assert.equal(logs.matching(/Alexa only finds/).length, 1);
  });
});
