// The Matter file storage driver (src/matter/file-storage.ts): replayed attribute values of bridged
// endpoints are written behind, everything else as matter.js does, and the files stay matter.js's own.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorageDriver } from "@matter/nodejs";
import { BridgeFileStorageDriver, isReplayedValue, writeBehindCount } from "../../src/matter/file-storage.ts";

const FAN = ["root", "parts", "aggregator", "parts", "dev-fansync_1", "parts", "dev-fansync_1-fan", "fanControl"];
const LIGHT_ONOFF = ["root", "parts", "aggregator", "parts", "dev-fansync_1", "parts", "dev-fansync_1-light", "onOff"];

async function open(dir: string): Promise<BridgeFileStorageDriver> {
  const storage = new BridgeFileStorageDriver(dir);
  await storage.initialize();
  return storage;
}

describe("which stored values are replayed from the vendor state", () => {
  it("a bridged fan's speed and a bridged light's on/off are", () => {
    assert.equal(isReplayedValue(FAN, "percentSetting"), true);
    assert.equal(isReplayedValue(FAN, "fanMode"), true);
    assert.equal(isReplayedValue(LIGHT_ONOFF, "onOff"), true);
    const level = [...LIGHT_ONOFF.slice(0, -1), "levelControl"];
    assert.equal(isReplayedValue(level, "currentLevel"), true);
  });

  it("configuration a controller writes, endpoint structure and the node's own data are not", () => {
    const level = [...LIGHT_ONOFF.slice(0, -1), "levelControl"];
    assert.equal(isReplayedValue(level, "onLevel"), false, "onLevel is the controller's");
    assert.equal(isReplayedValue(LIGHT_ONOFF, "startUpOnOff"), false);
    assert.equal(isReplayedValue([...FAN.slice(0, -1), "userLabel"], "labelList"), false);
    assert.equal(isReplayedValue(FAN.slice(0, -1), "__number__"), false, "endpoint numbers");
    assert.equal(isReplayedValue(FAN, "__features__"), false);
    assert.equal(isReplayedValue(["root", "operationalCredentials"], "fabrics"), false);
    assert.equal(isReplayedValue(["fabrics"], "fabrics"), false);
    assert.equal(isReplayedValue(["sessions"], "resumptionRecords"), false);
    assert.equal(isReplayedValue(["root", "onOff"], "onOff"), false, "the root endpoint is not bridged");
    assert.equal(isReplayedValue(["root", "parts", "aggregator", "fanControl"], "fanMode"), false);
    assert.equal(isReplayedValue(["root", "parts", "camera", "parts", "x", "onOff"], "onOff"), false);
  });
});

/** Run `fn` with a fresh directory, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hb-matter-fs-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fileOf = (dir: string, contexts: string[], key: string) =>
  join(dir, encodeURIComponent([...contexts, key].join(".")));

describe("BridgeFileStorageDriver", () => {
  it("writes a replayed value's first time durably and later ones behind, readable by matter.js's driver", async () => {
    await inTempDir(async (dir) => {
      const storage = await open(dir);
      const file = fileOf(dir, FAN, "percentSetting");
      const before = writeBehindCount();
      await storage.set(FAN, "percentSetting", 40);
      assert.equal(writeBehindCount(), before, "the first write creates the file through matter.js");
      assert.equal(readFileSync(file, "utf8"), "40", "a durable write is on disk when set() resolves");
      await storage.set(FAN, "percentSetting", 65);
      assert.equal(writeBehindCount(), before + 1);
      // set() resolved without waiting for the disk: the file is renamed over only by a later I/O turn.
      assert.equal(readFileSync(file, "utf8"), "40");
      assert.equal(await storage.get(FAN, "percentSetting"), 65, "reads see the value at once");
      await storage.set(FAN, { percentSetting: 70, fanMode: 3 });
      assert.equal(writeBehindCount(), before + 2, "fanMode's first write is durable");
      assert.deepEqual(await storage.values(FAN), { percentSetting: 70, fanMode: 3 });
      await storage.set(["fabrics"], "fabrics", [{ index: 1 }]);
      await storage.set(["fabrics"], "fabrics", [{ index: 1 }, { index: 2 }]);
      assert.equal(writeBehindCount(), before + 2, "fabrics are never written behind");
      const fabrics = readFileSync(fileOf(dir, ["fabrics"], "fabrics"), "utf8");
      assert.equal(fabrics, JSON.stringify([{ index: 1 }, { index: 2 }]), "and durable ones are on disk at once");
      await storage.settled();
      assert.equal(readFileSync(file, "utf8"), "70");
      await storage.close();

      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.endsWith(".tmp")),
        [],
        "no temporary file is left",
      );
      const theirs = new FileStorageDriver(dir);
      await theirs.initialize();
      assert.equal(await theirs.get(FAN, "percentSetting"), 70);
      assert.equal(await theirs.get(FAN, "fanMode"), 3);
      assert.deepEqual(await theirs.get(["fabrics"], "fabrics"), [{ index: 1 }, { index: 2 }]);
      await theirs.close();
    });
  });

  it("a burst of changes to one value: every read sees the latest, the disk ends with the last", async () => {
    await inTempDir(async (dir) => {
      const storage = await open(dir);
      await storage.set(FAN, "percentSetting", 1);
      for (let speed = 2; speed <= 40; speed++) {
        await storage.set(FAN, "percentSetting", speed);
        assert.equal(await storage.get(FAN, "percentSetting"), speed);
      }
      await storage.close();
      assert.equal(readFileSync(fileOf(dir, FAN, "percentSetting"), "utf8"), "40");
      const again = await open(dir);
      assert.equal(await again.get(FAN, "percentSetting"), 40);
      await again.close();
    });
  });

  it("a delete or clear issued after a write behind removes the value for good", async () => {
    await inTempDir(async (dir) => {
      const storage = await open(dir);
      await storage.set(FAN, "fanMode", 1);
      await storage.set(FAN, "fanMode", 2);
      await storage.delete(FAN, "fanMode");
      assert.equal(await storage.has(FAN, "fanMode"), false);
      assert.equal(await storage.get(FAN, "fanMode"), undefined);
      await storage.set(LIGHT_ONOFF, "onOff", true);
      await storage.set(LIGHT_ONOFF, "onOff", false);
      await storage.clearAll(["root", "parts", "aggregator", "parts", "dev-fansync_1"]);
      assert.equal(await storage.get(LIGHT_ONOFF, "onOff"), undefined);
      await storage.close();
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith("root")),
        [],
        "nothing of the device is left on disk",
      );
    });
  });
});
