// A raw RTMP publisher for ingest tests: exactly the bytes a test wants (a handshake, commands, chunk
// headers that lie), from a chosen loopback address, with the connection's close as a promise.
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { encodeAmf0, type Amf0Value } from "../../src/media/protocol/amf0.ts";
import { encodeMessage } from "../../src/media/protocol/rtmp-chunk.ts";
import { signedC1 } from "../../src/media/protocol/rtmp-handshake.ts";

const HANDSHAKE = 1536;

export class RawRtmpClient {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  #received = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("error", () => undefined);
    socket.on("data", (data: Buffer) => {
      this.#received = Buffer.concat([this.#received, data]);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((done) =>
      socket.once("close", () => {
        for (const wake of this.#waiters.splice(0)) wake();
        done();
      }),
    );
  }

  static async open(port: number, localAddress = "127.0.0.1"): Promise<RawRtmpClient> {
    const socket = connect({ port, host: "127.0.0.1", localAddress });
    const client = new RawRtmpClient(socket);
    await Promise.race([once(socket, "connect"), client.closed]);
    return client;
  }

  /** Resolves when the ingest has closed the connection; rejects if it is still open after `ms`. */
  closedWithin(ms = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the connection is still open after ${ms} ms`)), ms);
    });
    return Promise.race([this.closed, late]).finally(() => clearTimeout(timer));
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  /** Wait until `bytes` have arrived in total; false if the connection closed first. */
  async #receivedAtLeast(bytes: number): Promise<boolean> {
    while (this.#received.length < bytes) {
      if (this.isClosed) return false;
      await new Promise<void>((wake) => this.#waiters.push(wake));
    }
    return true;
  }

  /** C0 + C1, S0 + S1 + S2, C2: true when the server answered. */
  async handshake(): Promise<boolean> {
    this.socket.write(Buffer.concat([Buffer.from([3]), signedC1()]));
    if (!(await this.#receivedAtLeast(1 + 2 * HANDSHAKE))) return false;
    this.socket.write(this.#received.subarray(1, 1 + HANDSHAKE));
    this.#received = this.#received.subarray(1 + 2 * HANDSHAKE);
    return true;
  }

  command(streamId: number, ...values: Amf0Value[]): void {
    this.socket.write(encodeMessage(3, { type: 20, streamId, timestamp: 0, payload: encodeAmf0(...values) }, 128));
  }

  /** Handshake, connect to `app`, createStream, publish `name`. */
  async publish(app: string, name: string): Promise<void> {
    if (!(await this.handshake())) return;
    this.command(0, "connect", 1, { app, tcUrl: `rtmp://127.0.0.1/${app}` });
    this.command(0, "createStream", 2, null);
    this.command(1, "publish", 3, null, name, "live");
  }

  /** Raw bytes (chunk headers that lie). */
  write(data: Buffer): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A chunk's basic header + type 0 message header: a message of `length` bytes on chunk stream `csid`. */
export function chunkHeader(csid: number, length: number, type = 20, streamId = 0): Buffer {
  const basic =
    csid < 64
      ? Buffer.from([csid])
      : csid < 320
        ? Buffer.from([0, csid - 64])
        : Buffer.from([1, (csid - 64) & 0xff, (csid - 64) >> 8]);
  const header = Buffer.alloc(11);
  header.writeUIntBE(length, 3, 3);
  header[6] = type;
  header.writeUInt32LE(streamId, 7);
  return Buffer.concat([basic, header]);
}

/** A set-chunk-size message. */
export function setChunkSize(size: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(size);
  return Buffer.concat([chunkHeader(2, 4, 1), body]);
}
