// A hostile or broken FanSync cloud: a websocket message past the size limit drops the socket (the
// driver reconnects and carries on), and device ids that name prototype machinery ("__proto__",
// "constructor", "prototype") are ignored instead of keying the assumed state, where a write to
// "__proto__" polluted Object.prototype for the whole process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./fansync-harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { deviceId } from "../../src/core/model.ts";
import { MAX_WEBSOCKET_MESSAGE_BYTES } from "../../src/core/http.ts";

test("a message past the websocket limit drops the socket; the driver reconnects and works", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous" }] } });
  t.after(() => h.close());
  const connected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected", 10_000);
  const pad = "x".repeat(MAX_WEBSOCKET_MESSAGE_BYTES);
  h.sim.broadcastRaw(JSON.stringify({ event: "device_change", data: { device: h.vid(0), pad } }));
  await connected;
  const warning = `the cloud sent a message larger than ${MAX_WEBSOCKET_MESSAGE_BYTES} bytes; dropping the socket`;
  assert.ok(h.logs.has(new RegExp(warning), 40));
  assert.ok(!h.logs.has(/ignoring a malformed frame/), "the message was never parsed");
  const second = h.sim.frames.filter((f) => f.conn === 2).map((f) => f.frame?.request);
  assert.deepEqual(second.slice(0, 2), ["login", "lst_device"], "a second connection");
  await h.driver.command(h.id(0), { fan: { on: true } });
  await waitFor(() => h.sink.states.get(h.id(0))?.fan?.on === true, 10_000, { on: [[h.sink, "call"]] });
});

/** A websocket hop in front of the simulator that renames devices in every frame, both ways (the
 * simulator itself only takes real 24-hex ids). */
async function renamingProxy(target: string, names: Map<string, string>): Promise<{ url: string; close(): void }> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(server, "listening");
  const rename = (text: string, pairs: [string, string][]): string =>
    pairs.reduce((t, [from, to]) => t.split(`"${from}"`).join(`"${to}"`), text);
  const down = [...names];
  const up = down.map(([real, shown]): [string, string] => [shown, real]);
  server.on("connection", (client) => {
    const upstream = new WebSocket(target);
    const queued: string[] = [];
    upstream.on("open", () => queued.splice(0).forEach((m) => upstream.send(m)));
    upstream.on("message", (data) => client.send(rename(String(data), down)));
    client.on("message", (data) => {
      const renamed = rename(String(data), up);
      if (upstream.readyState === WebSocket.OPEN) upstream.send(renamed);
      else queued.push(renamed);
    });
    client.on("close", () => upstream.terminate());
    upstream.on("close", () => client.terminate());
    upstream.on("error", () => client.terminate());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () => {
      for (const c of server.clients) c.terminate();
      server.close();
    },
  };
}

test("device ids naming prototype machinery are ignored; Object.prototype stays clean", async (t) => {
  const hostile = ["__proto__", "constructor", "prototype"];
  // kute60 never reports a power write: the driver keeps the written value as assumed state, keyed by id.
  const devices = Array.from({ length: 4 }, () => ({ profile: "kute60" as const }));
  const h = await harness({ sim: { devices }, start: false });
  const proxy = await renamingProxy(h.urls.wsUrl, new Map(hostile.map((name, i) => [h.vid(i), name])));
  t.after(async () => {
    for (const target of [Object.prototype, Object, Function.prototype] as Record<string, unknown>[]) delete target.H00;
    await h.close();
    proxy.close();
  });
  const driver = await h.newDriver({ endpoints: { api: h.urls.apiUrl, websocket: proxy.url } });
  for (const id of hostile) {
    await driver.command(deviceId("fansync", id), { fan: { on: false } }).catch(() => undefined);
  }
  const probe: Record<string, unknown> = {};
  assert.equal(probe.H00, undefined, "no register leaked onto every object");
  assert.equal((Object as unknown as Record<string, unknown>).H00, undefined, "nor onto Object");
  assert.deepEqual(
    h.sink.of("deviceFound").map((c) => c.info.serialNumber),
    [h.vid(3)],
    "only the real device",
  );
  const why = "lst_device entry with an unusable device id";
  const warns = h.logs.warnings.filter((l) => l.msg === "fansync: ignoring a malformed frame" && l.why === why);
  assert.equal(warns.length, 1, "one line (rate limited)");
  // The real device still takes writes and keeps its own assumed state.
  await driver.command(h.id(3), { fan: { on: false } });
  const assumed = new JsonStore(h.store.path).get("assumed");
  assert.deepEqual(Object.keys(assumed as object), [h.vid(3)], "written before command() resolved");
});
