// The home hub's side of HomeKit Secure Video for tests: hap-controller has no HomeKit Data Stream,
// so this does what a hub does after pair-verify. It selects a recording configuration and turns
// recording on (HAP writes), sets up the data stream transport (SetupDataStreamTransport with a
// controller key salt, answered with the accessory's salt and a TCP port), derives the transport keys
// from the pair-verify shared secret (HKDF-SHA512, salt = controller salt || accessory salt, info
// "HDS-Write-Encryption-Key" for our frames, "HDS-Read-Encryption-Key" for the accessory's), and
// speaks the encrypted frames: 1-byte type, 24-bit length, ChaCha20-Poly1305 payload with the 4-byte
// header as AAD and a 64-bit little-endian counter as nonce. Payload dictionaries use HAP-NodeJS's own
// DataStreamParser (as the issue asks); the TLV8 and the framing are ours.
// Protocol reference: https://github.com/Supereg/secure-video-specification
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { connect, type Socket } from "node:net";
import { DataStreamParser, DataStreamReader, DataStreamWriter, Int64 } from "@homebridge/hap-nodejs";
import { decodeTlv, encodeTlv, tlvOne, type TlvItem } from "./camera-tlv.ts";
import type { HapClient } from "./hap-client.ts";

export const SERVICE = {
  cameraRecordingManagement: "204",
  cameraOperatingMode: "21A",
  dataStreamTransportManagement: "129",
  motionSensor: "85",
} as const;
export const CHARACTERISTIC = {
  active: "B0",
  supportedCameraRecordingConfiguration: "205",
  supportedVideoRecordingConfiguration: "206",
  supportedAudioRecordingConfiguration: "207",
  selectedCameraRecordingConfiguration: "209",
  recordingAudioActive: "226",
  setupDataStreamTransport: "131",
  homeKitCameraActive: "21B",
  motionDetected: "22",
  statusActive: "75",
} as const;

/** HDS DATA_SEND close reasons (HDSProtocolSpecificErrorReason). */
export const HDS_REASON = {
  normal: 0,
  notAllowed: 1,
  busy: 2,
  cancelled: 3,
  unexpectedFailure: 5,
  invalidConfiguration: 9,
} as const;

export interface RecordingSelection {
  prebufferMs: number;
  fragmentMs: number;
  width: number;
  height: number;
  fps: number;
  /** AudioRecordingSamplerate code: 0 = 8 kHz ... 4 = 44.1, 5 = 48. */
  sampleRate: number;
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  return b;
}

function int16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  return b;
}

/** SelectedCameraRecordingConfiguration as a hub writes it: H.264 main 4.0, AAC-LC mono, motion trigger. */
export function selectedRecordingConfiguration(s: RecordingSelection): string {
  const maxBitrate = Buffer.alloc(4);
  maxBitrate.writeUInt32LE(64);
  const items: TlvItem[] = [
    [
      1,
      [
        [1, int32(s.prebufferMs)],
        [2, Buffer.concat([int32(1), int32(0)])],
        [
          3,
          [
            [1, 0],
            [2, [[1, int32(s.fragmentMs)]]],
          ],
        ],
      ],
    ],
    [
      2,
      [
        [1, 0],
        [
          2,
          [
            [1, 1],
            [2, 2],
            [3, int32(2000)],
            [4, int32(4000)],
          ],
        ],
        [
          3,
          [
            [1, int16(s.width)],
            [2, int16(s.height)],
            [3, s.fps],
          ],
        ],
      ],
    ],
    [
      3,
      [
        [1, 0],
        [
          2,
          [
            [1, 1],
            [2, 0],
            [3, s.sampleRate],
            [4, maxBitrate],
          ],
        ],
      ],
    ],
  ];
  return encodeTlv(items).toString("base64");
}

/** hap-controller keeps the last pair-verify's X25519 shared secret in a private field; HDS keys come
 * from it. Read it right after the connection that writes SetupDataStreamTransport was verified (a
 * subscription connection's pair-verify would overwrite it). */
export function pairVerifySharedSecret(client: HapClient): Buffer {
  const protocol = (
    client.http as unknown as { pairingProtocol?: { pairVerify?: { sharedSecret?: Uint8Array | null } } }
  ).pairingProtocol;
  const secret = protocol?.pairVerify?.sharedSecret;
  if (!secret) throw new Error("hap-controller has no pair-verify shared secret (its internals changed?)");
  return Buffer.from(secret);
}

/** A timed write (HAP 6.7.2.4: PUT /prepare with a ttl and pid, then the write carrying the pid), which
 * RecordingAudioActive demands; hap-controller has no API for it, so it goes over its verified connection. */
export async function timedWrite(
  client: HapClient,
  characteristic: { aid: number; iid: number },
  value: unknown,
): Promise<void> {
  const http = client.http as unknown as {
    getDefaultVerifiedConnection(): Promise<{
      put(path: string, body: Buffer): Promise<{ statusCode: number; body: Buffer }>;
    }>;
  };
  const connection = await http.getDefaultVerifiedConnection();
  const pid = randomBytes(4).readUInt32BE(0);
  const prepared = await connection.put("/prepare", Buffer.from(JSON.stringify({ ttl: 5000, pid })));
  if (prepared.statusCode !== 200)
    throw new Error(`/prepare answered ${prepared.statusCode}: ${prepared.body.toString()}`);
  const written = await connection.put(
    "/characteristics",
    Buffer.from(
      JSON.stringify({ characteristics: [{ aid: characteristic.aid, iid: characteristic.iid, value }], pid }),
    ),
  );
  if (written.statusCode !== 204)
    throw new Error(`timed write answered ${written.statusCode}: ${written.body.toString()}`);
}

interface Message {
  protocol: string;
  kind: "event" | "request" | "response";
  topic: string;
  id?: number;
  status?: number;
  message: Record<string, unknown>;
}

export interface RecordingPacket {
  type: "mediaInitialization" | "mediaFragment";
  data: Buffer;
  /** performance.now() when its last chunk arrived. */
  at: number;
}

/** One recording stream as the hub receives it. */
export class RecordingDownload extends EventEmitter<{ packet: [RecordingPacket]; end: [] }> {
  readonly streamId: number;
  readonly packets: RecordingPacket[] = [];
  /** "end-of-stream" once the accessory flagged its last packet, or the accessory's close reason. */
  endedBy: "end-of-stream" | { closeReason: number } | "connection-closed" | undefined;
  readonly #chunks: Buffer[] = [];

  constructor(streamId: number) {
    super();
    this.streamId = streamId;
  }

  /** Resolves once the stream ended one way or another. */
  async done(timeoutMs: number): Promise<void> {
    if (this.endedBy) return;
    const timer = setTimeout(() => this.emit("end"), timeoutMs);
    await once(this, "end");
    clearTimeout(timer);
    if (!this.endedBy)
      throw new Error(
        `recording stream ${this.streamId} did not end within ${timeoutMs} ms (${this.packets.length} packets)`,
      );
  }

  /** The whole clip as one MP4. */
  get mp4(): Buffer {
    return Buffer.concat(this.packets.map((p) => p.data));
  }

  /** @internal */
  data(message: Record<string, unknown>): boolean {
    const packets = (message.packets ?? []) as {
      data: Buffer;
      metadata: { dataType: RecordingPacket["type"]; isLastDataChunk: boolean };
    }[];
    for (const packet of packets) {
      this.#chunks.push(packet.data);
      if (packet.metadata.isLastDataChunk) {
        const complete: RecordingPacket = {
          type: packet.metadata.dataType,
          data: Buffer.concat(this.#chunks),
          at: performance.now(),
        };
        this.#chunks.length = 0;
        this.packets.push(complete);
        this.emit("packet", complete);
      }
    }
    return message.endOfStream === true;
  }

  /** @internal */
  finish(by: NonNullable<RecordingDownload["endedBy"]>): void {
    if (this.endedBy) return;
    this.endedBy = by;
    this.emit("end");
  }
}

export class HdsPeer {
  readonly #socket: Socket;
  readonly #readKey: Buffer;
  readonly #writeKey: Buffer;
  #writeNonce = 0;
  #readNonce = 0;
  #buffer = Buffer.alloc(0);
  #requestId = 0;
  readonly #pending = new Map<number, (m: Message) => void>();
  readonly #streams = new Map<number, RecordingDownload>();
  #closed = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket, readKey: Buffer, writeKey: Buffer) {
    this.#socket = socket;
    this.#readKey = readKey;
    this.#writeKey = writeKey;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.#closed = true;
        for (const stream of this.#streams.values()) stream.finish("connection-closed");
        resolve();
      }),
    );
  }

  /** Set up the transport on `client`'s verified connection, connect, and say hello. */
  static async connect(client: HapClient, sharedSecret = pairVerifySharedSecret(client)): Promise<HdsPeer> {
    const setup = await client.find({
      service: SERVICE.dataStreamTransportManagement,
      characteristic: CHARACTERISTIC.setupDataStreamTransport,
    });
    const controllerSalt = randomBytes(32);
    const request = encodeTlv([
      [1, 0],
      [2, 0],
      [3, controllerSalt],
    ]).toString("base64");
    const response = (await client.http.setCharacteristics({ [setup.id]: { value: request, r: true } })) as {
      characteristics: { value?: string; status?: number }[];
    };
    const answer = response.characteristics[0];
    if (!answer?.value) throw new Error(`SetupDataStreamTransport gave no write response (status ${answer?.status})`);
    const entries = decodeTlv(Buffer.from(answer.value, "base64"));
    const status = tlvOne(entries, 1)[0];
    if (status !== 0) throw new Error(`SetupDataStreamTransport status ${status}`);
    const port = tlvOne(decodeTlv(tlvOne(entries, 2)), 1).readUInt16LE(0);
    const salt = Buffer.concat([controllerSalt, tlvOne(entries, 3)]);
    const key = (info: string) => Buffer.from(hkdfSync("sha512", sharedSecret, salt, info, 32));
    const socket = connect(port, client.address);
    await once(socket, "connect");
    const peer = new HdsPeer(socket, key("HDS-Read-Encryption-Key"), key("HDS-Write-Encryption-Key"));
    const hello = await peer.request("control", "hello", {});
    if (hello.status !== 0) throw new Error(`HDS hello answered with status ${hello.status}`);
    return peer;
  }

  /** DATA_SEND OPEN for a recording; resolves with the download, or rejects with the accessory's status. */
  async openRecording(streamId: number, reason = "motion"): Promise<RecordingDownload> {
    const download = new RecordingDownload(streamId);
    this.#streams.set(streamId, download);
    const answer = await this.request("dataSend", "open", {
      target: "controller",
      type: "ipcamera.recording",
      streamId,
      reason,
    });
    if (answer.status !== 0) {
      this.#streams.delete(streamId);
      const error = new Error(
        `DATA_SEND OPEN refused: status ${answer.status}, reason ${String(answer.message.status)}`,
      );
      throw Object.assign(error, { status: answer.status, reason: answer.message.status });
    }
    return download;
  }

  /** DATA_SEND CLOSE from the hub's side (it gives up on the stream). */
  closeRecording(streamId: number, reason: number = HDS_REASON.cancelled): void {
    this.#send({ protocol: "dataSend", event: "close" }, { streamId, reason });
    this.#streams.get(streamId)?.finish({ closeReason: reason });
  }

  async request(
    protocol: string,
    topic: string,
    message: Record<string, unknown>,
    timeoutMs = 10_000,
  ): Promise<Message> {
    const id = ++this.#requestId;
    const answer = new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no HDS response to ${protocol}.${topic} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    this.#send({ protocol, request: topic, id: new Int64(id) }, message);
    return answer;
  }

  /** Drop the connection (a hub going away mid-clip). */
  destroy(): void {
    this.#socket.destroy();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  #send(header: Record<string, unknown>, message: Record<string, unknown>): void {
    const headerWriter = new DataStreamWriter();
    DataStreamParser.encode(header, headerWriter);
    const messageWriter = new DataStreamWriter();
    DataStreamParser.encode(message, messageWriter);
    const payload = Buffer.concat([
      Buffer.from([headerWriter.length()]),
      headerWriter.getData(),
      messageWriter.getData(),
    ]);
    const frameHeader = Buffer.from([
      1,
      (payload.length >> 16) & 0xff,
      (payload.length >> 8) & 0xff,
      payload.length & 0xff,
    ]);
    const cipher = createCipheriv("chacha20-poly1305", this.#writeKey, nonce(this.#writeNonce++), {
      authTagLength: 16,
    });
    cipher.setAAD(frameHeader, { plaintextLength: payload.length });
    const encrypted = Buffer.concat([cipher.update(payload), cipher.final()]);
    this.#socket.write(Buffer.concat([frameHeader, encrypted, cipher.getAuthTag()]));
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readUIntBE(1, 3);
      if (this.#buffer.length < 4 + length + 16) return;
      const frameHeader = this.#buffer.subarray(0, 4);
      const ciphertext = this.#buffer.subarray(4, 4 + length);
      const tag = this.#buffer.subarray(4 + length, 4 + length + 16);
      this.#buffer = this.#buffer.subarray(4 + length + 16);
      const decipher = createDecipheriv("chacha20-poly1305", this.#readKey, nonce(this.#readNonce++), {
        authTagLength: 16,
      });
      decipher.setAAD(frameHeader, { plaintextLength: ciphertext.length });
      decipher.setAuthTag(tag);
      // A frame that does not authenticate throws here: the test fails loudly, as a hub would drop the link.
      const payload = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      this.#dispatch(payload);
    }
  }

  #dispatch(payload: Buffer): void {
    const headerLength = payload[0]!;
    const header = DataStreamParser.decode(new DataStreamReader(payload.subarray(1, 1 + headerLength))) as Record<
      string,
      unknown
    >;
    const message = (
      payload.length > 1 + headerLength
        ? DataStreamParser.decode(new DataStreamReader(payload.subarray(1 + headerLength)))
        : {}
    ) as Record<string, unknown>;
    const protocol = header.protocol as string;
    if (header.response !== undefined) {
      const id = Number(header.id);
      this.#pending.get(id)?.({
        protocol,
        kind: "response",
        topic: header.response as string,
        id,
        status: Number(header.status),
        message,
      });
      this.#pending.delete(id);
      return;
    }
    if (protocol !== "dataSend" || header.event === undefined) return;
    const stream = this.#streams.get(Number(message.streamId));
    if (!stream) return;
    if (header.event === "data") {
      if (stream.data(message)) {
        // A hub acknowledges the end of stream, then HAP-NodeJS considers the recording done.
        this.#send({ protocol: "dataSend", event: "ack" }, { streamId: stream.streamId, endOfStream: true });
        stream.finish("end-of-stream");
      }
    } else if (header.event === "close") {
      stream.finish({ closeReason: Number(message.reason) });
    }
  }
}

function nonce(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(BigInt(counter), 4);
  return n;
}
