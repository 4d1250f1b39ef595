// The opt-in Hush and Self-Test controls (README "Hush and self-test switches"): which detectors get them
// (per account or per serial, only what the model can do, refusals logged), and where a hush goes: the
// detector that raised the alarm, with the exact desired-state write the simulator checks field by field.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./xsense-harness.ts";
import type { SinkCall } from "../helpers/fake-sink.ts";
import { everyDetectorHouses, HOUSEHOLD as H } from "../../sim/xsense/households.ts";
import type { SelfTestRequest } from "../../sim/xsense/index.ts";

const changed = (id: string, pred: (c: Extract<SinkCall, { type: "stateChanged" }>) => boolean) => (c: SinkCall) =>
  c.type === "stateChanged" && c.id === id && pred(c);

test("off by default; per account or per serial, and only what the model can do", async (t) => {
  const plain = await harness();
  t.after(() => plain.close());
  for (const info of plain.sink.infos.values()) assert.equal(info.capabilities.alarmControls, undefined, info.model);

  const h = await harness({ driver: { controls: { hush: true, selfTest: ["00000001", "EN7000AB", "NOPE0001"] } } });
  t.after(() => h.close());
  const controls = (sn: string) => h.sink.infos.get(h.id(sn))?.capabilities.alarmControls;
  assert.deepEqual(controls("00000001"), { hush: true, selfTest: true }, "XS01-M: both");
  assert.deepEqual(controls("00000002"), { hush: true }, "XC01-M: hush for the account, no self-test asked");
  assert.deepEqual(controls("EN7000AB"), { hush: true }, "XS01-WX: no remote self-test");
  assert.equal(controls("00000005"), undefined, "a thermo-hygrometer has no alarm to hush");
  const refused = h.logs.matching(/no Self-Test switch \(it has no remote self-test\) for Cabin smoke \(XS01-WX\)/);
  assert.equal(refused.length, 1);
  assert.equal(refused[0]!.level, 40, "a serial listed on purpose: a warning");
  // Sensors are not alarms (nothing logged); the unknown model cannot be muted: a note, as the account asked.
  const hush = h.logs.matching(/no Hush/);
  assert.deepEqual(
    hush.map((l) => [l.level, l.msg]),
    [[30, "xsense: no Hush switch (it cannot be muted remotely) for Prototype (XS99-ZZ)"]],
  );
  assert.equal(h.logs.matching(/selfTestSwitch lists NOPE0001, which no detector of this account has/).length, 1);
});

test("a hush mutes the detector that raised the alarm, with the route its model needs", async (t) => {
  const h = await harness({ sim: { houses: everyDetectorHouses() }, driver: { controls: { hush: true } } });
  t.after(() => h.close());
  const mutes: SelfTestRequest[] = [];
  h.sim.on("mute", (m) => mutes.push(m));
  const smoke = h.id(H.smoke);
  const listener = h.id(H.listener);
  const raised = h.sink.next(changed(smoke, (c) => c.patch.smokeAlarm?.detected === true));
  h.sim.raiseSmoke(H.smoke);
  await raised;
  // Pressed on the listener, which hears the alarm but did not raise it: the mute goes to the smoke detector.
  const muted = h.sink.next(changed(smoke, (c) => c.patch.smokeAlarm?.muted === true));
  await h.driver.command(listener, { smokeAlarm: { muted: true } });
  await muted;
  assert.equal(mutes.length, 1);
  const { thing, shadow, desired } = mutes[0]!;
  assert.equal(thing, `SBS50${H.station}`);
  assert.equal(shadow, "2nd_appmute");
  assert.deepEqual(Object.keys(desired), [
    "deviceSN",
    "shadow",
    "stationSN",
    "time",
    "userId",
    "muteType",
    "userParam",
  ]);
  assert.equal(desired.deviceSN, H.smoke);
  assert.equal(desired.shadow, "app2ndMute", "XS0B-MR: the second-generation mute");
  assert.equal(desired.muteType, "0");
  assert.equal(desired.userParam, "source=1");
  assert.equal(h.sink.states.get(listener)?.smokeAlarm?.muted, false, "the listener itself is not muted");

  // Nothing sounding: a hush goes to the detector it was pressed on (a listener: appListener, no userParam).
  const cleared = h.sink.next(changed(smoke, (c) => c.patch.smokeAlarm?.detected === false));
  h.sim.clearSmoke(H.smoke);
  await cleared;
  await h.driver.command(listener, { smokeAlarm: { muted: true } });
  assert.equal(mutes.length, 2);
  assert.equal(mutes[1]!.desired.deviceSN, H.listener);
  assert.equal(mutes[1]!.desired.shadow, "appListener");
  assert.equal(mutes[1]!.desired.userParam, undefined);
});

test("a hush or self-test the model cannot do is refused with a clear error, and nothing is written", async (t) => {
  const h = await harness({ sim: { houses: everyDetectorHouses() } });
  t.after(() => h.close());
  const writes: unknown[] = [];
  h.sim.on("shadowPost", (p) => writes.push(p));
  await assert.rejects(h.driver.command(h.id(H.wifiLeak), { coAlarm: { muted: true } }), /only a self-test|cannot/);
  await assert.rejects(
    h.driver.command(h.id(H.wifiClimate), { smokeAlarm: { testing: true } }),
    /only a self-test|no remote self-test/,
  );
  assert.deepEqual(writes, []);
});
