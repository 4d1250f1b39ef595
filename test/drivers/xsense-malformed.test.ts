// Malformed MQTT payloads are ignored with one warn line per reason (rate limited); the driver neither
// crashes nor applies them, and a good message afterwards still lands.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./xsense-harness.ts";
import { waitFor } from "../helpers/wait.ts";

test("malformed messages are ignored with a log line and no crash", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const thing = "SBS5013B96457";
  const alarm = `$aws/things/${thing}/shadow/name/2nd_alarm/update`;
  const main = `$aws/things/${thing}/shadow/name/2nd_mainpage/update`;
  const bad: Array<[string, string | object]> = [
    [alarm, "not json {"],
    [alarm, "[1,2,3]"],
    [alarm, "null"],
    [alarm, { state: "nope" }],
    [alarm, { state: { reported: [1] } }],
    [alarm, { state: { reported: { stationSN: "13B96457", deviceSN: "00000001" } } }], // no isAlarm
    [alarm, { state: { reported: { stationSN: "13B96457", deviceSN: "00000001", isAlarm: { yes: true } } } }],
    [main, { state: { reported: { devs: "everything" } } }],
    [main, { state: { reported: { devs: { "00000001": 5 } } } }],
    [main, { state: { reported: { devs: { "00000004": { status: { batInfo: "eleven" } } } } } }],
  ];
  const before = h.sink.calls.length;
  for (const [topic, payload] of bad) h.sim.publishRaw(topic, payload);
  // Also noise the driver must shrug off silently: unknown things, devices and duplicates.
  h.sim.publishRaw(`$aws/things/SBS50FFFFFFFF/shadow/name/2nd_alarm/update`, { state: { reported: { isAlarm: "1" } } });
  h.sim.publishRaw(`${alarm}/accepted`, {
    state: { reported: { stationSN: "13B96457", deviceSN: "00000001", isAlarm: "1" } },
  });
  // A good message after the bad ones: messages are handled in order.
  h.sim.raiseSmoke("00000004");
  const heat = h.id("00000004");
  await waitFor(() => h.sink.states.get(heat)?.heatAlarm?.detected === true, 2000, { on: [[h.sink, "call"]] });
  const warns = h.logs.warnings.filter((l) => l.msg === "xsense: ignoring a malformed message");
  assert.deepEqual(
    warns.map((w) => w.why),
    [
      "not JSON",
      "not a JSON object",
      "no state.reported object",
      "alarm report without isAlarm",
      "bad fields",
      "devs is neither a map nor a list",
      "a devs entry is not an object",
    ],
    "one line per reason, in order; repeats held back",
  );
  assert.match(String(warns[4]!.problems), /isAlarm=\{"yes":true\}/);
  const smoke = h.id("00000001");
  assert.equal(h.sink.states.get(smoke)?.smokeAlarm?.detected, false, "nothing bad applied, /accepted ignored");
  assert.equal(h.sink.states.get(heat)?.battery?.level, 100, "the bad batInfo was not applied");
  const after = h.sink.calls.slice(before).filter((c) => c.type === "stateChanged" && c.id !== heat);
  assert.equal(after.length, 0, JSON.stringify(after));
  assert.equal(h.sink.link, "connected");
});
