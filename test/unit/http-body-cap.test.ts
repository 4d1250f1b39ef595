// Vendor HTTP answers are read with a byte cap: a cloud answering with an endless body gets a clear
// "response larger than N bytes" error and its connection closed, from the shared helpers and from
// every vendor client (FanSync and Nanit REST, the X-Sense app API and Cognito).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, get, type IncomingMessage, type ServerResponse } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { MAX_RESPONSE_BYTES, readBodyCapped, readIncomingCapped, ResponseTooLargeError } from "../../src/core/http.ts";
import { login as fanSyncLogin } from "../../src/drivers/fansync/http-auth.ts";
import { postLogin as nanitLogin } from "../../src/drivers/nanit/rest.ts";
import { XSenseApi } from "../../src/drivers/xsense/api.ts";
import { XSenseCognito } from "../../src/drivers/xsense/cognito.ts";

/** Stop writing after this much even if the client keeps reading (the old, unbounded code does). */
const SERVER_LIMIT = 48 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, "a");

interface Hostile {
  url: string;
  /** Per request: bytes written and whether the client closed the connection before the server ended. */
  served: Promise<{ written: number; cutByClient: boolean }>[];
  close(): Promise<void>;
}

/** A server whose every answer is an endless (up to SERVER_LIMIT) JSON-looking body; `declare` sends a
 * content-length of SERVER_LIMIT as well. */
async function hostileServer(options: { declare?: boolean } = {}): Promise<Hostile> {
  const served: Hostile["served"] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    served.push(
      new Promise((resolve) => {
        let written = 0;
        let ended = false;
        const length = options.declare ? { "content-length": String(SERVER_LIMIT) } : {};
        res.writeHead(200, { "content-type": "application/json", ...length });
        res.on("close", () => resolve({ written, cutByClient: !ended }));
        const pump = (): void => {
          while (written < SERVER_LIMIT && !res.destroyed) {
            written += CHUNK.length;
            if (!res.write(CHUNK)) return void res.once("drain", pump);
          }
          if (!res.destroyed) {
            ended = true;
            res.end();
          }
        };
        pump();
      }),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

async function assertCut(h: Hostile, limit: number): Promise<void> {
  assert.equal(h.served.length, 1);
  const { written, cutByClient } = await h.served[0]!;
  assert.ok(cutByClient, "the client closed the connection");
  // The kernel's socket buffers hold some megabytes; the point is that the client stopped reading.
  assert.ok(written < limit + 16 * 1024 * 1024, `the server wrote ${written} bytes`);
}

test("readBodyCapped: a fetch body past the cap is cancelled with a clear error", async (t) => {
  const h = await hostileServer();
  t.after(() => h.close());
  const response = await fetch(h.url);
  await assert.rejects(
    readBodyCapped(response, 1024 * 1024),
    (e: Error) => e instanceof ResponseTooLargeError && e.message === "response larger than 1048576 bytes",
  );
  await assertCut(h, 1024 * 1024);
});

test("readBodyCapped: a declared content-length past the cap fails before reading", async (t) => {
  const h = await hostileServer({ declare: true });
  t.after(() => h.close());
  const response = await fetch(h.url);
  await assert.rejects(readBodyCapped(response, 1024 * 1024), /response larger than 1048576 bytes/);
  await assertCut(h, 0);
});

test("readBodyCapped and readIncomingCapped read a body under the cap whole", async (t) => {
  const server = createServer((_req, res) => res.end("x".repeat(5000)));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.equal((await readBodyCapped(await fetch(url), 5000)).length, 5000);
  const [res] = (await once(get(url), "response")) as [IncomingMessage];
  assert.equal((await readIncomingCapped(res, 5000)).length, 5000);
});

test("readIncomingCapped: a node:http body past the cap is destroyed with a clear error", async (t) => {
  const h = await hostileServer();
  t.after(() => h.close());
  const request = get(h.url);
  request.on("error", () => undefined); // the destroyed socket may report on the request too
  const [res] = (await once(request, "response")) as [IncomingMessage];
  const expected = /^ResponseTooLargeError: response larger than 1048576 bytes$/;
  await assert.rejects(readIncomingCapped(res, 1024 * 1024), expected);
  await assertCut(h, 1024 * 1024);
});

const defaultCap = new RegExp(`response larger than ${MAX_RESPONSE_BYTES} bytes`);

test("FanSync login: an endless answer is cut at the default cap", async (t) => {
  const h = await hostileServer();
  t.after(() => h.close());
  await assert.rejects(
    fanSyncLogin(h.url, "a@example.com", "pw-12345678", { timeoutMs: 20_000 }),
    (e: Error) => e.name === "FanSyncHttpError" && defaultCap.test(e.message),
  );
  await assertCut(h, MAX_RESPONSE_BYTES);
});

test("Nanit login: an endless answer is cut at the default cap", async (t) => {
  const h = await hostileServer();
  t.after(() => h.close());
  await assert.rejects(
    nanitLogin(h.url, { email: "a@example.com", password: "pw-12345678" }, { timeoutMs: 20_000 }),
    (e: Error) => e.name === "NanitHttpError" && defaultCap.test(e.message),
  );
  await assertCut(h, MAX_RESPONSE_BYTES);
});

test("X-Sense app API: an endless answer is cut at the default cap", async (t) => {
  const h = await hostileServer();
  t.after(() => h.close());
  const api = new XSenseApi({ base: h.url, timeoutMs: 20_000 });
  await assert.rejects(api.clientInfo(), (e: Error) => e.name === "XSenseApiError" && defaultCap.test(e.message));
  await assertCut(h, MAX_RESPONSE_BYTES);
});

test("X-Sense Cognito: an endless answer is cut at the default cap", async (t) => {
  const h = await hostileServer();
  t.after(() => h.close());
  const secret = Buffer.from("0123456789abcdef");
  const pool = { endpoint: `${h.url}/`, userPoolId: "us-east-1_TestPool1", clientId: "client1234" };
  const cognito = new XSenseCognito({ ...pool, secret, timeoutMs: 20_000 });
  await assert.rejects(cognito.login("a@example.com", "pw-12345678"), (e: Error) => defaultCap.test(e.message));
  await assertCut(h, MAX_RESPONSE_BYTES);
});
