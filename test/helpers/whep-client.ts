// A WebRTC viewer for tests: a werift peer that offers to receive H.264 video and Opus audio, with
// host candidates on 127.0.0.1 only and no STUN, and collects what arrives as plain RTP packets.
import { RTCPeerConnection, useH264, useOPUS, type RtpPacket as WeriftRtp } from "werift";
import type { RtpPacket } from "./srtp.ts";

export const LOOPBACK_ICE = {
  iceServers: [],
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ["127.0.0.1"],
  iceInterfaceAddresses: { udp4: "127.0.0.1" },
};

const toPacket = (rtp: WeriftRtp): RtpPacket => ({
  payloadType: rtp.header.payloadType,
  marker: rtp.header.marker,
  sequence: rtp.header.sequenceNumber,
  timestamp: rtp.header.timestamp,
  ssrc: rtp.header.ssrc,
  payload: Buffer.from(rtp.payload),
});

export class TestViewer {
  readonly pc: RTCPeerConnection;
  readonly video: RtpPacket[] = [];
  readonly audio: RtpPacket[] = [];

  constructor(options: { audio?: boolean; profiles?: string[] } = {}) {
    const profiles = options.profiles ?? ["42e01f", "4d001f", "64001f"];
    this.pc = new RTCPeerConnection({
      ...LOOPBACK_ICE,
      // One transport, as browsers do: werift leaves an unused second one's socket open after close().
      bundlePolicy: "max-bundle",
      codecs: {
        video: profiles.map((id) =>
          useH264({ parameters: `profile-level-id=${id};packetization-mode=1;level-asymmetry-allowed=1` }),
        ),
        audio: [useOPUS()],
      },
    });
    this.pc.addTransceiver("video", { direction: "recvonly" });
    if (options.audio !== false) this.pc.addTransceiver("audio", { direction: "recvonly" });
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => (track.kind === "video" ? this.video : this.audio).push(toPacket(rtp)));
    });
  }

  /** The offer, with its candidates (non-trickle, as WHEP clients send it). */
  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    if (this.pc.iceGatheringState !== "complete") {
      await new Promise<void>((resolve) => {
        const sub = this.pc.iceGatheringStateChange.subscribe((state) => {
          if (state !== "complete") return;
          sub.unSubscribe();
          resolve();
        });
      });
    }
    return this.pc.localDescription!.sdp;
  }

  async accept(answer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
  }

  close(): Promise<void> {
    return this.pc.close();
  }
}

/** The `c=`/candidate addresses an SDP offers. */
export function candidateAddresses(sdp: string): string[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ/gm)].map((m) => m[1]!);
}

/** The SDP without its candidates: an offer sent at once, before gathering, as a trickling viewer sends it. */
export function withoutCandidates(sdp: string): string {
  return sdp.replace(/^a=(candidate:.*|end-of-candidates)\r?\n/gm, "");
}

/** The trickle-ice-sdpfrag (RFC 8840) a trickling viewer PATCHes: its credentials, the first section's mid and
 * the SDP's candidates, and a=end-of-candidates. */
export function trickleFragment(sdp: string): string {
  const line = (key: string) => new RegExp(`^a=${key}:.*$`, "m").exec(sdp)?.[0] ?? "";
  const candidates = new Set(sdp.match(/^a=candidate:.*$/gm) ?? []);
  return [line("ice-ufrag"), line("ice-pwd"), line("mid"), ...candidates, "a=end-of-candidates", ""].join("\r\n");
}
