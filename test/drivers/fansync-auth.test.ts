// Authentication failure modes: bad credentials, the ~30-day token expiry (HTTP 401 on validation,
// or the WS login refusing the JWT), refused WS logins, HTTP 401/403 faults; secrets never logged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { harness } from "./fansync-harness.ts";
import { waitFor } from "../helpers/wait.ts";

const posts = (h: Awaited<ReturnType<typeof harness>>): number =>
  h.sim.httpRequests.filter((r) => r.method === "POST" && r.path === "/api:1/session").length;

test("bad credentials: HTTP 400, needs-login, no websocket, start() still returns", async (t) => {
  const h = await harness({ start: false, driver: { password: "wrong password" } });
  t.after(() => h.close());
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  assert.equal(h.sink.link, "needs-login");
  assert.match(h.sink.of("linkStateChanged").at(-1)?.detail ?? "", /rejected the e-mail or password \(HTTP 400\)/);
  assert.equal(h.sim.httpRequests[0]?.status, 400);
  assert.equal(h.sim.frames.length, 0);
  assert.equal(h.sim.connections, 0);
  assert.ok(!h.logs.text.includes("wrong password"), "the password is never logged");
});

test("a restart reuses the stored session token instead of logging in over HTTP again", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await h.driver.stop();
  assert.equal(posts(h), 1);
  const again = await h.newDriver();
  assert.equal(h.sink.link, "connected");
  assert.equal(posts(h), 1, "no second HTTP login");
  assert.equal((h.sim.requests("login").at(-1)!.data as { token: string }).token, h.sim.issuedTokens[0]);
  assert.equal(statSync(h.store.path).mode & 0o777, 0o600, "the token sits in a 0600 file");
  await again.stop();
});

test("token expiry: validation answers 401, the driver logs in over HTTP again and re-syncs", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const oldToken = h.sim.issuedTokens[0]!;
  h.sim.expireTokens();
  const connected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
  h.sim.dropSockets();
  await connected;
  assert.equal(posts(h), 2);
  assert.ok(h.sim.httpRequests.some((r) => r.method === "GET" && r.path === "/api:1/session" && r.status === 401));
  const logins = h.sim.requests("login");
  assert.equal((logins.at(-1)!.data as { token: string }).token, h.sim.issuedTokens[1]);
  assert.notEqual(h.sim.issuedTokens[1], oldToken);
  assert.equal(
    logins.filter((l) => (l.data as { token: string }).token === oldToken).length,
    1,
    "the expired token was never offered on the socket again",
  );
});

test("token expiry seen only by the websocket: the refused login drops the token and logs in over HTTP", async (t) => {
  const h = await harness({ driver: { validateTokenOnReconnect: false } });
  t.after(() => h.close());
  h.sim.expireTokens();
  const connected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
  h.sim.dropSockets();
  await connected;
  assert.equal(posts(h), 2);
  const logins = h.sim.requests("login").map((l) => (l.data as { token: string }).token);
  assert.deepEqual(logins, [h.sim.issuedTokens[0], h.sim.issuedTokens[0], h.sim.issuedTokens[1]]);
  assert.equal(h.sim.httpRequests.filter((r) => r.method === "GET").length, 0);
});

test("refused websocket logins never loop on the same token; recovery once the cloud accepts again", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  h.sim.failLogins(true, { data: { message: "try later" } });
  const down = h.sink.next((c) => c.type === "availabilityChanged" && c.id === undefined && !c.available);
  h.sim.dropSockets();
  await down;
  await waitFor(() => posts(h) >= 3, 3000, { on: [[h.sim, "http"]] });
  // Every refused login is followed by a fresh HTTP login: no token is offered twice after a refusal.
  const tokens = h.sim
    .requests("login")
    .slice(1)
    .map((l) => (l.data as { token: string }).token);
  for (let i = 1; i < tokens.length; i++) assert.notEqual(tokens[i], tokens[i - 1]);
  h.sim.failLogins(false);
  await h.sink.next((c) => c.type === "availabilityChanged" && c.id === undefined && c.available, 3000);
  await waitFor(() => h.sink.link === "connected", 2000, { on: [[h.sink, "call"]] });
});

test("HTTP 401/403 faults: needs-login while they last, connected after", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  h.sim.expireTokens();
  h.sim.setHttpFault(403);
  const needsLogin = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "needs-login");
  h.sim.dropSockets();
  const call = await needsLogin;
  assert.match(call.type === "linkStateChanged" ? (call.detail ?? "") : "", /refused the login \(HTTP 403\)/);
  h.sim.setHttpFault(undefined);
  await h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected", 3000);
  assert.equal(h.sim.tokensIssued, 2);
});

test("the password and tokens never reach the log, even at debug level", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  h.sim.expireTokens();
  const connected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
  h.sim.dropSockets();
  await connected;
  await h.driver.command(h.id(0), { fan: { on: true } });
  assert.ok(h.logs.lines.length > 10, "debug logging was on");
  assert.ok(
    h.logs.lines.some((l) => l.msg === "fansync >>"),
    "frames were logged",
  );
  assert.ok(!h.logs.text.includes(h.sim.password));
  for (const token of h.sim.issuedTokens) assert.ok(!h.logs.text.includes(token), "a token leaked into the log");
});
