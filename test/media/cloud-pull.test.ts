// A read of a cloud stream fails clearly and never opens a door: the server's certificate is verified
// (trusted only when the caller hands its CA over), a server that says nothing times out, a server
// that is not RTMP is refused, and the error never contains the URL's token.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:tls";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";
import { createLogger } from "../../src/core/logger.ts";
import { CloudPull, CloudPullError } from "../../src/media/cloud-pull.ts";
import type { PulledStream } from "../../src/media/ingest.ts";
import { CloudMediaServer } from "../../sim/nanit/cloud-media.ts";

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

test("the certificate is verified: without the simulator's CA the read fails; with it, the play starts", async (t) => {
  const media = new CloudMediaServer({ tokenKnown: () => true });
  await media.start();
  t.after(() => media.stop());
  const secret = token();
  const url = `${media.base}/baby1.${secret}`;
  const untrusted = pull(url);
  await assert.rejects(untrusted.p.start(), (error: Error) => {
    assert.ok(error instanceof CloudPullError);
    assert.match(error.message, /^Robin: reading the stream from the cloud \(127\.0\.0\.1:\d+\) failed: .*certificate/);
    assert.equal(error.message.includes(secret), false, "the token is not in the error");
    return true;
  });
  assert.deepEqual(untrusted.attached, []);
  assert.equal(media.plays, 0);
  const trusted = pull(url, media.cert);
  await trusted.p.start();
  assert.deepEqual(trusted.attached, ["cam:1"], "publishes into the camera's stream once playing");
  assert.equal(media.plays, 1);
  trusted.p.close("done");
  assert.equal(await trusted.p.ended, "done");
});

test("a server that never answers: a clear timeout, the read closed", async (t) => {
  const { server, port, cert } = await tlsServer(() => undefined);
  t.after(() => void server.close());
  const { p, attached } = pull(`rtmps://127.0.0.1:${port}/nanit/baby.${token()}`, cert, 500);
  await assert.rejects(p.start(), /failed: no stream within 0\.5 s$/);
  assert.equal(p.active, false);
  assert.equal(await p.ended, "no stream within 0.5 s");
  assert.deepEqual(attached, []);
});

test("a server that is not RTMP: refused with the reason, nothing attached", async (t) => {
  const { server, port, cert } = await tlsServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
  t.after(() => void server.close());
  const { p, attached } = pull(`rtmps://127.0.0.1:${port}/nanit/baby.${token()}`, cert);
  await assert.rejects(p.start(), /failed: the server answered RTMP version 72$/);
  assert.deepEqual(attached, []);
});
