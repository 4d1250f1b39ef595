// A Matter commissioning cut short by a crash must not leave the bridge "commissioned" into a fabric
// no controller finished (matter.js stores the fabric at AddNOC, long before CommissioningComplete).
// The data directory is copied at the moment a kill there would leave it (the fabric table being
// written, CommissioningComplete not yet received); a bridge started on that copy must be
// commissionable again. Runs inside test/netns.sh (it commissions).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { Driver } from "../../src/core/driver.ts";
import { MatterHost } from "../../src/matter/index.ts";
import { MARKER_FILE } from "../../src/matter/commissioning-guard.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run this test inside test/netns.sh (it commissions over mDNS)");

const PORT = 5593;
const PASSCODE = 20202021;
const DISCRIMINATOR = 3842;

class IdleDriver implements Driver {
  readonly vendor = "fansync";
  readonly accountName = "test";
  async start(): Promise<void> {}
  async command(): Promise<void> {}
  async stop(): Promise<void> {}
}

describe("a Matter commissioning cut short by a crash", () => {
  const log = createLogger((process.env.TEST_LOG_LEVEL as "info" | undefined) ?? "warn");
  const root = mkdtempSync(join(tmpdir(), "hb-matter-guard-"));
  const dataDir = join(root, "data");
  const crashCopy = join(root, "crash-copy");
  const registry = new DeviceRegistry(log);
  registry.sinkFor(new IdleDriver()).deviceFound(
    {
      id: "fansync:lamp",
      vendor: "fansync",
      account: "test",
      kind: "light",
      name: "Desk Lamp",
      manufacturer: "Fanimation",
      model: "T",
      serialNumber: "SN-lamp",
      capabilities: { light: { dimmable: true } },
    },
    { light: { on: true, brightness: 40 } },
  );
  const newHost = (dir: string) =>
    new MatterHost({
      registry,
      log,
      dataDir: dir,
      name: "Guard Bridge",
      port: PORT,
      passcode: PASSCODE,
      discriminator: DISCRIMINATOR,
    });
  let host: MatterHost | undefined;
  let client: MatterTestClient | undefined;

  after(async () => {
    await client?.close();
    await host?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("writes a marker before the fabric is stored and removes it once commissioning completed", async () => {
    host = newHost(dataDir);
    await host.start();
    const matterDir = join(dataDir, "matter");
    let markerSeenAtCopy = false;
    // The first write of matter.js's fabric table is AddNOC's: copy the data directory right then.
    const watcher = watch(matterDir, (_event, name) => {
      if (!name?.startsWith("fabrics.fabrics") || existsSync(crashCopy)) return;
      markerSeenAtCopy = existsSync(join(dataDir, MARKER_FILE));
      cpSync(dataDir, crashCopy, { recursive: true });
    });
    try {
      client = await MatterTestClient.commission({ port: PORT, passcode: PASSCODE, discriminator: DISCRIMINATOR });
    } finally {
      watcher.close();
    }
    assert.equal(host.commissioned, true);
    assert.ok(existsSync(crashCopy), "the fabric table was written during commissioning");
    assert.ok(markerSeenAtCopy, "the marker was on disk before the fabric table");
    assert.equal(existsSync(join(dataDir, MARKER_FILE)), false, "a completed commissioning leaves no marker");
    const lamp = client.bridged("fansync:lamp");
    assert.equal((await client.read(lamp, "onOff", ["onOff"])).onOff, true);
  });

  it("a bridge started on the data as the crash left it is commissionable again", async () => {
    await client?.close();
    client = undefined;
    await host?.stop();
    // The copy still holds the lock files of the running host: a killed process leaves them too.
    assert.ok(readdirSync(join(crashCopy, "matter")).length > 0);
    host = newHost(crashCopy);
    await host.start();
    assert.equal(host.commissioned, false, "the half-added fabric was rolled back");
    assert.equal(existsSync(join(crashCopy, MARKER_FILE)), false);
    client = await MatterTestClient.commission({ port: PORT, passcode: PASSCODE, discriminator: DISCRIMINATOR });
    assert.equal(host.commissioned, true);
    assert.equal((await client.read(client.bridged("fansync:lamp"), "onOff", ["onOff"])).onOff, true);
  });
});
