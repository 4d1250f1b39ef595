// Login, token refresh, session expiry and the request MAC, against the simulator (which runs real
// SRP against amazon-cognito-identity-js and checks SECRET_HASH and every MAC).
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./xsense-harness.ts";
import { waitFor } from "../helpers/wait.ts";
import { once } from "node:events";
import { readFileSync, statSync } from "node:fs";

test("logs in with SRP, lists the detectors, never sends a bad MAC and never logs a secret", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  assert.equal(h.sink.link, "connected");
  const logins = h.sim.calls.filter((c) => c.bizCode === "101001");
  assert.equal(logins.length, 1);
  assert.equal(logins[0]!.body.mac, "abcdefg");
  assert.equal(logins[0]!.authorization, undefined);
  const authed = h.sim.calls.filter((c) => c.bizCode !== "101001");
  assert.ok(authed.length >= 4, "101003, 102007, 103007 x2");
  assert.ok(
    authed.every((c) => c.ok),
    JSON.stringify(authed.filter((c) => !c.ok)),
  );
  assert.ok(
    authed.every((c) => c.authorization && !c.authorization.startsWith("Bearer")),
    "raw JWT",
  );
  assert.equal(h.driver.userId, h.sim.sub, "the Cognito username is the sub, not the e-mail");
  // Detectors and sensors, no station; the unknown model appears with a request to report it.
  const found = h.sink
    .of("deviceFound")
    .map((c) => c.info.model)
    .sort();
  assert.deepEqual(found, [
    "SC07-MR",
    "STH51",
    "XC01-M",
    "XC04-WX",
    "XH02-M",
    "XS01-M",
    "XS01-M",
    "XS01-WX",
    "XS99-ZZ",
  ]);
  assert.equal(h.logs.matching(/unknown model XS99-ZZ.*please report/).length, 1);
  const combo = h.sink.infos.get(h.id("00000003"))!;
  assert.equal(combo.kind, "combo-alarm");
  assert.deepEqual(combo.capabilities.coAlarm, { selfTest: true, mute: true, ppm: true, peak: true });
  for (const secret of [h.sim.password, ...Object.values(h.sim.clientSecrets)])
    assert.ok(!h.logs.text.includes(secret), "no secret in the log");
  for (const call of authed) assert.ok(!h.logs.text.includes(call.authorization!), "no token in the log");
});

test("a wrong password is reported as needs-login without crashing", async (t) => {
  const h = await harness({ driver: { password: "wrong password" } });
  t.after(() => h.close());
  assert.equal(h.sink.link, "needs-login");
  assert.equal(h.sink.of("deviceFound").length, 0);
  assert.ok(!h.logs.text.includes("wrong password"));
});

test("passwords are trimmed and truncated to 50 characters as the app does", async (t) => {
  const long = `${"p".repeat(50)}-ignored-tail`;
  const h = await harness({ sim: { password: long }, driver: { password: ` ${long} ` } });
  t.after(() => h.close());
  assert.equal(h.sink.link, "connected");
});

test("iOS client type uses its own Cognito app client and secret", async (t) => {
  const h = await harness({ driver: { clientType: "1", appVersion: "v1.22.0_20240914.1" } });
  t.after(() => h.close());
  assert.equal(h.sink.link, "connected");
  const info = h.sim.calls.find((c) => c.bizCode === "102007")!;
  assert.equal(info.body.clientType, "1");
  assert.equal(info.body.appCode, "1220");
});

test("the access token is refreshed before it expires (HMAC SECRET_HASH)", async (t) => {
  const h = await harness({
    sim: { accessTokenTtlS: 2 },
    driver: { tokenRefreshMarginMs: 60_000, pollIntervalMs: 100 },
    start: false,
  });
  t.after(() => h.close());
  // Listen before starting: under load the refresh can follow the login at once.
  const refreshed = once(h.sim, "refresh");
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  const first = h.sim.calls.find((c) => c.bizCode === "102007")!.authorization!;
  const [refresh] = (await refreshed) as [{ ok: boolean }];
  assert.equal(refresh.ok, true);
  // The next /app call (the poll) carries the new token and succeeds; no full login was needed.
  const next = await waitFor(() => h.sim.calls.find((c) => c.bizCode === "102007" && c.authorization !== first), 3000, {
    on: [[h.sim, "app"]],
  });
  assert.equal(next.ok, true);
  // "expired" is fine (the token lives 2 s and a loaded machine may take that long); "displaced" is not.
  assert.ok(["valid", "expired"].includes(h.sim.tokenState(first)), "a refresh does not displace the session");
  assert.equal(h.sim.calls.filter((c) => c.bizCode === "101001").length, 1, "no second full login");
});

test("a refused refresh falls back to a full SRP login", async (t) => {
  const h = await harness({ sim: { accessTokenTtlS: 2, refreshSecretHash: "raw" }, start: false });
  t.after(() => h.close());
  const refreshed = once(h.sim, "refresh");
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  const logins: unknown[] = [];
  h.sim.on("login", (l) => logins.push(l));
  const [refresh] = (await refreshed) as [{ ok: boolean }];
  assert.equal(refresh.ok, false);
  await waitFor(() => logins.length === 1, 3000, { on: [[h.sim, "login"]] });
  assert.equal(h.logs.matching(/token refresh refused/).length, 1);
});

test("the raw-secret refresh form is available for clouds that want it", async (t) => {
  const h = await harness({
    sim: { accessTokenTtlS: 2, refreshSecretHash: "raw" },
    driver: { refreshSecretHash: "raw" },
    start: false,
  });
  t.after(() => h.close());
  const refreshed = once(h.sim, "refresh");
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  const [refresh] = (await refreshed) as [{ ok: boolean }];
  assert.equal(refresh.ok, true);
});

for (const [what, act, code] of [
  ["expired (10000008)", (h: Awaited<ReturnType<typeof harness>>) => h.sim.expireSessions("10000008"), "10000008"],
  [
    "displaced by another login (10000020)",
    (h: Awaited<ReturnType<typeof harness>>) => h.sim.loginElsewhere(),
    "10000020",
  ],
] as const) {
  test(`a session ${what} is refreshed and the call retried`, async (t) => {
    const h = await harness({ driver: { pollIntervalMs: 50 } });
    t.after(() => h.close());
    act(h);
    const [refresh] = (await once(h.sim, "refresh")) as [{ ok: boolean }];
    assert.equal(refresh.ok, true);
    const failed = h.sim.calls.filter((c) => c.errCode === code);
    assert.ok(failed.length >= 1, `the cloud answered ${code}`);
    await waitFor(() => h.sim.calls.at(-1)?.ok && h.sim.calls.at(-1)!.bizCode !== "101001", 3000, {
      on: [[h.sim, "app"]],
    });
    assert.equal(h.logs.matching(/session expired or replaced/).length >= 1, true);
  });
}

test("a displaced session whose refreshed token is refused too leads to a fresh login", async (t) => {
  const h = await harness({ sim: { refreshKeepsDisplacement: true }, driver: { pollIntervalMs: 50 } });
  t.after(() => h.close());
  const refreshed = once(h.sim, "refresh");
  const login = once(h.sim, "login");
  h.sim.loginElsewhere();
  await refreshed;
  await login;
  await waitFor(() => h.sim.calls.at(-1)?.ok && h.sim.calls.at(-1)!.bizCode !== "101001", 3000, {
    on: [[h.sim, "app"]],
  });
  assert.ok(h.logs.has(/refreshed session was refused too/));
});

test("a session error with a refresh the cloud refuses leads to a fresh login", async (t) => {
  const h = await harness({ sim: { refreshSecretHash: "none" }, driver: { pollIntervalMs: 50 } });
  t.after(() => h.close());
  h.sim.expireSessions("10000008");
  const [refresh] = (await once(h.sim, "refresh")) as [{ ok: boolean }];
  assert.equal(refresh.ok, false);
  await once(h.sim, "login");
});

test("HTTP 500 'not authorised exception' also means the session is renewed", async (t) => {
  const h = await harness({ driver: { pollIntervalMs: 50 } });
  t.after(() => h.close());
  h.sim.failNextApp("http500");
  const [refresh] = (await once(h.sim, "refresh")) as [{ ok: boolean }];
  assert.equal(refresh.ok, true);
});

test(
  "a restart resumes with the stored refresh token: " + "no SRP login, the file is 0600 and holds no password",
  async (t) => {
    const h = await harness();
    t.after(() => h.close());
    const logins: unknown[] = [];
    h.sim.on("login", (l) => void logins.push(l));
    const stored = JSON.parse(readFileSync(h.store.path, "utf8")) as {
      xsenseSession?: { refreshToken: string; sub: string };
    };
    assert.ok(stored.xsenseSession?.refreshToken, "the refresh token is kept");
    assert.equal(statSync(h.store.path).mode & 0o777, 0o600);
    assert.ok(!readFileSync(h.store.path, "utf8").includes(h.sim.password));
    await h.driver.stop();
    const refreshed = once(h.sim, "refresh");
    const again = await h.newDriver();
    const [refresh] = (await refreshed) as [{ ok: boolean }];
    assert.equal(refresh.ok, true);
    assert.equal(logins.length, 0, "no second SRP login");
    assert.ok(again.userId, "the resumed session works");
    assert.ok(h.logs.has(/session resumed with the stored refresh token/));
  },
);

test("a stored refresh token the cloud refuses leads to a full login and is replaced", async (t) => {
  const h = await harness({ sim: { refreshSecretHash: "none" } });
  t.after(() => h.close());
  const before = (JSON.parse(readFileSync(h.store.path, "utf8")) as { xsenseSession: { refreshToken: string } })
    .xsenseSession.refreshToken;
  await h.driver.stop();
  const login = once(h.sim, "login");
  await h.newDriver();
  await login;
  const after = (JSON.parse(readFileSync(h.store.path, "utf8")) as { xsenseSession: { refreshToken: string } })
    .xsenseSession.refreshToken;
  assert.notEqual(after, before);
  assert.ok(h.logs.has(/stored session was refused/));
});
