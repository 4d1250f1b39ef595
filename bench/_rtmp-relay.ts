// A plain RTMP server that serves players, for the camera bench's baseline only: homebridge-camera-ffmpeg
// reads its source with `-i rtmp://...`, and the bridge's own ingest no longer serves readers (its
// ffmpeg children are fed on stdin, so no stream key is on a command line). This is node-media-server
// 4.4's RTMP session with its GOP cache, as the bridge's ingest used before (no limits: bench only).
import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";

const require = createRequire(import.meta.url);

interface NmsPacket {
  codec_type: number;
  flags: number;
}

interface NmsSession {
  socket: Socket;
  rtmp: { onPacketCallback: (packet: NmsPacket) => void };
  run(): void;
}

const RtmpSession = require("node-media-server/src/session/rtmp_session.js") as new (socket: Socket) => NmsSession;
const nmsLogger = require("node-media-server/src/core/logger.js") as { log(message: string): void };

export class RtmpRelay extends EventEmitter<{ keyframe: [] }> {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    super();
    nmsLogger.log = () => undefined;
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      socket.on("error", () => undefined);
      const session = new RtmpSession(socket);
      session.run();
      const packet = session.rtmp.onPacketCallback;
      session.rtmp.onPacketCallback = (p) => {
        packet(p);
        // FLV video, keyframe.
        if (p.codec_type === 9 && p.flags === 3) this.emit("keyframe");
      };
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((done) => this.#server.close(done));
  }
}
