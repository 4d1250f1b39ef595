// The WebRTC sessions of one Matter camera, as the provider's CurrentSessions attribute lists them, with
// what the attribute cannot hold: the media layer's viewer id and, for a SolicitOffer session, how to
// apply the controller's answer. Every command about a session is checked against the accessing fabric
// and peer node: another controller's session is NOT_FOUND to it (the spec's wording).
import { WebRtcTransportDefinitions } from "@matter/main/clusters/web-rtc-transport-definitions";
import { EndpointNumber, FabricIndex, type NodeId, type StreamUsage } from "@matter/main/types";
import type { ViewerEnd } from "./link.ts";

export interface CameraSession {
  id: number;
  fabricIndex: number;
  peerNodeId: NodeId;
  peerEndpointId: number;
  streamUsage: StreamUsage;
  videoStreams: number[];
  audioStreams: number[];
  /** The media layer's viewer of this session (set once it exists). */
  viewerId?: string;
  /** SolicitOffer: applies the controller's answer; cleared once applied. */
  accept?: (answer: string) => Promise<void>;
  /** Set when the session ends (once). */
  ended?: ViewerEnd;
}

const { WebRtcEndReason } = WebRtcTransportDefinitions;

/** The spec's end reason for a viewer that ended on its own (media/webrtc's sentences). */
export function endReasonFor(reason: string): WebRtcTransportDefinitions.WebRtcEndReason {
  // First: werift's own words follow it and may contain any of the phrases below.
  if (/re-offer could not be applied/.test(reason)) return WebRtcEndReason.UnknownReason;
  if (/did not connect/.test(reason)) return WebRtcEndReason.IceTimeout;
  if (/connection failed/.test(reason)) return WebRtcEndReason.IceFailed;
  if (/no picture|standby|stream request failed/.test(reason)) return WebRtcEndReason.MediaTimeout;
  if (/answer/.test(reason)) return WebRtcEndReason.InviteTimeout;
  if (/stopping/.test(reason)) return WebRtcEndReason.UnknownReason;
  return WebRtcEndReason.UserHangup;
}

export class CameraSessions {
  readonly #sessions = new Map<number, CameraSession>();
  #next = 1;

  get size(): number {
    return this.#sessions.size;
  }

  all(): CameraSession[] {
    return [...this.#sessions.values()];
  }

  /** A new session with a free uint16 id (ids are reused only after 65535 others). */
  add(session: Omit<CameraSession, "id">): CameraSession {
    let id = this.#next;
    while (this.#sessions.has(id)) id = (id % 0xffff) + 1;
    this.#next = (id % 0xffff) + 1;
    const created = { ...session, id };
    this.#sessions.set(id, created);
    return created;
  }

  /** The session if the accessing fabric and node own it (else undefined: NOT_FOUND to them). */
  owned(id: number, fabricIndex: number, peerNodeId: NodeId): CameraSession | undefined {
    const session = this.#sessions.get(id);
    if (!session || session.fabricIndex !== fabricIndex || session.peerNodeId !== peerNodeId) return undefined;
    return session;
  }

  /** The sessions of one fabric (all of them end when the fabric is removed). */
  ofFabric(fabricIndex: number): CameraSession[] {
    return this.all().filter((s) => s.fabricIndex === fabricIndex);
  }

  remove(id: number): CameraSession | undefined {
    const session = this.#sessions.get(id);
    this.#sessions.delete(id);
    return session;
  }

  /** How many sessions use each stream id of a kind (the allocations' ReferenceCount). */
  references(kind: "videoStreams" | "audioStreams", streamId: number): number {
    return this.all().filter((s) => s[kind].includes(streamId)).length;
  }

  /** The CurrentSessions attribute value. */
  attribute(): WebRtcTransportDefinitions.WebRtcSession[] {
    return this.all().map((s) => ({
      id: s.id,
      peerNodeId: s.peerNodeId,
      peerEndpointId: EndpointNumber(s.peerEndpointId),
      streamUsage: s.streamUsage,
      videoStreamId: s.videoStreams[0] ?? null,
      audioStreamId: s.audioStreams[0] ?? null,
      metadataEnabled: false,
      videoStreams: s.videoStreams,
      audioStreams: s.audioStreams,
      fabricIndex: FabricIndex(s.fabricIndex),
    }));
  }
}
