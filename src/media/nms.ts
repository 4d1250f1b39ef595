// Typed access to the parts of node-media-server 4.4 the ingest uses (4.x ships no types). We load its
// RTMP session (handshake, chunk parser, per-path broadcast with the GOP cache) and SPS parser only:
// its NodeMediaServer class also opens a JSON store in ./data, an HTTP server, and calls
// process.exit when a port is taken, none of which a bridge wants.
import { createRequire } from "node:module";
import type { Socket } from "node:net";

const require = createRequire(import.meta.url);

/** One demuxed FLV/RTMP message. `data` is the parser's reusable buffer: copy what you keep. */
export interface NmsPacket {
  /** 8 audio, 9 video, 18 script data. */
  codec_type: number;
  /** FLV codec id (7 = H.264, 10 = AAC). */
  codec_id: number;
  /** 0 audio header, 1 audio frame, 2 video sequence header, 3 keyframe, 4 inter frame, 5 metadata. */
  flags: number;
  dts: number;
  pts: number;
  size: number;
  data: Buffer;
}

export interface NmsBroadcast {
  streamPath: string;
  publisher: NmsRtmpSession | null;
  subscribers: Map<string, NmsRtmpSession>;
}

export interface NmsRtmpSession {
  readonly id: string;
  /** "address:port" of the peer. */
  readonly ip: string;
  readonly socket: Socket;
  streamApp: string;
  streamName: string;
  /** "/app/name", set once the peer says publish or play. */
  streamPath: string;
  isPublisher: boolean;
  inBytes: number;
  /** From the publisher's onMetaData (0 when absent). */
  videoFramerate: number;
  audioCodec: number;
  broadcast: NmsBroadcast;
  /** Protocol parser; its callbacks are assigned by run(). */
  rtmp: {
    onPushCallback: () => void;
    onPlayCallback: () => void;
    onPacketCallback: (packet: NmsPacket) => void;
  };
  /** Socket data handler (arrow property, bound by run()). */
  onData: (data: Buffer) => void;
  run(): void;
}

interface NmsLogger {
  log(message: string, level?: string): void;
}

export const RtmpSession = require("node-media-server/src/session/rtmp_session.js") as new (socket: Socket) => NmsRtmpSession;

const { parseH264Sps } = require("node-media-server/src/protocol/sps_info.js") as {
  parseH264Sps(sps: Buffer): { width: number; height: number } | null;
};
export { parseH264Sps };

const nmsLogger = require("node-media-server/src/core/logger.js") as NmsLogger;

/** NMS logs with console.log, stream paths (our secret keys) included: send its lines to our logger
 * (which scrubs registered secrets) at debug level instead. */
export function routeNmsLog(sink: (message: string) => void): void {
  nmsLogger.log = (message: string) => sink(String(message));
}
