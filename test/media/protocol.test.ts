// The pure RTMP/FLV codecs of src/media/protocol against known bytes: AMF0 as the RTMP spec's examples
// encode it, the chunk layer's header compression (formats 0-3, extended timestamps, interleaving,
// set-chunk-size, abort) and its caps, the handshake's digests as a Flash client checks them, FLV tags.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Amf0Error, decodeAmf0, encodeAmf0 } from "../../src/media/protocol/amf0.ts";
import {
  ChunkReader,
  encodeMessage,
  RtmpProtocolError,
  type RtmpMessage,
} from "../../src/media/protocol/rtmp-chunk.ts";
import {
  HANDSHAKE_SIZE,
  serverHandshake,
  signedC1,
  signedSchema,
  verifyServerHandshake,
} from "../../src/media/protocol/rtmp-handshake.ts";
import { flvHeader, flvTag } from "../../src/media/protocol/flv.ts";
import { RtmpServerSession } from "../../src/media/protocol/rtmp-server.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("AMF0", () => {
  it("encodes and decodes known bytes", () => {
    // "connect", 1.0, {app: "live"}, null
    const bytes = hex("02 0007 636f6e6e656374  00 3ff0000000000000  03 0003 617070 02 0004 6c697665 000009  05");
    assert.deepEqual(encodeAmf0("connect", 1, { app: "live" }, null), bytes);
    assert.deepEqual(decodeAmf0(bytes), ["connect", 1, Object.assign(Object.create(null), { app: "live" }), null]);
    // ECMA array (count is a hint) and a boolean.
    assert.deepEqual(decodeAmf0(hex("08 00000063 0001 61 01 01 000009")), [
      Object.assign(Object.create(null), { a: true }),
    ]);
  });

  it("refuses what runs past its end, lies about its size, or nests without end", () => {
    assert.throws(() => decodeAmf0(hex("02 0010 6162")), Amf0Error);
    assert.throws(() => decodeAmf0(hex("0a ffffffff")), /longer than its message/);
    assert.throws(() => decodeAmf0(Buffer.alloc(100, 0x0a)), Amf0Error);
    assert.throws(() => decodeAmf0(Buffer.concat([Buffer.alloc(40, 0x03)])), Amf0Error);
    assert.throws(() => decodeAmf0(hex("11")), /unsupported AMF0 type 0x11/);
  });

  it("never throws anything but Amf0Error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeAmf0(Buffer.from(bytes));
        } catch (error) {
          assert.ok(error instanceof Amf0Error, String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

function reader(limits = { maxMessageBytes: 1 << 20, maxChunkStreams: 8 }): {
  reader: ChunkReader;
  messages: RtmpMessage[];
} {
  const messages: RtmpMessage[] = [];
  return { reader: new ChunkReader(limits, (m) => messages.push(m)), messages };
}

describe("RTMP chunk layer", () => {
  it("reads the spec's compressed headers: format 0, then 2 and 3 with the same delta (RTMP spec 5.3.2.1)", () => {
    const { reader: r, messages } = reader();
    // Audio on csid 3: ts 1000 (format 0), then format 2 delta 20, then format 3 (delta 20 again); 32 bytes each.
    const body = (n: number) => Buffer.alloc(32, n);
    r.push(
      Buffer.concat([hex("03 0003e8 000020 08 01000000"), body(1), hex("83 000014"), body(2), hex("c3"), body(3)]),
    );
    assert.deepEqual(
      messages.map((m) => [m.type, m.streamId, m.timestamp, m.payload[0]]),
      [
        [8, 1, 1000, 1],
        [8, 1, 1020, 2],
        [8, 1, 1040, 3],
      ],
    );
  });

  it("reassembles a message cut at the chunk size and interleaved with another stream, byte by byte", () => {
    const { reader: r, messages } = reader();
    const video = Buffer.alloc(300, 9);
    const wire = Buffer.concat([
      hex("04 000000 00012c 09 01000000"),
      video.subarray(0, 128),
      hex("05 000000 000002 08 01000000"),
      hex("aaaa"),
      hex("c4"),
      video.subarray(128, 256),
      hex("c4"),
      video.subarray(256),
    ]);
    for (const byte of wire) r.push(Buffer.from([byte]));
    assert.deepEqual(
      messages.map((m) => [m.type, m.payload.length]),
      [
        [8, 2],
        [9, 300],
      ],
    );
    assert.deepEqual(messages[1]!.payload, video);
  });

  it("takes extended timestamps, set-chunk-size and abort, and writes what it reads", () => {
    const { reader: r, messages } = reader();
    const message: RtmpMessage = { type: 9, streamId: 1, timestamp: 0x1234_5678, payload: Buffer.alloc(5000, 7) };
    r.push(Buffer.concat([hex("02 000000 000004 01 00000000 00001000"), encodeMessage(6, message, 4096)]));
    assert.equal(messages.length, 2);
    assert.deepEqual(messages[1], message);
    // Abort drops the half-read message on csid 7; the next one there is whole.
    r.push(
      Buffer.concat([
        hex("07 000000 001388 08 01000000"),
        Buffer.alloc(4096),
        hex("02 000000 000004 02 00000000 00000007"),
      ]),
    );
    r.push(Buffer.concat([hex("07 000000 000002 08 01000000"), hex("bbbb")]));
    assert.deepEqual(
      messages.slice(2).map((m) => [m.type, m.payload.length]),
      [
        [2, 4],
        [8, 2],
      ],
    );
  });

  it("refuses a declared length over the cap, one chunk stream too many, and a header inside a message", () => {
    assert.throws(
      () => reader({ maxMessageBytes: 1000, maxChunkStreams: 8 }).reader.push(hex("03 000000 0003e9 14 00000000")),
      RtmpProtocolError,
    );
    const few = reader({ maxMessageBytes: 1000, maxChunkStreams: 2 }).reader;
    few.push(Buffer.concat([hex("03 000000 000001 14 00000000 00"), hex("04 000000 000001 14 00000000 00")]));
    assert.throws(() => few.push(hex("05 000000 000001 14 00000000")), /more than 2 chunk streams/);
    assert.throws(() => reader().reader.push(hex("83 000000")), /starts without/);
    assert.doesNotThrow(() => reader().reader.push(hex("43 000000 000001 14 00")), "format 1 may open a stream");
    const inside = reader().reader;
    inside.push(Buffer.concat([hex("03 000000 0000ff 14 00000000"), Buffer.alloc(128)]));
    assert.throws(() => inside.push(hex("03 000000 0000ff 14 00000000")), /inside a message/);
  });

  it("holds no more than the declared message, whatever a peer sends", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 30 }), (pieces) => {
        const { reader: r } = reader({ maxMessageBytes: 4096, maxChunkStreams: 4 });
        try {
          for (const piece of pieces) r.push(Buffer.from(piece));
        } catch (error) {
          assert.ok(error instanceof RtmpProtocolError, String(error));
        }
        assert.ok(r.buffered <= 4 * 4096 + 18);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("RTMP handshake", () => {
  it("answers a signed C1 with digests a Flash client verifies, and echoes a plain one", () => {
    const c1 = signedC1();
    assert.equal(signedSchema(c1), 1);
    const reply = serverHandshake(c1);
    assert.equal(reply.length, 1 + 2 * HANDSHAKE_SIZE);
    assert.equal(reply[0], 3);
    assert.equal(
      verifyServerHandshake(c1, reply.subarray(1, 1 + HANDSHAKE_SIZE), reply.subarray(1 + HANDSHAKE_SIZE), 1),
      true,
    );
    const plain = Buffer.alloc(HANDSHAKE_SIZE, 1);
    assert.equal(signedSchema(plain), undefined);
    assert.deepEqual(serverHandshake(plain), Buffer.concat([Buffer.from([3]), plain, plain]));
  });
});

describe("RTMP server session", () => {
  it("refuses media before a publish", () => {
    const sent: Buffer[] = [];
    const session = new RtmpServerSession(
      {
        send: (b) => sent.push(b),
        publish: () => true,
        play: () => undefined,
        media: () => undefined,
        unpublish: () => undefined,
      },
      {
        beforePublish: { maxMessageBytes: 65536, maxChunkStreams: 8 },
        afterPublish: { maxMessageBytes: 1 << 20, maxChunkStreams: 8 },
      },
    );
    session.receive(Buffer.concat([Buffer.from([3]), Buffer.alloc(HANDSHAKE_SIZE)]));
    assert.equal(sent.length, 1);
    session.receive(Buffer.alloc(HANDSHAKE_SIZE));
    const command = (streamId: number, ...values: Parameters<typeof encodeAmf0>) =>
      session.receive(encodeMessage(3, { type: 20, streamId, timestamp: 0, payload: encodeAmf0(...values) }, 128));
    command(0, "connect", 1, { app: "live", tcUrl: "rtmp://x/live" });
    command(0, "createStream", 2, null);
    assert.throws(
      () => session.receive(encodeMessage(4, { type: 9, streamId: 1, timestamp: 0, payload: Buffer.alloc(3) }, 128)),
      /before a publish/,
    );
  });

  it("answers connect, createStream and publish as a publisher waits for, then hands over its media", () => {
    const sent: Buffer[] = [];
    const media: RtmpMessage[] = [];
    const asked: string[] = [];
    const session = new RtmpServerSession(
      {
        send: (b) => sent.push(b),
        publish: (app, name) => {
          asked.push(`${app}/${name}`);
          return true;
        },
        play: () => undefined,
        media: (m) => media.push(m),
        unpublish: () => undefined,
      },
      {
        beforePublish: { maxMessageBytes: 65536, maxChunkStreams: 8 },
        afterPublish: { maxMessageBytes: 1 << 20, maxChunkStreams: 8 },
      },
    );
    session.receive(Buffer.concat([Buffer.from([3]), Buffer.alloc(HANDSHAKE_SIZE), Buffer.alloc(HANDSHAKE_SIZE)]));
    const command = (streamId: number, ...values: Parameters<typeof encodeAmf0>) =>
      session.receive(encodeMessage(3, { type: 20, streamId, timestamp: 0, payload: encodeAmf0(...values) }, 128));
    command(0, "connect", 1, { app: "live", tcUrl: "rtmp://x/live" });
    command(0, "createStream", 2, null);
    command(1, "publish", 3, null, "key?token=1", "live");
    assert.deepEqual(asked, ["live/key"]);
    assert.equal(session.publishing, true);
    const replies = reader({ maxMessageBytes: 1 << 20, maxChunkStreams: 8 });
    replies.reader.push(Buffer.concat(sent.slice(1)));
    const described = replies.messages.map((m) =>
      m.type === 20 ? decodeAmf0(m.payload).slice(0, 2).join(" ") : `control ${m.type}`,
    );
    assert.deepEqual(described, ["control 5", "control 6", "control 1", "_result 1", "_result 2", "onStatus 0"]);
    assert.equal(
      (decodeAmf0(replies.messages[5]!.payload)[3] as Record<string, string>).code,
      "NetStream.Publish.Start",
    );
    session.receive(encodeMessage(4, { type: 9, streamId: 1, timestamp: 40, payload: Buffer.alloc(200_000, 1) }, 128));
    assert.deepEqual(
      media.map((m) => [m.type, m.timestamp, m.payload.length]),
      [[9, 40, 200_000]],
      "bigger messages once published",
    );
  });
});

describe("FLV", () => {
  it("writes the header and a tag with its previous-tag size", () => {
    assert.deepEqual(flvHeader(true, true), hex("464c5601 05 00000009 00000000"));
    assert.deepEqual(flvTag(9, 0x01020304, hex("1701")), hex("09 000002 020304 01 000000 1701 0000000d"));
  });
});
