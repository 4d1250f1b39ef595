// The vendor- and ecosystem-neutral camera contract. Three parties meet here and nowhere else:
// - a camera vendor's driver (its module says `produces.cameras`) can ask a camera to push its video
//   to an RTMP URL, and says when a push was lost (the control socket reconnected);
// - src/media owns the RTMP ingest, one stream hub per camera, ffmpeg sessions and snapshots, and
//   implements CameraSource;
// - an ecosystem host (src/homekit) renders a camera through a CameraSource it is handed, never
//   knowing which vendor or library produces the video.

/** One video profile the camera pushes (the hub learns the real one from the stream itself). */
export interface CameraProfile {
  width: number;
  height: number;
  fps: number;
}

/** The `camera` capability: the device is a stream source. */
export interface CameraCapability {
  /** Profiles the camera can push, largest first. */
  profiles: CameraProfile[];
  /** The push carries audio (AAC). */
  audio: boolean;
  /** Sensors besides motion that start a recording (opt-in by the user): while one is detected, the
   * motion sensor linked to a recording camera reads detected too (README "Recording"). */
  recordingTriggers?: readonly RecordingTrigger[];
}

/** The device's sensors that may start a recording besides motion. */
export const RECORDING_TRIGGERS = ["sound", "cry"] as const;
export type RecordingTrigger = (typeof RECORDING_TRIGGERS)[number];

/** Where a camera's video reaches the bridge: pushed to our ingest, or pulled from the vendor's cloud. */
export type StreamPath = "local" | "cloud";

/** What a driver is asked to do with a camera's push. */
export interface StreamRequest {
  action: "start" | "stop";
  /** rtmp://<media.rtmpHost>:<port>/<app>/<secret key>: where the camera must push (path "local"). */
  url: string;
  /** "cloud": the camera sends its video to the vendor's cloud and the driver answers where to read it
   * (a CloudStream). Absent: "local". */
  path?: StreamPath;
  /** Cloud only: the last URL was refused or expired; build a new one (a fresh token). */
  freshUrl?: boolean;
}

/** What a stream request resolves to: a CloudStream for a cloud start, nothing otherwise. */
// biome-ignore lint/suspicious/noConfusingVoidType: drivers and test fakes without a cloud path return Promise<void>.
export type StreamAnswer = CloudStream | undefined | void;

/** A driver's answer to a cloud start: where the bridge reads the camera's stream (rtmp:// or rtmps://).
 * The URL holds a token: a secret, never logged and never on a command line. */
export interface CloudStream {
  url: string;
  /** PEM certificates to trust for this URL besides the system's (tests with a simulator only). */
  ca?: string;
  /** Epoch ms when the URL's token expires (when known): the reader gets a new URL before it. */
  expiresAt?: number;
}

/** Why a driver told the core that a camera stopped pushing (the hub re-requests if anyone watches). */
export type StreamInterruption = "link-reconnected" | "device-unavailable" | "vendor-stopped";

/** Where to send one live stream (as an ecosystem negotiated it). Neutral: HomeKit's SRTP setup maps onto it. */
export interface LiveStreamTarget {
  /** Controller address (IPv4 or IPv6) and ports. */
  address: string;
  videoPort: number;
  audioPort?: number;
  /** SRTP AES_CM_128_HMAC_SHA1_80: 16-byte key + 14-byte salt, per direction we send. Secret: never logged. */
  videoSrtpKey: Buffer;
  videoSrtpSalt: Buffer;
  audioSrtpKey?: Buffer;
  audioSrtpSalt?: Buffer;
  /** Synchronisation sources (unsigned 32-bit). */
  videoSsrc: number;
  audioSsrc?: number;
}

/** The picture the controller asked for. */
export interface LiveStreamVideo {
  width: number;
  height: number;
  fps: number;
  /** kbit/s ceiling. */
  maxBitrate: number;
  /** RTP payload type and maximum packet size the controller chose. */
  payloadType: number;
  mtu: number;
  /** H.264 profile / level the controller accepts, e.g. "main" / "4.0" (copy mode needs the source to fit). */
  profile: "baseline" | "main" | "high";
  level: "3.1" | "3.2" | "4.0";
}

export interface LiveStreamAudio {
  codec: "opus";
  sampleRateKHz: 16 | 24;
  channels: 1;
  maxBitrate: number;
  payloadType: number;
  /** Packet time in ms (HomeKit: 20 or 30 or 60). */
  packetTimeMs: number;
}

export interface LiveStreamRequest {
  target: LiveStreamTarget;
  video: LiveStreamVideo;
  /** Absent: video only. */
  audio?: LiveStreamAudio;
}

/** One running live stream; resolves `ended` when ffmpeg is gone for whatever reason. */
export interface LiveStream {
  readonly id: string;
  /** "copy" when the camera's H.264 went through untouched, "transcode" when it was re-encoded. */
  readonly mode: "copy" | "transcode";
  readonly ended: Promise<{ reason: string }>;
  /** Change resolution / bitrate while running (HomeKit RECONFIGURE): restarts the encoder if needed. */
  reconfigure(video: Partial<LiveStreamVideo>): Promise<void>;
  stop(): Promise<void>;
}

/** One recorded clip as the ecosystem asked for it (HomeKit Secure Video: fragmented MP4). */
export interface RecordingRequest {
  /** Largest fragment in ms (HomeKit's selected fragment length). */
  fragmentMs: number;
  /** Include the camera's audio (copied). */
  audio: boolean;
}

/** One packet of a clip: the initialization segment (ftyp+moov) first, then moof+mdat fragments. */
export interface RecordingPacket {
  kind: "init" | "fragment";
  data: Buffer;
  /** The clip's last packet. */
  last: boolean;
}

export interface RecordingClipStream {
  /** The packets, the last flagged; returns early (unflagged) when the clip is stopped. */
  packets(): AsyncGenerator<RecordingPacket>;
  /** Stop now (the consumer went away); resolves once nothing of the clip runs any more. */
  stop(reason: string): Promise<void>;
  readonly ended: Promise<{ reason: string; clean: boolean; fragments: number; bytes: number }>;
}

/** Event recording for a camera: pre-buffer while enabled, clips on triggers. */
export interface CameraRecorder {
  /** Recording enabled with this much pre-buffer (ms; keeps the camera pushing), or off (undefined). */
  configure(prebufferMs: number | undefined): void;
  /** An event worth recording began (true) or ended (false): a clip in progress ends after the post-roll. */
  trigger(active: boolean): void;
  /** Start a clip: the pre-buffer, then live until the trigger ends. Rejects when recording is off. */
  record(request: RecordingRequest): Promise<RecordingClipStream>;
  /** Stop every clip and the pre-buffer (the accessory goes away). */
  close(): Promise<void>;
}

/** What the media layer offers a host for one camera. */
export interface CameraSource {
  readonly deviceId: string;
  /** A JPEG of (about) this size from the last keyframe the hub holds; starts the camera if needed. */
  snapshot(width: number, height: number): Promise<Buffer>;
  /** Start one live stream (a viewer); the camera push is requested if it is not running. */
  startLive(request: LiveStreamRequest): Promise<LiveStream>;
  /** Event recording (absent: the source cannot record). */
  readonly recorder?: CameraRecorder;
}

/** Looks a camera up by device id; the host asks once per camera accessory. */
export interface CameraSourceProvider {
  sourceFor(deviceId: string): CameraSource | undefined;
}
