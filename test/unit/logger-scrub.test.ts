// The log scrubber: registered secrets go in their encoded forms too (URL, JSON, base64 and base64url,
// also inside a longer base64 text such as a Basic authorization header), at any depth, through
// cycles and with bounded work; X-Amz-* query values go whether registered or not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, forgetSecret, registerSecret, scrub } from "../../src/core/logger.ts";
import { LogCapture } from "../helpers/log-capture.ts";

function logged(write: (log: ReturnType<typeof createLogger>) => void): string {
  const capture = new LogCapture();
  write(createLogger("debug", { json: true, destination: capture }));
  return capture.text;
}

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");
const b64url = (text: string): string => Buffer.from(text, "utf8").toString("base64url");

test("a registered secret is scrubbed URL-encoded, JSON-escaped, in base64 and base64url", () => {
  const secret = 'p@ss w/rd+"ü"!(x)~*';
  registerSecret(secret);
  const forms = [
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    new URLSearchParams({ password: secret }).toString().slice("password=".length),
    JSON.stringify(secret).slice(1, -1),
    b64(secret),
    b64url(secret),
  ];
  for (const form of forms) assert.notEqual(form, secret);
  const text = logged((log) => {
    for (const form of forms) log.info({ body: `grant_type=password&password=${form}&x=1` }, `sent ${form}`);
  });
  for (const form of forms) assert.ok(!text.includes(form), `${form} leaked: ${text}`);
  assert.equal(text.match(/\[redacted\]/g)?.length, forms.length * 2);
  assert.match(text, /grant_type=password&password=\[redacted\]&x=1/);
});

test("inside a longer base64 text the secret's characters go at each of the three alignments", () => {
  const secret = "correct-horse-battery-staple";
  registerSecret(secret);
  for (const user of ["ann@example.com", "anna@example.com", "annab@example.com"]) {
    const header = `Basic ${b64(`${user}:${secret}`)}`;
    const text = scrub(header);
    assert.match(text, /\[redacted\]/, `alignment of ${user.length + 1} bytes`);
    // What is left of the base64 text decodes to the user name and at most a character of the secret.
    const left = text.slice("Basic ".length).split("[redacted]").join("");
    assert.ok(left.length <= Math.ceil(((user.length + 1) * 8) / 6) + 4, `${text}`);
    assert.ok(!Buffer.from(left, "base64").toString("latin1").includes(secret.slice(0, 4)), text);
  }
});

test("short secrets: encoded forms under 8 characters are not scrubbed from unrelated text", () => {
  registerSecret("q9Zk");
  // base64 of q9Zk is cTlaaw== (8 characters): scrubbed whole, while the 6-character run alone stays.
  assert.equal(scrub("id cTlaaw and q9Zk"), "id cTlaaw and [redacted]");
  assert.equal(scrub("cTlaaw=="), "[redacted]");
  registerSecret("abc"); // under 4 characters: not a secret at all
  assert.equal(scrub("abc YWJj"), "abc YWJj");
});

test("forgetSecret drops the encoded forms with the secret", () => {
  const secret = "rotated-out-token-0123456789";
  registerSecret(secret);
  assert.equal(scrub(b64url(secret)), "[redacted]");
  forgetSecret(secret);
  assert.equal(scrub(`${secret} ${b64url(secret)}`), `${secret} ${b64url(secret)}`);
});

test("secrets are scrubbed at any depth; secret-named keys are redacted at any depth", () => {
  const secret = "deeply-nested-refresh-token-42";
  registerSecret(secret);
  let deep: Record<string, unknown> = { note: `token ${secret}`, password: "never-registered-password" };
  for (let i = 0; i < 40; i++) deep = { [`level${i}`]: deep, list: [[[{ value: b64(secret) }]]] };
  const text = logged((log) => log.info({ deep }, "nested"));
  assert.ok(!text.includes(secret) && !text.includes(b64(secret)), text.slice(0, 400));
  assert.ok(!text.includes("never-registered-password"));
  assert.match(text, /"note":"token \[redacted\]"/, "the leaf is still written, scrubbed");
  assert.match(text, /"password":"\[redacted\]"/);
});

test("cycles are cut, not followed; a value shared by two branches is written twice", () => {
  const secret = "cyclic-session-secret-77";
  registerSecret(secret);
  const shared = { token: secret, text: `x ${secret}` };
  const node: Record<string, unknown> = { a: shared, b: shared, name: secret };
  node.self = node;
  node.child = { parent: node };
  const text = logged((log) => log.info({ node }, "cycle"));
  assert.ok(!text.includes(secret));
  const line = JSON.parse(text) as { node: Record<string, unknown> };
  assert.equal(line.node.self, "[circular]");
  assert.deepEqual(line.node.child, { parent: "[circular]" });
  assert.deepEqual(line.node.a, { token: "[redacted]", text: "x [redacted]" });
  assert.deepEqual(line.node.b, line.node.a);
});

test("work is bounded: a huge or deeply nested value is truncated, never written unscrubbed", () => {
  const secret = "bulk-secret-value-123456";
  registerSecret(secret);
  const big = Array.from({ length: 100_000 }, (_, i) => ({ i, s: secret }));
  let chain: Record<string, unknown> = { s: secret };
  for (let i = 0; i < 5000; i++) chain = { c: chain };
  const text = logged((log) => {
    log.info({ big }, "big");
    log.info({ chain }, "chain");
  });
  assert.ok(!text.includes(secret));
  assert.match(text, /\[truncated: too many values\]/);
  assert.match(text, /\[truncated: nested too deep\]/);
});

test("errors keep their own fields and cause, scrubbed", () => {
  const secret = "error-carried-secret-999";
  registerSecret(secret);
  const cause = new Error(`upstream said ${b64(secret)}`);
  const error = Object.assign(new Error(`login failed for ${secret}`, { cause }), { code: "E_AUTH", body: secret });
  const text = logged((log) => log.error({ err: error }, "failed"));
  assert.ok(!text.includes(secret) && !text.includes(b64(secret)), text);
  const line = JSON.parse(text) as { err: { message: string; code: string; body: string } };
  assert.match(line.err.message, /^login failed for \[redacted\]/);
  assert.equal(line.err.code, "E_AUTH");
  assert.equal(line.err.body, "[redacted]");
  assert.match(JSON.stringify(line.err), /upstream said \[redacted\]/);
});

test("X-Amz-* query values are redacted in any string, plain or URL-encoded, registered or not", () => {
  const url =
    "https://bucket.s3.us-east-1.amazonaws.com/clip.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
    "&X-Amz-Credential=ASIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request" +
    "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2Bsession" +
    "&X-Amz-SignedHeaders=host" +
    "&X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0#t=1";
  const nested = `https://proxy.example/fetch?u=${encodeURIComponent(url)}&after=1`;
  const text = logged((log) => {
    log.info({ url }, `fetching ${url}`);
    log.info({ target: new URL(url) }, nested);
  });
  for (const value of ["ASIAEXAMPLE", "IQoJb3JpZ2luX2VjEXAMPLE", "0f1e2d3c4b5a6978", "20260101T000000Z"]) {
    assert.ok(!text.includes(value), `${value} leaked`);
  }
  assert.match(text, /X-Amz-Signature=\[redacted\]#t=1/);
  assert.match(text, /X-Amz-Credential=\[redacted\]&X-Amz-Date=\[redacted\]/);
  assert.match(text, /X-Amz-Signature%3D\[redacted\]&after=1/, "encoded inside another URL: up to its own end");
  const href = /"target":"https:\/\/bucket\.s3\.us-east-1\.amazonaws\.com\/clip\.mp4\?X-Amz-Algorithm=\[redacted\]/;
  assert.match(text, href, "a URL object is written as its href");
  assert.equal(scrub("x-amz-date header and X-Amz-Id"), "x-amz-date header and X-Amz-Id", "names without a value stay");
});
