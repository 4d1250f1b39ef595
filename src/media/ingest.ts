// The RTMP ingest: cameras push here. Our own RTMP server side (protocol/rtmp-server.ts) does the
// protocol; we own the listening sockets, decide who may publish (one secret key per camera, from
// media.allowedCameras when set), bound what a connection may cost before it has shown a key (a
// deadline, message and chunk-stream caps, connections per address and in total), count each
// stream's inbound bytes, learn its video/audio from the stream itself, keep its last keyframe for
// snapshots and hand its frames and FLV tags to in-process readers (feed.ts). Nothing plays from
// here over RTMP: a reader URL would carry the key on an ffmpeg command line.
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { BlockList, createServer, isIP, isIPv6, type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { REAL_CLOCK, type Clock, type TimerHandle } from "../core/clock.ts";
import { registerSecret, forgetSecret, type Logger } from "../core/logger.ts";
import { RateLimitedLog } from "../core/rate-limited-log.ts";
import { keyframeToAnnexB, type H264Profile } from "./protocol/avc.ts";
import { MediaFeed, type FrameSource } from "./feed.ts";
import type { RtmpMessage } from "./protocol/rtmp-chunk.ts";
import { RtmpServerSession } from "./protocol/rtmp-server.ts";
import { applyMedia, resetForPublish, type Publisher, type PublisherPath, type StreamEntry } from "./stream-entry.ts";

export type { PublisherPath } from "./stream-entry.ts";

const APP = "live";
/** One warn line per reason and address per this interval; the rest at debug. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface RtmpLimits {
  /** A connection that has not published a known key this long after it opened is closed. */
  publishTimeoutMs: number;
  messageBytesBeforePublish: number;
  messageBytes: number;
  chunkStreamsBeforePublish: number;
  chunkStreams: number;
  /** Connections from one address that have not yet published. */
  pendingPerAddress: number;
  connections: number;
}

/** The defaults of media.rtmpLimits (README, "Cameras"). */
export const DEFAULT_RTMP_LIMITS: RtmpLimits = {
  publishTimeoutMs: 10_000,
  messageBytesBeforePublish: 64 * 1024,
  messageBytes: 8 * 1024 * 1024,
  chunkStreamsBeforePublish: 8,
  chunkStreams: 32,
  pendingPerAddress: 4,
  connections: 64,
};

export interface IngestOptions {
  /** Listen address (media.bind). */
  bind: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The address cameras push to (media.rtmpHost); default: this machine's first LAN IPv4. */
  rtmpHost?: string;
  /** media.rtmpLimits (defaults for what is left out). */
  limits?: Partial<RtmpLimits>;
  /** media.allowedCameras: addresses or CIDR ranges; empty or absent: any address. */
  allowedCameras?: string[];
  log: Logger;
  /** Publish deadlines, refusal log intervals and the status times run on this (tests: a manual clock). */
  clock?: Clock;
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
  /** The camera's address (or the cloud host we read from) while it publishes. */
  publisherAddress?: string;
  /** How the stream reaches us while it publishes: the camera's push, or our read of the cloud. */
  path?: PublisherPath;
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
  /** A connection turned away: a publish or play it asked for, or the connection itself (a limit). */
  refused: [kind: "publish" | "play" | "connection", address: string];
}

/** One peer's connection. */
interface Connection extends Publisher {
  socket: Socket;
  /** IPv4-mapped IPv6 addresses as plain IPv4. */
  address: string;
  session: RtmpServerSession;
  /** Set once its publish is accepted. */
  entry?: StreamEntry;
  deadline?: TimerHandle;
}

/** What a reader of the cloud (cloud-pull.ts) feeds a camera's stream through, as a publisher would. */
export interface PulledStream {
  /** Bytes read from the cloud (the stall check watches them). */
  received(bytes: number): void;
  media(message: RtmpMessage): void;
  /** The read ended: the stream stops publishing (publish-stop "closed"). */
  end(): void;
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

function plainAddress(address: string | undefined): string {
  if (!address) return "unknown";
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** media.allowedCameras as a BlockList (used as an allow list); undefined when any address may push. */
function allowList(entries: string[] | undefined): BlockList | undefined {
  if (!entries?.length) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split("/");
    const type = isIP(address ?? "") === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(bits), type);
  }
  return list;
}

export class RtmpIngest extends EventEmitter<IngestEvents> {
  readonly #options: IngestOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #rtmpHost: string;
  readonly #limits: RtmpLimits;
  readonly #allowed: BlockList | undefined;
  readonly #refusals: RateLimitedLog;
  readonly #byDevice = new Map<string, StreamEntry>();
  readonly #byPath = new Map<string, StreamEntry>();
  readonly #connections = new Set<Connection>();
  /** Connections not yet publishing, per address. */
  readonly #pending = new Map<string, number>();
  readonly #servers: Server[] = [];
  #port = 0;

  constructor(options: IngestOptions) {
    super();
    // Every camera's hub and every pending ready() listens here.
    this.setMaxListeners(0);
    this.#options = options;
    this.#log = options.log;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#limits = { ...DEFAULT_RTMP_LIMITS, ...options.limits };
    this.#allowed = allowList(options.allowedCameras);
    this.#refusals = new RateLimitedLog(options.log, {
      intervalMs: REFUSAL_LOG_INTERVAL_MS,
      maxReasons: 256,
      now: () => this.#clock.now(),
    });
    const host = options.rtmpHost ?? defaultRtmpHost();
    if (!host)
      this.#log.warn(
        "no LAN IPv4 address found: cameras are told to push to 127.0.0.1, which they cannot reach; set media.rtmpHost",
      );
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

  /** Open connections (tests, bench). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Listen. Rejects with a readable error (port taken, address not ours); never exits the process. */
  async start(): Promise<void> {
    const { bind, port } = this.#options;
    this.#port = await this.#listen(bind, port);
    this.#log.info(
      { bind, port: this.#port },
      `RTMP ingest listening on ${hostForUrl(bind)}:${this.#port}; cameras push to ${this.publicAddress}`,
    );
  }

  #listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.#accept(socket));
      const onError = (error: NodeJS.ErrnoException): void => {
        server.close();
        const where = `${hostForUrl(host)}:${port}`;
        if (error.code === "EADDRINUSE")
          reject(new Error(`RTMP port ${where} is already in use: stop the other program or set media.rtmpPort`));
        else if (error.code === "EADDRNOTAVAIL")
          reject(new Error(`media.bind ${host} is not an address of this machine`));
        else if (error.code === "EACCES")
          reject(
            new Error(`no permission to listen on ${where}: use a port above 1023 or run with the needed capability`),
          );
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
    const entry: StreamEntry = {
      deviceId,
      key,
      path: `/${APP}/${key}`,
      bytesIn: 0,
      audio: false,
      fpsFrames: 0,
      feed: new MediaFeed(),
    };
    entry.feed.onListenerError = (error) =>
      this.#log.error(
        { err: error, device: deviceId },
        `a reader of ${deviceId}'s frames failed and was dropped: ${error.message}`,
      );
    this.#byDevice.set(deviceId, entry);
    this.#byPath.set(entry.path, entry);
  }

  unregister(deviceId: string): void {
    const entry = this.#byDevice.get(deviceId);
    if (!entry) return;
    entry.publisher?.close();
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

  status(deviceId: string): IngestStreamStatus | undefined {
    const entry = this.#byDevice.get(deviceId);
    if (!entry) return undefined;
    const video: IngestVideoInfo | undefined = entry.avc
      ? {
          codec: "h264",
          width: entry.avc.width,
          height: entry.avc.height,
          profile: entry.avc.profile,
          level: entry.avc.level,
          fps: entry.fps,
        }
      : entry.otherCodec
        ? { codec: "other", fps: entry.fps }
        : undefined;
    return {
      publishing: entry.publisher !== undefined,
      publisherAddress: entry.publisher?.address,
      path: entry.publisher?.path,
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

  /** The camera's frames and FLV tags in this process: what is held since the keyframe at once, then each new one. */
  frames(deviceId: string): FrameSource {
    return this.#entry(deviceId).feed;
  }

  /** Feed a camera's stream from a read of the vendor's cloud: it publishes as a pushing camera would.
   * Undefined when the camera's stream already has a publisher (its own push wins). */
  attachPull(deviceId: string, host: string, close: () => void): PulledStream | undefined {
    const entry = this.#entry(deviceId);
    if (entry.publisher) return undefined;
    const publisher: Publisher = { address: host, path: "cloud", close };
    this.#publishStarted(entry, publisher);
    return {
      received: (bytes) => {
        if (entry.publisher === publisher) entry.bytesIn += bytes;
      },
      media: (message) => {
        if (entry.publisher === publisher) this.#onMedia(entry, message);
      },
      end: () => this.#publishEnded(entry, publisher, "closed"),
    };
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
    for (const connection of this.#connections) connection.socket.destroy();
    await Promise.all(closed);
    for (const entry of this.#byDevice.values()) {
      entry.publisher = undefined;
      entry.keyframe = undefined;
      entry.feed.end();
    }
    this.#refusals.flush();
  }

  /** A warn line per reason and address per minute (a misconfigured camera retries every few seconds,
   * a scanner a thousand times a second); the rest at debug. */
  #warnLimited(why: string, address: string, message: string): void {
    if (!this.#refusals.warn(`${why} (${address})`, message, { address })) this.#log.debug({ address }, message);
  }

  #accept(socket: Socket): void {
    const address = plainAddress(socket.remoteAddress);
    socket.on("error", () => undefined);
    const refuse = (why: string, detail: string): void => {
      socket.destroy();
      this.#warnLimited(why, address, `refused an RTMP connection from ${address}: ${detail}`);
      this.emit("refused", "connection", address);
    };
    if (this.#allowed && !this.#allowed.check(address, isIPv6(address) ? "ipv6" : "ipv4")) {
      return refuse("not allowed", "not in media.allowedCameras");
    }
    if (this.#connections.size >= this.#limits.connections) {
      return refuse("connection limit", `${this.#limits.connections} connections open (media.rtmpLimits.connections)`);
    }
    const pending = this.#pending.get(address) ?? 0;
    if (pending >= this.#limits.pendingPerAddress) {
      return refuse(
        "pending limit",
        `${pending} of its connections have not published yet (media.rtmpLimits.pendingPerAddress)`,
      );
    }
    // RTMP is a chatty request/reply handshake: without this every step waits for a delayed ACK.
    socket.setNoDelay(true);
    const connection: Connection = {
      socket,
      address,
      path: "local",
      close: () => socket.destroy(),
      session: new RtmpServerSession(
        {
          send: (data) => {
            if (!socket.destroyed) socket.write(data);
          },
          publish: (app, name) => this.#onPublish(connection, app, name),
          play: () => this.#refuse("play", connection, "this ingest serves no readers"),
          media: (message) => {
            if (connection.entry?.publisher === connection) this.#onMedia(connection.entry, message);
          },
          unpublish: () => socket.destroy(),
        },
        {
          beforePublish: {
            maxMessageBytes: this.#limits.messageBytesBeforePublish,
            maxChunkStreams: this.#limits.chunkStreamsBeforePublish,
          },
          afterPublish: { maxMessageBytes: this.#limits.messageBytes, maxChunkStreams: this.#limits.chunkStreams },
        },
      ),
    };
    this.#connections.add(connection);
    this.#pending.set(address, pending + 1);
    connection.deadline = this.#clock.setTimeout(() => {
      socket.destroy();
      this.#warnLimited(
        "no publish",
        address,
        `closed an RTMP connection from ${address}: no publish with a known key within ` +
          `${this.#limits.publishTimeoutMs} ms`,
      );
    }, this.#limits.publishTimeoutMs);
    connection.deadline.unref();
    socket.on("close", () => this.#closed(connection));
    socket.on("data", (data: Buffer) => {
      const entry = connection.entry;
      if (entry && entry.publisher === connection) entry.bytesIn += data.length;
      try {
        connection.session.receive(data);
      } catch (error) {
        // A stranger's bytes must never crash the bridge: the connection goes, nothing else.
        connection.session.close();
        socket.destroy();
        this.#log.debug({ err: error, address }, `malformed RTMP data; connection closed: ${(error as Error).message}`);
      }
    });
  }

  /** The connection stopped counting as pending (it published, or it closed). */
  #settle(connection: Connection): void {
    if (!connection.deadline) return;
    this.#clock.clearTimeout(connection.deadline);
    connection.deadline = undefined;
    const left = (this.#pending.get(connection.address) ?? 1) - 1;
    if (left > 0) this.#pending.set(connection.address, left);
    else this.#pending.delete(connection.address);
  }

  #closed(connection: Connection): void {
    connection.session.close();
    this.#settle(connection);
    this.#connections.delete(connection);
    if (connection.entry) this.#publishEnded(connection.entry, connection, "closed");
  }

  /** Always false: what a handler returns to refuse. */
  #refuse(kind: "publish" | "play", connection: Connection, why: string): false {
    const { address } = connection;
    connection.session.close();
    connection.socket.destroy();
    this.#warnLimited(`${kind}: ${why}`, address, `refused an RTMP ${kind} from ${address}: ${why}`);
    this.emit("refused", kind, address);
    return false;
  }

  #onPublish(connection: Connection, app: string, name: string): boolean {
    const entry = this.#byPath.get(`/${app}/${name}`);
    if (!entry) return this.#refuse("publish", connection, "unknown stream key");
    if (entry.publisher) {
      connection.session.close();
      connection.socket.destroy();
      this.#log.debug(
        { device: entry.deviceId, address: connection.address },
        "second publisher for a camera's key refused",
      );
      return false;
    }
    this.#settle(connection);
    connection.entry = entry;
    this.#publishStarted(entry, connection);
    return true;
  }

  #publishStarted(entry: StreamEntry, publisher: Publisher): void {
    resetForPublish(entry, publisher, this.#clock.wallNow());
    const { address } = publisher;
    const how = publisher.path === "cloud" ? `streaming via the cloud (${address})` : `pushing from ${address}`;
    this.#log.info({ device: entry.deviceId, address, path: publisher.path }, `camera ${entry.deviceId} is ${how}`);
    this.emit("publish-start", entry.deviceId, address);
  }

  #publishEnded(entry: StreamEntry, connection: Publisher, reason: "closed" | "dropped"): void {
    if (entry.publisher !== connection) return;
    entry.publisher = undefined;
    entry.keyframe = undefined;
    entry.keyframeHeldAt = undefined;
    entry.publishStartedAt = undefined;
    entry.feed.end();
    if (reason === "dropped") connection.close();
    this.#log.info({ device: entry.deviceId }, `camera ${entry.deviceId} stopped pushing (${reason})`);
    this.emit("publish-stop", entry.deviceId, reason);
  }

  #onMedia(entry: StreamEntry, message: RtmpMessage): void {
    if (applyMedia(entry, message, this.#log, () => this.#clock.wallNow()))
      this.emit("keyframe-held", entry.deviceId, entry.keyframeHeldAt!);
  }
}
