// Trickled candidates' fragments (WHEP PATCH bodies, application/trickle-ice-sdpfrag, RFC 8840): what a
// browser and RFC 9725's example send is read as it is meant; anything else is refused in words before
// werift sees it, and candidate lines follow RFC 8839's grammar.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FragmentRefused, isCandidate, MAX_FRAGMENT_BYTES, parseFragment } from "../../src/media/webrtc/sdp-frag.ts";

const HOST = "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1";
const TCP = "candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw";

describe("trickle-ice-sdpfrag", () => {
  it("reads RFC 9725's example: credentials, the mid each candidate came under, end-of-candidates", () => {
    const body = [
      ...["a=group:BUNDLE 0 1", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "a=ice-ufrag:EsAw"],
      ...["a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1", `a=${HOST}`, `a=${TCP}`, "a=end-of-candidates", ""],
    ].join("\r\n");
    assert.deepEqual(parseFragment(body), {
      ufrag: "EsAw",
      pwd: "P2uYro0UCOQ4zxjKXaWCBui1",
      candidates: [
        { candidate: HOST, sdpMid: "0" },
        { candidate: TCP, sdpMid: "0" },
      ],
      end: true,
    });
  });

  it("takes ice-pwd as optional, candidates before any mid, an m= line as a new section, LF line ends", () => {
    const body = `a=ice-ufrag:EsAw\na=${HOST}\nm=video 9 UDP/TLS/RTP/SAVPF 96\na=${TCP}\n`;
    assert.deepEqual(parseFragment(body), {
      ufrag: "EsAw",
      candidates: [{ candidate: HOST }, { candidate: TCP }],
      end: false,
    });
    assert.deepEqual(parseFragment(""), { candidates: [], end: false }, "nothing to add is no error");
  });

  it("refuses what is not a fragment, saying which line", () => {
    const cases: [string, RegExp][] = [
      ["hello", /line 1 is not an SDP line/],
      [`a=mid:0\r\na=${HOST}\r\nA=x`, /line 3 is not an SDP line/],
      ["a=candidate:1 1 udp 1 127.0.0.1 9", /line 1 is not an ICE candidate/],
      ["a=ice-ufrag:ab", /malformed ice-ufrag/],
      ["a=ice-pwd:short", /malformed ice-pwd/],
      ["a=ice-ufrag:EsAw\r\na=ice-ufrag:Other", /second, different ice-ufrag/],
      ["a=mid:has space", /malformed mid/],
      ["a=mid:0\u0000", /not an SDP line/],
      [`a=mid:0\r\n${"a=x\r\n".repeat(200)}`, /more than 200 lines/],
      [`a=x:${"y".repeat(MAX_FRAGMENT_BYTES)}`, /larger than/],
    ];
    for (const [body, message] of cases) {
      assert.throws(
        () => parseFragment(body),
        (error: FragmentRefused) =>
          error instanceof FragmentRefused && error.status === 400 && message.test(error.message),
        `${JSON.stringify(body.slice(0, 40))} -> ${message}`,
      );
    }
  });

  it("knows a candidate line (RFC 8839) from a near miss", () => {
    const good = [
      HOST,
      TCP,
      `a=${HOST}`,
      "candidate:1 1 udp 1 127.0.0.1 9 typ host",
      "candidate:842163049 1 udp 1677729535 203.0.113.9 61000 typ srflx raddr 0.0.0.0 rport 0 generation 0",
      "candidate:3 1 UDP 2122252543 2001:db8::1 49788 typ host",
      "candidate:4 1 udp 2113937151 0b1f5c2e-3c1d-4b5e-9a0f-1234567890ab.local 52437 typ host generation 0",
      "candidate:a+b/c 2 udp 4294967295 10.0.0.1 65535 typ relay raddr 198.51.100.1 rport 3478",
    ];
    for (const line of good) assert.ok(isCandidate(line), line);
    const bad = [
      "candidate:1 1 udp 1 127.0.0.1 9 typ",
      "candidate:1 1 udp 1 127.0.0.1 9 host",
      "candidate:1 0 udp 1 127.0.0.1 9 typ host",
      "candidate:1 1 udp 4294967296 127.0.0.1 9 typ host",
      "candidate:1 1 udp 1 127.0.0.1 65536 typ host",
      `candidate:${"f".repeat(33)} 1 udp 1 127.0.0.1 9 typ host`,
      "candidate:1 1 udp 1 127.0.0.1 9 typ host generation",
      "candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=injected",
      "ice-ufrag:EsAw",
      "",
    ];
    for (const line of bad) assert.equal(isCandidate(line), false, line);
  });
});
