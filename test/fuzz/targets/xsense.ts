// X-Sense: the shadow-document parser on its own (every catalogued model and unknown ones), and MQTT
// messages through the real driver: the simulator's broker publishes fuzzed payloads on the topics the
// driver subscribes to (shadow updates of its things and houses, presence, house events).
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../src/core/logger.ts";
import { applyPatch, type DeviceState } from "../../../src/core/model.ts";
import { JsonStore } from "../../../src/core/storage.ts";
import { XSenseDriver } from "../../../src/drivers/xsense/index.ts";
import { inferSpec, MODELS, modelSpec, type ModelSpec } from "../../../src/drivers/xsense/models.ts";
import { childSn, fieldsToPatch, flatten, selfTestResult } from "../../../src/drivers/xsense/parse.ts";
import { XSenseSimulator, simThingName } from "../../../sim/xsense/index.ts";
import { fastDriverOptions } from "../../drivers/xsense-harness.ts";
import { CheckingSink, CountingLog, stateProblems } from "../checks.ts";
import { hostileJson, mutatedText } from "../mutate.ts";
import { FuzzFailure, type FuzzTarget } from "../runner.ts";
import { reported } from "./xsense-gen.ts";

const model = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...Object.keys(MODELS)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("XS99-ZZ", "XC77", "XH1", "SC-X", "constructor", "toString", "__proto__", "", "SBS50"),
  },
);

/** A document as it comes off the wire: JSON text of {state:{reported}}, sometimes mutated. */
const shadowText = fc.oneof(
  { weight: 5, arbitrary: reported.map((r) => JSON.stringify({ state: { reported: r } })) },
  { weight: 2, arbitrary: mutatedText(reported.map((r) => JSON.stringify({ state: { reported: r } }))) },
  { weight: 1, arbitrary: hostileJson.map((v) => JSON.stringify(v) ?? "") },
);

function specOf(name: string, fields: Record<string, unknown>): ModelSpec | undefined {
  const spec = modelSpec(name);
  if (spec && spec.kind !== "station" && spec.kind !== "ignored") return spec;
  return spec ? undefined : inferSpec(name, fields, false);
}

function baseState(spec: ModelSpec): DeviceState {
  const s: DeviceState = {};
  if (spec.smoke) s.smokeAlarm = { detected: false };
  if (spec.co) s.coAlarm = { detected: false };
  if (spec.heat) s.heatAlarm = { detected: false };
  if (spec.battery) s.battery = { low: false };
  return s;
}

export const xsenseShadow: FuzzTarget = {
  name: "xsense-shadow",
  covers: "shadow JSON -> flatten, childSn, fieldsToPatch, selfTestResult for every catalogued model and unknown ones",
  batch: 500,
  async open() {
    return {
      input: fc.tuple(model, shadowText, fc.constantFrom<"smoke" | "co" | undefined>(undefined, "smoke", "co")),
      async run(inputs) {
        let rejected = 0;
        for (const [name, text, active] of inputs as [string, string, "smoke" | "co" | undefined][]) {
          let doc: unknown;
          try {
            doc = JSON.parse(text);
          } catch {
            rejected++;
            continue;
          }
          const state = (doc as { state?: unknown } | null)?.state as { reported?: unknown } | undefined;
          const fields = state && typeof state === "object" ? state.reported : undefined;
          if (!fields || typeof fields !== "object" || Array.isArray(fields)) {
            rejected++;
            continue;
          }
          const f = fields as Record<string, unknown>;
          const spec = specOf(name, flatten(f));
          if (spec && (typeof spec !== "object" || typeof spec.kind !== "string"))
            throw new FuzzFailure(`model ${JSON.stringify(name)} has spec ${String(spec)}`);
          const sn = childSn(f);
          if (sn !== undefined && (typeof sn !== "string" || !sn))
            throw new FuzzFailure(`childSn gave ${JSON.stringify(sn)}`);
          if (!spec) continue;
          const result = fieldsToPatch(spec, f, active ? { active, known: f } : {});
          if (result.problems.length) rejected++;
          const problems = stateProblems(applyPatch(baseState(spec), result.patch));
          if (problems.length)
            throw new FuzzFailure(`fieldsToPatch(${name}, ${text.slice(0, 200)}) gave ${problems.join(", ")}`);
          const test = selfTestResult(spec, f);
          if (test) {
            const p = stateProblems(applyPatch(baseState(spec), test.patch));
            if (p.length || typeof test.success !== "boolean")
              throw new FuzzFailure(`selfTestResult(${name}, ${text.slice(0, 200)}) gave ${p.join(", ")}`);
          }
        }
        return { rejected };
      },
      async close() {},
    };
  },
};

interface Message {
  topic: string;
  payload: string;
}

const SHADOW_NAMES = [
  "2nd_alarm",
  "alarm",
  "2nd_mainpage",
  "mainpage",
  "2nd_info_00000001",
  "2nd_info_00000002",
  "2nd_info_00000003",
  "info_00000011",
  "2nd_info_13B96457",
  "2nd_info_EN7000AB",
  "2nd_selftestup",
  "selftestup",
  "2nd_systestup_00000001",
  "2nd_appmute",
];

function messages(things: string[], houses: string[]): fc.Arbitrary<Message> {
  const shadowName = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...SHADOW_NAMES) },
    { weight: 1, arbitrary: fc.stringMatching(/^[^/#+]{0,12}$/) },
  );
  const shadowTopic = fc
    .tuple(fc.constantFrom(...things, ...houses), shadowName)
    .map(([t, n]) => `$aws/things/${t}/shadow/name/${n}/update`);
  const presence = fc
    .tuple(fc.constantFrom("connected", "disconnected", "lost"), fc.constantFrom(...things))
    .map(([e, t]) => `$aws/events/presence/${e}/${t}`);
  const events = fc
    .tuple(fc.constantFrom("alarm", "x", ""), fc.constantFrom(...houses))
    .map(([e, h]) => `@xsense/events/${e}/${h}`);
  const topic = fc.oneof(
    { weight: 12, arbitrary: shadowTopic },
    { weight: 2, arbitrary: presence },
    { weight: 1, arbitrary: events },
  );
  return fc.record({ topic, payload: shadowText });
}

const UNIQUE = "hbfuzzsentinel";

export const xsenseMqtt: FuzzTarget = {
  name: "xsense-mqtt",
  covers: "XSenseDriver MQTT message handler (shadow updates, presence, house events) via the simulator's broker",
  batch: 200,
  rejectMessages: ["xsense: ignoring a malformed message"],
  async open() {
    const sim = new XSenseSimulator({ reportDelayMs: 10 });
    const urls = await sim.start();
    const logs = new CountingLog();
    const log = createLogger("debug", { json: true, destination: logs });
    const dir = mkdtempSync(join(tmpdir(), "hb-fuzz-xsense-"));
    const sink = new CheckingSink();
    // No drift poll, a long MQTT grace: a fuzzed message must not need either to be survived.
    const driver = new XSenseDriver({ ...fastDriverOptions(urls, sim, log), mqttGraceMs: 60_000 });
    await driver.start({ sink, log, store: new JsonStore(join(dir, "xsense.json")) });
    if (sink.link !== "connected") throw new Error(`the X-Sense driver did not connect (${sink.link})`);
    const things = sim.houses.flatMap((h) => h.stations.map((s) => simThingName(s.category, s.sn)));
    const houses = sim.houses.map((h) => h.id);
    let round = 0;
    return {
      input: messages(things, houses),
      async run(inputs) {
        const linkSeen = sink.linkHistory.length;
        for (const m of inputs as Message[]) sim.publishRaw(m.topic, m.payload);
        // MQTT keeps order per connection (one per house region): a last message per house marks the end.
        round++;
        await Promise.all(
          houses.map((h, i) => {
            const marker = `${UNIQUE}${round}x${i}`;
            const seen = logs.until(marker, 10_000);
            sim.publishRaw(`$aws/things/${h}/shadow/name/${marker}/update`, { state: { reported: {} } });
            return seen;
          }),
        );
        const violations = sink.violations.splice(0);
        if (violations.length) throw new FuzzFailure(violations.join("; "));
        const dropped = sink.linkHistory.slice(linkSeen).filter((s) => s !== "connected");
        if (dropped.length || sink.link !== "connected")
          throw new FuzzFailure(`the link went ${dropped.join(", ")} (now ${sink.link})`);
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
