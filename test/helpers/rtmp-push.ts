// A camera stand-in for media tests: Debian's ffmpeg pushing a test pattern (H.264 main, 2 s GOP at
// 15 fps, AAC) to an RTMP URL on loopback. It can be paused (SIGSTOP: a stalled push) and killed.
import { createLogger } from "../../src/core/logger.ts";
import { FfmpegProcess } from "../../src/media/ffmpeg.ts";

export interface PushOptions {
  size?: string;
  audio?: boolean;
}

const quiet = createLogger("fatal");

export class TestPush {
  readonly process: FfmpegProcess;
  paused = false;

  constructor(url: string, options: PushOptions = {}) {
    const size = options.size ?? "1280x720";
    const audio = options.audio ?? true;
    const args = [
      "-hide_banner",
      "-nostdin",
      "-loglevel",
      "error",
      "-re",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${size}:rate=15`,
    ];
    if (audio) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100");
    // ultrafast alone yields Constrained Baseline; CABAC makes it the Main profile a Nanit sends.
    args.push("-c:v", "libx264", "-preset", "ultrafast", "-x264-params", "cabac=1", "-profile:v", "main", "-g", "30");
    if (audio) args.push("-c:a", "aac", "-b:a", "64k");
    args.push("-f", "flv", url);
    this.process = new FfmpegProcess(process.env.HEARTHBRIDGE_FFMPEG ?? "ffmpeg", args, {
      label: "test push",
      log: quiet,
    });
  }

  get pid(): number | undefined {
    return this.process.child.pid;
  }

  pause(): void {
    this.paused = true;
    this.process.child.kill("SIGSTOP");
  }

  resume(): void {
    this.paused = false;
    this.process.child.kill("SIGCONT");
  }

  /** Kill at once (a paused process cannot handle SIGTERM). */
  async kill(): Promise<void> {
    if (this.process.running) this.process.child.kill("SIGKILL");
    await this.process.exited;
  }
}

/** JPEG checks: SOI and EOI markers, and the frame size from the first SOFn segment. */
export function jpegSize(jpeg: Buffer): { width: number; height: number } {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error("no JPEG SOI marker");
  if (jpeg[jpeg.length - 2] !== 0xff || jpeg[jpeg.length - 1] !== 0xd9) throw new Error("no JPEG EOI marker");
  let offset = 2;
  while (offset + 4 <= jpeg.length) {
    if (jpeg[offset] !== 0xff) throw new Error(`bad JPEG segment at ${offset}`);
    const marker = jpeg[offset + 1]!;
    const length = jpeg.readUInt16BE(offset + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: jpeg.readUInt16BE(offset + 5), width: jpeg.readUInt16BE(offset + 7) };
    }
    offset += 2 + length;
  }
  throw new Error("no JPEG SOF segment");
}
