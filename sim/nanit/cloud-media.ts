// Nanit's RTMPS media host, simulated (docs/protocols/nanit.md §6.2): told by PUT_STREAMING, the camera
// publishes to rtmps://<host>/nanit/{baby_uid}.{access_token} and a player reads the very same URL.
// TLS on 127.0.0.1 with a self-signed certificate made at start (tests trust it explicitly; nothing
// turns verification off). Tokens are checked when a publish or play is asked for: an unknown or
// expired one gets onStatus NetStream.Play.Failed / Publish.BadName and the connection is closed; a
// running read or push is cut when its token expires. Test hooks refuse the next plays and count
// them. node-media-server 4.4's RTMP session (with its GOP cache) does the protocol; it is the
// simulator's stand-in for Nanit's server and shares no code with the bridge.
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import type { AddressInfo, Socket } from "node:net";
import { createServer, type Server } from "node:tls";
import { generate } from "selfsigned";

const require = createRequire(import.meta.url);

interface NmsInvoke {
  streamName: string;
}

interface NmsRtmp {
  streamApp: string;
  parserPacket: { header: { stream_id: number } };
  onPlay(invoke: NmsInvoke): void;
  onPublish(invoke: NmsInvoke): void;
  sendStatusMessage(streamId: number, level: string, code: string, description: string): void;
}

interface NmsSession {
  rtmp: NmsRtmp;
  broadcast: { publishGraceMs: number };
  run(): void;
}

type NmsSessionClass = new (socket: Socket) => NmsSession;
let rtmpSession: NmsSessionClass | undefined;

/** node-media-server's RTMP session, loaded at the first connection: it is a devDependency, so the Docker
 * image (production packages only) runs the demo's simulators without it; its cloud video host then refuses
 * connections (the demo's camera streams over loopback and never asks it). */
function loadRtmpSession(): NmsSessionClass {
  if (rtmpSession) return rtmpSession;
  const session = require("node-media-server/src/session/rtmp_session.js") as NmsSessionClass;
  // node-media-server logs every session to stdout, which must stay clean in tests.
  (require("node-media-server/src/core/logger.js") as { level: string }).level = "error";
  rtmpSession = session;
  return session;
}

export const CLOUD_MEDIA_APP = "nanit";

export interface CloudMediaOptions {
  /** Whether the simulator issued this access token and it has not been revoked. */
  tokenKnown: (token: string) => boolean;
}

export interface CloudMediaEvents {
  /** A play or publish asked for; `refused` says why it was turned away. */
  "cloud-session": [{ kind: "play" | "publish"; babyUid: string; refused?: string }];
}

function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as {
      exp?: number;
    };
    return typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export class CloudMediaServer extends EventEmitter<CloudMediaEvents> {
  readonly #o: CloudMediaOptions;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #refusePlays = 0;
  /** The certificate (PEM) clients must trust. */
  cert = "";
  port = 0;
  /** Plays accepted / refused so far. */
  plays = 0;
  refusedPlays = 0;

  constructor(options: CloudMediaOptions) {
    super();
    this.#o = options;
  }

  /** rtmps://127.0.0.1:<port>/nanit: the driver's endpoints.media. */
  get base(): string {
    return `rtmps://127.0.0.1:${this.port}/${CLOUD_MEDIA_APP}`;
  }

  async start(): Promise<void> {
    const pems = await generate([{ name: "commonName", value: "media-secured.nanit.invalid" }], {
      keySize: 2048,
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: true },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true },
        { name: "extKeyUsage", serverAuth: true },
        { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] },
      ],
    });
    this.cert = pems.cert;
    const server = createServer({ key: pems.private, cert: pems.cert }, (socket) => this.#accept(socket));
    // Connections whose TLS handshake failed (a client that does not trust us) are tracked too: stop()
    // must not wait for them.
    server.on("connection", (raw: Socket) => {
      this.#sockets.add(raw);
      raw.on("close", () => this.#sockets.delete(raw));
    });
    server.on("tlsClientError", (_error, socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server;
    if (server) await new Promise((done) => server.close(done));
  }

  /** Refuse the next `count` plays as for a bad token (NetStream.Play.Failed, then the connection closes). */
  refuseNextPlays(count = 1): void {
    this.#refusePlays += count;
  }

  /** Cut every read and push now (an outage); new ones work. */
  dropAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("error", () => undefined);
    let expiry: NodeJS.Timeout | undefined;
    socket.on("close", () => {
      clearTimeout(expiry);
      this.#sockets.delete(socket);
    });
    let RtmpSession: NmsSessionClass;
    try {
      RtmpSession = loadRtmpSession();
    } catch {
      socket.destroy();
      return;
    }
    const session = new RtmpSession(socket);
    const { rtmp } = session;
    const check = (kind: "play" | "publish", invoke: NmsInvoke, go: (invoke: NmsInvoke) => void): void => {
      const name = invoke.streamName.split("?")[0] ?? "";
      const dot = name.indexOf(".");
      const babyUid = dot > 0 ? name.slice(0, dot) : "";
      const token = dot > 0 ? name.slice(dot + 1) : "";
      const exp = tokenExpiry(token);
      let refused: string | undefined;
      if (rtmp.streamApp !== CLOUD_MEDIA_APP || !babyUid) refused = "unknown stream";
      else if (!this.#o.tokenKnown(token)) refused = "unauthorized";
      else if (exp === undefined || exp <= Date.now()) refused = "token expired";
      else if (kind === "play" && this.#refusePlays > 0) {
        this.#refusePlays--;
        refused = "unauthorized";
      }
      this.emit("cloud-session", { kind, babyUid, ...(refused ? { refused } : {}) });
      if (refused) {
        if (kind === "play") this.refusedPlays++;
        const code = kind === "play" ? "NetStream.Play.Failed" : "NetStream.Publish.BadName";
        rtmp.sendStatusMessage(rtmp.parserPacket.header.stream_id, "error", code, refused);
        socket.end();
        return;
      }
      if (kind === "play") this.plays++;
      expiry = setTimeout(() => socket.destroy(), exp! - Date.now());
      expiry.unref();
      // node-media-server accepts only [A-Za-z0-9_-] names: the same URL maps to the same hashed name.
      go({ ...invoke, streamName: createHash("sha256").update(name).digest("hex") });
      // node-media-server holds a publish (and its GOP) 30 s after the publisher left, for a resume: a
      // later player would get stale frames at once. Nothing says Nanit does that: the push ends at once.
      session.broadcast.publishGraceMs = 0;
    };
    const play = rtmp.onPlay.bind(rtmp);
    const publish = rtmp.onPublish.bind(rtmp);
    rtmp.onPlay = (invoke) => check("play", invoke, play);
    rtmp.onPublish = (invoke) => check("publish", invoke, publish);
    session.run();
  }
}
