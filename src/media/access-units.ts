// The ingest's video frames as H.264 access units on one RTP clock, for each sender of RTP video (the
// HomeKit relay, a WebRTC viewer): a viewer's decoder can start only at a keyframe, at first and again
// after each new publish of the camera.
import type { VideoFrame } from "./feed.ts";
import { NAL_IDR, NAL_SPS, nalType, splitAvcc } from "./protocol/h264-rtp.ts";
import { RtpTimeline } from "./protocol/rtcp.ts";

export interface AccessUnit {
  /** NAL units without their length prefixes. */
  units: Buffer[];
  /** 90 kHz RTP timestamp. */
  timestamp: number;
}

export class AccessUnits {
  /** From a random start of the RTP clock (RFC 3550 5.1). */
  readonly #timeline = new RtpTimeline(Math.floor(Math.random() * 2 ** 32));
  #waitKeyframe = true;

  /**
   * The frame as an access unit to send, with SPS and PPS before an IDR that lacks them; undefined while
   * waiting for a keyframe, or for a frame holding no NAL unit. Call for every frame, sent or not.
   */
  next(frame: VideoFrame): AccessUnit | undefined {
    if (this.#timeline.observe(frame.generation, frame.dts)) this.#waitKeyframe = true;
    if (this.#waitKeyframe && !frame.keyframe) return undefined;
    const units = splitAvcc(frame.data, frame.config.lengthSize);
    if (!units?.length) return undefined;
    const timestamp = this.#timeline.place(frame.dts, frame.pts);
    const types = units.map(nalType);
    if (types.includes(NAL_IDR) && !types.includes(NAL_SPS)) units.unshift(...frame.config.sps, ...frame.config.pps);
    this.#waitKeyframe = false;
    return { units, timestamp };
  }
}
