// The checks a WHEP offer passes before werift sees it: bounded, SDP at all, and something we can
// answer (H.264 in packetization mode 1 for video, DTLS, ICE credentials). A refusal says what is
// missing in words (the HTTP answer is 400 with it).

/** Offers of browsers are 3-8 KB; a little room above that, and nothing near the web server's own limits. */
export const MAX_OFFER_BYTES = 32 * 1024;
const MAX_LINES = 2_000;

export class OfferRefused extends Error {
  override name = "OfferRefused";
}

export interface OfferSummary {
  /** The offer has an audio section the viewer can receive (we may send Opus on it). */
  audio: boolean;
  /** H.264 packetization-mode 1 profile-level-ids it accepts (lower case), in its order. */
  h264: string[];
}

const RECEIVES = /^a=(recvonly|sendrecv)$/;

/** Throws OfferRefused unless `sdp` is an offer we can answer. */
export function checkOffer(sdp: string): OfferSummary {
  if (Buffer.byteLength(sdp) > MAX_OFFER_BYTES)
    throw new OfferRefused(`the offer is larger than ${MAX_OFFER_BYTES} bytes`);
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== "v=0") throw new OfferRefused("the body is not an SDP offer (no v=0 line)");
  if (lines.length > MAX_LINES) throw new OfferRefused(`the offer has more than ${MAX_LINES} lines`);
  const sections: string[][] = [];
  for (const line of lines) {
    if (line.startsWith("m=")) sections.push([line]);
    else sections.at(-1)?.push(line);
  }
  const session = lines.slice(0, lines.findIndex((l) => l.startsWith("m=")) >>> 0);
  const has = (section: string[], prefix: string) =>
    section.some((l) => l.startsWith(prefix)) || session.some((l) => l.startsWith(prefix));
  const video = sections.find((s) => s[0]!.startsWith("m=video "));
  if (!video) throw new OfferRefused("the offer has no video section");
  if (!has(video, "a=ice-ufrag:") || !has(video, "a=ice-pwd:"))
    throw new OfferRefused("the offer has no ICE credentials");
  if (!has(video, "a=fingerprint:")) throw new OfferRefused("the offer has no DTLS fingerprint");
  const receives = (s: string[]) =>
    s.some((l) => RECEIVES.test(l)) || !s.some((l) => /^a=(sendonly|inactive)$/.test(l));
  if (!receives(video)) throw new OfferRefused("the offer's video does not receive (sendonly or inactive)");
  const h264 = h264Profiles(video);
  if (h264.length === 0) throw new OfferRefused("the offer has no H.264 video in packetization mode 1");
  const audio = sections.find((s) => s[0]!.startsWith("m=audio "));
  return { audio: audio !== undefined && receives(audio) && !audio[0]!.startsWith("m=audio 0 "), h264 };
}

function h264Profiles(section: string[]): string[] {
  const payloadTypes = section
    .map((l) => /^a=rtpmap:(\d+) H264\/90000/i.exec(l)?.[1])
    .filter((pt): pt is string => pt !== undefined);
  const out: string[] = [];
  for (const pt of payloadTypes) {
    const fmtp = section.find((l) => l.startsWith(`a=fmtp:${pt} `))?.slice(`a=fmtp:${pt} `.length) ?? "";
    const params = new Map(fmtp.split(";").map((p) => p.trim().split("=") as [string, string]));
    if (params.get("packetization-mode") !== "1") continue;
    out.push((params.get("profile-level-id") ?? "42e01f").toLowerCase());
  }
  return out;
}
