// A failed Nanit log-in forgets the password and codes it registered for scrubbing (the web page's form
// must not let anyone grow the secret set), after scrubbing its own error; a successful one keeps them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { isSecret, registerSecret } from "../../src/core/logger.ts";
import { loginWithMfa } from "../../src/drivers/nanit/login.ts";
import { NanitAuthError } from "../../src/drivers/nanit/rest.ts";

/**
 * POST /login: the password "right-password" needs code 424242; anything else is refused, echoing the password
 * back.
 */
async function stubApi(t: { after(fn: () => unknown): void }): Promise<string> {
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString("utf8")));
    req.on("end", () => {
      const body = JSON.parse(text) as { password: string; mfa_code?: string };
      const [status, answer] =
        body.password !== "right-password"
          ? [401, { error: `bad password ${body.password}` }]
          : body.mfa_code === undefined
            ? [482, { mfa_token: "stub-mfa-token-1", phone_suffix: "42" }]
            : body.mfa_code === "424242"
              ? [201, { access_token: "stub-access-token", refresh_token: "stub-refresh-token" }]
              : [401, { error: "wrong code" }];
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("a refused log-in forgets its password after scrubbing it from its own error", async (t) => {
  const api = await stubApi(t);
  const password = "made-up-wrong-password-1";
  const error = await loginWithMfa(
    { email: "a@example.invalid", password, endpoints: { api } },
    async () => "000000",
  ).catch((e: unknown) => e);
  assert.ok(error instanceof NanitAuthError);
  assert.doesNotMatch(error.message, /made-up-wrong-password-1/, "the echoed password is scrubbed");
  assert.match(error.message, /\[redacted\]/);
  assert.equal(isSecret(password), false, "forgotten: made-up passwords must not pile up");
});

test("refused codes are forgotten too; a password known before the attempt stays a secret", async (t) => {
  const api = await stubApi(t);
  registerSecret("right-password");
  const codes = ["111111", "222222", "333333"];
  await assert.rejects(
    loginWithMfa(
      { email: "a@example.invalid", password: "right-password", endpoints: { api } },
      async ({ attempt }) => codes[attempt - 1]!,
    ),
    NanitAuthError,
  );
  for (const code of codes) assert.equal(isSecret(code), false, code);
  assert.equal(isSecret("stub-mfa-token-1"), false);
  assert.equal(isSecret("right-password"), true, "registered by someone else before: not ours to forget");
});

test("a successful log-in keeps its password, code and tokens scrubbed", async (t) => {
  const api = await stubApi(t);
  const saved = new Map<string, unknown>();
  const store = { get: (k: string) => saved.get(k), set: (k: string, v: unknown) => void saved.set(k, v) };
  const result = await loginWithMfa(
    { email: "b@example.invalid", password: "right-password", endpoints: { api }, store },
    async () => "424242",
  );
  assert.equal(result.mfa, true);
  assert.ok(saved.size > 0, "the session was stored");
  for (const value of ["right-password", "424242", "stub-mfa-token-1", "stub-access-token", "stub-refresh-token"])
    assert.equal(isSecret(value), true, value);
});
