// The findings of the security review of the web page (issue 18, section 1), each pinned down against
// a real WebServer on 127.0.0.1: foreign Host names are refused on every path (DNS rebinding), form
// posts through a TLS reverse proxy with web.publicOrigin and web.trustedProxies, the login limit keyed
// on the forwarded client, event streams that end at log-out and session expiry or when the client stops
// reading, and /health and /metrics behind web.healthAccess / web.metricsAccess without e-mail addresses.
// The setup token needs a non-loopback listener: it is tested in test/e2e/web.test.ts (network namespace).
import { test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { pino } from "pino";
import { createLogger } from "../../src/core/logger.ts";
import { hashPasswordSync } from "../../src/core/password.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { DriverSink } from "../../src/core/driver.ts";
import { LogRing } from "../../src/web/log-ring.ts";
import { WebServer, type WebServerOptions } from "../../src/web/server.ts";
import { HostCheck, hostName, machineNames } from "../../src/web/host-check.ts";
import { ProxyTrust } from "../../src/web/client-address.ts";
import { LogCapture } from "../helpers/log-capture.ts";

const PASSWORD = "the page password";
const HASH = hashPasswordSync(PASSWORD);

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  text: string;
}

type Headers = Record<string, string>;

/** One request with full control of the headers (fetch will not send a Host of our choosing). */
interface Send {
  method?: string;
  headers?: Headers;
  body?: string;
}

function send(port: number, path: string, options: Send = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { host: `127.0.0.1:${port}`, ...options.headers };
    const req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

function post(port: number, path: string, fields: Headers, headers: Headers = {}): Promise<Answer> {
  const body = new URLSearchParams(fields).toString();
  const type = { "content-type": "application/x-www-form-urlencoded" };
  return send(port, path, { method: "POST", headers: { ...type, ...headers }, body });
}

type Config = Partial<WebServerOptions["config"]>;

type Context = { after(fn: () => unknown): void };

async function server(t: Context, config: Config = {}, extra: Partial<WebServerOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-guards-"));
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const registry = new DeviceRegistry(log);
  const sources = { registry, accounts: [], startedAt: Date.now() };
  const full = { host: "127.0.0.1", port: 0, ...config };
  const web = new WebServer({ sources, log, dataDir: dir, config: full, ...extra });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, logs, registry };
}

async function logIn(port: number, headers: Headers = {}): Promise<string> {
  const res = await post(port, "/login", { password: PASSWORD }, headers);
  assert.equal(res.status, 303, res.text);
  return String(res.headers["set-cookie"]?.[0] ?? "").split(";")[0]!;
}

test("Host names: parsed without port or brackets; addresses, localhost, machine and configured names pass", () => {
  assert.equal(hostName("Bridge.Example.com:8581"), "bridge.example.com");
  assert.equal(hostName("[::1]:8581"), "::1");
  assert.equal(hostName("nas.local."), "nas.local");
  for (const bad of ["", "a b", "evil.example:80x", "[::1", "[zz]:1", "x/y"]) {
    assert.equal(hostName(bad), undefined, bad);
  }
  assert.deepEqual(machineNames("NAS.lan"), ["nas.lan", "nas", "nas.local"]);
  const check = new HostCheck({
    allowedHosts: ["bridge.home.arpa", ".example.net"],
    publicOrigin: "https://bridge.example.com",
    machineNames: () => ["nas", "nas.local"],
  });
  const allowed = [
    "127.0.0.1:8581",
    "192.168.1.20",
    "[fe80::1]:8581",
    "localhost:8581",
    "app.localhost",
    "nas:8581",
    "NAS.local",
    "bridge.home.arpa",
    "example.net",
    "cam.example.net",
    "bridge.example.com",
  ];
  for (const ok of allowed) assert.equal(check.allows(ok), true, ok);
  const refused = [
    undefined,
    "evil.example",
    "evil.example:8581",
    "nas.evil.example",
    "example.com",
    "notexample.net",
    "localhost.evil.example",
  ];
  for (const bad of refused) assert.equal(check.allows(bad), false, String(bad));
});

test("a renamed machine's new name is accepted after a short while, never looked up on every request", () => {
  let names = ["old-name"];
  let reads = 0;
  let now = 0;
  const check = new HostCheck({
    machineNames: () => {
      reads++;
      return names;
    },
    now: () => now,
  });
  assert.equal(check.allows("old-name"), true);
  names = ["new-name"];
  assert.equal(check.allows("new-name"), false, "read moments ago");
  assert.equal(check.allows("evil.example"), false);
  assert.equal(reads, 1);
  now = 11_000;
  assert.equal(check.allows("new-name"), true);
  assert.equal(reads, 2);
});

test("a foreign Host (DNS rebinding) gets 403 on every path, logged rate-limited with the client", async (t) => {
  const { port, logs } = await server(t);
  for (const path of ["/", "/health", "/metrics", "/events", "/api/status", "/app.js", "/setup", "/login"]) {
    const res = await send(port, path, { headers: { host: `rebind.evil.example:${port}` } });
    assert.equal(res.status, 403, path);
    assert.match(res.text, /web\.allowedHosts/);
  }
  assert.equal((await post(port, "/logout", {}, { host: "rebind.evil.example" })).status, 403);
  const refused = logs.lines.filter((l) => l.why === "host-not-allowed");
  assert.equal(refused.length, 1, "one line, the rest counted");
  assert.equal(refused[0]!.client, "127.0.0.1");
  assert.equal(refused[0]!.host, `rebind.evil.example:${port}`);
  // The same requests with the names of this bridge are answered.
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `${machineNames()[0]}:${port}`]) {
    assert.equal((await send(port, "/health", { headers: { host } })).status, 200, host);
  }
  const open = await send(port, "/api/status", { headers: { host: `localhost:${port}` } });
  assert.equal(open.status, 200, "loopback without a password: open");
});

test("web.allowedHosts and the public origin's name are accepted", async (t) => {
  const { port } = await server(t, { allowedHosts: ["bridge.home.arpa"], publicOrigin: "https://bridge.example.com" });
  assert.equal((await send(port, "/health", { headers: { host: "bridge.home.arpa:8581" } })).status, 200);
  assert.equal((await send(port, "/health", { headers: { host: "bridge.example.com" } })).status, 200);
  assert.equal((await send(port, "/health", { headers: { host: "other.example.com" } })).status, 403);
});

test("behind a TLS proxy: a post from publicOrigin is same-origin, Secure cookie; others are refused", async (t) => {
  const publicOrigin = "https://bridge.example.com";
  const { port } = await server(t, { passwordHash: HASH, publicOrigin, trustedProxies: ["127.0.0.1"] });
  const proxied = {
    host: "bridge.example.com",
    origin: publicOrigin,
    "x-forwarded-proto": "https",
    "x-forwarded-for": "198.51.100.7",
  };
  const res = await post(port, "/login", { password: PASSWORD }, proxied);
  assert.equal(res.status, 303, res.text);
  const cookie = String(res.headers["set-cookie"]?.[0]);
  assert.match(cookie, /HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  const session = cookie.split(";")[0]!;
  const evil = await post(port, "/logout", {}, { ...proxied, origin: "https://evil.example", cookie: session });
  assert.equal(evil.status, 403);
  const http = await post(port, "/logout", {}, { ...proxied, origin: "http://bridge.example.com", cookie: session });
  assert.equal(http.status, 403, "the same name over http is another origin");
  // The LAN address still works over plain http, without Secure (a browser would drop a Secure cookie there).
  const lan = await post(port, "/login", { password: PASSWORD }, { origin: `http://127.0.0.1:${port}` });
  assert.equal(lan.status, 303);
  assert.doesNotMatch(String(lan.headers["set-cookie"]?.[0]), /Secure/);
});

test("a proxy keeping the Host: X-Forwarded-Proto makes https://<Host> same-origin, if trusted", async (t) => {
  const allowedHosts = ["bridge.home.arpa"];
  const trusted = await server(t, { passwordHash: HASH, allowedHosts, trustedProxies: ["127.0.0.0/8"] });
  const headers = { host: "bridge.home.arpa", origin: "https://bridge.home.arpa", "x-forwarded-proto": "https" };
  assert.equal((await post(trusted.port, "/login", { password: PASSWORD }, headers)).status, 303);
  const untrusted = await server(t, { passwordHash: HASH, allowedHosts, trustedProxies: ["192.0.2.1"] });
  assert.equal((await post(untrusted.port, "/login", { password: PASSWORD }, headers)).status, 403);
});

test("the login limit keys on the forwarded client behind a trusted proxy, and on the peer otherwise", async (t) => {
  const proxied = await server(t, { passwordHash: HASH, trustedProxies: ["127.0.0.1"] });
  const from = (client: string) => ({ "x-forwarded-for": `203.0.113.99, ${client}` });
  const login = (password: string, client: string) => post(proxied.port, "/login", { password }, from(client));
  for (let i = 0; i < 5; i++) assert.equal((await login(`wrong ${i}`, "198.51.100.7")).status, 401);
  assert.equal((await login(PASSWORD, "198.51.100.7")).status, 429);
  assert.equal((await login(PASSWORD, "198.51.100.8")).status, 303, "another client is not locked out");
  const wrong = proxied.logs.lines.filter((l) => l.msg === "web page: wrong password");
  assert.deepEqual([...new Set(wrong.map((l) => l.client))], ["198.51.100.7"]);
  // Without trustedProxies anyone could pick a fresh X-Forwarded-For per guess: it is ignored.
  const direct = await server(t, { passwordHash: HASH });
  for (let i = 0; i < 5; i++) await post(direct.port, "/login", { password: `wrong ${i}` }, from(`198.51.100.${i}`));
  assert.equal((await post(direct.port, "/login", { password: PASSWORD }, from("198.51.100.200"))).status, 429);
  const trust = new ProxyTrust(["10.0.0.0/8"]);
  const req = (peer: string, xff?: string) =>
    ({ socket: { remoteAddress: peer }, headers: xff ? { "x-forwarded-for": xff } : {} }) as unknown as IncomingMessage;
  assert.equal(trust.client(req("::ffff:10.1.2.3", "198.51.100.7, 10.9.9.9")), "198.51.100.7", "trusted hops skipped");
  assert.equal(trust.client(req("10.1.2.3", "garbage")), "10.1.2.3");
  assert.equal(trust.client(req("192.0.2.5", "198.51.100.7")), "192.0.2.5");
});

/** Open /events with a session; resolves once the snapshot arrived, with a promise of the stream's end. */
async function openEvents(port: number, cookie: string): Promise<{ ended: Promise<string>; res: IncomingMessage }> {
  const req = httpRequest({ host: "127.0.0.1", port, path: "/events", headers: { cookie } });
  req.end();
  const [res] = (await once(req, "response")) as [IncomingMessage];
  assert.equal(res.statusCode, 200);
  res.setEncoding("utf8");
  let text = "";
  const snapshot = new Promise<void>((resolve) => {
    res.on("data", (d: string) => (text += d).includes("event: snapshot") && resolve());
  });
  const ended = new Promise<string>((resolve) => res.on("close", () => resolve("ended")));
  await snapshot;
  return { ended, res };
}

/** The stream's end, or "still open" after a generous wait (on the old code it never ends). */
const endedWithin = (ended: Promise<string>, ms = 10_000) =>
  Promise.race([ended, new Promise<string>((resolve) => setTimeout(resolve, ms, "still open").unref())]);

test("logging out ends that session's event streams, not other sessions'", async (t) => {
  const { port } = await server(t, { passwordHash: HASH });
  const mine = await logIn(port);
  const theirs = await logIn(port);
  const a = await openEvents(port, mine);
  const b = await openEvents(port, theirs);
  assert.equal((await post(port, "/logout", {}, { cookie: mine })).status, 303);
  assert.equal(await endedWithin(a.ended), "ended");
  assert.equal(b.res.closed, false, "the other session's stream stays");
  assert.equal((await send(port, "/events", { headers: { cookie: mine } })).status, 401, "and it cannot reopen");
  b.res.destroy();
});

test("an event stream ends when its session expires", async (t) => {
  const { port } = await server(t, { passwordHash: HASH }, { sessionTtlMs: 1_500 });
  const stream = await openEvents(port, await logIn(port));
  assert.equal(await endedWithin(stream.ended), "ended");
});

test("a client that stops reading its event stream is dropped past 1 MiB unsent, not buffered", async (t) => {
  const logs = new LogRing(10);
  const { port, logs: captured } = await server(t, {}, { logs });
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await once(socket, "readable"); // the headers and the snapshot; from here on nothing is read
  const closed = once(socket, "close");
  const line = JSON.stringify({ level: 30, time: Date.now(), msg: "x".repeat(490) });
  let pushed = 0;
  // The kernel's socket buffers take a few MB first; 64 MB is far past them.
  while (!captured.lines.some((l) => l.why === "slow-event-stream") && pushed < 64 * 1024 * 1024) {
    for (let i = 0; i < 1000; i++) logs.write(line);
    pushed += 1000 * line.length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const dropped = captured.lines.find((l) => l.why === "slow-event-stream");
  assert.ok(dropped, `no drop after ${pushed} bytes of events`);
  assert.equal(dropped.client, "127.0.0.1");
  assert.ok((dropped.bufferedBytes as number) > 1024 * 1024);
  socket.resume();
  await closed;
});

test("web.healthAccess / metricsAccess: loopback refuses forwarded requests, login needs the session", async (t) => {
  const { port } = await server(t, { passwordHash: HASH, healthAccess: "loopback", metricsAccess: "login" });
  assert.equal((await send(port, "/health")).status, 200, "from this machine");
  const viaProxy = await send(port, "/health", { headers: { "x-forwarded-for": "198.51.100.7" } });
  assert.equal(viaProxy.status, 403, "a local proxy's request is someone else's");
  assert.equal((await send(port, "/metrics")).status, 401);
  const cookie = await logIn(port);
  assert.equal((await send(port, "/metrics", { headers: { cookie } })).status, 200);
  const open = await server(t, { passwordHash: HASH });
  assert.equal((await send(open.port, "/health")).status, 200, "open by default (Docker's HEALTHCHECK)");
  assert.equal((await send(open.port, "/metrics")).status, 200);
});

test("/health and /metrics call default-named accounts <vendor>-<n>, not by e-mail; the page keeps them", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-labels-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = pino({ level: "silent" });
  const registry = new DeviceRegistry(log);
  const accounts = [
    { name: "fansync:first@example.com", vendor: "fansync" },
    { name: "attic", vendor: "fansync" },
    { name: "fansync:second@example.com", vendor: "fansync" },
    { name: "xsense:alarms@example.com", vendor: "xsense" },
  ];
  const sink: DriverSink = registry.sinkFor({ vendor: "fansync", accountName: "fansync:first@example.com" } as never);
  sink.linkStateChanged("connected");
  const fan = {
    id: "fansync:a",
    vendor: "fansync",
    account: "fansync:first@example.com",
    kind: "ceiling-fan",
    name: "Fan",
    manufacturer: "m",
    model: "x",
    serialNumber: "a",
    capabilities: { fan: { reversible: true, breeze: false } },
  } as const;
  sink.deviceFound(fan, {});
  const sources = { registry, accounts, startedAt: Date.now() };
  const web = new WebServer({ sources, log, dataDir: dir, config: { host: "127.0.0.1", port: 0 } });
  const port = await web.start();
  t.after(() => web.stop());
  const health = await send(port, "/health");
  const names = (JSON.parse(health.text) as { accounts: { name: string }[] }).accounts.map((a) => a.name);
  assert.deepEqual(names, ["fansync-1", "attic", "fansync-3", "xsense-1"]);
  const metrics = (await send(port, "/metrics")).text;
  assert.doesNotMatch(health.text + metrics, /@/);
  assert.match(metrics, /hearthbridge_account_link\{account="fansync-1",vendor="fansync",state="connected"\} 1/);
  assert.match(metrics, /hearthbridge_device_available\{device="fansync:a",vendor="fansync",account="fansync-1"\} 1/);
  const status = JSON.parse((await send(port, "/api/status")).text) as { accounts: { name: string }[] };
  assert.equal(status.accounts[0]!.name, "fansync:first@example.com", "the page itself (behind its login) keeps it");
});
