// The Matter host builds every device at start and saves the endpoint numbers once, not once per device
// (each save is an fsync-ed atomic write: one per device made a first start slow on an SD card).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Endpoint } from "@matter/main";
import { createLogger } from "../../src/core/logger.ts";
import { ENDPOINT_NUMBERS_FILE, EndpointNumbers } from "../../src/matter/endpoint-numbers.ts";

/** The part of an installed endpoint `remember` reads: its id, number and parts. */
function endpoint(id: string, number: number, parts: unknown[] = []): Endpoint {
  return { id, number, lifecycle: { hasId: true, hasNumber: true }, parts } as unknown as Endpoint;
}

const log = createLogger("fatal");

describe("EndpointNumbers saving", () => {
  it("records without writing until save(), writes once, and a save with nothing new leaves the file alone", () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-numbers-"));
    try {
      const file = join(dir, ENDPOINT_NUMBERS_FILE);
      const numbers = new EndpointNumbers(dir, log);
      numbers.remember(endpoint("fan-1", 2, [endpoint("fan-1-light", 3)]), { save: false });
      numbers.remember(endpoint("fan-2", 4), { save: false });
      assert.throws(() => statSync(file), { code: "ENOENT" }, "nothing written before save()");
      numbers.save();
      const written = statSync(file);
      assert.equal(written.mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), {
        numbers: { "fan-1": 2, "fan-1-light": 3, "fan-2": 4 },
      });
      // Same numbers again: not dirty, so no new file (the inode of a rename-written file would change).
      numbers.remember(endpoint("fan-2", 4));
      numbers.save();
      assert.equal(statSync(file).ino, written.ino);
      // A live add saves at once.
      numbers.remember(endpoint("fan-3", 5));
      assert.notEqual(statSync(file).ino, written.ino);
      assert.equal(new EndpointNumbers(dir, log).get("fan-3"), 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
