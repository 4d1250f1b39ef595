// The RTMP ingest: cameras push here, our own ffmpeg readers play from here. node-media-server's RTMP
// session does the protocol and keeps each stream's GOP cache (a late reader gets a keyframe at
// once); we own the listening sockets and decide who may publish (one secret key per camera) and who
// may play (loopback only), count each stream's inbound bytes, learn its video/audio from the stream
// itself, and keep its last keyframe for snapshots.
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { registerSecret, forgetSecret, type Logger } from "../core/logger.ts";
import { keyframeToAnnexB, parseAvcSequenceHeader, type AvcConfig, type H264Profile } from "./avc.ts";
import { MediaFeed, type FrameSource } from "./feed.ts";
import { RtmpSession, routeNmsLog, type NmsPacket, type NmsRtmpSession } from "./nms.ts";

const APP = "live";
const FLV_VIDEO = 9;
const FLV_AUDIO = 8;
const FLV_CODEC_H264 = 7;
const FLV_CODEC_AAC = 10;
const PACKET_VIDEO_HEADER = 2;
const PACKET_KEYFRAME = 3;
const REFUSAL_MEMORY = 256;
/** Frame rate is measured over at least this much stream time when the metadata does not say. */
const FPS_WINDOW_MS = 1_000;

export interface IngestOptions {
  /** Listen address (media.bind). */
  bind: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The address cameras push to (media.rtmpHost); default: this machine's first LAN IPv4. */
  rtmpHost?: string;
  log: Logger;
}

export interface IngestVideoInfo {
  codec: "h264" | "other";
  width?: number;
  height?: number;
  profile?: H264Profile;
  level?: string;
  fps?: number;
}

export interface IngestStreamStatus {
  publishing: boolean;
  /** The camera's address while it publishes. */
  publisherAddress?: string;
  /** Bytes received from publishers of this stream since the ingest started. */
  bytesIn: number;
  /** Epoch ms (sub-ms precision) of the current publish's start and its first keyframe. */
  publishStartedAt?: number;
  keyframeHeldAt?: number;
  video?: IngestVideoInfo;
  audio: boolean;
}

export interface IngestEvents {
  "publish-start": [deviceId: string, address: string];
  "publish-stop": [deviceId: string, reason: "closed" | "dropped"];
  /** The first keyframe of a publish arrived: readers and snapshots can start. */
  "keyframe-held": [deviceId: string, at: number];
  refused: [kind: "publish" | "play", address: string];
}

interface StreamEntry {
  deviceId: string;
  key: string;
  path: string;
  bytesIn: number;
  publisher?: NmsRtmpSession;
  publishStartedAt?: number;
  keyframeHeldAt?: number;
  avc?: AvcConfig;
  otherCodec?: boolean;
  keyframe?: Buffer;
  audio: boolean;
  fps?: number;
  fpsFirstDts?: number;
  fpsFrames: number;
  /** Its frames for the native video relay and the audio transcoder. */
  feed: MediaFeed;
}

/** Epoch milliseconds with sub-millisecond precision (bench timestamps). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith("::ffff:") ? address.slice(7) : address;
  return plain === "::1" || plain.startsWith("127.");
}

/** First non-internal IPv4 of this machine: the address a camera on the LAN can most likely reach. */
export function defaultRtmpHost(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const net of list ?? []) if (net.family === "IPv4" && !net.internal) return net.address;
  }
  return undefined;
}

function hostForUrl(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

function addressOf(socket: Socket): string {
  return socket.remoteAddress ?? "unknown";
}

export class RtmpIngest extends EventEmitter<IngestEvents> {
  readonly #options: IngestOptions;
  readonly #log: Logger;
  readonly #rtmpHost: string;
  readonly #byDevice = new Map<string, StreamEntry>();
  readonly #byPath = new Map<string, StreamEntry>();
  readonly #entryOf = new WeakMap<NmsRtmpSession, StreamEntry>();
  readonly #sockets = new Set<Socket>();
  readonly #servers: Server[] = [];
  readonly #refusalsLogged = new Set<string>();
  #port = 0;

  constructor(options: IngestOptions) {
    super();
    // Every camera's hub and every pending ready() listens here.
    this.setMaxListeners(0);
    this.#options = options;
    this.#log = options.log;
    const host = options.rtmpHost ?? defaultRtmpHost();
    if (!host) this.#log.warn("no LAN IPv4 address found: cameras are told to push to 127.0.0.1, which they cannot reach; set media.rtmpHost");
    this.#rtmpHost = host ?? "127.0.0.1";
  }

  /** The port we listen on (the real one once started, also when configured as 0). */
  get port(): number {
    return this.#port;
  }

  get rtmpHost(): string {
    return this.#rtmpHost;
  }

  /** Where cameras push, without the key: for messages. */
  get publicAddress(): string {
    return `rtmp://${hostForUrl(this.#rtmpHost)}:${this.#port}`;
  }

  /** Listen. Rejects with a readable error (port taken, address not ours); never exits the process. */
  async start(): Promise<void> {
    routeNmsLog((message) => this.#log.debug(`rtmp: ${message}`));
    const { bind, port } = this.#options;
    const first = await this.#listen(bind, port);
    this.#port = first;
    // Our readers always play from 127.0.0.1: listen there too when the configured address is a
    // specific LAN address (a wildcard or loopback bind already covers it).
    const wildcard = bind === "0.0.0.0" || bind === "::" || isLoopback(bind) || bind === "localhost";
    if (!wildcard) {
      try {
        await this.#listen("127.0.0.1", first);
      } catch (error) {
        await this.stop();
        throw error;
      }
    }
    this.#log.info({ bind, port: first }, `RTMP ingest listening on ${hostForUrl(bind)}:${first}; cameras push to ${this.publicAddress}`);
  }

  #listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.#accept(socket));
      const onError = (error: NodeJS.ErrnoException): void => {
        server.close();
        const where = `${hostForUrl(host)}:${port}`;
        if (error.code === "EADDRINUSE") reject(new Error(`RTMP port ${where} is already in use: stop the other program or set media.rtmpPort`));
        else if (error.code === "EADDRNOTAVAIL") reject(new Error(`media.bind ${host} is not an address of this machine`));
        else if (error.code === "EACCES") reject(new Error(`no permission to listen on ${where}: use a port above 1023 or run with the needed capability`));
        else reject(new Error(`RTMP ingest could not listen on ${where}: ${error.message}`));
      };
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        server.on("error", (error) => this.#log.warn({ err: error }, "RTMP listener error"));
        this.#servers.push(server);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  /** Give a camera its secret stream key (idempotent). */
  register(deviceId: string): void {
    if (this.#byDevice.has(deviceId)) return;
    const key = randomBytes(16).toString("base64url");
    registerSecret(key);
    const entry: StreamEntry = { deviceId, key, path: `/${APP}/${key}`, bytesIn: 0, audio: false, fpsFrames: 0, feed: new MediaFeed() };
    entry.feed.onListenerError = (error) => this.#log.error({ err: error, device: deviceId }, `a reader of ${deviceId}'s frames failed and was dropped: ${error.message}`);
    this.#byDevice.set(deviceId, entry);
    this.#byPath.set(entry.path, entry);
  }

  unregister(deviceId: string): void {
    const entry = this.#byDevice.get(deviceId);
    if (!entry) return;
    entry.publisher?.socket.destroy();
    this.#byDevice.delete(deviceId);
    this.#byPath.delete(entry.path);
    forgetSecret(entry.key);
  }

  #entry(deviceId: string): StreamEntry {
    const entry = this.#byDevice.get(deviceId);
    if (!entry) throw new Error(`no RTMP stream registered for ${deviceId}`);
    return entry;
  }

  /** Where the camera must push: rtmp://<rtmpHost>:<port>/live/<key>. Secret. */
  urlFor(deviceId: string): string {
    if (!this.#port) throw new Error("the RTMP ingest is not listening (yet)");
    return `${this.publicAddress}${this.#entry(deviceId).path}`;
  }

  /** Where our own readers play from. Secret. */
  readerUrl(deviceId: string): string {
    return `rtmp://127.0.0.1:${this.#port}${this.#entry(deviceId).path}`;
  }

  status(deviceId: string): IngestStreamStatus | undefined {
    const entry = this.#byDevice.get(deviceId);
    if (!entry) return undefined;
    const video: IngestVideoInfo | undefined = entry.avc
      ? { codec: "h264", width: entry.avc.width, height: entry.avc.height, profile: entry.avc.profile, level: entry.avc.level, fps: entry.fps }
      : entry.otherCodec
        ? { codec: "other", fps: entry.fps }
        : undefined;
    return {
      publishing: entry.publisher !== undefined,
      publisherAddress: entry.publisher ? addressOf(entry.publisher.socket) : undefined,
      bytesIn: entry.bytesIn,
      publishStartedAt: entry.publishStartedAt,
      keyframeHeldAt: entry.keyframeHeldAt,
      video,
      audio: entry.audio,
    };
  }

  /** The last keyframe as an Annex B H.264 picture (SPS, PPS, slices); undefined when none is held. */
  keyframeAnnexB(deviceId: string): Buffer | undefined {
    const entry = this.#byDevice.get(deviceId);
    if (!entry?.publisher || !entry.avc || !entry.keyframe) return undefined;
    return keyframeToAnnexB(entry.avc, entry.keyframe);
  }

  /** The camera's frames in this process: the held GOP at once, then each new frame. */
  frames(deviceId: string): FrameSource {
    return this.#entry(deviceId).feed;
  }

  /** Cut the camera's connection (a stalled push); true if there was one. */
  dropPublisher(deviceId: string): boolean {
    const entry = this.#byDevice.get(deviceId);
    if (!entry?.publisher) return false;
    // Forget the publish at once: a re-request must not find a stale "publishing" state.
    this.#publishEnded(entry, entry.publisher, "dropped");
    return true;
  }

  async stop(): Promise<void> {
    const closed = this.#servers.splice(0).map((server) => new Promise<void>((done) => server.close(() => done())));
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(closed);
    for (const entry of this.#byDevice.values()) {
      entry.publisher = undefined;
      entry.keyframe = undefined;
      entry.feed.end();
    }
  }

  #accept(socket: Socket): void {
    // RTMP is a chatty request/reply handshake: without this every step waits for a delayed ACK.
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => undefined);
    const session = new RtmpSession(socket);
    // The library's parser may throw on garbage; a stranger's bytes must never crash the bridge.
    const parse = session.onData;
    session.onData = (data: Buffer) => {
      const entry = this.#entryOf.get(session);
      if (entry && entry.publisher === session) entry.bytesIn += data.length;
      try {
        parse(data);
      } catch (error) {
        this.#log.debug({ err: error, address: addressOf(socket) }, "malformed RTMP data; connection closed");
        socket.destroy();
      }
    };
    session.run();
    const push = session.rtmp.onPushCallback;
    session.rtmp.onPushCallback = () => this.#onPublish(session, push);
    const play = session.rtmp.onPlayCallback;
    session.rtmp.onPlayCallback = () => this.#onPlay(session, play);
  }

  #refuse(kind: "publish" | "play", session: NmsRtmpSession, why: string): void {
    const address = addressOf(session.socket);
    session.socket.destroy();
    const memo = `${kind} ${address} ${session.streamPath}`;
    if (this.#refusalsLogged.size > REFUSAL_MEMORY) this.#refusalsLogged.clear();
    // Once per address and path: a misconfigured camera retries every few seconds.
    const level = this.#refusalsLogged.has(memo) ? "debug" : "warn";
    this.#refusalsLogged.add(memo);
    this.#log[level]({ address, app: session.streamApp }, `refused an RTMP ${kind} from ${address}: ${why}`);
    this.emit("refused", kind, address);
  }

  #onPublish(session: NmsRtmpSession, accept: () => void): void {
    const entry = this.#byPath.get(session.streamPath);
    if (!entry) return this.#refuse("publish", session, "unknown stream key");
    accept();
    if (!session.isPublisher) {
      // The library refused (another publisher holds the key) and closes the connection itself.
      this.#log.debug({ device: entry.deviceId }, "second publisher for a camera's key refused");
      return;
    }
    this.#entryOf.set(session, entry);
    entry.publisher = session;
    entry.publishStartedAt = nowMs();
    entry.keyframeHeldAt = undefined;
    entry.keyframe = undefined;
    entry.avc = undefined;
    entry.otherCodec = false;
    entry.audio = false;
    entry.fps = undefined;
    entry.fpsFirstDts = undefined;
    entry.fpsFrames = 0;
    entry.feed.begin();
    const packet = session.rtmp.onPacketCallback;
    session.rtmp.onPacketCallback = (p: NmsPacket) => {
      packet(p);
      if (entry.publisher === session) this.#observe(entry, session, p);
    };
    session.socket.once("close", () => this.#publishEnded(entry, session, "closed"));
    const address = addressOf(session.socket);
    this.#log.info({ device: entry.deviceId, address }, `camera ${entry.deviceId} is pushing from ${address}`);
    this.emit("publish-start", entry.deviceId, address);
  }

  #onPlay(session: NmsRtmpSession, accept: () => void): void {
    if (!isLoopback(session.socket.remoteAddress)) return this.#refuse("play", session, "readers must be on this machine");
    if (!this.#byPath.has(session.streamPath)) return this.#refuse("play", session, "unknown stream key");
    accept();
  }

  #publishEnded(entry: StreamEntry, session: NmsRtmpSession, reason: "closed" | "dropped"): void {
    if (entry.publisher !== session) return;
    entry.publisher = undefined;
    entry.keyframe = undefined;
    entry.keyframeHeldAt = undefined;
    entry.publishStartedAt = undefined;
    entry.feed.end();
    if (reason === "dropped") session.socket.destroy();
    this.#log.info({ device: entry.deviceId }, `camera ${entry.deviceId} stopped pushing (${reason})`);
    this.emit("publish-stop", entry.deviceId, reason);
  }

  #observe(entry: StreamEntry, session: NmsRtmpSession, packet: NmsPacket): void {
    if (packet.codec_type === FLV_AUDIO) {
      entry.audio = true;
      if (packet.codec_id === FLV_CODEC_AAC) entry.feed.aacTag(packet.data.subarray(0, packet.size), packet.dts);
      return;
    }
    if (packet.codec_type !== FLV_VIDEO) {
      if (session.audioCodec) entry.audio = true;
      return;
    }
    if (packet.codec_id !== FLV_CODEC_H264) entry.otherCodec = true;
    if (packet.flags === PACKET_VIDEO_HEADER && packet.codec_id === FLV_CODEC_H264) {
      const avc = parseAvcSequenceHeader(packet.data.subarray(0, packet.size));
      if (avc) {
        entry.avc = avc;
        entry.feed.setAvc(avc);
      } else this.#log.debug({ device: entry.deviceId }, "unreadable AVC sequence header");
      return;
    }
    this.#measureFps(entry, session, packet.dts);
    if (packet.codec_id === FLV_CODEC_H264) entry.feed.videoTag(packet.data.subarray(0, packet.size), packet.dts, packet.flags === PACKET_KEYFRAME);
    if (packet.flags !== PACKET_KEYFRAME) return;
    // The parser reuses its buffer for the next message: keep a copy.
    entry.keyframe = Buffer.from(packet.data.subarray(0, packet.size));
    if (entry.keyframeHeldAt === undefined) {
      entry.keyframeHeldAt = nowMs();
      this.emit("keyframe-held", entry.deviceId, entry.keyframeHeldAt);
    }
  }

  #measureFps(entry: StreamEntry, session: NmsRtmpSession, dts: number): void {
    if (session.videoFramerate > 0) {
      entry.fps = session.videoFramerate;
      return;
    }
    if (entry.fpsFirstDts === undefined) {
      entry.fpsFirstDts = dts;
      entry.fpsFrames = 0;
      return;
    }
    entry.fpsFrames++;
    const span = dts - entry.fpsFirstDts;
    if (span >= FPS_WINDOW_MS) entry.fps = Math.round((entry.fpsFrames * 1000 * 10) / span) / 10;
  }
}
