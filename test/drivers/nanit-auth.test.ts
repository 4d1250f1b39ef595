// The Nanit session: login with the MFA step (HTTP 482), rotating single-use refresh tokens saved
// before use, single-flight refresh, the access token's own expiry, 401 -> refresh and retry once,
// 404 -> needs-login without a loop, and picking up a session written by the login CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync, readFileSync } from "node:fs";
import { harness, whenAvailable } from "./nanit-harness.ts";
import { waitFor, nextEvent } from "../helpers/wait.ts";
import { JsonStore } from "../../src/core/storage.ts";
import { loginWithMfa, NanitAuthError, SESSION_KEY, type StoredSession } from "../../src/drivers/nanit/index.ts";

const stored = (path: string): StoredSession =>
  (JSON.parse(readFileSync(path, "utf8")) as Record<string, StoredSession>)[SESSION_KEY]!;

test(
  "MFA login: 482 with mfa_token, the prompted code, " + "201; the session is saved 0600 without the password",
  async (t) => {
    const h = await harness({ start: false, seed: false });
    t.after(() => h.close());
    const prompts: unknown[] = [];
    const result = await loginWithMfa(
      { email: h.sim.email, password: h.sim.password, endpoints: { api: h.urls.apiUrl }, store: h.store },
      async (p) => {
        prompts.push(p);
        return h.sim.mfaCode;
      },
    );
    assert.equal(result.mfa, true);
    assert.deepEqual(prompts, [{ phoneSuffix: "42", channel: "sms", attempt: 1 }]);
    assert.deepEqual(
      h.sim.httpRequests.map((r) => [r.path, r.status]),
      [
        ["/login", 482],
        ["/login", 201],
      ],
    );
    assert.equal(typeof h.sim.httpRequests[1]!.body?.mfa_token, "string");
    assert.equal(h.sim.httpRequests[1]!.body?.mfa_code, h.sim.mfaCode);
    assert.equal(h.sim.smsSent, 1);
    assert.equal(statSync(h.store.path).mode & 0o777, 0o600);
    const file = readFileSync(h.store.path, "utf8");
    assert.ok(!file.includes(h.sim.password), "the password is not stored");
    assert.equal(stored(h.store.path).refreshToken, h.sim.validRefreshTokens[0]);
    // The bridge starts from that session: no login, no SMS.
    await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
    await whenAvailable(h);
    assert.equal(h.sim.httpRequests.filter((r) => r.path === "/login").length, 2);
    assert.equal(h.sim.smsSent, 1);
  },
);

test(
  "MFA login: a wrong code re-prompts on the same mfa_token (no second SMS); " + "too many wrong codes fail",
  async (t) => {
    const h = await harness({ start: false, seed: false });
    t.after(() => h.close());
    const codes = ["000000", h.sim.mfaCode];
    const ok = await loginWithMfa(
      { email: h.sim.email, password: h.sim.password, endpoints: { api: h.urls.apiUrl } },
      async () => codes.shift()!,
    );
    assert.equal(ok.mfa, true);
    assert.equal(h.sim.smsSent, 1);
    await assert.rejects(
      loginWithMfa(
        { email: h.sim.email, password: h.sim.password, endpoints: { api: h.urls.apiUrl }, codeAttempts: 2 },
        async () => "111111",
      ),
      (e: unknown) => e instanceof NanitAuthError && /verification code/.test(e.message),
    );
    await assert.rejects(
      loginWithMfa({ email: h.sim.email, password: "wrong", endpoints: { api: h.urls.apiUrl } }, async () => "x"),
      /refused the e-mail or password/,
    );
  },
);

test(
  "refresh rotation: the access token's own exp triggers the refresh; " +
    "the new refresh token is saved first; the old one is dead",
  async (t) => {
    // Refresh 1.9 s before exp: the 2 s token is refreshed after about 0.1 s, before any 401.
    const h = await harness({ sim: { accessTokenLifetimeS: 2 }, start: false, driver: { refreshMarginMs: 1900 } });
    t.after(() => h.close());
    const firstRefresh = stored(h.store.path).refreshToken;
    await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
    await waitFor(() => h.sim.refreshes >= 1, 3000, { on: [[h.sim, "http"]] });
    // With 2 s tokens the driver refreshes every 0.1 s, so a refresh can be in flight whenever the store is
    // read. From here on tokens live an hour: the next refresh is the last one, and a /messages call after
    // it means its refresh token was saved (it is saved before the access token is used).
    h.sim.accessTokenLifetimeS = 3600;
    const mark = h.sim.httpRequests.length;
    await waitFor(
      () => {
        const after = h.sim.httpRequests.slice(mark);
        const last = after.findIndex((r) => r.path === "/tokens/refresh" && r.status === 200);
        return last >= 0 && after.slice(last + 1).some((r) => r.path.endsWith("/messages") && r.status === 200);
      },
      5000,
      { on: [[h.sim, "http"]] },
    );
    const session = stored(h.store.path);
    assert.ok(h.sim.validRefreshTokens.includes(session.refreshToken), "the stored refresh token is the live one");
    assert.ok(h.sim.usedRefreshTokens.includes(firstRefresh));
    assert.equal(
      h.sim.httpRequests.filter((r) => r.status === 401).length,
      0,
      "the refresh came from exp, not from a 401",
    );
    // Replaying the used refresh token fails, as on the real service.
    const replay = await fetch(`${h.urls.apiUrl}/tokens/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: firstRefresh }),
    });
    assert.equal(replay.status, 404);
    await replay.body?.cancel();
  },
);

test(
  "single-flight: concurrent 401s on two babies cause exactly one refresh; " + "401 -> refresh -> retry once",
  async (t) => {
    const babies = [
      { uid: "b0000001", name: "Ada", cameraUid: "N301SIMA" },
      { uid: "b0000002", name: "Bo", cameraUid: "N301SIMB" },
    ];
    const h = await harness({ sim: { babies }, driver: { preferLocal: false } });
    t.after(() => h.close());
    await whenAvailable(h, 0);
    await whenAvailable(h, 1);
    const before = h.sim.httpRequests.length;
    h.sim.revokeAccessTokens();
    await waitFor(
      () =>
        babies.every((b) =>
          h.sim.httpRequests.slice(before).some((r) => r.path === `/babies/${b.uid}/messages` && r.status === 200),
        ),
      3000,
      { on: [[h.sim, "http"]] },
    );
    const after = h.sim.httpRequests.slice(before);
    assert.equal(after.filter((r) => r.path === "/tokens/refresh").length, 1, "one refresh for both 401s");
    assert.equal(h.sim.refreshes, 1);
    const seq = after.map((r) => `${r.path.replace(/b000000\d/, "X")} ${r.status}`);
    const refreshAt = seq.indexOf("/tokens/refresh 200");
    assert.ok(seq.slice(0, refreshAt).includes("/babies/X/messages 401"), "a 401 came first");
    assert.ok(seq.slice(refreshAt).includes("/babies/X/messages 200"), "the call was retried with the new token");
    assert.equal(stored(h.store.path).refreshToken, h.sim.validRefreshTokens[0]);
  },
);

test(
  "refresh 404: needs-login with a clear message, " + "no retry loop, no SMS; the CLI's new session is picked up",
  async (t) => {
    const h = await harness({ driver: { preferLocal: false } });
    t.after(() => h.close());
    await whenAvailable(h);
    const needsLogin = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "needs-login");
    h.sim.expireRefreshTokens();
    h.sim.revokeAccessTokens();
    const call = await needsLogin;
    assert.match(
      call.type === "linkStateChanged" ? (call.detail ?? "") : "",
      /refused the refresh token .*HTTP 404.*npm run login -- nanit/,
    );
    assert.ok(h.logs.has(/needs a login: .*npm run login -- nanit/, 50), "an error log line says what to do");
    // Time passes (the open socket keeps sending keepalives): no further refresh, no login, no SMS.
    for (let i = 0; i < 4; i++) await nextEvent(h.sim, "keepalive");
    assert.equal(h.sim.httpRequests.filter((r) => r.path === "/tokens/refresh").length, 1);
    assert.equal(h.sim.httpRequests.filter((r) => r.path === "/login").length, 0);
    assert.equal(h.sink.of("linkStateChanged").filter((c) => c.state === "needs-login").length, 1);
    // The user runs `npm run login -- nanit` (another process writing the same file).
    const reconnected = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "connected");
    await loginWithMfa(
      {
        email: h.sim.email,
        password: h.sim.password,
        endpoints: { api: h.urls.apiUrl },
        store: new JsonStore(h.store.path),
      },
      async () => h.sim.mfaCode,
    );
    await reconnected;
    const since = h.sim.httpRequests.length;
    await waitFor(
      () => h.sim.httpRequests.slice(since).some((r) => r.path.endsWith("/messages") && r.status === 200),
      2000,
      { on: [[h.sim, "http"]] },
    );
  },
);

test(
  "a stored password on an MFA account: one login attempt (one SMS), " + "then needs-login, also after a restart",
  async (t) => {
    const h = await harness({ driver: { preferLocal: false, password: "made-up nanit password" } });
    t.after(() => h.close());
    await whenAvailable(h);
    const needsLogin = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "needs-login");
    h.sim.expireRefreshTokens();
    h.sim.revokeAccessTokens();
    const call = await needsLogin;
    assert.match(call.type === "linkStateChanged" ? (call.detail ?? "") : "", /two-factor authentication/);
    assert.equal(h.sim.smsSent, 1);
    await h.driver.stop();
    const again = h.sink.next((c) => c.type === "linkStateChanged" && c.state === "needs-login");
    await h.newDriver({ preferLocal: false, password: "made-up nanit password" });
    await again;
    assert.equal(h.sim.smsSent, 1, "no second SMS after a restart");
    assert.ok(!h.logs.text.includes("made-up nanit password"), "the password is never logged");
  },
);

test("secrets (tokens, uc_token, password) never reach the log, even at debug level", async (t) => {
  const h = await harness({ driver: { password: "made-up nanit password" } });
  t.after(() => h.close());
  await whenAvailable(h);
  await h.driver.command(h.id(), { light: { on: true } });
  h.sim.revokeAccessTokens();
  await waitFor(() => h.sim.refreshes >= 1, 3000, { on: [[h.sim, "http"]] });
  assert.ok(
    h.logs.lines.some((l) => l.msg === "nanit >>"),
    "debug logging was on",
  );
  const text = h.logs.text;
  const session = stored(h.store.path);
  for (const secret of [
    session.refreshToken,
    session.accessToken!,
    ...h.sim.usedRefreshTokens,
    "made-up nanit password",
  ])
    assert.ok(!text.includes(secret), "a secret leaked into the log");
  const ucTokens = h.sim.httpRequests.filter((r) => r.path.endsWith("/uc_token"));
  assert.ok(ucTokens.length >= 1);
});
