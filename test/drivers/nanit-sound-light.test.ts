// The Sound & Light Machine (docs/protocols/nanit.md §4.7) through the driver, against the simulated
// relay: one device per speaker listed in /babies, its state from the device's pushes and GET_SETTINGS,
// commands as Settings deltas of the changed fields only (inverted no_color / no_sound, floats 0-1),
// nothing sent before the relay says the device is attached, and changes made in its app.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, whenAvailable, type Harness } from "./nanit-harness.ts";
import { deviceId } from "../../src/core/model.ts";

const BABIES = [{ uid: "b4c0ffee", name: "Robin", cameraUid: "N301SIM0000001", speakerUid: "S1SIM0000001" }];
const SL = deviceId("nanit", "S1SIM0000001");

async function ready(h: Harness): Promise<void> {
  await whenAvailable(h);
  if (!h.sink.available.get(SL))
    await h.sink.next((c) => c.type === "availabilityChanged" && c.id === SL && c.available, 5000);
}

const settingsSent = (h: Harness) =>
  h.sim.speakers
    .get("S1SIM0000001")!
    .received.filter((r) => r.request.settings)
    .map((r) => r.request.settings);

test("a Sound & Light Machine is a device of its own with light, volume, sound and room sensors", async (t) => {
  const h = await harness({ sim: { babies: BABIES } });
  t.after(() => h.close());
  await ready(h);
  const info = h.sink.infos.get(SL)!;
  assert.equal(info.kind, "sound-light-machine");
  assert.equal(info.name, "Robin Sound & Light");
  assert.deepEqual(info.capabilities, {
    light: { dimmable: true, color: true, label: "Light" },
    volume: { label: "Volume" },
    soundMachine: {
      label: "Sound",
      tracks: ["White Noise", "Waves", "Birds", "Lullaby"].map((id) => ({ id, label: id })),
    },
    temperature: {},
    humidity: {},
  });
  const state = h.sink.states.get(SL)!;
  assert.deepEqual(state.light, { on: false, brightness: 50, hue: 36, saturation: 80 });
  assert.equal(state.volume, 40);
  assert.deepEqual(state.soundMachine, { on: false, track: "Waves" });
  assert.equal(state.temperature, 22.25);
  assert.equal(state.humidity, 48.5);
  const first = h.sim.speakers.get("S1SIM0000001")!.received[0]!.request;
  assert.deepEqual(first.get_settings, { all: true }, "the first request reads everything");
});

test("commands are Settings deltas: light on (+ power), brightness, colour, volume, a track, sound off", async (t) => {
  const h = await harness({ sim: { babies: BABIES } });
  t.after(() => h.close());
  await ready(h);
  await h.driver.command(SL, { light: { on: true, brightness: 80 } });
  await h.driver.command(SL, { light: { hue: 180, saturation: 50 } });
  await h.driver.command(SL, { volume: 25 });
  await h.driver.command(SL, { soundMachine: { track: "Birds" } });
  await h.driver.command(SL, { soundMachine: { on: false } });
  assert.deepEqual(settingsSent(h), [
    { brightness: Math.fround(0.8), color: { no_color: false }, is_on: true },
    { color: { hue: 0.5, saturation: 0.5 } },
    { volume: 0.25 },
    { sound: { no_sound: false, track: "Birds" }, is_on: true },
    { sound: { no_sound: true } },
  ]);
  const dev = h.sim.speakers.get("S1SIM0000001")!.state;
  assert.deepEqual(
    [dev.color.no_color, dev.brightness, dev.color.hue, dev.volume, dev.sound],
    [false, Math.fround(0.8), 0.5, 0.25, { no_sound: true, track: "Birds" }],
  );
  await assert.rejects(h.driver.command(SL, { soundMachine: { track: "Rain" } }), /cannot do the track "Rain"/);
  await assert.rejects(h.driver.command(SL, { switches: { x: true } }), /cannot do switches/);
});

test("nothing is sent before the relay reports the device attached", async (t) => {
  const h = await harness({ sim: { babies: BABIES }, start: false });
  t.after(() => h.close());
  const sl = h.sim.speakers.get("S1SIM0000001")!;
  sl.attachDelayMs = 300;
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  await ready(h);
  assert.ok(sl.received[0]!.at >= sl.attachedAt[0]!, "the first request came after CONNECTED");
});

test("changes made in the Sound & Light app arrive as pushes", async (t) => {
  const h = await harness({ sim: { babies: BABIES } });
  t.after(() => h.close());
  await ready(h);
  const on = h.sink.next((c) => c.type === "stateChanged" && c.id === SL && c.patch.soundMachine?.on === true);
  h.sim.speakers.get("S1SIM0000001")!.setFromApp({ sound: { no_sound: false, track: "Lullaby" }, volume: 0.6 });
  await on;
  const state = h.sink.states.get(SL)!;
  assert.deepEqual(state.soundMachine, { on: true, track: "Lullaby" });
  assert.equal(state.volume, 60);
  const off = h.sink.next((c) => c.type === "stateChanged" && c.id === SL && c.patch.light?.on === false);
  h.sim.speakers.get("S1SIM0000001")!.setFromApp({ is_on: false });
  await off;
  assert.equal(h.sink.states.get(SL)!.soundMachine?.on, false, "power off silences the sound too");
});
