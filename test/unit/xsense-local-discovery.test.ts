// The SBS50's Home Assistant discovery output (docs/protocols/xsense.md §4.5): the real topic shapes,
// payload_on/payload_off from the config, malformed and foreign input logged (rate limited) and
// ignored, and a flood of messages that leaves the tracker's memory and the log bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/core/logger.ts";
import { RateLimitedLog } from "../../src/core/rate-limited-log.ts";
import { DiscoveryTracker, parseTopic, statusOf, type LocalState } from "../../src/drivers/xsense/local-discovery.ts";
import { MqttPacketLimit } from "../../src/drivers/xsense/local-broker.ts";
import { patchOf } from "../../src/drivers/xsense/local-path.ts";
import { LogCapture } from "../helpers/log-capture.ts";

// The real log's shape (XH02-M on an SBS50): station 14D9A2F0, detector 00A1B2C3.
const NODE = "SBS5014D9A2F0_00A1B2C3";
const topic = (attr: string, leaf = "state") => `homeassistant/binary_sensor/${NODE}/${NODE}_${attr}/${leaf}`;

function setUp(options: { maxEntities?: number } = {}) {
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const limiter = new RateLimitedLog(log);
  const tracker = new DiscoveryTracker(log, { limiter, ...options });
  const state = (t: string, payload: string) => tracker.handle(t, payload) as LocalState | undefined;
  return { logs, tracker, limiter, state };
}

test("topics: the real shapes parse into station, detector and attribute; others do not", () => {
  assert.deepEqual(parseTopic(topic("heatalarm")), {
    stationSn: "14D9A2F0",
    deviceSn: "00A1B2C3",
    attr: "heatalarm",
    kind: "state",
  });
  assert.deepEqual(parseTopic(topic("battery", "config")), {
    stationSn: "14D9A2F0",
    deviceSn: "00A1B2C3",
    attr: "battery",
    kind: "config",
  });
  for (const attr of ["online", "lifeend", "smokealarm", "coalarm", "smokefault", "heatfault", "cofault"]) {
    assert.equal(parseTopic(topic(attr))?.attr, attr);
  }
  // The object id must repeat the node id: another detector's serial there is not this detector.
  assert.equal(parseTopic(`homeassistant/binary_sensor/${NODE}/SBS5014D9A2F0_99999999_heatalarm/state`), undefined);
  assert.equal(parseTopic(topic("temperature")), undefined, "an attribute the SBS50 does not publish");
  assert.equal(parseTopic(`other/binary_sensor/${NODE}/${NODE}_heatalarm/state`), undefined, "another prefix");
  assert.equal(parseTopic(`homeassistant/binary_sensor/${NODE}/${NODE}_heatalarm/state/extra`), undefined);
  assert.equal(parseTopic("homeassistant/binary_sensor/SBS50_/SBS50__heatalarm/state"), undefined, "empty serials");
});

test("state words: Detected is an alarm, Cleared is not; battery Low and Critical are low; EOL; Online", () => {
  const { tracker } = setUp();
  const state = (attr: string, status: string) =>
    tracker.handle(topic(attr), JSON.stringify({ status })) as LocalState | undefined;
  assert.deepEqual(state("heatalarm", "Detected"), {
    kind: "state",
    stationSn: "14D9A2F0",
    deviceSn: "00A1B2C3",
    attr: "heatalarm",
    on: true,
    status: "Detected",
  });
  assert.equal(state("heatalarm", "Cleared")?.on, false);
  assert.equal(state("battery", "Normal")?.on, false);
  assert.equal(state("battery", "Low")?.on, true);
  assert.equal(state("battery", "Critical")?.on, true);
  assert.equal(state("lifeend", "EOL")?.on, true);
  assert.equal(state("online", "Online")?.on, true);
  assert.equal(state("online", "Offline")?.on, false);
});

test("payload_on / payload_off of the discovery config decide; a word neither names is ignored and logged", () => {
  const { tracker, logs, state } = setUp();
  const config = {
    state_topic: topic("smokealarm"),
    payload_on: "ALARM",
    payload_off: "IDLE",
    device: { model: "XS01-M", name: "Hall" },
  };
  const entity = tracker.handle(topic("smokealarm", "config"), JSON.stringify(config));
  assert.deepEqual(entity, {
    kind: "config",
    stationSn: "14D9A2F0",
    deviceSn: "00A1B2C3",
    attr: "smokealarm",
    model: "XS01-M",
    name: "Hall",
    firmware: undefined,
  });
  assert.equal(state(topic("smokealarm"), '{"status":"ALARM"}')?.on, true);
  assert.equal(state(topic("smokealarm"), '{"status":"IDLE"}')?.on, false);
  // Without the config "IDLE" would read as "not detected"; with it, a word it does not name is news to nobody.
  assert.equal(tracker.handle(topic("smokealarm"), '{"status":"Maybe"}'), undefined);
  assert.equal(logs.warnings.at(-1)?.why, "status is neither payload_on nor payload_off");
  // A bare word (no JSON) is read as the status too.
  assert.equal(state(topic("smokealarm"), "ALARM")?.on, true);
  // An empty retained config removes the entity: the defaults apply again.
  tracker.handle(topic("smokealarm", "config"), "");
  assert.equal(state(topic("smokealarm"), '{"status":"ALARM"}')?.on, false);
  assert.equal(state(topic("smokealarm"), '{"status":"Detected"}')?.on, true);
});

test("a config's own state_topic is followed", () => {
  const { tracker } = setUp();
  tracker.handle(
    topic("coalarm", "config"),
    JSON.stringify({ state_topic: "homeassistant/xsense/co-hall", payload_on: "Detected" }),
  );
  assert.deepEqual(tracker.handle("homeassistant/xsense/co-hall", '{"status":"Detected"}'), {
    kind: "state",
    stationSn: "14D9A2F0",
    deviceSn: "00A1B2C3",
    attr: "coalarm",
    on: true,
    status: "Detected",
  });
});

test("malformed input is ignored with one warn line per reason, and never throws", () => {
  const { tracker, logs, limiter, state } = setUp();
  const bad: Array<[string, string | Buffer]> = [
    [topic("smokealarm"), '{"status":'],
    [topic("smokealarm"), '{"status":1}'],
    [topic("smokealarm"), "[1,2]"],
    [topic("smokealarm"), '{"state":"Detected"}'],
    [topic("smokealarm"), "<html>"],
    [topic("smokealarm"), Buffer.from([0xff, 0xfe, 0x00])],
    [topic("smokealarm"), `{"status":"${"x".repeat(100)}"}`],
    [topic("smokealarm", "config"), "{not json"],
    [topic("smokealarm", "config"), "42"],
    [topic("smokealarm"), "x".repeat(20_000)],
    [`homeassistant/binary_sensor/${NODE}/${NODE}_smokealarm/status`, "{}"],
  ];
  for (let round = 0; round < 100; round++) for (const [t, p] of bad) assert.equal(tracker.handle(t, p), undefined);
  const reasons = Object.keys(limiter.stats()).sort();
  assert.deepEqual(reasons, [
    "config is not an object",
    "config is not valid JSON",
    "payload too large",
    "state has no status string",
    "state is neither JSON nor a word",
    "state is not valid JSON",
    "status too long",
    "unknown SBS50 topic",
  ]);
  assert.equal(logs.warnings.length, reasons.length, "one line per reason, the other 99 rounds held back");
  // Other discovery traffic on a shared broker is not ours and not worth a line.
  tracker.handle("homeassistant/sensor/kitchen_temp/config", "{}");
  tracker.handle("zigbee2mqtt/bridge/state", "online");
  assert.equal(logs.warnings.length, reasons.length);
  // And the tracker still works.
  assert.equal(state(topic("smokealarm"), '{"status":"Detected"}')?.on, true);
});

test("a flood of 10,000 configs for new serials and 10,000 bad states stays bounded", () => {
  const { tracker, logs, state } = setUp({ maxEntities: 256 });
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) {
    const node = `SBS50FFFF0000_${i.toString(16).padStart(8, "0")}`;
    tracker.handle(
      `homeassistant/binary_sensor/${node}/${node}_smokealarm/config`,
      `{"payload_on":"Detected","state_topic":"homeassistant/x/${i}"}`,
    );
    tracker.handle(`homeassistant/binary_sensor/${node}/${node}_smokealarm/state`, "{broken");
  }
  assert.equal(tracker.entityCount, 256, "entities beyond the cap are not remembered");
  assert.ok(logs.warnings.length <= 3, `warn lines: ${logs.warnings.length}`);
  assert.ok(process.memoryUsage().heapUsed - before < 50 * 1024 * 1024);
  // The entities it holds still decide.
  const first = "SBS50FFFF0000_00000000";
  assert.equal(
    state(`homeassistant/binary_sensor/${first}/${first}_smokealarm/state`, '{"status":"Detected"}')?.on,
    true,
  );
});

test("statusOf reads {status} objects and bare words only", () => {
  assert.equal(statusOf('{"status":"Detected"}'), "Detected");
  assert.equal(statusOf(" Low \n"), "Low");
  assert.deepEqual(statusOf('{"status":null}'), { why: "state has no status string" });
});

test("patches: alarms, faults, battery and end of life become core state; online is not state", () => {
  const base = { kind: "state" as const, stationSn: "S", deviceSn: "D", status: "" };
  assert.deepEqual(patchOf({ ...base, attr: "smokealarm", on: true }), { smokeAlarm: { detected: true } });
  assert.deepEqual(patchOf({ ...base, attr: "coalarm", on: false }), { coAlarm: { detected: false } });
  assert.deepEqual(patchOf({ ...base, attr: "heatalarm", on: true }), { heatAlarm: { detected: true } });
  assert.deepEqual(patchOf({ ...base, attr: "cofault", on: true }), { fault: "co sensor fault" });
  assert.deepEqual(patchOf({ ...base, attr: "smokefault", on: false }), { fault: null });
  assert.deepEqual(patchOf({ ...base, attr: "battery", on: true }), { battery: { low: true } });
  assert.deepEqual(patchOf({ ...base, attr: "lifeend", on: true }), { endOfLife: true });
  assert.equal(patchOf({ ...base, attr: "online", on: true }), undefined);
});

test("MQTT packet limit: packets up to the limit pass in any chunking; a larger one or a bad length fails", () => {
  const packet = (bodyLength: number) => {
    const length: number[] = [];
    let n = bodyLength;
    do {
      let byte = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) byte |= 0x80;
      length.push(byte);
    } while (n > 0);
    return Buffer.concat([Buffer.from([0x30, ...length]), Buffer.alloc(bodyLength, 7)]);
  };
  const stream = Buffer.concat([packet(0), packet(100), packet(1000 - 3), packet(5)]);
  for (const size of [1, 2, 3, 7, stream.length]) {
    const limit = new MqttPacketLimit(1000);
    for (let i = 0; i < stream.length; i += size)
      assert.equal(limit.accept(stream.subarray(i, i + size)), true, `chunks of ${size}`);
  }
  assert.equal(new MqttPacketLimit(1000).accept(packet(1000).subarray(0, 4)), false, "refused from the header alone");
  // A CONNECT claiming 256 MB is refused before any of it arrives.
  assert.equal(new MqttPacketLimit(65536).accept(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])), false);
  assert.equal(
    new MqttPacketLimit(65536).accept(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])),
    false,
    "a fifth length byte",
  );
});
