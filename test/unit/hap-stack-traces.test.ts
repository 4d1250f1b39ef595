// hap-nodejs registers source-map-support on import, which keeps the parsed source map of every hap-nodejs
// file it sees on a stack (megabytes of heap). The HomeKit host takes that formatter out again.
import { test } from "node:test";
import assert from "node:assert/strict";

test("after the HomeKit host loads, stacks are formatted by Node, not by source-map-support", async () => {
  await import("../../src/homekit/host.ts");
  assert.equal(Error.prepareStackTrace, undefined);
  const stack = new Error("probe").stack ?? "";
  assert.match(stack, /^Error: probe\n\s+at /);
  assert.match(stack, /hap-stack-traces\.test\.ts:\d+:\d+/, "frames point at this file");
});
