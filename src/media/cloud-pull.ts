// Reads one camera's stream from the vendor's cloud (RTMPS) into the ingest, where it publishes as a
// camera push would: the hub, live views, snapshots and recordings see one stream whichever way it
// came. Our own RTMP client (protocol/rtmp-client.ts) over node:tls, so the token in the URL stays in
// this process: never on a command line, never in a log line. Certificates are verified; a test may
// add a CA of its own (CloudStream.ca), nothing turns verification off.
import { isIP, connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect, rootCertificates } from "node:tls";
import type { CloudStream } from "../core/camera.ts";
import { REAL_CLOCK, type Clock, type TimerHandle } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import type { PulledStream, RtmpIngest } from "./ingest.ts";
import { playTarget, RtmpClientSession } from "./protocol/rtmp-client.ts";

export interface CloudPullOptions {
  deviceId: string;
  name: string;
  ingest: Pick<RtmpIngest, "attachPull">;
  log: Logger;
  /** TCP + TLS + RTMP handshake + play accepted within this (default 10 s). */
  connectTimeoutMs?: number;
  clock?: Clock;
}

export class CloudPullError extends Error {}

/** One read of a cloud URL: start() resolves once the server accepted the play; `ended` when it is over. */
export class CloudPull {
  readonly url: string;
  readonly expiresAt: number | undefined;
  readonly ended: Promise<string>;
  readonly #o: CloudPullOptions;
  readonly #stream: CloudStream;
  readonly #clock: Clock;
  #socket: Socket | undefined;
  #session: RtmpClientSession | undefined;
  #feed: PulledStream | undefined;
  #end!: (reason: string) => void;
  #closed = false;
  /** Media arrived: the URL worked (a read that ends before any did was probably refused). */
  gotMedia = false;

  constructor(stream: CloudStream, options: CloudPullOptions) {
    this.url = stream.url;
    this.expiresAt = stream.expiresAt;
    this.#stream = stream;
    this.#o = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.ended = new Promise((resolve) => (this.#end = resolve));
  }

  get active(): boolean {
    return !this.#closed;
  }

  /** Connect and ask to play. Rejects with a clear error that never contains the URL. */
  start(): Promise<void> {
    const { name, deviceId, ingest, log } = this.#o;
    const target = playTarget(this.#stream.url);
    const where = `${target.host}:${target.port}`;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (why: string): void => {
        this.close(why);
        if (settled) return;
        settled = true;
        reject(new CloudPullError(`${name}: reading the stream from the cloud (${where}) failed: ${why}`));
      };
      const timeoutMs = this.#o.connectTimeoutMs ?? 10_000;
      const timer: TimerHandle = this.#clock.setTimeout(
        () => fail(`no stream within ${Math.round(timeoutMs / 100) / 10} s`),
        timeoutMs,
      );
      const socket = target.tls
        ? tlsConnect({
            host: target.host,
            port: target.port,
            // SNI only for names; an address is checked against the certificate's IP entries.
            ...(isIP(target.host) ? {} : { servername: target.host }),
            ...(this.#stream.ca ? { ca: [...rootCertificates, this.#stream.ca] } : {}),
          })
        : tcpConnect({ host: target.host, port: target.port });
      this.#socket = socket;
      socket.setNoDelay(true);
      const session = new RtmpClientSession(
        {
          send: (data) => {
            if (!socket.destroyed) socket.write(data);
          },
          playing: () => {
            this.#clock.clearTimeout(timer);
            this.#feed = ingest.attachPull(deviceId, target.host, () => this.close("dropped by the bridge"));
            if (!this.#feed) return fail("the camera is already publishing another way");
            settled = true;
            resolve();
          },
          media: (message) => {
            this.gotMedia = true;
            this.#feed?.media(message);
          },
        },
        target,
      );
      this.#session = session;
      socket.once(target.tls ? "secureConnect" : "connect", () => session.start());
      socket.on("data", (data: Buffer) => {
        this.#feed?.received(data.length);
        try {
          session.receive(data);
        } catch (error) {
          fail((error as Error).message);
        }
      });
      socket.on("error", (error: NodeJS.ErrnoException) =>
        fail(error.code ? `${error.code}: ${error.message}` : error.message),
      );
      socket.on("close", () => {
        this.#clock.clearTimeout(timer);
        fail(settled ? "the cloud closed the stream" : "the cloud closed the connection before the stream started");
      });
      log.debug({ device: deviceId, host: target.host }, `${name}: reading the stream from the cloud (${where})`);
    });
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#session?.close();
    this.#socket?.destroy();
    this.#feed?.end();
    this.#end(reason);
  }
}
