// One RTMP connection, server side, as a publisher sees it: handshake, connect, createStream,
// publish, then audio/video/data messages. No sockets: bytes go in through receive(), replies come
// out through `send`, and the owner decides (publish) whether a stream name is accepted. Playing is
// not served (our own readers take the stream in-process). Before the publish is accepted the chunk
// layer runs with the tight `beforePublish` limits; after it, with `afterPublish`.
import { decodeAmf0, encodeAmf0, type Amf0Value } from "./amf0.ts";
import {
  ChunkReader,
  encodeMessage,
  MSG_AUDIO,
  MSG_COMMAND_AMF0,
  MSG_COMMAND_AMF3,
  MSG_DATA_AMF0,
  MSG_SET_CHUNK_SIZE,
  MSG_SET_PEER_BANDWIDTH,
  MSG_VIDEO,
  MSG_WINDOW_ACK_SIZE,
  RtmpProtocolError,
  type ChunkLimits,
  type RtmpMessage,
} from "./rtmp-chunk.ts";
import { HANDSHAKE_SIZE, RTMP_VERSION, serverHandshake } from "./rtmp-handshake.ts";

export { RtmpProtocolError, type ChunkLimits } from "./rtmp-chunk.ts";

export interface RtmpServerHandlers {
  /** Bytes for the peer. */
  send(data: Buffer): void;
  /** The peer asks to publish `name` (query string removed) in `app`: true accepts. */
  publish(app: string, name: string): boolean;
  /** The peer asks to play: always refused; the owner closes the connection. */
  play(app: string, name: string): void;
  /** An audio (8), video (9) or AMF0 data (18) message of the accepted publish. */
  media(message: RtmpMessage): void;
  /** The peer ended its publish (deleteStream, FCUnpublish, closeStream). */
  unpublish(): void;
}

export interface RtmpServerLimits {
  beforePublish: ChunkLimits;
  afterPublish: ChunkLimits;
}

const OUT_CHUNK_SIZE = 4096;
const WINDOW = 5_000_000;
const CSID_CONTROL = 2;
const CSID_COMMAND = 3;
/** createStream answers per connection (a publisher needs one). */
const MAX_STREAMS = 8;

type Phase = "c0c1" | "c2" | "chunks";

export class RtmpServerSession {
  readonly #handlers: RtmpServerHandlers;
  readonly #limits: RtmpServerLimits;
  readonly #reader: ChunkReader;
  #phase: Phase = "c0c1";
  #handshake = Buffer.alloc(0);
  #app: string | undefined;
  #streams = 0;
  #publishing = false;
  #closed = false;

  constructor(handlers: RtmpServerHandlers, limits: RtmpServerLimits) {
    this.#handlers = handlers;
    this.#limits = limits;
    this.#reader = new ChunkReader(limits.beforePublish, (message) => this.#message(message));
  }

  get publishing(): boolean {
    return this.#publishing;
  }

  /** Bytes held for incomplete messages (bench, tests). */
  get buffered(): number {
    return this.#handshake.length + this.#reader.buffered;
  }

  /** Stop reacting: later bytes are ignored. */
  close(): void {
    this.#closed = true;
    this.#reader.stop();
  }

  /** Throws RtmpProtocolError (or Amf0Error) on anything a well-behaved publisher does not send. */
  receive(data: Buffer): void {
    if (this.#closed) return;
    if (this.#phase === "chunks") {
      this.#reader.push(data);
      return;
    }
    const wanted = this.#phase === "c0c1" ? 1 + HANDSHAKE_SIZE : HANDSHAKE_SIZE;
    const take = Math.min(wanted - this.#handshake.length, data.length);
    this.#handshake = Buffer.concat([this.#handshake, data.subarray(0, take)]);
    if (this.#handshake[0] !== undefined && this.#phase === "c0c1" && this.#handshake[0] !== RTMP_VERSION) {
      throw new RtmpProtocolError(`RTMP version ${this.#handshake[0]} (only ${RTMP_VERSION}, plain RTMP, is served)`);
    }
    if (this.#handshake.length < wanted) return;
    if (this.#phase === "c0c1") {
      this.#handlers.send(serverHandshake(this.#handshake.subarray(1)));
      this.#phase = "c2";
    } else this.#phase = "chunks";
    this.#handshake = Buffer.alloc(0);
    if (take < data.length) this.receive(data.subarray(take));
  }

  #send(csid: number, message: RtmpMessage): void {
    if (!this.#closed) this.#handlers.send(encodeMessage(csid, message, OUT_CHUNK_SIZE));
  }

  #control(type: number, ...values: number[]): void {
    const payload = Buffer.alloc(type === MSG_SET_PEER_BANDWIDTH ? 5 : 4);
    payload.writeUInt32BE(values[0]!, 0);
    if (type === MSG_SET_PEER_BANDWIDTH) payload[4] = values[1]!;
    this.#send(CSID_CONTROL, { type, streamId: 0, timestamp: 0, payload });
  }

  #command(streamId: number, ...values: Amf0Value[]): void {
    this.#send(CSID_COMMAND, { type: MSG_COMMAND_AMF0, streamId, timestamp: 0, payload: encodeAmf0(...values) });
  }

  #message(message: RtmpMessage): void {
    switch (message.type) {
      case MSG_COMMAND_AMF0:
        return this.#invoke(message, decodeAmf0(message.payload));
      case MSG_COMMAND_AMF3:
        // An AMF3 command message is a format byte (0) then AMF0 values.
        return this.#invoke(message, decodeAmf0(message.payload.subarray(1)));
      case MSG_AUDIO:
      case MSG_VIDEO:
      case MSG_DATA_AMF0:
        if (!this.#publishing) throw new RtmpProtocolError(`media message (type ${message.type}) before a publish`);
        this.#handlers.media(message);
        return;
      default:
        // Acknowledgements, user control, window and bandwidth messages, AMF3 data, aggregates: nothing
        // a publisher needs answered.
        return;
    }
  }

  #invoke(message: RtmpMessage, values: Amf0Value[]): void {
    const [name, transaction] = values;
    if (typeof name !== "string") throw new RtmpProtocolError("a command without a name");
    const txn = typeof transaction === "number" ? transaction : 0;
    switch (name) {
      case "connect": {
        const options = values[2];
        const plain = typeof options === "object" && options !== null && !Array.isArray(options);
        const app = plain && !(options instanceof Date) ? options.app : undefined;
        if (typeof app !== "string") throw new RtmpProtocolError("connect without an app");
        this.#app = app.replace(/\/+$/, "");
        this.#control(MSG_WINDOW_ACK_SIZE, WINDOW);
        this.#control(MSG_SET_PEER_BANDWIDTH, WINDOW, 2);
        this.#control(MSG_SET_CHUNK_SIZE, OUT_CHUNK_SIZE);
        this.#command(
          0,
          "_result",
          txn,
          { fmsVer: "FMS/3,0,1,123", capabilities: 31 },
          {
            level: "status",
            code: "NetConnection.Connect.Success",
            description: "Connection succeeded.",
            objectEncoding: 0,
          },
        );
        return;
      }
      case "createStream":
        if (++this.#streams > MAX_STREAMS) throw new RtmpProtocolError("too many createStream commands");
        this.#command(0, "_result", txn, null, this.#streams);
        return;
      case "publish":
      case "play": {
        const stream = values[3];
        if (this.#app === undefined) throw new RtmpProtocolError(`${name} before connect`);
        if (typeof stream !== "string") throw new RtmpProtocolError(`${name} without a stream name`);
        const streamName = stream.split("?")[0]!;
        if (name === "play") return this.#handlers.play(this.#app, streamName);
        if (this.#publishing) throw new RtmpProtocolError("a second publish on one connection");
        if (!this.#handlers.publish(this.#app, streamName) || this.#closed) return;
        this.#publishing = true;
        this.#reader.setLimits(this.#limits.afterPublish);
        this.#command(message.streamId, "onStatus", 0, null, {
          level: "status",
          code: "NetStream.Publish.Start",
          description: `${streamName} is now published.`,
        });
        return;
      }
      case "deleteStream":
      case "closeStream":
      case "FCUnpublish":
        if (this.#publishing) this.#handlers.unpublish();
        return;
      default:
        // releaseStream, FCPublish, getStreamLength ...: node-media-server left them unanswered too, and
        // publishers do not wait for them.
        return;
    }
  }
}
