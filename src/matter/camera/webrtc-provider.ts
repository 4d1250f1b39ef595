// WebRtcTransportProvider (Matter 1.5, cluster 0x0553) on matter.js's empty server class. The media
// is the bridge's werift sender (media/webrtc): ProvideOffer hands the controller's offer to it and
// the answer goes back through the controller's WebRtcTransportRequestor Answer command once our
// response has left (the requestor files the session on our response); SolicitOffer makes our offer
// and sends it through the requestor's Offer command, then waits for ProvideAnswer. ProvideOffer with a
// running session's id is a re-offer: the same viewer answers it and the answer goes the same way. A
// viewer that ends on its own (ICE never connected, the controller went away, no picture) leaves
// CurrentSessions and the requestor hears End with the spec's reason. README "Matter cameras" lists the
// statuses.
import { Node, type Endpoint } from "@matter/main";
import { WebRtcTransportProviderServer } from "@matter/main/behaviors/web-rtc-transport-provider";
import { WebRtcTransportRequestorClient } from "@matter/main/behaviors/web-rtc-transport-requestor";
import { WebRtcTransportDefinitions } from "@matter/main/clusters/web-rtc-transport-definitions";
import type { WebRtcTransportProvider } from "@matter/main/clusters/web-rtc-transport-provider";
import { PeerAddress } from "@matter/main/protocol";
import { FabricIndex, Status, StatusResponseError, type NodeId, type StreamUsage } from "@matter/main/types";
import { answerDeadline, CameraLink, type MediaRefusal } from "./link.ts";
import { endReasonFor, type CameraSession } from "./sessions.ts";
import { AUDIO_STREAM_ID, CameraStreamsServer, VIDEO_STREAM_ID } from "./stream-management.ts";

const { WebRtcEndReason } = WebRtcTransportDefinitions;

function refuse(code: Status, message: string): never {
  throw new StatusResponseError(message, code);
}

/** The media layer's refusal as the spec's status (bad SDP, too many sessions). */
function statusOf(error: MediaRefusal): Status {
  if (error.status === 400) return Status.InvalidCommand;
  if (error.status === 503) return Status.ResourceExhausted;
  if (error.status === 404) return Status.NotFound;
  if (error.status === 409) return Status.InvalidInState;
  return Status.Failure;
}

interface Peer {
  fabricIndex: number;
  peerNodeId: NodeId;
  /** For logs: the controller's node and fabric. */
  label: string;
}

type StreamRequest = Pick<
  WebRtcTransportProvider.ProvideOfferRequest,
  "videoStreamId" | "audioStreamId" | "videoStreams" | "audioStreams" | "metadataEnabled"
>;

export class CameraWebRtcServer extends WebRtcTransportProviderServer {
  override async solicitOffer(
    request: WebRtcTransportProvider.SolicitOfferRequest,
  ): Promise<WebRtcTransportProvider.SolicitOfferResponse> {
    const link = this.env.get(CameraLink);
    const peer = this.#peer();
    const streams = await this.#streams(request.streamUsage, request);
    let solicited: Awaited<ReturnType<typeof link.media.webrtc.solicit>>;
    try {
      solicited = await link.media.webrtc.solicit(link.deviceId, peer.label);
    } catch (error) {
      refuse(statusOf(error as MediaRefusal), (error as Error).message);
    }
    const session = link.sessions.add({
      fabricIndex: peer.fabricIndex,
      peerNodeId: peer.peerNodeId,
      peerEndpointId: request.originatingEndpointId,
      streamUsage: request.streamUsage,
      ...streams,
      viewerId: solicited.id,
      accept: solicited.accept,
    });
    this.#follow(session, solicited.ended);
    // No answer within the spec's 30 s: the session fails (InviteTimeout).
    answerDeadline(link, session, solicited.ended, peer.label);
    this.#afterResponse(async (requestor) => {
      await requestor.offer({ webRtcSessionId: session.id, sdp: solicited.offer });
    }, session);
    link.log.info(
      { device: link.deviceId, session: session.id },
      `Matter live view ${session.id} offered to ${peer.label}`,
    );
    return { webRtcSessionId: session.id, deferredOffer: false, ...this.#legacyIds(request, session) };
  }

  override async provideOffer(
    request: WebRtcTransportProvider.ProvideOfferRequest,
  ): Promise<WebRtcTransportProvider.ProvideOfferResponse> {
    const link = this.env.get(CameraLink);
    const peer = this.#peer();
    if (request.webRtcSessionId !== null) return this.#reoffer(request.webRtcSessionId, request, peer);
    if (request.streamUsage === undefined || request.originatingEndpointId === undefined)
      refuse(Status.InvalidCommand, "a new session needs StreamUsage and OriginatingEndpointID");
    const streams = await this.#streams(request.streamUsage, request);
    let opened: Awaited<ReturnType<typeof link.media.webrtc.open>>;
    try {
      opened = await link.media.webrtc.open(link.deviceId, request.sdp, peer.label);
    } catch (error) {
      refuse(statusOf(error as MediaRefusal), (error as Error).message);
    }
    const session = link.sessions.add({
      fabricIndex: peer.fabricIndex,
      peerNodeId: peer.peerNodeId,
      peerEndpointId: request.originatingEndpointId,
      streamUsage: request.streamUsage,
      ...streams,
      viewerId: opened.id,
    });
    this.#follow(session, opened.ended);
    this.#afterResponse(async (requestor) => {
      await requestor.answer({ webRtcSessionId: session.id, sdp: opened.answer });
    }, session);
    link.log.info({ device: link.deviceId, session: session.id }, `Matter live view ${session.id} for ${peer.label}`);
    return { webRtcSessionId: session.id, ...this.#legacyIds(request, session) };
  }

  /** A re-offer (the spec's ProvideOffer with the session's id, e.g. sound added or dropped): the stream ids
   * are checked again (absent ones stay as they were), the same viewer answers the new offer, and the answer
   * goes through the requestor's Answer command as for a new session. A refused offer leaves the session as
   * it was; one the viewer fails to apply ends it. */
  async #reoffer(
    id: number,
    request: WebRtcTransportProvider.ProvideOfferRequest,
    peer: Peer,
  ): Promise<WebRtcTransportProvider.ProvideOfferResponse> {
    const link = this.env.get(CameraLink);
    const session = this.#owned(id);
    if (session.accept || !session.viewerId)
      refuse(Status.InvalidInState, `session ${id} is waiting for the answer to our offer`);
    const streams = await this.#streams(session.streamUsage, request, session);
    let answer: string;
    try {
      ({ answer } = await link.media.webrtc.reoffer(link.deviceId, session.viewerId, request.sdp, peer.label));
    } catch (error) {
      refuse(statusOf(error as MediaRefusal), (error as Error).message);
    }
    session.videoStreams = streams.videoStreams;
    session.audioStreams = streams.audioStreams;
    this.#afterResponse(async (requestor) => {
      if (!session.ended) await requestor.answer({ webRtcSessionId: session.id, sdp: answer });
    }, session);
    link.log.info(
      { device: link.deviceId, session: session.id },
      `Matter live view ${session.id} re-offered by ${peer.label}`,
    );
    return { webRtcSessionId: session.id, ...this.#legacyIds(request, session) };
  }

  override async provideAnswer({ webRtcSessionId, sdp }: WebRtcTransportProvider.ProvideAnswerRequest): Promise<void> {
    const session = this.#owned(webRtcSessionId);
    const accept = session.accept;
    if (!accept) refuse(Status.InvalidInState, `session ${webRtcSessionId} is not waiting for an answer`);
    session.accept = undefined;
    try {
      await accept(sdp);
    } catch (error) {
      const link = this.env.get(CameraLink);
      if (session.viewerId) await link.media.webrtc.close(link.deviceId, session.viewerId, this.#peer().label);
      refuse(Status.InvalidCommand, `the answer could not be applied: ${(error as Error).message}`);
    }
  }

  override async provideIceCandidates({
    webRtcSessionId,
    iceCandidates,
  }: WebRtcTransportProvider.ProvideIceCandidatesRequest): Promise<void> {
    const session = this.#owned(webRtcSessionId);
    const link = this.env.get(CameraLink);
    for (const { candidate, sdpMid, sdpmLineIndex } of iceCandidates) {
      // An empty candidate is the end of gathering: nothing to add.
      if (candidate === "" || !session.viewerId) continue;
      try {
        await link.media.webrtc.addCandidate(session.viewerId, candidate, sdpMid, sdpmLineIndex);
      } catch (error) {
        refuse(Status.ConstraintError, `a candidate was refused: ${(error as Error).message}`);
      }
    }
  }

  override async endSession({ webRtcSessionId, reason }: WebRtcTransportProvider.EndSessionRequest): Promise<void> {
    const session = this.#owned(webRtcSessionId);
    const link = this.env.get(CameraLink);
    // The requestor asked: it is not told again (no End back).
    session.ended = { reason: `the controller ended it (reason ${reason})` };
    link.sessions.remove(session.id);
    this.#syncLater();
    if (session.viewerId) await link.media.webrtc.close(link.deviceId, session.viewerId, this.#peer().label);
  }

  #peer(): Peer {
    const session = (this.context as { session?: { peerNodeId?: NodeId; associatedFabric?: { fabricIndex: number } } })
      .session;
    const fabricIndex = session?.associatedFabric?.fabricIndex;
    const peerNodeId = session?.peerNodeId;
    if (fabricIndex === undefined || peerNodeId === undefined)
      refuse(Status.UnsupportedAccess, "WebRTC sessions need an operational (CASE) session");
    return { fabricIndex, peerNodeId, label: `Matter node ${peerNodeId} (fabric ${fabricIndex})` };
  }

  #owned(id: number): CameraSession {
    const peer = this.#peer();
    const session = this.env.get(CameraLink).sessions.owned(id, peer.fabricIndex, peer.peerNodeId);
    if (!session) refuse(Status.NotFound, `no WebRTC session ${id}`);
    return session;
  }

  /** The streams a session uses: the asked ones (they must be allocated) or, for null, ours. A re-offer that
   * names none keeps the running session's. */
  async #streams(
    streamUsage: StreamUsage,
    request: StreamRequest,
    running?: Pick<CameraSession, "videoStreams" | "audioStreams">,
  ): Promise<{ videoStreams: number[]; audioStreams: number[] }> {
    if (request.metadataEnabled) refuse(Status.InvalidInState, "metadata is not supported (no Metadata feature)");
    const streams = this.endpoint.stateOf(CameraStreamsServer);
    if (!streams.supportedStreamUsages.includes(streamUsage))
      refuse(Status.InvalidInState, `stream usage ${streamUsage} is not supported`);
    const pick = (
      ids: number[] | undefined,
      legacy: number | null | undefined,
      allocated: number[],
      auto: number,
      kept: number[] = [],
    ) => {
      // Not named: a re-offer keeps what the session has (checked when it was asked).
      if (ids === undefined && legacy === undefined) return kept;
      const asked = ids ?? (legacy === null ? [auto] : [legacy!]);
      // Automatic selection (null) takes our one stream even when nothing was allocated yet.
      if (legacy === null && ids === undefined) return asked;
      for (const id of asked)
        if (!allocated.includes(id)) refuse(Status.DynamicConstraintError, `stream ${id} is not allocated`);
      return asked;
    };
    const video = pick(
      request.videoStreams,
      request.videoStreamId,
      streams.allocatedVideoStreams.map((s) => s.videoStreamId),
      VIDEO_STREAM_ID,
      running?.videoStreams,
    );
    const audio = pick(
      request.audioStreams,
      request.audioStreamId,
      streams.allocatedAudioStreams.map((s) => s.audioStreamId),
      AUDIO_STREAM_ID,
      running?.audioStreams,
    );
    if (video.length === 0) refuse(Status.InvalidCommand, "a live view needs a video stream");
    return { videoStreams: video, audioStreams: this.env.get(CameraLink).capability.audio ? audio : [] };
  }

  /** Revision 1 clients asked with VideoStreamID / AudioStreamID: they get them back. */
  #legacyIds(
    request: StreamRequest,
    session: CameraSession,
  ): { videoStreamId?: number; audioStreamId?: number | null } {
    return {
      ...(request.videoStreamId !== undefined ? { videoStreamId: session.videoStreams[0] } : {}),
      ...(request.audioStreamId !== undefined ? { audioStreamId: session.audioStreams[0] ?? null } : {}),
    };
  }

  /** Once the command's response has gone out: invoke on the controller's requestor endpoint, and sync
   * the attributes. A requestor that cannot be reached ends the session. */
  #afterResponse(send: (requestor: RequestorCommands) => Promise<void>, session: CameraSession): void {
    const link = this.env.get(CameraLink);
    const endpoint = this.endpoint;
    const context = this.context as { interactionComplete?: { on(observer: () => void): void } };
    const run = () => {
      syncSessions(endpoint);
      void requestorOf(endpoint, session)
        .then(send)
        .catch((error: Error) => {
          if (session.ended) return;
          link.log.warn(
            { device: link.deviceId, session: session.id },
            `Matter live view ${session.id}: the controller's requestor could not be reached: ${error.message}`,
          );
          if (session.viewerId) void link.media.webrtc.close(link.deviceId, session.viewerId, "requestor unreachable");
        });
    };
    if (context.interactionComplete) context.interactionComplete.on(() => void setImmediate(run));
    else setImmediate(run);
  }

  /** When the viewer ends for any reason: out of the table; the requestor hears End unless it asked. */
  #follow(session: CameraSession, ended: Promise<{ reason: string }>): void {
    const link = this.env.get(CameraLink);
    const endpoint = this.endpoint;
    void ended.then(({ reason }) => {
      if (session.ended) return;
      session.ended = { reason };
      link.sessions.remove(session.id);
      syncSessions(endpoint);
      const why = session.accept ? "the controller sent no answer in time" : reason;
      const code = session.accept ? WebRtcEndReason.InviteTimeout : endReasonFor(reason);
      link.log.info({ device: link.deviceId, session: session.id }, `Matter live view ${session.id} ended (${why})`);
      void requestorOf(endpoint, session)
        .then((requestor) => requestor.end({ webRtcSessionId: session.id, reason: code }))
        .catch(() => undefined);
    });
  }

  #syncLater(): void {
    const endpoint = this.endpoint;
    setImmediate(() => syncSessions(endpoint));
  }
}

interface RequestorCommands {
  offer(request: { webRtcSessionId: number; sdp: string }): Promise<void>;
  answer(request: { webRtcSessionId: number; sdp: string }): Promise<void>;
  end(request: { webRtcSessionId: number; reason: WebRtcTransportDefinitions.WebRtcEndReason }): Promise<void>;
}

/** The controller's requestor cluster, over the session the controller opened (or a new CASE one). */
async function requestorOf(endpoint: Endpoint, session: CameraSession): Promise<RequestorCommands> {
  const address = PeerAddress({ fabricIndex: FabricIndex(session.fabricIndex), nodeId: session.peerNodeId });
  const peer = await (Node.forEndpoint(endpoint) as unknown as { peers: PeersLike }).peers.forAddress(address);
  const remote = peer.endpoints.require(session.peerEndpointId);
  remote.behaviors.require(WebRtcTransportRequestorClient);
  // A plain object: matter.js's command proxy answers every name, `then` included, so it cannot be
  // the value of a promise.
  const commands = remote.commandsOf(WebRtcTransportRequestorClient) as unknown as RequestorCommands;
  return {
    offer: (request) => commands.offer(request),
    answer: (request) => commands.answer(request),
    end: (request) => commands.end(request),
  };
}

interface PeersLike {
  forAddress(address: PeerAddress): Promise<{
    endpoints: {
      require(id: number): { behaviors: { require(type: unknown): void }; commandsOf(type: unknown): unknown };
    };
  }>;
}

/**
 * A fabric left (RemoveFabric from its own controller or another admin): WebRTC sessions are fabric-scoped,
 * so each of its sessions ends, its viewer closed and its entry gone from CurrentSessions. No End is sent:
 * the fabric it would go over no longer exists.
 */
export async function endFabricSessions(endpoint: Endpoint, fabricIndex: number): Promise<void> {
  const link = endpoint.env.get(CameraLink);
  const gone = link.sessions.ofFabric(fabricIndex);
  if (gone.length === 0) return;
  for (const session of gone) {
    session.ended = { reason: `fabric ${fabricIndex} was removed` };
    link.sessions.remove(session.id);
    link.log.info(
      { device: link.deviceId, session: session.id },
      `Matter live view ${session.id} ended (fabric ${fabricIndex} of its controller was removed)`,
    );
  }
  setImmediate(() => syncSessions(endpoint));
  const client = `Matter fabric ${fabricIndex} (removed)`;
  await Promise.all(
    gone.map((s) => (s.viewerId ? link.media.webrtc.close(link.deviceId, s.viewerId, client) : undefined)),
  );
}

/** CurrentSessions and the streams' reference counts from the session table (outside any command). */
function syncSessions(endpoint: Endpoint): void {
  // A node that is closing or resetting (its last fabric removed) has no state to write.
  if (!endpoint.lifecycle.isReady) return;
  const link = endpoint.env.get(CameraLink);
  const streams = endpoint.stateOf(CameraStreamsServer);
  const cameraAvStreamManagement = {
    allocatedVideoStreams: streams.allocatedVideoStreams.map((s) => ({
      ...s,
      referenceCount: link.sessions.references("videoStreams", s.videoStreamId),
    })),
    allocatedAudioStreams: streams.allocatedAudioStreams.map((s) => ({
      ...s,
      referenceCount: link.sessions.references("audioStreams", s.audioStreamId),
    })),
  };
  const webRtcTransportProvider = { currentSessions: link.sessions.attribute() };
  endpoint.set({ cameraAvStreamManagement, webRtcTransportProvider } as never).catch((error: Error) => {
    if (endpoint.lifecycle.isReady) link.log.debug(`Matter camera attributes not updated: ${error.message}`);
  });
}
