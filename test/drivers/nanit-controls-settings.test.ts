// Every camera control through the driver, against the simulator: the exact PUT_SETTINGS deltas (only
// the changed field: a full write would reset the others), PUT_CONTROL and PUT_PLAYBACK; changes made
// in the phone app (PUT_SETTINGS pushes, and the sound machine seen only by its poll); the light level
// poll; and `hide`, which leaves items out of the device and refuses commands for them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, whenAvailable } from "./nanit-harness.ts";
import { waitFor } from "../helpers/wait.ts";

const settingsSince = (h: Awaited<ReturnType<typeof harness>>, mark: number) =>
  h.sim
    .requests("PUT_SETTINGS")
    .slice(mark)
    .map((r) => r.request.settings);

test("night-light brightness is a PUT_SETTINGS delta with only field 24, sent before the light comes on", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  const before = { ...h.sim.camera().settings };
  await h.driver.command(h.id(), { light: { brightness: 30 } });
  assert.deepEqual(settingsSince(h, 0), [{ night_light_brightness: 30 }]);
  assert.deepEqual(h.sim.camera().settings, { ...before, night_light_brightness: 30 }, "nothing else changed");
  assert.equal(h.sim.camera().nightLight, false, "brightness alone does not switch the light on");

  const order: string[] = [];
  h.sim.on("request", (r) => order.push(r.request.type as string));
  await h.driver.command(h.id(), { light: { on: true, brightness: 80 } });
  assert.deepEqual(order, ["PUT_SETTINGS", "PUT_CONTROL"]);
  assert.deepEqual(settingsSince(h, 1), [{ night_light_brightness: 80 }]);
  assert.deepEqual(h.sink.states.get(h.id())!.light, { on: true, brightness: 80 });

  const dimmed = h.sink.next((c) => c.type === "stateChanged" && c.patch.light?.brightness === 15);
  h.sim.setSettingsFromApp({ night_light_brightness: 15 });
  await dimmed;
  assert.equal(h.sink.states.get(h.id())!.light?.on, true, "a brightness delta leaves on/off alone");
});

test("status light, mic mute, volume: one PUT_SETTINGS field each; the phone app's deltas come back", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  await h.driver.command(h.id(), { switches: { statusLight: false } });
  await h.driver.command(h.id(), { switches: { micMute: true } });
  await h.driver.command(h.id(), { volume: 35 });
  assert.deepEqual(settingsSince(h, 0), [{ status_light_on: false }, { mic_mute_on: true }, { volume: 35 }]);
  const cam = h.sim.camera().settings;
  assert.deepEqual([cam.status_light_on, cam.mic_mute_on, cam.volume], [false, true, 35]);
  const state = h.sink.states.get(h.id())!;
  assert.deepEqual([state.switches?.statusLight, state.switches?.micMute, state.volume], [false, true, 35]);

  const louder = h.sink.next((c) => c.type === "stateChanged" && c.patch.volume === 70);
  h.sim.setSettingsFromApp({ volume: 70 });
  await louder;
  const unmuted = h.sink.next((c) => c.type === "stateChanged" && c.patch.switches?.micMute === false);
  h.sim.setSettingsFromApp({ mic_mute_on: false });
  await unmuted;
  assert.equal(h.sink.states.get(h.id())!.switches?.statusLight, false, "a delta leaves other switches alone");
});

test("night vision: two switches map onto OFF / AUTO / ON", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  const nv = () => h.sim.camera().settings.night_vision;
  await h.driver.command(h.id(), { switches: { nightVisionAlwaysOn: true } });
  assert.equal(nv(), "NV_ON");
  await h.driver.command(h.id(), { switches: { nightVision: true } });
  assert.equal(nv(), "NV_ON", "night vision on keeps always-on (nothing sent)");
  await h.driver.command(h.id(), { switches: { nightVisionAlwaysOn: false } });
  assert.equal(nv(), "NV_AUTO", "always-on off falls back to auto");
  await h.driver.command(h.id(), { switches: { nightVision: false } });
  assert.equal(nv(), "NV_OFF");
  await h.driver.command(h.id(), { switches: { nightVision: true } });
  assert.equal(nv(), "NV_AUTO");
  assert.deepEqual(settingsSince(h, 0), [
    { night_vision: "NV_ON" },
    { night_vision: "NV_AUTO" },
    { night_vision: "NV_OFF" },
    { night_vision: "NV_AUTO" },
  ]);
  const on = h.sink.next((c) => c.type === "stateChanged" && c.patch.switches?.nightVisionAlwaysOn === true);
  h.sim.setSettingsFromApp({ night_vision: "NV_ON" });
  await on;
  assert.deepEqual(h.sink.states.get(h.id())!.switches, {
    standby: false,
    nightVision: true,
    nightVisionAlwaysOn: true,
    statusLight: true,
    micMute: false,
  });
});

test("sound machine: a track plays it (PUT_PLAYBACK STARTED + filename), off stops, on resumes it", async (t) => {
  const h = await harness({ driver: { playbackPollMs: 50 } });
  t.after(() => h.close());
  await whenAvailable(h);
  await h.driver.command(h.id(), { soundMachine: { track: "Birds.wav" } });
  await h.driver.command(h.id(), { soundMachine: { on: false } });
  await h.driver.command(h.id(), { soundMachine: { on: true } });
  assert.deepEqual(
    h.sim.requests("PUT_PLAYBACK").map((r) => r.request.playback),
    [
      { status: "STARTED", tracks: [{ filename: "Birds.wav" }] },
      { status: "STOPPED" },
      { status: "STARTED", tracks: [{ filename: "Birds.wav" }] },
    ],
  );
  const sm = h.sim.camera().soundMachine;
  assert.deepEqual([sm.playing, sm.current], [true, "Birds.wav"]);
  assert.deepEqual(h.sink.states.get(h.id())!.soundMachine, { on: true, track: "Birds.wav" });
  await assert.rejects(h.driver.command(h.id(), { soundMachine: { track: "Rain.wav" } }), /cannot do the track "Rain/);
  assert.equal(h.sim.requests("PUT_PLAYBACK").length, 3, "an unknown track is refused before anything is sent");

  // The camera never pushes playback: the phone app's change is seen by the GET_PLAYBACK poll.
  const waves = h.sink.next((c) => c.type === "stateChanged" && c.patch.soundMachine?.track === "Waves.wav");
  h.sim.setPlaybackFromApp("Waves.wav");
  await waves;
  const stopped = h.sink.next((c) => c.type === "stateChanged" && c.patch.soundMachine?.on === false);
  h.sim.setPlaybackFromApp(undefined);
  await stopped;
});

test("a GET_PLAYBACK answer from before a PUT_PLAYBACK never undoes it, even when it is handled after", async (t) => {
  const h = await harness({ driver: { playbackPollMs: 0 } });
  t.after(() => h.close());
  await whenAvailable(h);
  // The read-back after this STOPPED is asked while stopped, and answered only after the next PUT's answer.
  h.sim.camera().soundMachine.holdNextGet = true;
  await h.driver.command(h.id(), { soundMachine: { on: false } });
  const mark = h.sink.of("stateChanged").length;
  await h.driver.command(h.id(), { soundMachine: { track: "Birds.wav" } });
  // Two more round trips: every answer sent before them (the held one, the new read-back) has been handled.
  await h.driver.command(h.id(), { volume: 30 });
  await h.driver.command(h.id(), { volume: 31 });
  const shown = h.sink
    .of("stateChanged")
    .slice(mark)
    .flatMap((c) => (c.patch.soundMachine?.on === undefined ? [] : [c.patch.soundMachine.on]));
  assert.equal(shown[0], true, "the PUT's own answer shows it playing");
  assert.ok(!shown.includes(false), `a stale STOPPED was shown after the PUT: ${JSON.stringify(shown)}`);
  assert.deepEqual(h.sink.states.get(h.id())!.soundMachine, { on: true, track: "Birds.wav" });
});

test("an unanswered GET_PLAYBACK poll is not a reason to reconnect (it would end the live view)", async (t) => {
  const h = await harness({ driver: { playbackPollMs: 30 } });
  t.after(() => h.close());
  await whenAvailable(h);
  const polls = h.sim.requests("GET_PLAYBACK").length;
  h.sim.camera().soundMachine.getFaults.push("no-answer", "no-answer");
  let disconnects = 0;
  h.sim.on("disconnect", () => disconnects++);
  // Two unanswered polls (400 ms request timeout each), then answered ones again.
  await waitFor(() => h.sim.requests("GET_PLAYBACK").length >= polls + 4, 5000, { on: [[h.sim, "request"]] });
  const played = h.sink.next((c) => c.type === "stateChanged" && c.patch.soundMachine?.on === true);
  h.sim.setPlaybackFromApp("Lullaby.wav");
  await played;
  assert.equal(disconnects, 0);
  assert.equal(h.sim.connections().length, 1);
});

test("light level (lux) and night are read by the sensor poll (the camera never pushes LIGHT)", async (t) => {
  const h = await harness({ driver: { sensorPollMs: 50 } });
  t.after(() => h.close());
  await whenAvailable(h);
  const day = h.sink.next((c) => c.type === "stateChanged" && c.patch.lightLevel === 250 && c.patch.night === false);
  h.sim.setLight(250, false);
  await day;
});

test("hide leaves items out of the device, their state unreported, their commands refused", async (t) => {
  const hide = ["soundMachine", "volume", "nightVision", "micMute", "night"];
  const h = await harness({ driver: { cameras: { Robin: { hide } }, playbackPollMs: 30 } });
  t.after(() => h.close());
  await whenAvailable(h);
  const caps = h.sink.infos.get(h.id())!.capabilities;
  assert.deepEqual(Object.keys(caps).sort(), [
    "camera",
    "humidity",
    "light",
    "lightLevel",
    "motion",
    "sound",
    "switches",
    "temperature",
  ]);
  assert.deepEqual(Object.keys(caps.switches!), ["standby", "statusLight"]);
  const state = h.sink.states.get(h.id())!;
  assert.equal(state.volume, undefined);
  assert.equal(state.night, undefined);
  assert.deepEqual(Object.keys(state.switches!).sort(), ["standby", "statusLight"]);
  await assert.rejects(h.driver.command(h.id(), { volume: 10 }), /cannot do volume/);
  await assert.rejects(h.driver.command(h.id(), { switches: { micMute: true } }), /cannot do switches\.micMute/);
  h.sim.setSettingsFromApp({ volume: 5 });
  await h.driver.command(h.id(), { switches: { statusLight: false } });
  assert.equal(h.sink.states.get(h.id())!.volume, undefined, "a hidden item's push is not reported");
  assert.equal(h.sim.requests("GET_PLAYBACK").length + h.sim.requests("GET_SOUNDTRACKS").length, 0);
  assert.equal(h.sim.requests("PUT_SETTINGS").length, 1);

  // The camera can be named by its uid too.
  const other = await harness({ driver: { cameras: { [h.sim.babies[0]!.cameraUid]: { hide: ["standby"] } } } });
  t.after(() => other.close());
  await whenAvailable(other);
  assert.equal(other.sink.infos.get(other.id())!.capabilities.switches?.standby, undefined);
});

test("the track list is kept: after a restart the camera is described whole at once, not twice", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  await waitFor(() => !!h.sink.infos.get(h.id())?.capabilities.soundMachine, 3000, { on: [[h.sim, "request"]] });
  assert.equal(h.sink.of("deviceFound").length, 2, "first run: described, then again with the tracks");
  await h.driver.stop();
  const mark = h.sink.of("deviceFound").length;
  const playbacks = h.sim.requests("GET_PLAYBACK").length;
  await h.newDriver();
  await waitFor(() => h.sim.requests("GET_PLAYBACK").length > playbacks, 3000, { on: [[h.sim, "request"]] });
  const found = h.sink.of("deviceFound").slice(mark);
  assert.equal(found.length, 1);
  assert.equal(found[0]!.info.capabilities.soundMachine?.tracks.length, 4);
});

test("the config's night-light timer: set in seconds when the camera's differs, once per connection", async (t) => {
  const h = await harness({ driver: { cameras: { Robin: { nightLightTimer: 15 } } } });
  t.after(() => h.close());
  await whenAvailable(h);
  const timerPuts = () =>
    h.sim
      .requests("PUT_CONTROL")
      .filter((r) => r.request.control?.night_light_timeout !== undefined)
      .map((r) => r.request.control);
  // Sent alone (a PUT_CONTROL with only night_light_timeout), after reading the camera's value.
  assert.deepEqual(timerPuts(), [{ night_light_timeout: 900 }]);
  assert.deepEqual(h.sim.requests("GET_CONTROL")[0]!.request.get_control, {
    night_light: true,
    night_light_timeout: true,
  });
  assert.equal(h.sim.camera().nightLightTimeoutS, 900);
  assert.ok(h.logs.lines.some((l) => /Robin Nanit: night-light timer set to 15 min/.test(String(l.msg))));

  // A change made in the app is not fought while the connection lasts...
  h.sim.setNightLightTimerFromApp(300);
  await h.driver.command(h.id(), { light: { on: true } });
  assert.equal(timerPuts().length, 1);
  // ...and the config's value comes back with the next connection; an equal value is left alone.
  const syncs = () => h.sim.requests("GET_STATUS").length;
  for (const expected of [2, 2]) {
    const mark = syncs();
    await h.driver.stop();
    h.driver = await h.newDriver();
    await waitFor(() => syncs() > mark, 3000, { on: [[h.sim, "request"]] });
    assert.equal(timerPuts().length, expected);
  }
  assert.equal(h.sim.camera().nightLightTimeoutS, 900);

  // Without the key the timer is neither asked for nor written.
  const plain = await harness();
  t.after(() => plain.close());
  await whenAvailable(plain);
  assert.deepEqual(plain.sim.requests("GET_CONTROL")[0]!.request.get_control, { night_light: true });
  assert.equal(plain.sim.requests("PUT_CONTROL").filter((r) => r.request.control?.night_light_timeout).length, 0);
});
