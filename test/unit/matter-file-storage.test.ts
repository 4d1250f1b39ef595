// The Matter file storage driver (src/matter/file-storage.ts): replayed attribute values of bridged
// endpoints skip matter.js's fsync, everything else keeps it, and the files stay matter.js's own.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorageDriver } from "@matter/nodejs";
import { BridgeFileStorageDriver, isReplayedValue, lazyWriteCount } from "../../src/matter/file-storage.ts";

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

describe("BridgeFileStorageDriver", () => {
  it("writes a replayed value's first time durably and later ones lazily, readable by matter.js's driver", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-matter-fs-"));
    try {
      const storage = await open(dir);
      const before = lazyWriteCount();
      await storage.set(FAN, "percentSetting", 40);
      assert.equal(lazyWriteCount(), before, "the first write creates the file through matter.js");
      await storage.set(FAN, "percentSetting", 65);
      await storage.set(FAN, { percentSetting: 70, fanMode: 3 });
      assert.equal(lazyWriteCount(), before + 2, "percentSetting twice; fanMode's first write is durable");
      assert.equal(await storage.get(FAN, "percentSetting"), 70);
      assert.deepEqual(await storage.keys(FAN), ["percentSetting", "fanMode"]);
      await storage.set(["fabrics"], "fabrics", [{ index: 1 }]);
      await storage.set(["fabrics"], "fabrics", [{ index: 1 }, { index: 2 }]);
      assert.equal(lazyWriteCount(), before + 2, "fabrics are never lazy");
      await storage.close();

      const file = join(dir, encodeURIComponent([...FAN, "percentSetting"].join(".")));
      assert.equal(readFileSync(file, "utf8"), "70");
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
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes to one value issued together land in order: the last one wins", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-matter-fs-"));
    try {
      const storage = await open(dir);
      await storage.set(FAN, "percentSetting", 1);
      const writes = [];
      for (let speed = 2; speed <= 40; speed++) writes.push(storage.set(FAN, "percentSetting", speed));
      const read = storage.get(FAN, "percentSetting");
      await Promise.all(writes);
      assert.equal(await read, 40, "a read waits for the writes queued before it");
      await storage.close();
      const again = await open(dir);
      assert.equal(await again.get(FAN, "percentSetting"), 40);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a delete issued after a lazy write removes the value for good", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-matter-fs-"));
    try {
      const storage = await open(dir);
      await storage.set(FAN, "fanMode", 1);
      const write = storage.set(FAN, "fanMode", 2);
      const removed = storage.delete(FAN, "fanMode");
      await Promise.all([write, removed]);
      assert.equal(await storage.has(FAN, "fanMode"), false);
      await storage.set(LIGHT_ONOFF, "onOff", true);
      const lazy = storage.set(LIGHT_ONOFF, "onOff", false);
      const cleared = storage.clearAll(["root", "parts", "aggregator", "parts", "dev-fansync_1"]);
      await Promise.all([lazy, cleared]);
      await storage.close();
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.startsWith("root")),
        [],
        "nothing of the device is left on disk",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
