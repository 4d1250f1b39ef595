// The bridge's WebRTC live views (WHEP: the web page's "Live" and any WHEP player): one viewer per
// offer, at most media.webrtc.maxSessions at once over all cameras. A viewer holds the camera's stream
// hub (so the camera pushes) for exactly as long as it runs; a camera's viewers share one Opus encoder.
// Every refusal has an HTTP status and a sentence, and is logged once with the client's address.
import { randomUUID } from "node:crypto";
import { REAL_CLOCK, type Clock } from "../../core/clock.ts";
import { registerSecret, type Logger } from "../../core/logger.ts";
import type { FrameSource } from "../feed.ts";
import type { StreamHub } from "../hub.ts";
import type { IngestStreamStatus } from "../ingest.ts";
import { iceConfig, type WebRtcIceSettings } from "./ice-config.ts";
import { OpusFeed } from "./opus-feed.ts";
import { OfferRefused } from "./sdp-offer.ts";
import { FragmentRefused, parseFragment } from "./sdp-frag.ts";
import type { WebRtcViewer, WebRtcViewerOptions, WebRtcViewerStats } from "./viewer.ts";

/** The viewer loads with the first live view, not at start: werift and its certificate libraries are about
 * 6 MB of heap, and most of the time nobody watches. */
const loadViewer = async (): Promise<typeof WebRtcViewer> => (await import("./viewer.ts")).WebRtcViewer;

export interface WebRtcSettings extends WebRtcIceSettings {
  enabled: boolean;
  maxSessions: number;
  connectTimeoutMs: number;
}

/** media.webrtc's defaults (config.ts), for callers that build a media config by hand. */
export const DEFAULT_WEBRTC: WebRtcSettings = {
  enabled: true,
  interfaces: [],
  maxSessions: 4,
  connectTimeoutMs: 15_000,
};

/** What a viewer needs of one camera (MediaService hands it out; tests use a fake). */
export interface WebRtcCamera {
  name: string;
  hub: Pick<StreamHub, "acquire" | "state">;
  frames: FrameSource;
  status(): IngestStreamStatus | undefined;
  /** The camera pushes sound (its capability says so). */
  audio: boolean;
}

export interface WebRtcServiceOptions {
  settings: WebRtcSettings;
  ffmpeg: string;
  camera(deviceId: string): WebRtcCamera | undefined;
  log: Logger;
  clock?: Clock;
  /** How long a viewer waits for a camera that was not pushing (default 10 s, as HomeKit's live view). */
  readyTimeoutMs?: number;
}

/** A refusal with its HTTP status. */
export class WebRtcError extends Error {
  override name = "WebRtcError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface WebRtcSessionView {
  id: string;
  deviceId: string;
  /** Epoch ms of the offer. */
  startedAt: number;
  connected: boolean;
  stats: Readonly<WebRtcViewerStats>;
}

interface Session {
  id: string;
  deviceId: string;
  startedAt: number;
  viewer?: WebRtcViewer;
}

export class WebRtcService {
  readonly #options: WebRtcServiceOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #sessions = new Map<string, Session>();
  readonly #opus = new Map<string, OpusFeed>();
  #sequence = 0;
  #stopped = false;

  constructor(options: WebRtcServiceOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#clock = options.clock ?? REAL_CLOCK;
    registerSecret(options.settings.turn?.credential);
    // A bad interface name shows at start, not at the first viewer.
    if (options.settings.enabled) iceConfig(options.settings);
  }

  get enabled(): boolean {
    return this.#options.settings.enabled && !this.#stopped;
  }

  /** Live views now (including ones still connecting). */
  get sessions(): number {
    return this.#sessions.size;
  }

  list(): WebRtcSessionView[] {
    return [...this.#sessions.values()].map((s) => ({
      id: s.id,
      deviceId: s.deviceId,
      startedAt: s.startedAt,
      connected: s.viewer?.stats.connectedAt !== undefined,
      stats: s.viewer?.stats ?? { frames: 0, videoPackets: 0, audioPackets: 0 },
    }));
  }

  /** A viewer's offer: its answer and session id, or a WebRtcError. `ended` resolves when the view ends. */
  async open(
    deviceId: string,
    offer: string,
    client: string,
  ): Promise<{ id: string; answer: string; startedAt: number; ended: Promise<{ reason: string }> }> {
    const started = await this.#start(deviceId, client, async (options) => {
      const { viewer, answer } = await (await loadViewer()).answer({ ...options, offer });
      return { viewer, sdp: answer };
    });
    return { id: started.id, answer: started.sdp, startedAt: started.startedAt, ended: started.ended };
  }

  /** Our offer to a peer that asked for one (Matter's SolicitOffer); `accept` applies its answer. */
  async solicit(
    deviceId: string,
    client: string,
  ): Promise<{
    id: string;
    offer: string;
    startedAt: number;
    ended: Promise<{ reason: string }>;
    accept(answer: string): Promise<void>;
  }> {
    const started = await this.#start(deviceId, client, async (options) => {
      const { viewer, offer } = await (await loadViewer()).offer(options);
      return { viewer, sdp: offer };
    });
    const viewer = started.viewer;
    const accept = async (answer: string) => {
      try {
        await viewer.accept(answer);
      } catch (error) {
        throw error instanceof OfferRefused ? this.#refuse(400, error.message, client, deviceId) : error;
      }
    };
    return { id: started.id, offer: started.sdp, startedAt: started.startedAt, ended: started.ended, accept };
  }

  /** A new offer for a running view (Matter's re-offer): its answer. 404 for an unknown view, 409 while another
   * offer is being answered, 400 for an offer that cannot be answered (the view goes on) or cannot be applied
   * (the view ends). */
  async reoffer(deviceId: string, id: string, offer: string, client: string): Promise<{ answer: string }> {
    const session = this.#sessions.get(id);
    if (!session?.viewer || session.deviceId !== deviceId)
      throw this.#refuse(404, "no such live view", client, deviceId);
    if (session.viewer.negotiating) throw this.#refuse(409, "an offer of this view is still being answered", client);
    try {
      return { answer: await session.viewer.reoffer(offer) };
    } catch (error) {
      if (error instanceof OfferRefused) throw this.#refuse(400, error.message, client, deviceId);
      throw error;
    }
  }

  /** A candidate the peer trickled (Matter's ProvideICECandidates); a WebRtcError for an unknown view. */
  async addCandidate(id: string, candidate: string, sdpMid: string | null, sdpMLineIndex: number | null) {
    const viewer = this.#sessions.get(id)?.viewer;
    if (!viewer) throw new WebRtcError(404, "no such live view");
    try {
      await viewer.addCandidate(candidate, sdpMid, sdpMLineIndex);
    } catch (error) {
      throw new WebRtcError(400, (error as Error).message);
    }
  }

  /**
   * Candidates a WHEP viewer trickled (PATCH, RFC 9725 section 4.3), as an RFC 8840 fragment. 404 for an unknown
   * or ended view (as close), 412 when `match` (If-Match's entity tags; a view's is its id) leaves it out, 400 for
   * a fragment that is not one, 422 for an ICE restart (not supported). A refusal leaves the view as it was.
   */
  trickle(deviceId: string, id: string, fragment: string, client: string, match?: string[]): void {
    const session = this.#sessions.get(id);
    if (!session?.viewer || session.deviceId !== deviceId || session.viewer.finished)
      throw this.#refuse(404, "no such live view", client, deviceId);
    if (match && !match.includes(session.id))
      throw this.#refuse(412, "If-Match names another ICE session of this view", client, deviceId);
    try {
      session.viewer.trickle(parseFragment(fragment));
    } catch (error) {
      if (error instanceof FragmentRefused) throw this.#refuse(error.status, error.message, client, deviceId);
      throw error;
    }
  }

  async #start(
    deviceId: string,
    client: string,
    make: (options: Omit<WebRtcViewerOptions, "offer">) => Promise<{ viewer: WebRtcViewer; sdp: string }>,
  ): Promise<{ id: string; sdp: string; startedAt: number; viewer: WebRtcViewer; ended: Promise<{ reason: string }> }> {
    const { settings } = this.#options;
    const log = this.#log;
    if (!this.enabled) throw this.#refuse(404, "live view over WebRTC is off (media.webrtc.enabled)", client);
    const camera = this.#options.camera(deviceId);
    if (!camera) throw this.#refuse(404, "no such camera", client, deviceId);
    // Counted before any await: parallel offers must not all pass the limit.
    if (this.#sessions.size >= settings.maxSessions) {
      const why = `too many live views at once (media.webrtc.maxSessions: ${settings.maxSessions})`;
      throw this.#refuse(503, why, client, deviceId);
    }
    const session: Session = { id: randomUUID(), deviceId, startedAt: this.#clock.wallNow() };
    this.#sessions.set(session.id, session);
    const label = `live ${camera.name} webrtc #${++this.#sequence}`;
    let release: (() => void) | undefined;
    try {
      release = camera.hub.acquire();
      const { viewer, sdp } = await make({
        id: session.id,
        label,
        ice: iceConfig(settings),
        video: camera.frames,
        profile: camera.status()?.video?.profile,
        audio: camera.audio ? this.#opusFor(deviceId, camera) : undefined,
        connectTimeoutMs: settings.connectTimeoutMs,
        log,
        clock: this.#clock,
      });
      session.viewer = viewer;
      if (this.#stopped) await viewer.stop("media is stopping");
      const releaseHub = release;
      const ended = viewer.ended.then((end) => {
        this.#sessions.delete(session.id);
        releaseHub();
        const level = end.reason.includes("did not") || end.reason.includes("failed") ? "warn" : "info";
        const fields = { event: "webrtc-end", device: deviceId, session: session.id, client, reason: end.reason };
        log[level](fields, `${label}: ended (${end.reason})`);
        return end;
      });
      this.#watchPicture(viewer, camera);
      log.info(
        { event: "webrtc-start", device: deviceId, session: session.id, client },
        `${label}: started for ${client}`,
      );
      return { id: session.id, sdp, startedAt: session.startedAt, viewer, ended };
    } catch (error) {
      this.#sessions.delete(session.id);
      release?.();
      if (error instanceof OfferRefused) throw this.#refuse(400, error.message, client, deviceId);
      if (error instanceof WebRtcError) throw error;
      log.warn({ err: error, device: deviceId, client }, `${label}: could not start: ${(error as Error).message}`);
      throw new WebRtcError(500, "the live view could not start");
    }
  }

  /** End a viewer (WHEP DELETE); false when there is no such session of that camera. */
  async close(deviceId: string, id: string, client: string): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (!session || session.deviceId !== deviceId) {
      this.#refuse(404, "no such live view", client, deviceId);
      return false;
    }
    await session.viewer?.stop("the viewer left");
    return true;
  }

  /** End every viewer and encoder (bridge shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#sessions.values()].map((s) => s.viewer?.stop("media is stopping")));
    await Promise.all([...this.#opus.values()].map((feed) => feed.close()));
    this.#opus.clear();
  }

  /** A camera that never sends a picture (standby, an ingest it cannot reach) ends the view with the
   * hub's reason, as HomeKit's live view does. */
  #watchPicture(viewer: WebRtcViewer, camera: WebRtcCamera): void {
    const timeoutMs = this.#options.readyTimeoutMs ?? 10_000;
    const timer = this.#clock.setTimeout(() => {
      const hub = camera.hub.state();
      if (hub.keyframeHeldAt !== undefined) return;
      const seconds = `${Math.round(timeoutMs / 100) / 10} s`;
      const why = hub.standby
        ? `${camera.name} is in standby: turn standby off to watch`
        : hub.lastError
          ? `${camera.name}: the stream request failed (${hub.lastError})`
          : `${camera.name} sent no picture within ${seconds}`;
      void viewer.stop(why);
    }, timeoutMs);
    void viewer.ended.then(() => this.#clock.clearTimeout(timer));
  }

  /** Whether a camera's Opus encoder runs (tests). */
  opusRunning(deviceId: string): boolean {
    return this.#opus.get(deviceId)?.running ?? false;
  }

  #opusFor(deviceId: string, camera: WebRtcCamera): OpusFeed {
    let feed = this.#opus.get(deviceId);
    if (!feed) {
      const label = `live ${camera.name} webrtc audio`;
      feed = new OpusFeed({ ffmpeg: this.#options.ffmpeg, frames: camera.frames, label, log: this.#log });
      this.#opus.set(deviceId, feed);
    }
    return feed;
  }

  #refuse(status: number, message: string, client: string, deviceId?: string): WebRtcError {
    this.#log.info({ device: deviceId, client, status }, `live view refused for ${client}: ${message}`);
    return new WebRtcError(status, message);
  }
}
