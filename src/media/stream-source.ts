// Which way one camera's video reaches the bridge (media.source). "local": the camera pushes RTMP to
// our ingest (the fastest start, but the camera must reach media.rtmpHost). "cloud": the camera sends
// its video to the vendor's cloud and we read it back (cloud-pull.ts). "auto": local first; when the
// camera has not pushed within localWaitMs, the cloud, remembered for localRetryMs so later starts go
// there at once. The hub asks through request() exactly as it asked the driver; either way the stream
// publishes into the same ingest entry.
import type { StreamAnswer, StreamPath, StreamRequest } from "../core/camera.ts";
import { REAL_CLOCK, type Clock, type TimerHandle } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import { CloudPull } from "./cloud-pull.ts";
import type { RtmpIngest } from "./ingest.ts";

export type SourceMode = "auto" | "local" | "cloud";

export interface StreamSourceTiming {
  /** auto: how long a started local push may take before the cloud is used (within the cold-start budget). */
  localWaitMs: number;
  /** auto: after falling back, cold starts go to the cloud this long before local is tried again. */
  localRetryMs: number;
  /** A cloud URL whose token expires within this is replaced at the next renewal. */
  rotateBeforeMs: number;
  /** Connect + TLS + play accepted, per cloud read. */
  connectTimeoutMs: number;
}

export const DEFAULT_SOURCE_TIMING: StreamSourceTiming = {
  localWaitMs: 4_000,
  localRetryMs: 60 * 60_000,
  rotateBeforeMs: 10 * 60_000,
  connectTimeoutMs: 10_000,
};

export interface StreamSourceOptions {
  deviceId: string;
  name: string;
  mode: SourceMode;
  ingest: Pick<RtmpIngest, "status" | "attachPull" | "publicAddress">;
  /** The driver, through the registry: start/stop a push, or (path "cloud") answer where to read. */
  request: (request: StreamRequest) => Promise<StreamAnswer>;
  log: Logger;
  clock?: Clock;
  timing?: Partial<StreamSourceTiming>;
}

export class StreamSource {
  readonly #o: StreamSourceOptions;
  readonly #timing: StreamSourceTiming;
  readonly #clock: Clock;
  #pull: CloudPull | undefined;
  /** A cloud start in progress (the hub's own, or auto's fallback): one at a time. */
  #cloudStart: Promise<void> | undefined;
  /** auto: clock.now() when it fell back to the cloud. */
  #fellBackAt: number | undefined;
  /** The driver answered a cloud start with nothing: it has no cloud path, auto stays local. */
  #noCloud = false;
  #fallbackTimer: TimerHandle | undefined;
  /** The last cloud URL did not work (refused, expired): ask the driver for a new one. */
  #fresh = false;
  /** The hub's last word was start (a stop that overtakes a slow cloud start keeps its read from opening). */
  #wanted = false;
  #closed = false;

  constructor(options: StreamSourceOptions) {
    this.#o = options;
    this.#timing = { ...DEFAULT_SOURCE_TIMING, ...options.timing };
    this.#clock = options.clock ?? REAL_CLOCK;
  }

  /** The path the next start takes. */
  get path(): StreamPath {
    const { mode } = this.#o;
    if (mode !== "auto") return mode;
    if (this.#pull?.active) return "cloud";
    if (this.#noCloud) return "local";
    const since = this.#fellBackAt;
    return since !== undefined && this.#clock.now() - since < this.#timing.localRetryMs ? "cloud" : "local";
  }

  /** What the hub calls instead of the driver. */
  async request(request: StreamRequest): Promise<void> {
    if (this.#closed) throw new Error(`${this.#o.name}: media is stopping`);
    this.#wanted = request.action === "start";
    if (request.action === "stop") return this.#stop(request);
    if (this.path === "cloud") return this.#startCloud(request.url);
    this.#closePull("the camera pushes locally now");
    await this.#o.request({ ...request, path: "local" });
    if (this.#o.mode === "auto") this.#armFallback(request.url);
  }

  /** Stop reading the cloud (bridge shutdown); the hub tells the camera to stop. */
  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#fallbackTimer);
    this.#closePull("media is stopping");
  }

  async #stop(request: StreamRequest): Promise<void> {
    this.#clock.clearTimeout(this.#fallbackTimer);
    const path: StreamPath = this.#pull?.active ? "cloud" : "local";
    this.#closePull("nobody watches");
    await this.#o.request({ ...request, path });
  }

  #armFallback(localUrl: string): void {
    this.#clock.clearTimeout(this.#fallbackTimer);
    if (this.#noCloud || this.#o.ingest.status(this.#o.deviceId)?.publishing) return;
    this.#fallbackTimer = this.#clock.setTimeout(() => {
      this.#fallbackTimer = undefined;
      if (this.#closed || !this.#wanted || this.#o.ingest.status(this.#o.deviceId)?.publishing) return;
      const { name, log, deviceId } = this.#o;
      const waited = `${Math.round(this.#timing.localWaitMs / 100) / 10} s`;
      log.warn(
        { device: deviceId, event: "source-fallback" },
        `${name}: the camera did not push to ${this.#o.ingest.publicAddress} within ${waited}; reading its ` +
          "stream from the cloud instead (media.source: auto). Set media.rtmpHost to an address the camera " +
          "can reach for the faster local push",
      );
      // Remembered only once the cloud works: a camera that was merely slow, and a cloud that fails as
      // well, leave the next start on the local push.
      this.#startCloud(localUrl).then(
        () => {
          this.#fellBackAt = this.#clock.now();
        },
        (error: Error) =>
          log.warn({ device: deviceId }, `${name}: the cloud stream did not start either: ${error.message}`),
      );
    }, this.#timing.localWaitMs);
  }

  async #startCloud(localUrl: string): Promise<void> {
    while (this.#cloudStart) await this.#cloudStart.catch(() => undefined);
    const starting = this.#renewCloud(localUrl);
    this.#cloudStart = starting;
    try {
      await starting;
    } finally {
      this.#cloudStart = undefined;
    }
  }

  async #renewCloud(localUrl: string): Promise<void> {
    const { name, log, deviceId } = this.#o;
    const expiresAt = this.#pull?.active ? this.#pull.expiresAt : undefined;
    const expiring = expiresAt !== undefined && expiresAt - this.#clock.wallNow() < this.#timing.rotateBeforeMs;
    const freshUrl = this.#fresh || expiring;
    const stream = await this.#o.request({
      action: "start",
      url: localUrl,
      path: "cloud",
      ...(freshUrl ? { freshUrl } : {}),
    });
    if (!stream) {
      this.#noCloud = true;
      throw new Error(`${name}: this camera offers no cloud stream (set media.source: local)`);
    }
    this.#fresh = false;
    if (this.#closed || !this.#wanted) return;
    if (this.#pull?.active && this.#pull.url === stream.url) return;
    this.#closePull(expiring ? "its token is about to expire" : "a new stream URL");
    const pull = new CloudPull(stream, {
      deviceId,
      name,
      ingest: this.#o.ingest,
      log,
      clock: this.#o.clock,
      connectTimeoutMs: this.#timing.connectTimeoutMs,
    });
    this.#pull = pull;
    void pull.ended.then((reason) => {
      // A read that ended before any media came was most likely refused: the next start gets a new URL.
      if (!pull.gotMedia) this.#fresh = true;
      log.debug({ device: deviceId }, `${name}: cloud stream read ended (${reason})`);
    });
    try {
      await pull.start();
    } catch (error) {
      this.#fresh = true;
      throw error;
    }
    log.info({ device: deviceId, event: "source-cloud" }, `${name}: live view via the cloud`);
  }

  #closePull(reason: string): void {
    const pull = this.#pull;
    this.#pull = undefined;
    pull?.close(reason);
  }
}
