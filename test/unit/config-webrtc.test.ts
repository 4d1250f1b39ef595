// media.webrtc: its defaults (no STUN, no TURN, every interface), and what a bad value says: the key,
// in words, and never a TURN credential.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "../../src/core/config.ts";

function problemsOf(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

test("media.webrtc defaults: on, every interface, no STUN or TURN, 4 views, 15 s to connect", () => {
  const { webrtc } = validateConfig({}).media;
  assert.deepEqual(webrtc, { enabled: true, interfaces: [], maxSessions: 4, connectTimeoutMs: 15_000 });
});

test("media.webrtc takes interface names, addresses, a STUN and a TURN server", () => {
  const { webrtc } = validateConfig({
    media: {
      webrtc: {
        interfaces: ["eth0", "192.168.1.20", "fd00::2"],
        stun: "stun:stun.example.net:3478",
        turn: { url: "turn:turn.example.net:3478?transport=tcp", username: "bridge", credential: "pw" },
        maxSessions: 8,
      },
    },
  }).media;
  assert.deepEqual(webrtc.interfaces, ["eth0", "192.168.1.20", "fd00::2"]);
  assert.equal(webrtc.turn?.username, "bridge");
});

test("bad media.webrtc values name their key; a TURN credential is never shown", () => {
  const problems = problemsOf({
    media: {
      webrtc: {
        interfaces: ["eth0; rm -rf"],
        stun: "http://stun.example.net",
        turn: { url: "turn:x", username: "u", credential: 123456789 },
        maxSessions: 0,
        connectTimeoutMs: 10,
      },
    },
  }).join("\n");
  assert.match(problems, /^media\.webrtc\.interfaces\[0\]: must be an interface name/m);
  assert.match(problems, /^media\.webrtc\.stun: must look like stun:host:port/m);
  assert.match(problems, /^media\.webrtc\.turn\.credential: /m);
  assert.match(problems, /^media\.webrtc\.maxSessions: /m);
  assert.match(problems, /^media\.webrtc\.connectTimeoutMs: /m);
  assert.doesNotMatch(problems, /123456789/, "the credential is hidden");
});
