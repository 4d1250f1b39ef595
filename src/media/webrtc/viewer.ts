// One WebRTC viewer of one camera (werift, pure TypeScript): the viewer's offer is answered with a
// send-only H.264 video and Opus audio pair. Video is the camera's own H.264, packetized here from the
// ingest's frames (RFC 6184, as the HomeKit relay does: the held keyframe first, SPS/PPS before each
// IDR); werift adds DTLS-SRTP, sender reports and NACK retransmissions. Audio is the camera's shared
// Opus encoder (opus-feed.ts). Sending starts once ICE and DTLS are up; the viewer ends on DTLS
// close, ICE failure or consent expiry, on stop(), or when it never connects within the timeout.
// A re-offer of the peer (Matter's ProvideOffer for a running session) is applied to the same peer
// connection: the video goes on over the same sender, and sound starts or stops as the new offer asks.
import {
  MediaStreamTrack,
  RTCPeerConnection,
  useH264,
  useOPUS,
  type RTCIceCandidateInit,
  type RTCPeerConnectionConfig,
  type RTCRtpTransceiver,
} from "werift";
import { REAL_CLOCK, type Clock, type TimerHandle } from "../../core/clock.ts";
import type { Logger } from "../../core/logger.ts";
import type { FrameSource, VideoFrame } from "../feed.ts";
import { type AccessUnit, AccessUnits } from "../access-units.ts";
import { H264Packetizer } from "../protocol/h264-rtp.ts";
import type { OpusFeed } from "./opus-feed.ts";
import { checkOffer, MAX_OFFER_BYTES, OfferRefused } from "./sdp-offer.ts";
import { FragmentRefused, isCandidate, type TrickleFragment } from "./sdp-frag.ts";

/** RTP packets stay well under the path MTU once SRTP and the UDP/IP headers are added. */
const MAX_RTP_PACKET = 1_200;
/** Seconds to wait for server-reflexive candidates when a STUN server is configured. */
const STUN_GATHER_S = 3;
const GATHER_TIMEOUT_MS = 8_000;
/** The held GOP plays this many times faster than it was filmed (2 s of frames in 0.1 s). */
const REPLAY_SQUEEZE = 20;
const PROFILE_IDC = { baseline: "42", main: "4d", high: "64" } as const;
/** Candidates one view may trickle: a browser gathers a few per network; each one is a pair werift checks. */
const MAX_TRICKLED = 100;

export interface WebRtcViewerOptions {
  id: string;
  /** "live <camera> webrtc #n" for log lines. */
  label: string;
  offer: string;
  /** ICE part of the peer configuration (ice-config.ts). */
  ice: RTCPeerConnectionConfig;
  video: FrameSource;
  /** The camera's profile when known: the offered H.264 variant of that profile is answered. */
  profile?: "baseline" | "main" | "high";
  /** The camera's sound; absent when it has none. */
  audio?: OpusFeed;
  connectTimeoutMs: number;
  log: Logger;
  clock?: Clock;
}

export interface WebRtcViewerStats {
  /** Access units and RTP packets handed to the sender. */
  frames: number;
  videoPackets: number;
  audioPackets: number;
  /** clock.now() when ICE+DTLS were up and when the first video frame went out. */
  connectedAt?: number;
  firstFrameAt?: number;
}

/** The offered profile-level-id to answer: the camera's profile if offered, else the viewer's first. */
export function pickProfileLevelId(offered: string[], profile: WebRtcViewerOptions["profile"]): string {
  const wanted = PROFILE_IDC[profile ?? "main"];
  return offered.find((id) => id.startsWith(wanted)) ?? offered[0]!;
}

export class WebRtcViewer {
  readonly id: string;
  readonly ended: Promise<{ reason: string }>;
  readonly stats: WebRtcViewerStats = { frames: 0, videoPackets: 0, audioPackets: 0 };
  readonly #options: WebRtcViewerOptions;
  readonly #clock: Clock;
  readonly #pc: RTCPeerConnection;
  readonly #packetizer = new H264Packetizer({ payloadType: 96, ssrc: 0, maxPacketSize: MAX_RTP_PACKET });
  readonly #accessUnits = new AccessUnits();
  #video: RTCRtpTransceiver | undefined;
  #audio: RTCRtpTransceiver | undefined;
  #connectTimer: TimerHandle | undefined;
  #unsubscribe: Array<() => void> = [];
  /** Stops the sound (set while it is sent). */
  #stopAudio: (() => void) | undefined;
  /** A re-offer is being answered. */
  #renegotiating = false;
  #finish!: (result: { reason: string }) => void;
  #finished = false;
  #wantsAudio = false;
  /** While the held GOP is handed over: its frames, sent once it is all there. */
  #replay: AccessUnit[] | undefined;
  /** Trickled candidates so far, and the chain that hands them to werift in the order they came. */
  #trickled = 0;
  #candidates: Promise<void> = Promise.resolve();

  private constructor(options: WebRtcViewerOptions, pc: RTCPeerConnection) {
    this.id = options.id;
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#pc = pc;
    this.ended = new Promise((done) => {
      this.#finish = done;
    });
  }

  /** Answer the viewer's offer; rejects with OfferRefused for an offer we cannot answer. The returned
   * viewer runs until `ended`; its answer (all our candidates in it; the viewer's may follow: `trickle`) is
   * `answer`. */
  static async answer(options: WebRtcViewerOptions): Promise<{ viewer: WebRtcViewer; answer: string }> {
    const summary = checkOffer(options.offer);
    const profileLevelId = pickProfileLevelId(summary.h264, options.profile);
    const h264 = useH264({
      parameters: `profile-level-id=${profileLevelId};packetization-mode=1;level-asymmetry-allowed=1`,
    });
    const pc = new RTCPeerConnection({
      ...options.ice,
      iceStunGatherTimeout: STUN_GATHER_S,
      codecs: { video: [h264], audio: [useOPUS()] },
    });
    // Added before the offer is applied, so they take its sections. werift matches an offered codec by
    // MIME type alone unless the track says which one it sends: the camera's profile is that one.
    pc.addTransceiver(new MediaStreamTrack({ kind: "video", codec: h264 }), { direction: "sendonly" });
    // Only for an offer with sound: a transceiver without a section of the offer keeps werift from connecting.
    if (summary.audio) pc.addTransceiver("audio", { direction: "sendonly" });
    const viewer = new WebRtcViewer(options, pc);
    viewer.#wantsAudio = summary.audio && options.audio !== undefined;
    try {
      return { viewer, answer: await viewer.#negotiate(summary.audio) };
    } catch (error) {
      await viewer.stop("the offer could not be answered");
      if (error instanceof OfferRefused) throw error;
      throw new OfferRefused(`the offer could not be answered: ${(error as Error).message}`);
    }
  }

  async #negotiate(audioOffered: boolean): Promise<string> {
    const answer = await this.#answerOffer(this.#options.offer, audioOffered);
    this.#watch();
    return answer;
  }

  /** Apply the peer's offer and answer it: our video (and sound when it receives sound) send-only, the rest
   * inactive. */
  async #answerOffer(offer: string, audioOffered: boolean): Promise<string> {
    const pc = this.#pc;
    await pc.setRemoteDescription({ type: "offer", sdp: offer });
    const transceivers = pc.getTransceivers();
    this.#video = transceivers.find((t) => t.kind === "video");
    this.#audio = transceivers.find((t) => t.kind === "audio");
    const sends = (t: RTCRtpTransceiver) => t === this.#video || (t === this.#audio && audioOffered);
    for (const t of transceivers) t.setDirection(sends(t) ? "sendonly" : "inactive");
    await pc.setLocalDescription(await pc.createAnswer());
    await this.#gathered();
    const answer = pc.localDescription?.sdp;
    if (!answer || !this.#video?.sender) throw new OfferRefused("no answer could be made");
    if (/^m=video 0 /m.test(answer)) throw new OfferRefused("the offer's H.264 could not be negotiated");
    return answer;
  }

  /** An offer of the peer is being applied and answered (a re-offer now would cross it). */
  get negotiating(): boolean {
    return this.#renegotiating || this.#pc.signalingState !== "stable";
  }

  /**
   * A new offer of the peer for this running viewer (a re-offer, e.g. sound added or dropped): answered on
   * the same peer connection. An offer we cannot answer is refused (OfferRefused) before the connection is
   * touched, and the viewer goes on as it was; one werift fails to apply ends the viewer (its state is unknown).
   */
  async reoffer(offer: string): Promise<string> {
    if (this.#finished) throw new OfferRefused("the session has ended");
    if (this.negotiating) throw new OfferRefused("an offer of this session is still being answered");
    const summary = checkOffer(offer);
    this.#renegotiating = true;
    try {
      this.#wantsAudio = summary.audio && this.#options.audio !== undefined;
      const answer = await this.#answerOffer(offer, summary.audio);
      if (this.stats.connectedAt !== undefined) await this.#syncAudio();
      return answer;
    } catch (error) {
      const why = `the re-offer could not be applied: ${(error as Error).message}`;
      await this.stop(why);
      throw new OfferRefused(why);
    } finally {
      this.#renegotiating = false;
    }
  }

  /**
   * Our own offer (Matter's SolicitOffer): send-only H.264 in the camera's profile and, when the camera
   * has sound, Opus. The viewer connects once `accept` applied the peer's answer; the connect timeout
   * runs from the offer.
   */
  static async offer(options: Omit<WebRtcViewerOptions, "offer">): Promise<{ viewer: WebRtcViewer; offer: string }> {
    const h264 = useH264({
      parameters:
        `profile-level-id=${PROFILE_IDC[options.profile ?? "main"]}001f;` +
        "packetization-mode=1;level-asymmetry-allowed=1",
    });
    const pc = new RTCPeerConnection({
      ...options.ice,
      bundlePolicy: "max-bundle",
      iceStunGatherTimeout: STUN_GATHER_S,
      codecs: { video: [h264], audio: [useOPUS()] },
    });
    const viewer = new WebRtcViewer({ ...options, offer: "" }, pc);
    viewer.#video = pc.addTransceiver(new MediaStreamTrack({ kind: "video", codec: h264 }), { direction: "sendonly" });
    if (options.audio) viewer.#audio = pc.addTransceiver("audio", { direction: "sendonly" });
    viewer.#wantsAudio = options.audio !== undefined;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await viewer.#gathered();
      const offer = pc.localDescription?.sdp;
      if (!offer) throw new Error("no offer could be made");
      viewer.#watch();
      return { viewer, offer };
    } catch (error) {
      await viewer.stop("the offer could not be made");
      throw error;
    }
  }

  /** The peer's answer to our offer; rejects with OfferRefused for one that cannot be applied. */
  async accept(answer: string): Promise<void> {
    if (this.#finished) throw new OfferRefused("the session has ended");
    if (Buffer.byteLength(answer) > MAX_OFFER_BYTES)
      throw new OfferRefused(`the answer is larger than ${MAX_OFFER_BYTES} bytes`);
    if (!answer.startsWith("v=0")) throw new OfferRefused("the answer is not SDP (no v=0 line)");
    try {
      await this.#pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (error) {
      throw new OfferRefused(`the answer could not be applied: ${(error as Error).message}`);
    }
  }

  /** A candidate the peer trickled after the offer/answer (RFC 8839 candidate-attribute). */
  async addCandidate(candidate: string, sdpMid: string | null, sdpMLineIndex: number | null): Promise<void> {
    if (this.#finished) return;
    if (candidate.length > 512 || !isCandidate(candidate)) throw new OfferRefused("not an ICE candidate");
    await this.#pc.addIceCandidate({
      candidate: candidate.replace(/^a=/, ""),
      sdpMid: sdpMid ?? undefined,
      sdpMLineIndex: sdpMLineIndex ?? undefined,
    });
  }

  /** The view has ended (stopped, failed or timed out). */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Candidates a WHEP viewer trickled (sdp-frag.ts). Checked against its offer first (FragmentRefused: 422 for
   * other ICE credentials, an ICE restart, which is not supported; 400 for a mid it does not have or too many
   * candidates); then handed to werift in the order they came, without waiting: werift resolves a browser's
   * mDNS name (*.local) before it uses the candidate, which may take seconds.
   */
  trickle(fragment: TrickleFragment): void {
    if (this.#finished) throw new FragmentRefused("the session has ended", 404);
    const remote = this.#pc.remoteDescription?.sdp ?? "";
    const values = (key: string) =>
      new Set([...remote.matchAll(new RegExp(`^a=${key}:(\\S+)`, "gm"))].map((m) => m[1]));
    const other = (key: "ufrag" | "pwd") => fragment[key] !== undefined && !values(`ice-${key}`).has(fragment[key]);
    if (other("ufrag") || other("pwd"))
      throw new FragmentRefused(
        "the fragment's ICE credentials are not this view's (ICE restarts are not supported)",
        422,
      );
    const mids = values("mid");
    const unknown = fragment.candidates.find((c) => c.sdpMid !== undefined && !mids.has(c.sdpMid));
    if (unknown) throw new FragmentRefused(`the offer has no media section with mid ${unknown.sdpMid}`);
    if (this.#trickled + fragment.candidates.length > MAX_TRICKLED)
      throw new FragmentRefused(`more than ${MAX_TRICKLED} candidates for one view`);
    this.#trickled += fragment.candidates.length;
    for (const { candidate, sdpMid } of fragment.candidates)
      this.#addTrickled(sdpMid === undefined ? { candidate, sdpMLineIndex: 0 } : { candidate, sdpMid });
    // An empty candidate is werift's end-of-candidates for every section.
    if (fragment.end) this.#addTrickled({ candidate: "" });
  }

  #addTrickled(init: RTCIceCandidateInit): void {
    this.#candidates = this.#candidates
      .then(() => (this.#finished ? undefined : this.#pc.addIceCandidate(init)))
      .catch((error: Error) =>
        this.#options.log.debug(`${this.#options.label}: a trickled candidate: ${error.message}`),
      );
  }

  /** Connection state and the connect timeout, once the local description is set. */
  #watch(): void {
    this.#pc.connectionStateChange.subscribe((state) => this.#state(state));
    this.#connectTimer = this.#clock.setTimeout(() => {
      const seconds = Math.round(this.#options.connectTimeoutMs / 100) / 10;
      this.#end(`ICE and DTLS did not connect within ${seconds} s`);
    }, this.#options.connectTimeoutMs);
  }

  /** ICE gathering done (host candidates: at once; with STUN up to a few seconds). */
  #gathered(): Promise<void> {
    const pc = this.#pc;
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        subscription.unSubscribe();
        reject(new Error("ICE candidates were not gathered in time"));
      }, GATHER_TIMEOUT_MS);
      const subscription = pc.iceGatheringStateChange.subscribe((state) => {
        if (state !== "complete") return;
        this.#clock.clearTimeout(timer);
        subscription.unSubscribe();
        resolve();
      });
    });
  }

  #state(state: string): void {
    if (this.#finished) return;
    if (state === "connected" && this.stats.connectedAt === undefined) {
      this.#clock.clearTimeout(this.#connectTimer);
      this.stats.connectedAt = this.#clock.now();
      this.#options.log.debug(`${this.#options.label}: connected`);
      this.#startSending().catch((error: Error) => {
        this.#options.log.warn({ err: error }, `${this.#options.label}: no sound: ${error.message}`);
      });
    } else if (state === "failed" || state === "closed") {
      this.#end(state === "failed" ? "the viewer's connection failed" : "the viewer closed the connection");
    }
  }

  async #startSending(): Promise<void> {
    // The held keyframe and the frames after it go out at once: a picture without waiting for a GOP.
    this.#replay = [];
    this.#unsubscribe.push(this.#options.video.subscribe({ video: (frame) => this.#frame(frame) }));
    this.#flushReplay();
    await this.#syncAudio();
  }

  /** Sound goes out exactly while the negotiated offer wants it (a re-offer may add or drop it). */
  async #syncAudio(): Promise<void> {
    const audio = this.#wantsAudio ? this.#audio : undefined;
    if (!audio) {
      this.#stopAudio?.();
      this.#stopAudio = undefined;
      return;
    }
    if (this.#stopAudio) return;
    const sender = audio.sender;
    // Marks the subscription under way: a re-offer that drops the sound meanwhile clears it.
    const pending = () => undefined;
    this.#stopAudio = pending;
    const unsubscribe = await this.#options.audio!.subscribe((packet) => {
      this.stats.audioPackets++;
      sender.sendRtp(packet).catch(() => undefined);
    });
    if (this.#finished || this.#stopAudio !== pending) unsubscribe();
    else this.#stopAudio = unsubscribe;
  }

  #frame(frame: VideoFrame): void {
    if (this.#finished) return;
    const unit = this.#accessUnits.next(frame);
    if (!unit) return;
    if (this.#replay) this.#replay.push(unit);
    else this.#send(unit.units, unit.timestamp);
  }

  /**
   * The held GOP goes out at once, but its frames' times span up to a GOP (seconds): a browser's jitter
   * buffer would hold the first picture back to play them at that pace. Their times are squeezed
   * towards the newest one (order kept), so the picture shows at once and plays the GOP fast; live
   * frames continue the clock from the newest.
   * One frame per turn of the event loop, not the whole GOP in one go: a GOP of 720p is a few hundred
   * kilobytes, more than a receiving UDP socket's buffer holds (about 208 KiB on Linux by default), so a
   * viewer that could not read in between lost packets of the last frames (seen in the tests, where viewer
   * and bridge share one process). Live frames that arrive meanwhile queue behind the held ones.
   */
  #flushReplay(): void {
    const held = this.#replay ?? [];
    const newest = held.at(-1)?.timestamp ?? 0;
    let squeezed = held.length;
    const next = () => {
      const replay = this.#replay;
      if (this.#finished || !replay) return;
      const unit = replay.shift();
      if (!unit) {
        this.#replay = undefined;
        return;
      }
      let timestamp = unit.timestamp;
      if (squeezed > 0) {
        squeezed--;
        timestamp = (newest - Math.round(((newest - unit.timestamp) | 0) / REPLAY_SQUEEZE)) >>> 0;
      }
      this.#send(unit.units, timestamp);
      setImmediate(next);
    };
    next();
  }

  #send(units: Buffer[], timestamp: number): void {
    const sender = this.#video!.sender;
    for (const packet of this.#packetizer.packetize(units, timestamp)) {
      this.stats.videoPackets++;
      sender.sendRtp(packet).catch(() => undefined);
    }
    this.stats.frames++;
    this.stats.firstFrameAt ??= this.#clock.now();
  }

  #end(reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#clock.clearTimeout(this.#connectTimer);
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#stopAudio?.();
    this.#stopAudio = undefined;
    this.#finish({ reason });
    void this.#pc.close().catch(() => undefined);
  }

  /** End the viewer now; resolves once its peer connection is closed. */
  async stop(reason = "stopped"): Promise<void> {
    this.#end(reason);
    await this.#pc.close().catch(() => undefined);
  }
}
