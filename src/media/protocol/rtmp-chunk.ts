// RTMP's chunk layer (Adobe RTMP spec 5.3): messages cut into chunks of at most the peer's chunk size,
// interleaved over chunk streams, each chunk headed by a basic header (format + chunk stream id) and a
// message header compressed against the previous chunk of its stream. The reader is bounded: a
// message may declare at most `maxMessageBytes`, at most `maxChunkStreams` chunk streams may exist,
// and a message's buffer is allocated only as large as it declares, so what a peer can make us hold
// is at most their product; anything else is a RtmpProtocolError and the connection is closed.
// node-media-server's parser allocated whatever a peer declared (16 MiB per chunk stream, unbounded
// streams) before any authentication, which is why this exists.
export class RtmpProtocolError extends Error {}

export interface ChunkLimits {
  /** Largest message a peer may declare. */
  maxMessageBytes: number;
  /** Most chunk streams a peer may open. */
  maxChunkStreams: number;
}

export interface RtmpMessage {
  type: number;
  streamId: number;
  /** Milliseconds, wrapping at 2^32. */
  timestamp: number;
  /** Owned by the receiver (a fresh buffer per message). */
  payload: Buffer;
}

export const MSG_SET_CHUNK_SIZE = 1;
export const MSG_ABORT = 2;
export const MSG_ACK = 3;
export const MSG_USER_CONTROL = 4;
export const MSG_WINDOW_ACK_SIZE = 5;
export const MSG_SET_PEER_BANDWIDTH = 6;
export const MSG_AUDIO = 8;
export const MSG_VIDEO = 9;
export const MSG_DATA_AMF3 = 15;
export const MSG_COMMAND_AMF3 = 17;
export const MSG_DATA_AMF0 = 18;
export const MSG_COMMAND_AMF0 = 20;

const DEFAULT_CHUNK_SIZE = 128;
const MAX_CHUNK_SIZE = 0x7fffffff;
const EXTENDED = 0xffffff;
const HEADER_SIZE = [11, 7, 3, 0] as const;
const EMPTY = Buffer.alloc(0);

interface ChunkStream {
  timestamp: number;
  /** The last timestamp field (absolute for format 0, else a delta): format 3 repeats it. */
  field: number;
  extended: boolean;
  length: number;
  type: number;
  streamId: number;
  payload: Buffer | undefined;
  received: number;
}

function newChunkStream(): ChunkStream {
  return { timestamp: 0, field: 0, extended: false, length: 0, type: 0, streamId: 0, payload: undefined, received: 0 };
}

export class ChunkReader {
  #limits: ChunkLimits;
  readonly #onMessage: (message: RtmpMessage) => void;
  readonly #streams = new Map<number, ChunkStream>();
  #chunkSize = DEFAULT_CHUNK_SIZE;
  /** An incomplete chunk header carried to the next push (at most 18 bytes). */
  #leftover = EMPTY;
  /** The chunk stream whose payload is being read, and how much of this chunk is left. */
  #current: ChunkStream | undefined;
  #chunkLeft = 0;
  #stopped = false;

  constructor(limits: ChunkLimits, onMessage: (message: RtmpMessage) => void) {
    this.#limits = limits;
    this.#onMessage = onMessage;
  }

  /** New bounds (a publish was accepted); they apply to messages that start from now on. */
  setLimits(limits: ChunkLimits): void {
    this.#limits = limits;
  }

  get chunkStreams(): number {
    return this.#streams.size;
  }

  /** Bytes held for messages not yet complete. */
  get buffered(): number {
    let total = this.#leftover.length;
    for (const stream of this.#streams.values()) total += stream.payload?.length ?? 0;
    return total;
  }

  /** Stop parsing: the rest of the current push is dropped (the connection is being closed). */
  stop(): void {
    this.#stopped = true;
    this.#streams.clear();
    this.#leftover = EMPTY;
  }

  /** Feed bytes as they arrive; complete messages go to onMessage in order. Throws RtmpProtocolError. */
  push(data: Buffer): void {
    const buffer = this.#leftover.length ? Buffer.concat([this.#leftover, data]) : data;
    this.#leftover = EMPTY;
    let offset = 0;
    while (offset < buffer.length && !this.#stopped) {
      if (this.#current) {
        offset = this.#readPayload(buffer, offset);
        continue;
      }
      const next = this.#readHeader(buffer, offset);
      if (next === undefined) {
        this.#leftover = Buffer.from(buffer.subarray(offset));
        return;
      }
      offset = next;
    }
  }

  #readPayload(buffer: Buffer, offset: number): number {
    const stream = this.#current!;
    const take = Math.min(this.#chunkLeft, buffer.length - offset);
    buffer.copy(stream.payload!, stream.received, offset, offset + take);
    stream.received += take;
    this.#chunkLeft -= take;
    if (this.#chunkLeft === 0) {
      this.#current = undefined;
      if (stream.received === stream.length) this.#complete(stream);
    }
    return offset + take;
  }

  /** One chunk header; the offset after it, or undefined when the buffer ends inside it. */
  #readHeader(buffer: Buffer, start: number): number | undefined {
    let offset = start;
    const first = buffer[offset]!;
    const format = first >> 6;
    let csid = first & 0x3f;
    if (csid === 0) {
      if (offset + 2 > buffer.length) return undefined;
      csid = 64 + buffer[offset + 1]!;
      offset += 2;
    } else if (csid === 1) {
      if (offset + 3 > buffer.length) return undefined;
      csid = 64 + buffer[offset + 1]! + buffer[offset + 2]! * 256;
      offset += 3;
    } else offset += 1;
    let stream = this.#streams.get(csid);
    const headerSize = HEADER_SIZE[format as 0 | 1 | 2 | 3];
    if (offset + headerSize > buffer.length) return undefined;
    const field = format < 3 ? buffer.readUIntBE(offset, 3) : undefined;
    const extended = field === undefined ? (stream?.extended ?? false) : field === EXTENDED;
    if (offset + headerSize + (extended ? 4 : 0) > buffer.length) return undefined;

    if (!stream) {
      if (format > 1) throw new RtmpProtocolError(`chunk stream ${csid} starts without a message header`);
      if (this.#streams.size >= this.#limits.maxChunkStreams) {
        throw new RtmpProtocolError(`more than ${this.#limits.maxChunkStreams} chunk streams`);
      }
      stream = newChunkStream();
      this.#streams.set(csid, stream);
    }
    const starting = stream.payload === undefined;
    if (!starting && format !== 3) {
      throw new RtmpProtocolError(`chunk stream ${csid}: a new message header inside a message`);
    }
    if (format <= 1) {
      stream.length = buffer.readUIntBE(offset + 3, 3);
      stream.type = buffer[offset + 6]!;
    }
    if (format === 0) stream.streamId = buffer.readUInt32LE(offset + 7);
    offset += headerSize;
    let value = field ?? stream.field;
    if (extended) {
      value = buffer.readUInt32BE(offset);
      offset += 4;
    }
    stream.extended = extended;
    if (starting) {
      if (format !== 3) stream.field = value;
      stream.timestamp = format === 0 ? value : (stream.timestamp + value) >>> 0;
      if (stream.length > this.#limits.maxMessageBytes) {
        const most = this.#limits.maxMessageBytes;
        throw new RtmpProtocolError(`a message of ${stream.length} bytes (at most ${most} allowed here)`);
      }
      stream.received = 0;
      stream.payload = Buffer.allocUnsafe(stream.length);
      if (stream.length === 0) {
        this.#complete(stream);
        return offset;
      }
    }
    this.#current = stream;
    this.#chunkLeft = Math.min(this.#chunkSize, stream.length - stream.received);
    return offset;
  }

  #complete(stream: ChunkStream): void {
    const { type, streamId, timestamp } = stream;
    const message: RtmpMessage = { type, streamId, timestamp, payload: stream.payload! };
    stream.payload = undefined;
    stream.received = 0;
    // Chunk size and abort change how the very next bytes are read: apply them here, not in the caller.
    if (message.type === MSG_SET_CHUNK_SIZE) {
      if (message.payload.length < 4) throw new RtmpProtocolError("short set-chunk-size message");
      const size = message.payload.readUInt32BE(0);
      if (size < 1 || size > MAX_CHUNK_SIZE) throw new RtmpProtocolError(`chunk size ${size}`);
      this.#chunkSize = size;
    } else if (message.type === MSG_ABORT) {
      if (message.payload.length < 4) throw new RtmpProtocolError("short abort message");
      const aborted = this.#streams.get(message.payload.readUInt32BE(0));
      if (aborted) {
        aborted.payload = undefined;
        aborted.received = 0;
      }
    }
    this.#onMessage(message);
  }
}

function basicHeader(format: number, csid: number): Buffer {
  if (csid < 64) return Buffer.from([(format << 6) | csid]);
  if (csid < 320) return Buffer.from([format << 6, csid - 64]);
  return Buffer.from([(format << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

/** One message as chunks: a format 0 header, then format 3 headers every `chunkSize` bytes. */
export function encodeMessage(csid: number, message: RtmpMessage, chunkSize: number): Buffer {
  const { payload } = message;
  const extended = message.timestamp >= EXTENDED;
  const header = Buffer.alloc(11 + (extended ? 4 : 0));
  header.writeUIntBE(extended ? EXTENDED : message.timestamp, 0, 3);
  header.writeUIntBE(payload.length, 3, 3);
  header[6] = message.type;
  header.writeUInt32LE(message.streamId, 7);
  if (extended) header.writeUInt32BE(message.timestamp, 11);
  const parts: Buffer[] = [basicHeader(0, csid), header];
  for (let offset = 0; offset < payload.length || offset === 0; offset += chunkSize) {
    if (offset > 0) {
      parts.push(basicHeader(3, csid));
      if (extended) parts.push(header.subarray(11));
    }
    parts.push(payload.subarray(offset, offset + chunkSize));
    if (payload.length === 0) break;
  }
  return Buffer.concat(parts);
}
