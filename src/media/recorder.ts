// Event recording for one camera (HomeKit Secure Video's side of the media layer). While recording is
// enabled the camera is kept pushing (the hub is held) and a Prebuffer keeps its last seconds; a clip
// is the pre-buffer then live video, copied into fragmented MP4 (recording.ts: in this process, ffmpeg
// only for audio that is not AAC-LC), and ends a post-roll after the trigger (motion) ends. Live views
// read the same hub: watching during a recording costs no second push. A clip begins the pre-buffer
// before the trigger, not before the hub's request, which comes a moment later (prebuffer.ts).
import type { CameraRecorder, RecordingClipStream, RecordingRequest } from "../core/camera.ts";
import { REAL_CLOCK, type Clock, type TimerHandle } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import type { StreamHub } from "./hub.ts";
import type { RtmpIngest } from "./ingest.ts";
import { Prebuffer } from "./prebuffer.ts";
import { isCopyableAudio } from "./protocol/aac-config.ts";
import { loadInProcessMuxer } from "./recording-muxers.ts";
import { RecordingClip, type ClipMuxing } from "./recording.ts";

export interface RecorderOptions {
  deviceId: string;
  name: string;
  ffmpeg: string;
  hub: Pick<StreamHub, "acquire" | "ready" | "wake">;
  ingest: Pick<RtmpIngest, "status" | "frames">;
  log: Logger;
  clock?: Clock;
  /** Recording goes on this long after the trigger ended (default 2 s). */
  postRollMs?: number;
  /** How long a clip waits for a camera that was not pushing (default 10 s). */
  readyTimeoutMs?: number;
  /** No data from the camera for this long ends a clip (default 5 s). */
  stallMs?: number;
  /** "ffmpeg": every clip through ffmpeg (codecs copied), as before the in-process muxer; read per clip
   * (the bench measures both). Default "auto": in this process unless the audio must be encoded. */
  muxer?: "auto" | "ffmpeg";
}

/** How late after its trigger a hub may ask for the recording and still get the whole pre-buffer before
 * the trigger (real hubs ask within 0.5-2 s; a busy bridge hears the motion late too). Costs this much
 * more of the camera's stream in memory while recording is enabled (about 1 MB at 2 Mbit/s). */
export const LATE_OPEN_MS = 4_000;

interface ActiveClip {
  clip: RecordingClip;
  postRoll?: TimerHandle;
}

export class MediaCameraRecorder implements CameraRecorder {
  readonly #options: RecorderOptions;
  readonly #clock: Clock;
  #prebuffer: Prebuffer | undefined;
  #releaseHub: (() => void) | undefined;
  #triggered = false;
  /** When the trigger last went active (clock ms). */
  #triggeredAt: number | undefined;
  #active: ActiveClip | undefined;
  #sequence = 0;
  #closed = false;
  #warnedAudio = false;

  constructor(options: RecorderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
  }

  get enabled(): boolean {
    return this.#prebuffer !== undefined;
  }

  /** The pre-buffer's size now (status page, bench). */
  prebufferStats(): ReturnType<Prebuffer["stats"]> | undefined {
    return this.#prebuffer?.stats();
  }

  configure(prebufferMs: number | undefined): void {
    const { log, name, deviceId } = this.#options;
    if (this.#closed) return;
    if (prebufferMs !== undefined && !this.#prebuffer) {
      log.info(
        { device: deviceId, prebufferMs },
        `${name}: recording enabled; keeping the camera pushing and the last ${prebufferMs / 1000} s`,
      );
      const frames = this.#options.ingest.frames(deviceId);
      if (!frames.subscribeTags) throw new Error(`${name}: the ingest keeps no FLV tags; cannot record`);
      this.#releaseHub = this.#options.hub.acquire();
      // Ready by the first clip; a failure shows on that clip.
      loadInProcessMuxer().catch(() => undefined);
      const covered = (ms: number): void =>
        void log.info(
          { device: deviceId, prebufferMs: ms, bytes: this.#prebuffer?.stats().bytes },
          `${name}: pre-buffer holds ${(ms / 1000).toFixed(1)} s`,
        );
      this.#prebuffer = new Prebuffer(
        { subscribeTags: frames.subscribeTags.bind(frames) },
        prebufferMs,
        () => this.#clock.now(),
        covered,
        LATE_OPEN_MS,
      );
    } else if (prebufferMs === undefined && this.#prebuffer) {
      log.info({ device: deviceId }, `${name}: recording disabled`);
      void this.#disable("recording turned off");
    }
  }

  trigger(active: boolean): void {
    if (this.#triggered === active) return;
    this.#triggered = active;
    if (!this.#prebuffer) return;
    const { hub, ingest, deviceId, name, log } = this.#options;
    if (active) {
      this.#triggeredAt = this.#clock.now();
      const clip = this.#active;
      if (clip?.postRoll) {
        this.#clock.clearTimeout(clip.postRoll);
        clip.postRoll = undefined;
      }
      // Kept warm, the camera should be pushing; if it is not (it dropped, it was asleep), ask now.
      if (!ingest.status(deviceId)?.publishing) {
        log.info({ device: deviceId }, `${name}: recording trigger while the camera is not pushing; asking it now`);
        hub.wake("recording trigger");
      }
    } else if (this.#active) {
      this.#scheduleEnd(this.#active);
    }
  }

  async record(request: RecordingRequest): Promise<RecordingClipStream> {
    const { hub, ingest, deviceId, name, log } = this.#options;
    const prebuffer = this.#prebuffer;
    if (!prebuffer || this.#closed) throw new Error(`${name}: recording is off`);
    if (this.#active) await this.#active.clip.stop("replaced by a new recording");
    await hub.ready(this.#options.readyTimeoutMs ?? 10_000);
    if (this.#prebuffer !== prebuffer) throw new Error(`${name}: recording was turned off`);
    const audio = request.audio && (ingest.status(deviceId)?.audio ?? false);
    const label = `recording ${name} #${++this.#sequence}`;
    const muxing = this.#muxing(audio, prebuffer);
    // From the pre-buffer before the trigger when the trigger was recent, else before now.
    const now = this.#clock.now();
    const recent = this.#triggeredAt !== undefined && now - this.#triggeredAt <= LATE_OPEN_MS;
    const fromMs = (recent ? this.#triggeredAt! : now) - prebuffer.windowMs;
    const stats = prebuffer.stats(fromMs);
    log.info(
      { device: deviceId, prebufferMs: stats.durationMs, fragmentMs: request.fragmentMs, audio, muxing },
      `${label}: starts with ${(stats.durationMs / 1000).toFixed(1)} s of pre-buffer`,
    );
    const clip = new RecordingClip({
      ffmpeg: this.#options.ffmpeg,
      muxing,
      source: { subscribeTags: (listener) => prebuffer.subscribeTags(listener, fromMs) },
      lastTagAt: () => prebuffer.lastTagAt,
      audio,
      fragmentMs: request.fragmentMs,
      label,
      log,
      clock: this.#clock,
      stallMs: this.#options.stallMs,
    });
    const active: ActiveClip = { clip };
    this.#active = active;
    // Asked for a clip when the event was already over: pre-buffer plus post-roll.
    if (!this.#triggered) this.#scheduleEnd(active);
    void clip.ended.then((end) => {
      if (this.#active === active) this.#active = undefined;
      this.#clock.clearTimeout(active.postRoll);
      log.info(
        { device: deviceId, ...end },
        `${label}: ${end.clean ? "done" : "cut short"} (${end.reason}), ${end.fragments} fragments, ` +
          `${Math.round(end.bytes / 1024)} KiB`,
      );
    });
    return clip;
  }

  /** HomeKit takes the camera's H.264 and AAC-LC as they are; other audio (or none announced yet) is encoded
   * to AAC-LC by ffmpeg. */
  #muxing(audio: boolean, prebuffer: Prebuffer): ClipMuxing {
    const copyable = !audio || isCopyableAudio(prebuffer.header("audio"));
    if (!copyable) {
      if (!this.#warnedAudio)
        this.#options.log.info(
          { device: this.#options.deviceId },
          `${this.#options.name}: the camera's audio is not AAC-LC; recordings encode it with ffmpeg`,
        );
      this.#warnedAudio = true;
      return "ffmpeg-audio";
    }
    return this.#options.muxer === "ffmpeg" ? "ffmpeg-copy" : "in-process";
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#disable("camera removed");
  }

  #scheduleEnd(active: ActiveClip): void {
    if (active.postRoll) return;
    active.postRoll = this.#clock.setTimeout(
      () => active.clip.end("the trigger ended"),
      this.#options.postRollMs ?? 2_000,
    );
    active.postRoll.unref();
  }

  async #disable(reason: string): Promise<void> {
    const active = this.#active;
    this.#active = undefined;
    this.#prebuffer?.close();
    this.#prebuffer = undefined;
    this.#releaseHub?.();
    this.#releaseHub = undefined;
    if (active) {
      this.#clock.clearTimeout(active.postRoll);
      await active.clip.stop(reason);
    }
  }
}
