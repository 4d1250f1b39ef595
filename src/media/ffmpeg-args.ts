// ffmpeg arguments that more than one of our ffmpeg runs share (sessions, snapshots, recordings, WebRTC sound).

/**
 * Input options for a stream on stdin in `format`. The ingest hands over the sequence headers and a keyframe
 * (or ADTS headers) at once, so no probing is needed and the first frame goes out at once. Stdin, never an
 * RTMP URL: that would put the camera's key on ffmpeg's command line, readable in /proc by any local user.
 */
export function stdinInput(format: "flv" | "aac"): string[] {
  return ["-probesize", "32", "-analyzeduration", "0", "-f", format, "-i", "pipe:0"];
}

export interface OpusRtp {
  frameMs: number;
  sampleRate: number;
  kbps: number;
  payloadType: number;
  /** Unsigned, as RTP has it. */
  ssrc: number;
  /** The rtp:// URL ffmpeg sends to. */
  url: string;
}

/** Output options: mono Opus in its low-delay mode, sent as RTP. */
export function opusRtpOutput(o: OpusRtp): string[] {
  return [
    ...["-c:a", "libopus", "-application", "lowdelay", "-frame_duration", String(o.frameMs)],
    ...["-ar", String(o.sampleRate), "-ac", "1", "-b:a", `${o.kbps}k`, "-payload_type", String(o.payloadType)],
    // ffmpeg's -ssrc is a signed 32-bit option.
    ...["-ssrc", String(o.ssrc | 0), "-f", "rtp", o.url],
  ];
}
