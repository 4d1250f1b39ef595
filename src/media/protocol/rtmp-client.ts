// One RTMP connection, client side, as a player: handshake, connect, createStream, play, then the
// server's audio/video/data messages. No sockets: bytes go in through receive(), ours come out through
// `send`. Bounded like the server side: the chunk layer's message and chunk-stream caps, the handshake's
// fixed sizes, and a cap on commands before the play starts. We read a camera's stream from a vendor's
// cloud with this (README, "Cameras": media.source) instead of ffmpeg, so the token in the URL never
// reaches a command line.
import { decodeAmf0, encodeAmf0, type Amf0Value } from "./amf0.ts";
import {
  ChunkReader,
  encodeMessage,
  MSG_ACK,
  MSG_AUDIO,
  MSG_COMMAND_AMF0,
  MSG_COMMAND_AMF3,
  MSG_DATA_AMF0,
  MSG_USER_CONTROL,
  MSG_VIDEO,
  MSG_WINDOW_ACK_SIZE,
  RtmpProtocolError,
  type ChunkLimits,
  type RtmpMessage,
} from "./rtmp-chunk.ts";
import { HANDSHAKE_SIZE, RTMP_VERSION, signedC1 } from "./rtmp-handshake.ts";

export { RtmpProtocolError } from "./rtmp-chunk.ts";

export interface RtmpPlayTarget {
  /** The application (first path segment of the URL). */
  app: string;
  /** The stream name (the rest of the path, query included): may hold a token. */
  stream: string;
  /** rtmp(s)://host:port/app: sent in connect, never the stream name. */
  tcUrl: string;
}

export interface RtmpClientHandlers {
  send(data: Buffer): void;
  /** NetStream.Play.Start (or Reset) arrived: the server accepted the play. */
  playing(): void;
  /** An audio (8), video (9) or AMF0 data (18) message of the stream. */
  media(message: RtmpMessage): void;
}

export interface RtmpClientLimits {
  /** Before the play is accepted (only commands come then). */
  beforePlay: ChunkLimits;
  afterPlay: ChunkLimits;
}

export const DEFAULT_CLIENT_LIMITS: RtmpClientLimits = {
  beforePlay: { maxMessageBytes: 64 * 1024, maxChunkStreams: 8 },
  afterPlay: { maxMessageBytes: 8 * 1024 * 1024, maxChunkStreams: 32 },
};

const OUT_CHUNK_SIZE = 128;
const CSID_CONTROL = 2;
const CSID_COMMAND = 3;
const CSID_STREAM = 8;
const TXN_CONNECT = 1;
const TXN_CREATE_STREAM = 2;
/** User control events (RTMP spec 7.1.7). */
const UC_SET_BUFFER_LENGTH = 3;
const UC_PING_REQUEST = 6;
const UC_PING_RESPONSE = 7;
const BUFFER_MS = 1000;
/** Commands a server may send before answering the play (onBWDone, _result, onStatus ...). */
const MAX_COMMANDS_BEFORE_PLAY = 64;

type Phase = "s0s1s2" | "chunks";

/** The server's own words for a refusal, for the error message (never the URL). */
function describe(info: Amf0Value | undefined): string {
  if (!info || typeof info !== "object" || Array.isArray(info) || info instanceof Date) return "no details";
  const code = typeof info.code === "string" ? info.code : "";
  const text = typeof info.description === "string" ? info.description.slice(0, 200) : "";
  return [code, text].filter(Boolean).join(": ") || "no details";
}

export class RtmpClientSession {
  readonly #handlers: RtmpClientHandlers;
  readonly #target: RtmpPlayTarget;
  readonly #limits: RtmpClientLimits;
  readonly #reader: ChunkReader;
  #phase: Phase = "s0s1s2";
  #handshake = Buffer.alloc(0);
  #streamId = 0;
  #playing = false;
  #commands = 0;
  #closed = false;
  /** Acknowledgements: the server's window and what we have received and acknowledged. */
  #window = 0;
  #received = 0;
  #acked = 0;

  constructor(handlers: RtmpClientHandlers, target: RtmpPlayTarget, limits = DEFAULT_CLIENT_LIMITS) {
    this.#handlers = handlers;
    this.#target = target;
    this.#limits = limits;
    this.#reader = new ChunkReader(limits.beforePlay, (message) => this.#message(message));
  }

  get playing(): boolean {
    return this.#playing;
  }

  /** C0 + C1: call once the transport is connected. */
  start(): void {
    this.#handlers.send(Buffer.concat([Buffer.from([RTMP_VERSION]), signedC1()]));
  }

  close(): void {
    this.#closed = true;
    this.#reader.stop();
  }

  /** Throws RtmpProtocolError (or Amf0Error) on what a well-behaved server does not send, and on a refusal. */
  receive(data: Buffer): void {
    if (this.#closed) return;
    this.#received += data.length;
    if (this.#phase === "chunks") {
      this.#reader.push(data);
      this.#acknowledge();
      return;
    }
    const wanted = 1 + 2 * HANDSHAKE_SIZE;
    const take = Math.min(wanted - this.#handshake.length, data.length);
    this.#handshake = Buffer.concat([this.#handshake, data.subarray(0, take)]);
    if (this.#handshake[0] !== undefined && this.#handshake[0] !== RTMP_VERSION)
      throw new RtmpProtocolError(`the server answered RTMP version ${this.#handshake[0]}`);
    if (this.#handshake.length < wanted) return;
    // C2 echoes S1; servers that check it (few do) accept the echo for a plain or a signed C1.
    this.#handlers.send(Buffer.from(this.#handshake.subarray(1, 1 + HANDSHAKE_SIZE)));
    this.#phase = "chunks";
    this.#handshake = Buffer.alloc(0);
    this.#command(0, "connect", TXN_CONNECT, {
      app: this.#target.app,
      flashVer: "LNX 9,0,124,2",
      tcUrl: this.#target.tcUrl,
      fpad: false,
      capabilities: 15,
      audioCodecs: 0x0fff,
      videoCodecs: 0x00ff,
      videoFunction: 1,
    });
    if (take < data.length) this.receive(data.subarray(take));
  }

  #send(csid: number, message: RtmpMessage): void {
    if (!this.#closed) this.#handlers.send(encodeMessage(csid, message, OUT_CHUNK_SIZE));
  }

  #command(streamId: number, ...values: Amf0Value[]): void {
    const csid = streamId ? CSID_STREAM : CSID_COMMAND;
    this.#send(csid, { type: MSG_COMMAND_AMF0, streamId, timestamp: 0, payload: encodeAmf0(...values) });
  }

  #userControl(event: number, ...values: number[]): void {
    const payload = Buffer.alloc(2 + 4 * values.length);
    payload.writeUInt16BE(event, 0);
    values.forEach((value, i) => payload.writeUInt32BE(value >>> 0, 2 + 4 * i));
    this.#send(CSID_CONTROL, { type: MSG_USER_CONTROL, streamId: 0, timestamp: 0, payload });
  }

  /** A server may stop sending until we acknowledge its window (RTMP spec 5.4.3). */
  #acknowledge(): void {
    if (!this.#window || this.#received - this.#acked < this.#window) return;
    this.#acked = this.#received;
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(this.#received >>> 0, 0);
    this.#send(CSID_CONTROL, { type: MSG_ACK, streamId: 0, timestamp: 0, payload });
  }

  #message(message: RtmpMessage): void {
    switch (message.type) {
      case MSG_WINDOW_ACK_SIZE:
        if (message.payload.length >= 4) this.#window = message.payload.readUInt32BE(0);
        return;
      case MSG_USER_CONTROL:
        if (message.payload.length >= 6 && message.payload.readUInt16BE(0) === UC_PING_REQUEST)
          this.#userControl(UC_PING_RESPONSE, message.payload.readUInt32BE(2));
        return;
      case MSG_COMMAND_AMF0:
        return this.#invoke(decodeAmf0(message.payload));
      case MSG_COMMAND_AMF3:
        return this.#invoke(decodeAmf0(message.payload.subarray(1)));
      case MSG_AUDIO:
      case MSG_VIDEO:
      case MSG_DATA_AMF0:
        // Sequence headers and metadata may come before onStatus on some servers: pass them on.
        if (this.#streamId === 0) throw new RtmpProtocolError(`media message (type ${message.type}) before play`);
        this.#handlers.media(message);
        return;
      default:
        return;
    }
  }

  #invoke(values: Amf0Value[]): void {
    if (!this.#playing && ++this.#commands > MAX_COMMANDS_BEFORE_PLAY)
      throw new RtmpProtocolError(`more than ${MAX_COMMANDS_BEFORE_PLAY} commands before the play started`);
    const [name, transaction] = values;
    if (name === "_error") {
      const what =
        transaction === TXN_CONNECT ? "connect" : transaction === TXN_CREATE_STREAM ? "createStream" : "a command";
      throw new RtmpProtocolError(`the server refused ${what} (${describe(values[3])})`);
    }
    if (name === "_result" && transaction === TXN_CONNECT) {
      this.#command(0, "createStream", TXN_CREATE_STREAM, null);
      return;
    }
    if (name === "_result" && transaction === TXN_CREATE_STREAM) {
      const id = values[3];
      if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 0xffff)
        throw new RtmpProtocolError("createStream answered without a usable stream id");
      this.#streamId = id;
      this.#command(id, "play", 0, null, this.#target.stream, -2);
      this.#userControl(UC_SET_BUFFER_LENGTH, id, BUFFER_MS);
      return;
    }
    if (name !== "onStatus") return;
    const info = values[3];
    const code = info && typeof info === "object" && !Array.isArray(info) && !(info instanceof Date) ? info.code : "";
    if (code === "NetStream.Play.Start" || code === "NetStream.Play.Reset") {
      if (this.#playing) return;
      this.#playing = true;
      this.#reader.setLimits(this.#limits.afterPlay);
      this.#handlers.playing();
      return;
    }
    if (typeof code === "string" && /Failed|StreamNotFound|BadName|Rejected|Unauthorized/i.test(code))
      throw new RtmpProtocolError(`the server refused the play (${describe(info)})`);
  }
}

/** rtmp[s]://host[:port]/app/stream... as a play target (default ports 1935 and 443). */
export function playTarget(url: string): RtmpPlayTarget & { host: string; port: number; tls: boolean } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error("the stream URL is not a URL");
  }
  const tls = parsed.protocol === "rtmps:";
  if (!tls && parsed.protocol !== "rtmp:") throw new Error(`the stream URL is ${parsed.protocol}, not rtmp: or rtmps:`);
  const [app, ...rest] = parsed.pathname.replace(/^\/+/, "").split("/");
  const stream = decodeURIComponent(rest.join("/")) + parsed.search;
  if (!app || !stream) throw new Error("the stream URL has no application or no stream name");
  const port = parsed.port ? Number(parsed.port) : tls ? 443 : 1935;
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  return { host, port, tls, app, stream, tcUrl: `${parsed.protocol}//${parsed.host}/${app}` };
}
