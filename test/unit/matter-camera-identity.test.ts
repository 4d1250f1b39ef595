// A Matter camera's port, passcode and discriminator are made once and kept (0600): a restart must
// never change what a controller paired with, and two cameras never share a port.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { MatterCameraHost } from "../../src/matter/camera/host.ts";
import { passcodeProblem } from "../../src/matter/pairing.ts";

describe("Matter camera identities", () => {
  it("are generated once, kept across restarts in a 0600 file, one port each from matter.port + 10", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hb-matter-cam-id-"));
    try {
      const log = createLogger("error");
      const host = () =>
        new MatterCameraHost({
          registry: new DeviceRegistry(log),
          log,
          dataDir,
          bridgePort: 5540,
          media: () => undefined,
        });
      const first = host();
      const a = first.identity("cam:a");
      const b = first.identity("cam:b");
      assert.equal(a.port, 5550);
      assert.equal(b.port, 5551);
      assert.equal(passcodeProblem(a.passcode), undefined, "a valid passcode");
      assert.deepEqual(host().identity("cam:a"), a, "the same after a restart");
      assert.deepEqual(host().identity("cam:b"), b);
      assert.equal(statSync(join(dataDir, "matter-cameras.json")).mode & 0o777, 0o600);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
