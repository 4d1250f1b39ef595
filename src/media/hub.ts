// One stream hub per camera: keeps the camera pushing to the ingest while anyone watches (a live
// view, a snapshot, or "keep warm"), and only then. Vendor-neutral: it asks for the push through
// `requestStream` and hears about lost pushes through interrupted(). The camera stops by itself about
// 20 minutes after the last request, so the request is renewed while watched; a push that goes quiet
// is noticed from the ingest's byte count within seconds (the RTMP library would wait 30 s).
import type { StreamInterruption, StreamRequest } from "../core/camera.ts";
import { REAL_CLOCK, type Clock, type TimerHandle } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import { backoffDelay } from "../core/timing.ts";
import type { IngestEvents, IngestStreamStatus } from "./ingest.ts";

/** The part of the ingest a hub uses (a fake in some tests). */
export interface HubIngest {
  readonly publicAddress: string;
  urlFor(deviceId: string): string;
  status(deviceId: string): IngestStreamStatus | undefined;
  dropPublisher(deviceId: string): boolean;
  on<E extends keyof IngestEvents>(event: E, listener: (...args: IngestEvents[E]) => void): unknown;
  off<E extends keyof IngestEvents>(event: E, listener: (...args: IngestEvents[E]) => void): unknown;
}

export interface StreamHubTiming {
  /** Re-send start this often while watched (camera stops ~20 min after the last request). */
  renewMs: number;
  /** Keep the camera pushing this long after the last viewer left (a quick second look is instant). */
  lingerMs: number;
  /** A publishing stream whose byte count has not grown for this long is stalled. */
  stallMs: number;
  /** How often the byte count is looked at. */
  checkMs: number;
  /** Ask again when a successful request brought no push within this time. */
  noPushMs: number;
  /** Failed requests are retried with back-off between these bounds. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Retry interval while the camera refuses because it is in standby. */
  standbyRetryMs: number;
  /** At most one re-request (after a stall, a lost push, an interruption) per this interval. */
  minRerequestMs: number;
}

export const DEFAULT_HUB_TIMING: StreamHubTiming = {
  renewMs: 5 * 60_000,
  lingerMs: 30_000,
  stallMs: 4_000,
  checkMs: 1_000,
  noPushMs: 15_000,
  retryMinMs: 1_000,
  retryMaxMs: 30_000,
  standbyRetryMs: 60_000,
  minRerequestMs: 2_000,
};

export interface StreamHubOptions {
  deviceId: string;
  /** Camera name for log lines. */
  name: string;
  ingest: HubIngest;
  requestStream: (request: StreamRequest) => Promise<void>;
  log: Logger;
  timing?: Partial<StreamHubTiming>;
  random?: () => number;
  /** Renewal, linger, stall checks, retries and ready() timeouts run on this (tests: a manual clock). */
  clock?: Clock;
}

export interface StreamHubState {
  deviceId: string;
  name: string;
  /** Viewers holding the hub (keep warm counts as one). */
  watching: number;
  keepWarm: boolean;
  /** The hub wants the camera pushing (watched, or lingering after the last viewer). */
  active: boolean;
  publishing: boolean;
  /** While publishing: the camera's own push ("local") or our read of the vendor's cloud ("cloud"). */
  path?: "local" | "cloud";
  bytesIn: number;
  /** Epoch ms of the current publish's first keyframe (bench: "first keyframe held"). */
  keyframeHeldAt?: number;
  publishStartedAt?: number;
  lastStartAt?: number;
  lastError?: string;
  standby: boolean;
}

const STANDBY = /standby|sleep/i;

export class StreamHub {
  readonly deviceId: string;
  readonly #name: string;
  readonly #ingest: HubIngest;
  readonly #requestStream: (request: StreamRequest) => Promise<void>;
  readonly #log: Logger;
  readonly #timing: StreamHubTiming;
  readonly #random: () => number;
  readonly #clock: Clock;

  #watchers = 0;
  #keepWarmRelease: (() => void) | undefined;
  #active = false;
  #closed = false;
  /** A start (or renewal) / a stop should be sent when the current request is done. */
  #startDue = false;
  #stopDue = false;
  /** The next start is preceded by a stop: the camera may still think it pushes (a stalled push we cut),
   * and to a camera a start with the URL it already pushes to is only a renewal (UL and KF stop first too). */
  #restartDue = false;
  #inFlight: Promise<void> | undefined;
  #retryTimer: TimerHandle | undefined;
  #rerequestTimer: TimerHandle | undefined;
  #lingerTimer: TimerHandle | undefined;
  #renewTimer: TimerHandle | undefined;
  #checkTimer: TimerHandle | undefined;
  #failures = 0;
  #standby = false;
  #lastError: string | undefined;
  /** clock.now() of the last successful start and of the last start sent. */
  #lastStartOk: number | undefined;
  #lastStartSent = -Infinity;
  /** When the last start the camera accepted was sent: re-requests are spaced from this one only. A
   * request that failed (the control socket was down) never reached the camera; spacing from it
   * delayed the re-request after a reconnect by up to minRerequestMs (failures have their back-off). */
  #lastStartAccepted = -Infinity;
  #lastStartAtEpoch: number | undefined;
  #lastBytes = 0;
  #lastGrowth = 0;
  #stallReported = false;

  readonly #onPublishStart = (deviceId: string): void => {
    if (deviceId !== this.deviceId) return;
    this.#lastBytes = this.#ingest.status(deviceId)?.bytesIn ?? 0;
    this.#lastGrowth = this.#clock.now();
    this.#stallReported = false;
  };

  readonly #onPublishStop = (deviceId: string, reason: "closed" | "dropped"): void => {
    if (deviceId !== this.deviceId || !this.#active || reason === "dropped") return;
    this.#rerequest("the camera closed its push");
  };

  /** Bench and troubleshooting: how long the camera took from our request to a usable picture. */
  readonly #onKeyframe = (deviceId: string, at: number): void => {
    if (deviceId !== this.deviceId) return;
    const status = this.#ingest.status(deviceId);
    const sinceRequestMs = this.#lastStartAtEpoch !== undefined ? Math.round(at - this.#lastStartAtEpoch) : undefined;
    const sincePublishMs =
      status?.publishStartedAt !== undefined ? Math.round(at - status.publishStartedAt) : undefined;
    this.#log.info(
      { device: deviceId, event: "first-keyframe", at, sinceRequestMs, sincePublishMs },
      `${this.#name}: first keyframe held (${sinceRequestMs ?? "?"} ms after the request)`,
    );
  };

  constructor(options: StreamHubOptions) {
    this.deviceId = options.deviceId;
    this.#name = options.name;
    this.#ingest = options.ingest;
    this.#requestStream = options.requestStream;
    this.#log = options.log;
    this.#timing = { ...DEFAULT_HUB_TIMING, ...options.timing };
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#ingest.on("publish-start", this.#onPublishStart);
    this.#ingest.on("publish-stop", this.#onPublishStop);
    this.#ingest.on("keyframe-held", this.#onKeyframe);
  }

  /** A viewer needs video: the camera is asked to push if it is not. Call the returned function once done. */
  acquire(): () => void {
    if (this.#closed) throw new Error(`${this.#name}: media is stopping`);
    this.#watchers++;
    this.#clock.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    if (!this.#active) this.#activate();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release();
    };
  }

  /** Keep the camera pushing all the time (instant live view and snapshots), or stop doing so. */
  setKeepWarm(on: boolean): void {
    if (on && !this.#keepWarmRelease) this.#keepWarmRelease = this.acquire();
    if (!on && this.#keepWarmRelease) {
      this.#keepWarmRelease();
      this.#keepWarmRelease = undefined;
    }
  }

  /** The vendor side lost the push (e.g. its control socket reconnected): ask again if watched. */
  interrupted(reason: StreamInterruption): void {
    if (!this.#active) return;
    this.#log.info({ device: this.deviceId, reason }, `${this.#name}: stream interrupted (${reason}); asking again`);
    // An outside event is a good moment to retry now, even during a standby or back-off wait.
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#rerequest(`interrupted: ${reason}`);
  }

  /** Something needs the picture now (a recording trigger): if the camera is asked for but not
   * pushing, ask again at once instead of at the back-off's or the no-push check's pace. */
  wake(reason: string): void {
    if (!this.#active || this.#ingest.status(this.deviceId)?.publishing) return;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#rerequest(reason);
  }

  /** The camera left standby: if it refused us for that, ask again now rather than at the slow pace. */
  standbyEnded(): void {
    if (!this.#active || !this.#standby) return;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#rerequest("standby turned off");
  }

  /** Resolves once the ingest holds a keyframe of this camera's push. The caller holds the hub. */
  ready(timeoutMs: number): Promise<void> {
    if (this.#ingest.status(this.deviceId)?.keyframeHeldAt !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onKeyframe = (deviceId: string): void => {
        if (deviceId !== this.deviceId) return;
        this.#clock.clearTimeout(timer);
        this.#ingest.off("keyframe-held", onKeyframe);
        resolve();
      };
      const timer = this.#clock.setTimeout(() => {
        this.#ingest.off("keyframe-held", onKeyframe);
        reject(new Error(this.#notReadyReason(timeoutMs)));
      }, timeoutMs);
      this.#ingest.on("keyframe-held", onKeyframe);
    });
  }

  #notReadyReason(timeoutMs: number): string {
    const seconds = `${Math.round(timeoutMs / 100) / 10} s`;
    if (this.#closed) return `${this.#name}: media stopped`;
    if (this.#standby) return `${this.#name} is in standby: turn standby off to watch`;
    if (this.#ingest.status(this.deviceId)?.publishing)
      return `${this.#name} is pushing but sent no keyframe within ${seconds}`;
    if (this.#lastStartOk === undefined && this.#lastError)
      return `${this.#name}: the stream request failed (${this.#lastError})`;
    return (
      `${this.#name} did not start pushing to ${this.#ingest.publicAddress} within ${seconds}: ` +
      "check media.rtmpHost is reachable from the camera"
    );
  }

  state(): StreamHubState {
    const status = this.#ingest.status(this.deviceId);
    return {
      deviceId: this.deviceId,
      name: this.#name,
      watching: this.#watchers,
      keepWarm: this.#keepWarmRelease !== undefined,
      active: this.#active,
      publishing: status?.publishing ?? false,
      ...(status?.publishing && status.path ? { path: status.path } : {}),
      bytesIn: status?.bytesIn ?? 0,
      keyframeHeldAt: status?.keyframeHeldAt,
      publishStartedAt: status?.publishStartedAt,
      lastStartAt: this.#lastStartAtEpoch,
      lastError: this.#lastError,
      standby: this.#standby,
    };
  }

  /** Stop for good: the camera is told to stop (bounded wait) if it was asked to push. */
  async close(stopTimeoutMs = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ingest.off("publish-start", this.#onPublishStart);
    this.#ingest.off("publish-stop", this.#onPublishStop);
    this.#ingest.off("keyframe-held", this.#onKeyframe);
    const wasActive = this.#active;
    this.#deactivate();
    this.#clock.clearTimeout(this.#lingerTimer);
    // A driver that never answers must not hold the bridge's shutdown.
    const deadline = new Promise<void>((done) => this.#clock.setTimeout(done, stopTimeoutMs).unref());
    await Promise.race([this.#inFlight?.catch(() => undefined), deadline]);
    if (wasActive) await Promise.race([this.#send("stop").catch(() => undefined), deadline]);
  }

  #release(): void {
    this.#watchers--;
    if (this.#watchers > 0 || this.#closed) return;
    this.#lingerTimer = this.#clock.setTimeout(() => {
      this.#lingerTimer = undefined;
      if (this.#watchers === 0) {
        this.#log.info({ device: this.deviceId }, `${this.#name}: nobody watches; stopping the camera's push`);
        this.#deactivate();
        this.#stopDue = true;
        this.#pump();
      }
    }, this.#timing.lingerMs);
  }

  #activate(): void {
    this.#active = true;
    this.#stopDue = false;
    this.#startDue = true;
    this.#failures = 0;
    this.#lastGrowth = this.#clock.now();
    this.#lastBytes = this.#ingest.status(this.deviceId)?.bytesIn ?? 0;
    this.#renewTimer = this.#clock.setInterval(() => {
      this.#startDue = true;
      this.#pump();
    }, this.#timing.renewMs);
    this.#checkTimer = this.#clock.setInterval(() => this.#check(), this.#timing.checkMs);
    this.#pump();
  }

  #deactivate(): void {
    this.#active = false;
    this.#startDue = false;
    this.#restartDue = false;
    this.#clock.clearInterval(this.#renewTimer);
    this.#clock.clearInterval(this.#checkTimer);
    this.#clock.clearTimeout(this.#rerequestTimer);
    this.#clock.clearTimeout(this.#retryTimer);
    this.#renewTimer = this.#checkTimer = this.#rerequestTimer = this.#retryTimer = undefined;
    this.#lastStartOk = undefined;
  }

  /** Ask again soon, but never more than once per minRerequestMs. */
  #rerequest(why: string): void {
    if (!this.#active || this.#rerequestTimer) return;
    const wait = this.#lastStartAccepted + this.#timing.minRerequestMs - this.#clock.now();
    if (wait > 0) {
      this.#rerequestTimer = this.#clock.setTimeout(() => {
        this.#rerequestTimer = undefined;
        this.#rerequest(why);
      }, wait);
      return;
    }
    this.#log.debug({ device: this.deviceId }, `${this.#name}: re-requesting the push (${why})`);
    this.#startDue = true;
    this.#pump();
  }

  /** Send what is due, one request at a time, in order. */
  #pump(): void {
    if (this.#inFlight || this.#retryTimer) return;
    let action: "start" | "stop" | undefined;
    if (this.#active && this.#startDue && this.#restartDue) {
      // startDue stays set: the start follows once the stop is answered (or failed).
      this.#restartDue = false;
      action = "stop";
    } else if (this.#active && this.#startDue) {
      this.#startDue = false;
      action = "start";
    } else if (!this.#active && this.#stopDue) {
      this.#stopDue = false;
      action = "stop";
    }
    if (!action || this.#closed) return;
    const sending = this.#send(action)
      .then(() => this.#succeeded(action))
      .catch((error: Error) => this.#failed(action, error));
    this.#inFlight = sending.finally(() => {
      this.#inFlight = undefined;
      this.#pump();
    });
  }

  async #send(action: "start" | "stop"): Promise<void> {
    if (action === "start") {
      this.#lastStartSent = this.#clock.now();
      this.#lastStartAtEpoch = this.#clock.wallNow();
    }
    // The URL is registered as a secret with the logger; it is never written in clear.
    await this.#requestStream({ action, url: action === "start" ? this.#ingest.urlFor(this.deviceId) : "" });
  }

  #succeeded(action: "start" | "stop"): void {
    if (action === "stop") return;
    if (this.#standby) this.#log.info({ device: this.deviceId }, `${this.#name} left standby; stream requested`);
    this.#failures = 0;
    this.#standby = false;
    this.#lastError = undefined;
    this.#lastStartOk = this.#clock.now();
    this.#lastStartAccepted = this.#lastStartSent;
  }

  #failed(action: "start" | "stop", error: Error): void {
    const message = error.message;
    if (action === "stop") {
      this.#log.debug(
        { device: this.deviceId, err: error },
        `${this.#name}: stop request failed (the camera stops by itself within 20 minutes)`,
      );
      return;
    }
    this.#lastError = message;
    if (!this.#active) return;
    this.#startDue = true;
    let delay: number;
    if (STANDBY.test(message)) {
      if (!this.#standby)
        this.#log.warn(
          { device: this.deviceId },
          `${this.#name} is in standby and refuses to stream; asking again every ` +
            `${Math.round(this.#timing.standbyRetryMs / 1000)} s`,
        );
      this.#standby = true;
      delay = this.#timing.standbyRetryMs;
    } else {
      delay = backoffDelay(
        this.#failures,
        this.#timing.retryMinMs,
        this.#timing.retryMaxMs,
        this.#random,
        this.#timing.retryMinMs / 2,
      );
      const level = this.#failures === 0 ? "warn" : "debug";
      this.#log[level](
        { device: this.deviceId, err: error },
        `${this.#name}: stream request failed (${message}); retrying in ${Math.round(delay / 100) / 10} s`,
      );
      this.#failures++;
    }
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pump();
    }, delay);
  }

  #check(): void {
    if (!this.#active) return;
    const status = this.#ingest.status(this.deviceId);
    const now = this.#clock.now();
    if (status?.publishing) {
      if (status.bytesIn > this.#lastBytes) {
        this.#lastBytes = status.bytesIn;
        this.#lastGrowth = now;
        this.#stallReported = false;
        return;
      }
      if (now - this.#lastGrowth < this.#timing.stallMs) return;
      if (!this.#stallReported)
        this.#log.warn(
          { device: this.deviceId },
          `${this.#name}: push stalled (no data for ${Math.round((now - this.#lastGrowth) / 1000)} s); reconnecting`,
        );
      this.#stallReported = true;
      this.#lastError = "push stalled";
      this.#ingest.dropPublisher(this.deviceId);
      this.#restartDue = true;
      this.#rerequest("push stalled");
      return;
    }
    // Asked, acknowledged, and still nothing: the request may have been lost on the vendor side.
    if (
      this.#lastStartOk !== undefined &&
      !this.#inFlight &&
      !this.#retryTimer &&
      now - this.#lastStartSent >= this.#timing.noPushMs
    ) {
      this.#log.info(
        { device: this.deviceId },
        `${this.#name}: no push ${Math.round(this.#timing.noPushMs / 1000)} s after the request; asking again`,
      );
      this.#lastError = `no push to ${this.#ingest.publicAddress}`;
      this.#rerequest("no push");
    }
  }
}
