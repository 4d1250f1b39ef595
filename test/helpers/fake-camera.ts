// A camera's push behaviour for media tests, without any vendor: requestStream(start) makes ffmpeg
// push to the given URL (a renewal while it pushes changes nothing, as on a Nanit; a push that died
// or hangs is replaced), stop kills it.
// Every request is recorded with its time.
import { EventEmitter } from "node:events";
import type { StreamRequest } from "../../src/core/camera.ts";
import { TestPush, type PushOptions } from "./rtmp-push.ts";

export interface RecordedRequest extends StreamRequest {
  at: number;
}

export class FakeCamera extends EventEmitter<{ request: [RecordedRequest] }> {
  readonly requests: RecordedRequest[] = [];
  readonly pushes: TestPush[] = [];
  /** When set, requests reject with this error (and no push starts). */
  fail: Error | undefined;
  #options: PushOptions;

  constructor(options: PushOptions = { size: "640x360" }) {
    super();
    this.#options = options;
  }

  get push(): TestPush | undefined {
    return this.pushes.at(-1);
  }

  starts(): RecordedRequest[] {
    return this.requests.filter((r) => r.action === "start");
  }

  stops(): RecordedRequest[] {
    return this.requests.filter((r) => r.action === "stop");
  }

  readonly requestStream = async (request: StreamRequest): Promise<void> => {
    const recorded = { ...request, at: performance.now() };
    this.requests.push(recorded);
    this.emit("request", recorded);
    if (this.fail) throw this.fail;
    if (request.action === "stop") {
      await this.push?.kill();
      return;
    }
    if (this.push?.process.running && !this.push.paused) return;
    await this.push?.kill();
    this.pushes.push(new TestPush(request.url, this.#options));
  };

  async close(): Promise<void> {
    await Promise.all(this.pushes.map((p) => p.kill()));
  }
}
