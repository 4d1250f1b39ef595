// A hostile or broken Nanit cloud or camera: a websocket message past the size limit drops the
// socket (the link reconnects and carries on), and camera uids naming prototype machinery
// ("__proto__", "constructor") are skipped instead of keying the pinned certificates, where
// pins["constructor"] read Object as a pinned certificate and refused the camera's own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, whenAvailable } from "./nanit-harness.ts";
import { nextEvent } from "../helpers/wait.ts";
import { MAX_WEBSOCKET_MESSAGE_BYTES } from "../../src/core/http.ts";
import type { ConnInfo } from "../../sim/nanit/index.ts";
import type { PinnedCert } from "../../src/drivers/nanit/index.ts";

test("a message past the websocket limit drops the socket; the link reconnects and works", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  const [first] = h.sim.connections();
  const reconnected = nextEvent<[ConnInfo]>(h.sim, "connection", () => true, 10_000);
  h.sim.sendRaw(Buffer.alloc(MAX_WEBSOCKET_MESSAGE_BYTES + 1));
  await reconnected;
  const reason = `it sent a message larger than ${MAX_WEBSOCKET_MESSAGE_BYTES} bytes`;
  assert.ok(h.logs.has(new RegExp(`connection lost \\(${reason}\\); reconnecting`), 40));
  assert.ok(!h.logs.has(/ignoring a malformed frame/), "the message was never parsed");
  await h.driver.command(h.id(), { light: { on: true } });
  assert.ok(!h.sim.connections().some((c) => c.conn === first!.conn), "on a new socket");
  assert.equal(h.sim.camera().nightLight, true);
});

test("camera uids naming prototype machinery are skipped; the others pin and connect", async (t) => {
  const babies = [
    { uid: "b1", name: "Proto", cameraUid: "__proto__" },
    { uid: "b2", name: "Ctor", cameraUid: "constructor" },
    { uid: "b3", name: "Robin", cameraUid: "N301SIM0000003" },
  ];
  const h = await harness({ sim: { babies } });
  t.after(() => h.close());
  await whenAvailable(h, 2);
  assert.deepEqual([...new Set(h.sink.of("deviceFound").map((c) => c.info.serialNumber))], ["N301SIM0000003"]);
  assert.ok(h.logs.has(/ignoring 2 \/babies entries without a usable baby or camera uid/, 40));
  assert.deepEqual(Object.keys(h.store.get("pins") as Record<string, PinnedCert>), ["N301SIM0000003"]);
  assert.equal(Object.getPrototypeOf(h.store.get("pins")), Object.prototype);
  assert.deepEqual(
    h.sim.connections().map((c) => [c.cameraUid, c.flavour]),
    [["N301SIM0000003", "local"]],
  );
});
