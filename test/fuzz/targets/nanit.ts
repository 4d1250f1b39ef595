// Nanit through the real driver: the simulator sends fuzzed binary frames (byte-mutated camera messages,
// random bytes, valid pushes with odd values) on the driver's live control socket; a temperature push
// with a value of its own marks the end of each batch (frames are handled in order).
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../src/core/logger.ts";
import { deviceId } from "../../../src/core/model.ts";
import { JsonStore } from "../../../src/core/storage.ts";
import { NanitDriver, saveSession } from "../../../src/drivers/nanit/index.ts";
import { encodeMessage } from "../../../src/drivers/nanit/proto.ts";
import { NanitSimulator } from "../../../sim/nanit/index.ts";
import { fastOptions } from "../../drivers/nanit-harness.ts";
import { CheckingSink, CountingLog } from "../checks.ts";
import { mutatedBytes } from "../mutate.ts";
import { FuzzFailure, type FuzzTarget } from "../runner.ts";
import { nanitFrame } from "./nanit-gen.ts";

function temperaturePush(celsius: number): Uint8Array {
  return encodeMessage({
    type: "REQUEST",
    request: {
      id: 900_000,
      type: "PUT_SENSOR_DATA",
      sensor_data: [{ sensor_type: "TEMPERATURE", value_milli: Math.round(celsius * 1000) }],
    },
  });
}

export const nanitFrames: FuzzTarget = {
  name: "nanit-frames",
  covers:
    "NanitDriver + NanitSocket frame handling (decode, responses, camera pushes) on a live session with the simulator",
  batch: 200,
  rejectMessages: [
    "nanit: ignoring a malformed frame",
    "nanit: ignoring a text frame (the protocol is binary protobuf)",
    "nanit: ignoring a response of another type than its request",
  ],
  async open() {
    const sim = new NanitSimulator({ sensorPushMs: [600_000, 600_000] });
    const urls = await sim.start();
    const logs = new CountingLog();
    const log = createLogger("debug", { json: true, destination: logs });
    const dir = mkdtempSync(join(tmpdir(), "hb-fuzz-nanit-"));
    const store = new JsonStore(join(dir, "nursery.json"));
    saveSession(store, sim.email, sim.issueSession());
    const sink = new CheckingSink();
    const driver = new NanitDriver({
      ...fastOptions(sim, urls, log),
      messagesPollMs: 60_000,
      keepaliveMs: 60_000,
      pingIntervalMs: 60_000,
      pongTimeoutMs: 30_000,
    });
    await driver.start({ sink, log, store });
    const id = deviceId("nanit", sim.babies[0]!.cameraUid);
    let round = 0;
    /** Send a temperature only this round can produce and wait for it: everything sent before was handled. */
    const mark = async (): Promise<void> => {
      round++;
      const celsius = 10 + (round % 6000) / 100 + 0.001;
      const expected = Math.round(celsius * 100) / 100;
      const seen = sink.until(() => sink.states.get(id)?.temperature === expected, 10_000, `temperature ${expected}`);
      sim.sendRaw(temperaturePush(celsius));
      await seen;
    };
    await sink.until(
      () => sink.available.get(id) === true && sim.connections().length > 0,
      10_000,
      "the camera session",
    );
    await mark();
    const linkAt = { seen: sink.linkHistory.length };
    return {
      input: fc.oneof(
        { weight: 6, arbitrary: mutatedBytes(nanitFrame) },
        { weight: 3, arbitrary: nanitFrame },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
      ),
      async run(inputs) {
        const connections = sim.connections().length;
        for (const bytes of inputs as Uint8Array[]) sim.sendRaw(bytes);
        await mark();
        const violations = sink.violations.splice(0);
        if (violations.length) throw new FuzzFailure(violations.join("; "));
        const dropped = sink.linkHistory.slice(linkAt.seen).filter((s) => s !== "connected");
        linkAt.seen = sink.linkHistory.length;
        if (dropped.length) throw new FuzzFailure(`a frame dropped the link: ${dropped.join(", ")}`);
        if (sim.connections().length !== connections || sink.available.get(id) !== true)
          throw new FuzzFailure("a frame cost the camera session");
        return { rejected: 0 };
      },
      logs,
      async close() {
        await driver.stop();
        await sim.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
