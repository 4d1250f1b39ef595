// AMF0 (Adobe's Action Message Format 0), the encoding of RTMP's commands and metadata: the values a
// publisher sends (connect, createStream, publish, onMetaData) and the replies we write. Only the
// types RTMP peers use; references, XML and typed objects are refused. Decoding is bounded (nesting
// depth and value count) because it runs on what a peer sends before it has shown a stream key.
export type Amf0Value =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | Amf0Value[]
  | { [key: string]: Amf0Value };

export class Amf0Error extends Error {}

const NUMBER = 0x00;
const BOOLEAN = 0x01;
const STRING = 0x02;
const OBJECT = 0x03;
const NULL = 0x05;
const UNDEFINED = 0x06;
const ECMA_ARRAY = 0x08;
const OBJECT_END = 0x09;
const STRICT_ARRAY = 0x0a;
const DATE = 0x0b;
const LONG_STRING = 0x0c;

const MAX_DEPTH = 16;
const MAX_VALUES = 10_000;

class Reader {
  offset = 0;
  values = 0;
  readonly data: Buffer;
  constructor(data: Buffer) {
    this.data = data;
  }

  need(bytes: number): void {
    if (this.offset + bytes > this.data.length) {
      throw new Amf0Error(`AMF0 value runs past the end (offset ${this.offset})`);
    }
  }

  string(lengthBytes: 2 | 4): string {
    this.need(lengthBytes);
    const length = lengthBytes === 2 ? this.data.readUInt16BE(this.offset) : this.data.readUInt32BE(this.offset);
    this.offset += lengthBytes;
    this.need(length);
    const text = this.data.toString("utf8", this.offset, this.offset + length);
    this.offset += length;
    return text;
  }

  /** Key/value pairs up to the empty key + object-end marker. */
  properties(depth: number): Record<string, Amf0Value> {
    const out: Record<string, Amf0Value> = Object.create(null) as Record<string, Amf0Value>;
    for (;;) {
      const key = this.string(2);
      if (key === "") {
        this.need(1);
        if (this.data[this.offset++] !== OBJECT_END) throw new Amf0Error("AMF0 object without its end marker");
        return out;
      }
      out[key] = this.value(depth + 1);
    }
  }

  value(depth = 0): Amf0Value {
    if (depth > MAX_DEPTH) throw new Amf0Error("AMF0 nesting too deep");
    if (++this.values > MAX_VALUES) throw new Amf0Error("too many AMF0 values");
    this.need(1);
    const marker = this.data[this.offset++];
    switch (marker) {
      case NUMBER: {
        this.need(8);
        const n = this.data.readDoubleBE(this.offset);
        this.offset += 8;
        return n;
      }
      case BOOLEAN:
        this.need(1);
        return this.data[this.offset++] !== 0;
      case STRING:
        return this.string(2);
      case LONG_STRING:
        return this.string(4);
      case OBJECT:
        return this.properties(depth);
      case ECMA_ARRAY:
        // The count is a hint only (peers get it wrong); the end marker ends it.
        this.need(4);
        this.offset += 4;
        return this.properties(depth);
      case STRICT_ARRAY: {
        this.need(4);
        const count = this.data.readUInt32BE(this.offset);
        this.offset += 4;
        // Each item takes at least one byte: a count beyond what is left is a lie, not an allocation.
        if (count > this.data.length - this.offset) throw new Amf0Error("AMF0 strict array longer than its message");
        const items: Amf0Value[] = [];
        for (let i = 0; i < count; i++) items.push(this.value(depth + 1));
        return items;
      }
      case DATE: {
        this.need(10);
        const ms = this.data.readDoubleBE(this.offset);
        this.offset += 10;
        return new Date(ms);
      }
      case NULL:
        return null;
      case UNDEFINED:
        return undefined;
      default:
        throw new Amf0Error(`unsupported AMF0 type 0x${(marker ?? 0).toString(16)}`);
    }
  }
}

/** Every value in `data`, in order (a command: name, transaction id, command object, arguments). */
export function decodeAmf0(data: Buffer): Amf0Value[] {
  const reader = new Reader(data);
  const values: Amf0Value[] = [];
  while (reader.offset < data.length) values.push(reader.value());
  return values;
}

/** The encoded length of `data`'s first value (to cut "@setDataFrame" off a metadata message). */
export function amf0ValueLength(data: Buffer): number {
  const reader = new Reader(data);
  reader.value();
  return reader.offset;
}

function encodeString(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const head = Buffer.alloc(bytes.length > 0xffff ? 5 : 3);
  if (bytes.length > 0xffff) {
    head[0] = LONG_STRING;
    head.writeUInt32BE(bytes.length, 1);
  } else {
    head[0] = STRING;
    head.writeUInt16BE(bytes.length, 1);
  }
  return Buffer.concat([head, bytes]);
}

function encodeKey(key: string): Buffer {
  const bytes = Buffer.from(key, "utf8");
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bytes.length);
  return Buffer.concat([head, bytes]);
}

function encodeValue(value: Amf0Value): Buffer {
  if (value === null) return Buffer.from([NULL]);
  if (value === undefined) return Buffer.from([UNDEFINED]);
  if (typeof value === "number") {
    const out = Buffer.alloc(9);
    out[0] = NUMBER;
    out.writeDoubleBE(value, 1);
    return out;
  }
  if (typeof value === "boolean") return Buffer.from([BOOLEAN, value ? 1 : 0]);
  if (typeof value === "string") return encodeString(value);
  if (value instanceof Date) {
    const out = Buffer.alloc(11);
    out[0] = DATE;
    out.writeDoubleBE(value.getTime(), 1);
    return out;
  }
  if (Array.isArray(value)) {
    const head = Buffer.alloc(5);
    head[0] = STRICT_ARRAY;
    head.writeUInt32BE(value.length, 1);
    return Buffer.concat([head, ...value.map(encodeValue)]);
  }
  const parts: Buffer[] = [Buffer.from([OBJECT])];
  for (const [key, item] of Object.entries(value)) parts.push(encodeKey(key), encodeValue(item));
  parts.push(Buffer.from([0, 0, OBJECT_END]));
  return Buffer.concat(parts);
}

export function encodeAmf0(...values: Amf0Value[]): Buffer {
  return Buffer.concat(values.map(encodeValue));
}
