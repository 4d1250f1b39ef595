// Our RTMP client (player side), driven byte by byte by a scripted server: what it sends (connect with
// the app and tcUrl but never the stream name, createStream, play with the name), what it accepts, and
// the bounds that make a hostile or broken server a clear error rather than unbounded memory.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeAmf0, encodeAmf0, type Amf0Value } from "../../src/media/protocol/amf0.ts";
import {
  ChunkReader,
  encodeMessage,
  MSG_ACK,
  MSG_COMMAND_AMF0,
  MSG_VIDEO,
  MSG_WINDOW_ACK_SIZE,
  type RtmpMessage,
} from "../../src/media/protocol/rtmp-chunk.ts";
import { HANDSHAKE_SIZE } from "../../src/media/protocol/rtmp-handshake.ts";
import { playTarget, RtmpClientSession, RtmpProtocolError } from "../../src/media/protocol/rtmp-client.ts";

const URL_WITH_TOKEN = "rtmps://media.example.invalid/app/baby1.eyJ0b2tlbi1pcy1zZWNyZXQ";

/** A client plus what it sent (decoded) and what it handed on. */
function rig() {
  const sent: RtmpMessage[] = [];
  const raw: Buffer[] = [];
  let handshakeLeft = 1 + HANDSHAKE_SIZE + HANDSHAKE_SIZE;
  const reader = new ChunkReader({ maxMessageBytes: 1 << 20, maxChunkStreams: 16 }, (m) => sent.push(m));
  const media: RtmpMessage[] = [];
  let playing = 0;
  const target = playTarget(URL_WITH_TOKEN);
  const client = new RtmpClientSession(
    {
      send: (data) => {
        raw.push(data);
        // C0+C1, then C2: skip the handshake, then decode the chunks.
        const skip = Math.min(handshakeLeft, data.length);
        handshakeLeft -= skip;
        if (skip < data.length) reader.push(data.subarray(skip));
      },
      playing: () => playing++,
      media: (m) => media.push(m),
    },
    target,
  );
  const serverSends = (message: RtmpMessage, csid = 3): void => client.receive(encodeMessage(csid, message, 128));
  const command = (streamId: number, ...values: Amf0Value[]): void =>
    serverSends({ type: MSG_COMMAND_AMF0, streamId, timestamp: 0, payload: encodeAmf0(...values) });
  const commandsSent = () => sent.filter((m) => m.type === MSG_COMMAND_AMF0).map((m) => decodeAmf0(m.payload));
  return {
    client,
    sent,
    raw,
    media,
    get playing() {
      return playing;
    },
    serverSends,
    command,
    commandsSent,
    handshake(): void {
      client.start();
      client.receive(
        Buffer.concat([Buffer.from([3]), Buffer.alloc(HANDSHAKE_SIZE, 1), Buffer.alloc(HANDSHAKE_SIZE, 2)]),
      );
    },
    /** The server's answers up to an accepted play. */
    untilPlaying(): void {
      this.handshake();
      command(0, "_result", 1, { fmsVer: "FMS/3,0,1,123" }, { code: "NetConnection.Connect.Success" });
      command(0, "_result", 2, null, 1);
      command(1, "onStatus", 0, null, { level: "status", code: "NetStream.Play.Start" });
    },
  };
}

describe("RTMP client session", () => {
  it("parses a play URL: default ports, app, stream name; the tcUrl never holds the stream name", () => {
    const t = playTarget(URL_WITH_TOKEN);
    assert.deepEqual(
      { ...t },
      {
        host: "media.example.invalid",
        port: 443,
        tls: true,
        app: "app",
        stream: "baby1.eyJ0b2tlbi1pcy1zZWNyZXQ",
        tcUrl: "rtmps://media.example.invalid/app",
      },
    );
    assert.equal(playTarget("rtmp://127.0.0.1/live/key").port, 1935);
    assert.equal(playTarget("rtmp://[::1]:19350/live/key?x=1").host, "::1");
    assert.equal(playTarget("rtmp://[::1]:19350/live/key?x=1").stream, "key?x=1");
    assert.throws(() => playTarget("https://example.invalid/a/b"), /https:, not rtmp: or rtmps:/);
    assert.throws(() => playTarget("rtmp://example.invalid/app"), /no application or no stream name/);
    assert.throws(() => playTarget("not a url"), /not a URL/);
  });

  it("handshake, connect (app + tcUrl), createStream, play (the name); media handed on once playing", () => {
    const r = rig();
    r.handshake();
    assert.equal(r.raw[0]!.length, 1 + HANDSHAKE_SIZE, "C0 + C1");
    assert.equal(r.raw[0]![0], 3);
    assert.deepEqual(r.raw[1], Buffer.alloc(HANDSHAKE_SIZE, 1), "C2 echoes S1");
    const [connect] = r.commandsSent();
    assert.equal(connect![0], "connect");
    const options = connect![2] as Record<string, Amf0Value>;
    assert.equal(options.app, "app");
    assert.equal(options.tcUrl, "rtmps://media.example.invalid/app");
    assert.equal(Buffer.concat(r.raw).includes("eyJ0b2tlbi1pcy1zZWNyZXQ"), false, "no token before the play");
    r.command(0, "_result", 1, {}, { code: "NetConnection.Connect.Success" });
    assert.equal(r.commandsSent()[1]![0], "createStream");
    r.command(0, "_result", 2, null, 1);
    const play = r.commandsSent()[2]!;
    assert.deepEqual([play[0], play[3]], ["play", "baby1.eyJ0b2tlbi1pcy1zZWNyZXQ"]);
    assert.equal(r.sent.at(-1)?.type, 4, "then SetBufferLength");
    assert.equal(r.playing, 0);
    r.command(1, "onStatus", 0, null, { level: "status", code: "NetStream.Play.Reset" });
    r.command(1, "onStatus", 0, null, { level: "status", code: "NetStream.Play.Start" });
    assert.equal(r.playing, 1, "told once");
    r.serverSends({ type: MSG_VIDEO, streamId: 1, timestamp: 40, payload: Buffer.alloc(100_000, 0x17) }, 6);
    assert.equal(r.media.length, 1);
    assert.equal(r.media[0]!.payload.length, 100_000, "a keyframe larger than the pre-play bound, after the play");
  });

  it("refusals are errors in the server's words: connect _error, play Failed", () => {
    const a = rig();
    a.handshake();
    assert.throws(
      () =>
        a.command(0, "_error", 1, null, { level: "error", code: "NetConnection.Connect.Rejected", description: "no" }),
      (e: Error) =>
        e instanceof RtmpProtocolError && /refused connect \(NetConnection.Connect.Rejected: no\)/.test(e.message),
    );
    const b = rig();
    b.handshake();
    b.command(0, "_result", 1, {}, {});
    b.command(0, "_result", 2, null, 1);
    assert.throws(
      () =>
        b.command(1, "onStatus", 0, null, {
          level: "error",
          code: "NetStream.Play.Failed",
          description: "unauthorized",
        }),
      /refused the play \(NetStream.Play.Failed: unauthorized\)/,
    );
  });

  it("bounds: a large message before the play, media before a stream, endless commands, a wrong version", () => {
    const big = rig();
    big.handshake();
    assert.throws(
      () => big.serverSends({ type: MSG_COMMAND_AMF0, streamId: 0, timestamp: 0, payload: Buffer.alloc(70_000) }),
      /a message of 70000 bytes \(at most 65536 allowed here\)/,
    );
    const early = rig();
    early.handshake();
    assert.throws(
      () => early.serverSends({ type: MSG_VIDEO, streamId: 1, timestamp: 0, payload: Buffer.alloc(10) }, 6),
      /media message \(type 9\) before play/,
    );
    const chatty = rig();
    chatty.handshake();
    assert.throws(() => {
      for (let i = 0; i < 100; i++) chatty.command(0, "onBWDone", 0, null);
    }, /more than 64 commands before the play started/);
    const version = rig();
    version.client.start();
    assert.throws(() => version.client.receive(Buffer.from([6])), /RTMP version 6/);
  });

  it("acknowledges the server's window (a server may stop sending until it does)", () => {
    const r = rig();
    r.untilPlaying();
    const window = Buffer.alloc(4);
    window.writeUInt32BE(50_000, 0);
    r.serverSends({ type: MSG_WINDOW_ACK_SIZE, streamId: 0, timestamp: 0, payload: window }, 2);
    assert.equal(r.sent.filter((m) => m.type === MSG_ACK).length, 0);
    r.serverSends({ type: MSG_VIDEO, streamId: 1, timestamp: 0, payload: Buffer.alloc(60_000) }, 6);
    const acks = r.sent.filter((m) => m.type === MSG_ACK);
    assert.equal(acks.length, 1);
    assert.ok(acks[0]!.payload.readUInt32BE(0) > 60_000, "the bytes received so far");
  });
});
