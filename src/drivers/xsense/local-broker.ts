// Where the SBS50's local MQTT output arrives (docs/protocols/xsense.md §4.5): an MQTT broker inside the
// bridge (aedes) that the base station connects to with the username and password typed into the
// X-Sense app, or a client of a broker the user runs already. Both hand every PUBLISH under the
// discovery prefix to the caller, and say when a publisher (the station) comes and goes.
//
// The embedded broker listens on the LAN, so it follows the threat model in the README: a password is
// required and checked in constant time, failed logins are logged with the peer's address, the number
// of connections, the size of every MQTT packet (before authentication too: aedes has no limit of its
// own, and a CONNECT may claim 256 MB) and the time to authenticate are bounded, and clients may only
// publish and subscribe under the discovery prefix.
import { EventEmitter } from "node:events";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import type { Aedes, AedesPublishPacket, Client as AedesClient } from "aedes";
import { connect as mqttConnect, type MqttClient } from "mqtt";
import type { Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";

export interface LocalTransportEvents {
  /** A PUBLISH under the prefix; `publisher` is the MQTT client id (embedded) or "broker" (external). */
  message: [topic: string, payload: Buffer, publisher: string];
  publisherUp: [publisher: string];
  publisherDown: [publisher: string];
  /** Listening (embedded) or connected to the broker (external). */
  up: [];
  down: [reason: string];
}

export interface LocalTransport extends EventEmitter<LocalTransportEvents> {
  /** "embedded broker on 0.0.0.0:1883" / "broker mqtt://host:1883": for log lines, never secret. */
  readonly description: string;
  /** Whether publishers are seen coming and going (embedded) or only the broker link (external). */
  readonly seesPublishers: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  /** 0 picks a free port (tests); see `port` after start. */
  port: number;
  bind: string;
  username: string;
  password: string;
  /** Topics clients may use: `<prefix>/...` only. */
  prefix: string;
  log: Logger;
  /** Open connections at once (default 16: a house has a station or two). */
  maxConnections?: number;
  /** Largest MQTT packet, header included (default 64 KiB). */
  maxPacketBytes?: number;
  /** A connection must have authenticated within this (default 10 s). */
  connectTimeoutMs?: number;
}

const digest = (text: string | Buffer) => createHash("sha256").update(text).digest();

/** Constant-time comparison of a presented secret with the expected one (digests: equal lengths). */
function sameSecret(given: string | Buffer | undefined, expected: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(expected));
}

/**
 * Counts MQTT packet lengths as bytes go by: a fixed-header byte, the remaining length (1-4 bytes of
 * 7 bits), then that many bytes. Returns false as soon as a packet is larger than the limit or the
 * length field is malformed; nothing is buffered.
 */
export class MqttPacketLimit {
  readonly #max: number;
  /** 0: expecting a fixed-header byte; 1: in the length field; 2: in the body. */
  #phase = 0;
  #length = 0;
  #shift = 0;
  #lengthBytes = 0;
  #left = 0;

  constructor(maxPacketBytes: number) {
    this.#max = maxPacketBytes;
  }

  accept(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.#phase === 0) {
        this.#phase = 1;
        this.#length = 0;
        this.#shift = 0;
        this.#lengthBytes = 0;
        i++;
      } else if (this.#phase === 1) {
        const byte = chunk[i++]!;
        this.#length += (byte & 0x7f) * 2 ** this.#shift;
        this.#shift += 7;
        if (++this.#lengthBytes > 4) return false;
        if (byte & 0x80) continue;
        if (1 + this.#lengthBytes + this.#length > this.#max) return false;
        this.#left = this.#length;
        this.#phase = this.#left ? 2 : 0;
      } else {
        const take = Math.min(this.#left, chunk.length - i);
        this.#left -= take;
        i += take;
        if (!this.#left) this.#phase = 0;
      }
    }
    return true;
  }
}

/** The socket as aedes reads it, with every incoming byte checked by the packet limit first. */
function limitedStream(socket: Socket, maxPacketBytes: number, onOversize: () => void): Duplex {
  const limit = new MqttPacketLimit(maxPacketBytes);
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, done) => void socket.write(chunk, done),
    final: (done) => {
      socket.end();
      done();
    },
    destroy: (error, done) => {
      socket.destroy();
      done(error);
    },
  });
  socket.on("data", (chunk: Buffer) => {
    if (!limit.accept(chunk)) {
      onOversize();
      stream.destroy();
      return;
    }
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("error", () => stream.destroy());
  socket.on("close", () => stream.destroy());
  return stream;
}

export class EmbeddedBroker extends EventEmitter<LocalTransportEvents> implements LocalTransport {
  readonly seesPublishers = true;
  readonly #o: EmbeddedBrokerOptions;
  #broker: Aedes | undefined;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  /** The peer address of each connection (aedes sees the limited stream, not the socket). */
  readonly #addresses = new WeakMap<Duplex, string>();
  /** Client ids that authenticated and are connected. */
  readonly #clients = new Set<string>();

  constructor(options: EmbeddedBrokerOptions) {
    super();
    this.#o = options;
  }

  get description(): string {
    return `embedded broker on ${this.#o.bind}:${this.port || this.#o.port}`;
  }

  /** The port listened on (after start). */
  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const { prefix, log } = this.#o;
    const underPrefix = (topic: string) => topic.startsWith(`${prefix}/`);
    // Loaded here: only a local X-Sense setup with the embedded broker needs aedes.
    const { Aedes } = await import("aedes");
    const broker = await Aedes.createBroker({
      connectTimeout: this.#o.connectTimeoutMs ?? 10_000,
      maxInflightInbound: 16,
      maxClientsIdLength: 64,
      authenticate: (client, username, password, done) => {
        if (username === this.#o.username && sameSecret(password, this.#o.password)) return done(null, true);
        const address = this.#addresses.get(client.conn as Duplex);
        rateLimitedLog(log).warn("refused login", "xsense local: refused an MQTT login (wrong username or password)", {
          address,
        });
        done(Object.assign(new Error("bad username or password"), { returnCode: 4 as const }), false);
      },
      // Nothing is kept for later: the bridge reads publishes as they pass, so retained messages would
      // only be memory a client could fill. Topics outside the prefix reach nobody (subscriptions are
      // limited to it) but do not cost the station its connection: what else it publishes is unknown.
      authorizePublish: (_client, packet, done) => {
        if (packet.topic.startsWith("$")) return done(new Error("reserved topic"));
        packet.retain = false;
        done(null);
      },
      authorizeSubscribe: (_client, sub, done) =>
        done(null, underPrefix(sub.topic) || sub.topic === prefix ? sub : null),
    });
    this.#broker = broker;
    broker.on("clientReady", (client: AedesClient) => {
      this.#clients.add(client.id);
      log.info({ client: client.id }, `xsense local: ${client.id} connected to the embedded broker`);
      this.emit("publisherUp", client.id);
    });
    broker.on("clientDisconnect", (client: AedesClient) => {
      if (!this.#clients.delete(client.id)) return;
      log.info({ client: client.id }, `xsense local: ${client.id} disconnected from the embedded broker`);
      this.emit("publisherDown", client.id);
    });
    broker.on("publish", (packet: AedesPublishPacket, client: AedesClient | null) => {
      if (client) this.emit("message", packet.topic, packet.payload as Buffer, client.id);
    });
    broker.on("clientError", () => undefined);
    broker.on("connectionError", () => undefined);

    const server = createServer((socket) => {
      socket.on("error", () => undefined);
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      const stream = limitedStream(socket, this.#o.maxPacketBytes ?? 64 * 1024, () => {
        rateLimitedLog(log).warn(
          "oversized MQTT packet",
          "xsense local: closed a connection that sent an oversized MQTT packet",
          {
            address: socket.remoteAddress,
          },
        );
      });
      this.#addresses.set(stream, socket.remoteAddress ?? "");
      broker.handle(stream);
    });
    server.maxConnections = this.#o.maxConnections ?? 16;
    server.on("drop", (data) => {
      rateLimitedLog(log).warn("too many connections", "xsense local: refused a connection (too many open)", {
        address: data?.remoteAddress,
      });
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#o.port, this.#o.bind, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error) => log.warn({ err: error }, "xsense local: embedded broker error"));
    // Home Assistant's birth message: stations that wait for it (re)publish their discovery configs.
    broker.publish(
      { cmd: "publish", topic: `${prefix}/status`, payload: Buffer.from("online"), qos: 0, retain: true, dup: false },
      () => undefined,
    );
    this.emit("up");
  }

  async stop(): Promise<void> {
    const broker = this.#broker;
    const server = this.#server;
    this.#broker = undefined;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (broker || server) this.emit("down", "stopped");
  }
}

export interface ExternalBrokerOptions {
  /** mqtt://host:port or mqtts://host:port. */
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  prefix: string;
  log: Logger;
  /** Reconnect delay (default 2 s). */
  reconnectMs?: number;
  /** CONNACK wait (default 10 s). */
  connectTimeoutMs?: number;
}

/** A client of the user's own broker (Mosquitto, Home Assistant's add-on...) the station publishes to. */
export class ExternalBroker extends EventEmitter<LocalTransportEvents> implements LocalTransport {
  readonly seesPublishers = false;
  readonly #o: ExternalBrokerOptions;
  #client: MqttClient | undefined;
  #up = false;

  constructor(options: ExternalBrokerOptions) {
    super();
    this.#o = options;
  }

  get description(): string {
    return `broker ${this.#o.url}`;
  }

  start(): Promise<void> {
    const { log, prefix } = this.#o;
    const client = mqttConnect(this.#o.url, {
      clientId: `hearthbridge-${randomBytes(4).toString("hex")}`,
      ...(this.#o.username === undefined ? {} : { username: this.#o.username }),
      ...(this.#o.password === undefined ? {} : { password: this.#o.password }),
      reconnectPeriod: this.#o.reconnectMs ?? 2000,
      connectTimeout: this.#o.connectTimeoutMs ?? 10_000,
      clean: true,
      resubscribe: false,
      // Without this mqtt-packet pre-builds 65,536 two-byte Buffers (about 7 MB of heap); see mqtt-link.ts.
      writeCache: false,
    });
    this.#client = client;
    client.on("connect", () => {
      client.subscribe(`${prefix}/#`, { qos: 0 }, (error) => {
        if (error) log.warn({ err: error }, `xsense local: could not subscribe at ${this.#o.url}`);
      });
      if (!this.#up) {
        this.#up = true;
        log.info(`xsense local: connected to ${this.#o.url}`);
        this.emit("up");
      }
    });
    const down = (reason: string) => {
      if (!this.#up) return;
      this.#up = false;
      log.warn(`xsense local: lost ${this.#o.url} (${reason}); retrying`);
      this.emit("down", reason);
    };
    client.on("close", () => down("connection closed"));
    client.on("offline", () => down("offline"));
    client.on("error", (error) => {
      rateLimitedLog(log).warn("broker error", "xsense local: broker connection failed", {
        url: this.#o.url,
        error: error.message,
      });
    });
    client.on("message", (topic, payload) => this.emit("message", topic, payload, "broker"));
    // Resolves at once: the path comes up whenever the broker answers, and start never blocks the bridge.
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.endAsync(true);
    if (this.#up) {
      this.#up = false;
      this.emit("down", "stopped");
    }
  }
}
