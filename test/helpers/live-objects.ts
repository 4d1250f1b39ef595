// Count the live objects that inherit from a prototype, after garbage collection, through the
// inspector in this very process (Runtime.queryObjects): how tests tell an object retained per
// reconnect from garbage V8 has not collected yet.
import { Session } from "node:inspector/promises";
import { setTimeout as delay } from "node:timers/promises";

export class LiveObjects {
  readonly #session = new Session();

  constructor() {
    this.#session.connect();
  }

  /** Live objects whose prototype chain holds the value of `prototypeExpression` (evaluated globally). */
  async count(prototypeExpression: string): Promise<number> {
    // Twice with a turn between: FinalizationRegistry callbacks and WeakRef targets held for the
    // current job only let go after a task boundary.
    for (let i = 0; i < 2; i++) {
      await this.#session.post("HeapProfiler.collectGarbage");
      await delay(20);
    }
    const group = "live-objects";
    try {
      const proto = await this.#session.post("Runtime.evaluate", {
        expression: prototypeExpression,
        objectGroup: group,
      });
      if (!proto.result.objectId) throw new Error(`${prototypeExpression} is not an object`);
      // (@types/node types these two answers as void.)
      const found = (await this.#session.post("Runtime.queryObjects", {
        prototypeObjectId: proto.result.objectId,
        objectGroup: group,
      })) as unknown as { objects: { objectId: string } };
      const length = (await this.#session.post("Runtime.callFunctionOn", {
        objectId: found.objects.objectId,
        functionDeclaration: "function () { return this.length; }",
        returnByValue: true,
      })) as unknown as { result: { value: number } };
      return length.result.value;
    } finally {
      await this.#session.post("Runtime.releaseObjectGroup", { objectGroup: group });
    }
  }

  close(): void {
    this.#session.disconnect();
  }
}

/** The prototype of Node's timer objects (Timeout is not a global). */
export const TIMEOUT_PROTOTYPE =
  "(() => { const t = setTimeout(() => undefined, 0); clearTimeout(t); return Object.getPrototypeOf(t); })()";
