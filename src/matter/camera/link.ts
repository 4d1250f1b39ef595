// What a Matter camera node's behaviors reach outside matter.js: the camera's media (snapshots, WebRTC
// viewers) and its WebRTC session table. One CameraLink per camera node, registered as a service of
// the node's own Environment, so the cluster servers (which matter.js instantiates per interaction)
// find it with `this.env.get(CameraLink)`. Nothing here imports the media layer: main.ts hands in the
// functions (hosts never import drivers, and the media layer stays replaceable in tests).
import type { CameraCapability } from "../../core/camera.ts";
import { type Clock, REAL_CLOCK } from "../../core/clock.ts";
import type { Logger } from "../../core/logger.ts";
import { CameraSessions } from "./sessions.ts";

/** A viewer's end: why (a sentence for the log). */
export interface ViewerEnd {
  reason: string;
}

/** A refusal of the media layer: `status` is HTTP-like (400 bad offer, 404 unknown, 503 too many). */
export interface MediaRefusal extends Error {
  status?: number;
}

/** The WebRTC part of the media layer as a Matter camera uses it (media/webrtc/service.ts fits it). */
export interface CameraWebRtcPort {
  /** Answer a controller's offer: a running viewer with all its candidates in the answer (no trickle). */
  open(
    deviceId: string,
    offer: string,
    client: string,
  ): Promise<{ id: string; answer: string; ended: Promise<ViewerEnd> }>;
  /** Make an offer (SolicitOffer): the viewer connects once `accept` got the controller's answer. */
  solicit(
    deviceId: string,
    client: string,
  ): Promise<{ id: string; offer: string; ended: Promise<ViewerEnd>; accept(answer: string): Promise<void> }>;
  /** A new offer for a running viewer (a re-offer): its answer on the same connection. */
  reoffer(deviceId: string, id: string, offer: string, client: string): Promise<{ answer: string }>;
  /** A trickled candidate of the controller for a running viewer. */
  addCandidate(id: string, candidate: string, sdpMid: string | null, sdpMLineIndex: number | null): Promise<void>;
  close(deviceId: string, id: string, client: string): Promise<boolean>;
}

export interface CameraMediaPort {
  /** A JPEG of (about) this size from the held keyframe (the HomeKit snapshot path). */
  snapshot(deviceId: string, width: number, height: number): Promise<Buffer>;
  webrtc: CameraWebRtcPort;
}

export class CameraLink {
  readonly deviceId: string;
  readonly name: string;
  readonly capability: CameraCapability;
  readonly media: CameraMediaPort;
  readonly log: Logger;
  /** How long a session waits for the controller's answer after our offer (the spec's 30 s). */
  readonly answerTimeoutMs: number;
  readonly sessions = new CameraSessions();
  /** Timers (the answer timeout): tests drive them with a manual clock. */
  readonly clock: Clock;

  constructor(options: {
    deviceId: string;
    name: string;
    capability: CameraCapability;
    media: CameraMediaPort;
    log: Logger;
    answerTimeoutMs?: number;
    clock?: Clock;
  }) {
    this.deviceId = options.deviceId;
    this.name = options.name;
    this.capability = options.capability;
    this.media = options.media;
    this.log = options.log;
    this.answerTimeoutMs = options.answerTimeoutMs ?? 30_000;
    this.clock = options.clock ?? REAL_CLOCK;
  }
}

/** SolicitOffer: no ProvideAnswer within the answer timeout closes the viewer (its end then reports
 * InviteTimeout, as `session.accept` is still set). The timer goes once the viewer ends for any reason. */
export function answerDeadline(
  link: CameraLink,
  session: { accept?: unknown; viewerId?: string },
  ended: Promise<unknown>,
  client: string,
): void {
  const timer = link.clock.setTimeout(() => {
    if (session.accept && session.viewerId) void link.media.webrtc.close(link.deviceId, session.viewerId, client);
  }, link.answerTimeoutMs);
  void ended.then(() => link.clock.clearTimeout(timer));
}
