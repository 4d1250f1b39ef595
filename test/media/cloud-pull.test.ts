// A read of a cloud stream fails clearly: a server that says nothing times out, a server that is not
// RTMP is refused. (Certificate verification against a real RTMPS server: the Nanit driver's cloud
// stream tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:tls";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";
import { createLogger } from "../../src/core/logger.ts";
import { CloudPull } from "../../src/media/cloud-pull.ts";
import type { PulledStream } from "../../src/media/ingest.ts";

const log = createLogger("fatal");

/** A token shaped like the simulator's (a JWT with `exp` an hour ahead). */
function token(): string {
  const body = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600 })).toString("base64url");
  return `eyJhbGciOiJIUzI1NiJ9.${body}.c2lnbmF0dXJlLXNlY3JldA`;
}

function pull(url: string, ca?: string, connectTimeoutMs = 10_000) {
  const attached: string[] = [];
  const feed: PulledStream = { received: () => undefined, media: () => undefined, end: () => undefined };
  const p = new CloudPull(
    { url, ...(ca ? { ca } : {}) },
    {
      deviceId: "cam:1",
      name: "Robin",
      ingest: {
        attachPull: (deviceId) => {
          attached.push(deviceId);
          return feed;
        },
      },
      log,
      connectTimeoutMs,
    },
  );
  return { p, attached };
}

async function tlsServer(
  onSocket: (socket: import("node:tls").TLSSocket) => void,
): Promise<{ server: Server; port: number; cert: string }> {
  const pems = await generate([{ name: "commonName", value: "test.invalid" }], {
    keySize: 2048,
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] },
    ],
  });
  const server = createServer({ key: pems.private, cert: pems.cert }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, cert: pems.cert };
}

test("a server that never answers: a clear timeout, the read closed", async (t) => {
  const { server, port, cert } = await tlsServer(() => undefined);
  t.after(() => void server.close());
  const { p, attached } = pull(`rtmps://127.0.0.1:${port}/live/baby.${token()}`, cert, 500);
  await assert.rejects(p.start(), /failed: no stream within 0\.5 s$/);
  assert.equal(p.active, false);
  assert.equal(await p.ended, "no stream within 0.5 s");
  assert.deepEqual(attached, []);
});

test("a server that is not RTMP: refused with the reason, nothing attached", async (t) => {
  const { server, port, cert } = await tlsServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
  t.after(() => void server.close());
  const { p, attached } = pull(`rtmps://127.0.0.1:${port}/live/baby.${token()}`, cert);
  await assert.rejects(p.start(), /failed: the server answered RTMP version 72$/);
  assert.deepEqual(attached, []);
});
