// An upgrade keeps the pairings: today's bridge starts on a data directory written by an earlier version
// (test/fixtures/data-dir-v0/, see its README) and Apple Home and Matter still know it. HAP pair-verify
// with the controller's stored keys and a read; a Matter CASE reconnect with the stored fabric and a
// read; every device keeps its HAP accessory id and its Matter endpoint number (a controller's rooms,
// scenes and automations hang on them). Runs inside test/netns.sh (it pairs and commissions).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeId } from "@matter/main/types";
import { uniqueIdFor } from "../../src/matter/bridged.ts";
import { BridgeProcess } from "../helpers/bridge-process.ts";
import {
  BRIDGE_NAME,
  FIXTURE_DIR,
  FixtureSimulators,
  copyPrivate,
  hapAids,
  matterEndpoints,
  readBridgeName,
  type FixtureManifest,
} from "../helpers/data-dir-fixture.ts";
import { HapClient } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";
import { pause } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

describe("a data directory written by an earlier version", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-compat-"));
  const dataDir = join(dir, "data");
  const configFile = join(dir, "config.yaml");
  const manifest = JSON.parse(readFileSync(join(FIXTURE_DIR, "manifest.json"), "utf8")) as FixtureManifest;
  const sims = new FixtureSimulators();
  let bridge: BridgeProcess;
  let hap: HapClient | undefined;
  let matter: MatterTestClient | undefined;

  before(async () => {
    copyPrivate(join(FIXTURE_DIR, "data"), dataDir);
    copyPrivate(join(FIXTURE_DIR, "matter-controller"), join(dir, "matter-controller"));
    copyPrivate(join(FIXTURE_DIR, "hap-pairing.json"), join(dir, "hap-pairing.json"));
    await sims.start(configFile);
    bridge = new BridgeProcess(["--config", configFile, "--data", dataDir]);
    await bridge.ready(90_000);
  });

  after(async () => {
    await hap?.close().catch(() => undefined);
    await matter?.close().catch(() => undefined);
    await bridge?.stop();
    await sims.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts commissioned: the Matter fabric was read from the data directory", () => {
    const running = bridge.lines.find((l) => typeof l.msg === "string" && /^Matter bridge running/.test(l.msg));
    assert.ok(running, "the Matter bridge started");
    assert.match(running.msg, /fabric/, running.msg);
  });

  it("HomeKit: pair-verify with the stored keys, a read, and the same accessory ids", async () => {
    const port = Number(bridge.lines.find((l) => l.event === "ready")?.homekitPort);
    hap = HapClient.load(join(dir, "hap-pairing.json"), port);
    // The name HAP-NodeJS stored with the pairing (it adds a suffix of its own at first start).
    const { bridges } = JSON.parse(readFileSync(join(FIXTURE_DIR, "data/homekit/bridges.json"), "utf8")) as {
      bridges: { username: string }[];
    };
    const infoFile = join(FIXTURE_DIR, `data/homekit/hap/AccessoryInfo.${bridges[0]!.username.replace(/:/g, "")}.json`);
    const { displayName } = JSON.parse(readFileSync(infoFile, "utf8")) as { displayName: string };
    assert.ok(displayName.startsWith(BRIDGE_NAME), displayName);
    assert.equal(await readBridgeName(hap), displayName);
    // Devices come in as their accounts log in (with the old sessions refused, by password).
    let aids = await hapAids(hap, sims.serials);
    for (let tries = 0; Object.keys(aids).length < Object.keys(manifest.hapAids).length && tries < 150; tries++) {
      await pause(200);
      aids = await hapAids(hap, sims.serials);
    }
    assert.deepEqual(aids, manifest.hapAids);
  });

  it("Matter: the controller reconnects with its stored fabric, reads, and finds the same endpoints", async () => {
    matter = await MatterTestClient.resume({
      storageDir: join(dir, "matter-controller"),
      nodeId: NodeId(BigInt(manifest.matterNodeId)),
    });
    const fan = matter.withCluster(matter.bridged(uniqueIdFor(sims.fanId)), "fanControl");
    const { percentCurrent } = await matter.read(fan, "fanControl", ["percentCurrent"]);
    assert.equal(typeof percentCurrent, "number");
    assert.deepEqual(matterEndpoints(matter, sims.deviceIds), manifest.matterEndpoints);
  });
});
