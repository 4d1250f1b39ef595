// One device per camera, sensors (GET_SENSOR_DATA, sensor_data_transfer pushes, the fallback poll),
// night light and standby round trips, changes made in the phone app, motion and sound from /messages.
// The other controls (brightness, settings switches, volume, sound machine, hide): nanit-controls-settings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness, whenAvailable } from "./nanit-harness.ts";
import { nextEvent, waitFor } from "../helpers/wait.ts";
import type { ReceivedRequest } from "../../sim/nanit/index.ts";

test("one baby-camera device per camera, with its sensors and controls, synced over the socket", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  const info = h.sink.infos.get(h.id())!;
  assert.equal(info.id, `nanit:${h.sim.babies[0]!.cameraUid}`);
  assert.equal(info.kind, "baby-camera");
  assert.equal(info.vendor, "nanit");
  assert.equal(info.account, "nursery");
  assert.equal(info.name, "Robin Nanit");
  assert.equal(info.firmware, "6.29.1");
  assert.deepEqual(info.capabilities, {
    temperature: {},
    humidity: {},
    motion: {},
    sound: {},
    lightLevel: {},
    night: {},
    light: { dimmable: true, label: "Night light" },
    volume: { label: "Volume" },
    soundMachine: {
      label: "Sound machine",
      tracks: [
        { id: "White_Noise.wav", label: "White Noise" },
        { id: "Birds.wav", label: "Birds" },
        { id: "Waves.wav", label: "Waves" },
        { id: "Lullaby.wav", label: "Lullaby" },
      ],
    },
    switches: {
      standby: { label: "Standby" },
      nightVision: { label: "Night vision" },
      nightVisionAlwaysOn: { label: "Night vision 24h" },
      statusLight: { label: "Status light" },
      micMute: { label: "Mic mute" },
    },
    camera: {
      profiles: [
        { width: 1920, height: 1080, fps: 15 },
        { width: 1280, height: 720, fps: 15 },
      ],
      audio: true,
    },
  });
  const state = h.sink.states.get(h.id())!;
  assert.equal(state.temperature, 21.5, "value_milli / 1000");
  assert.equal(state.humidity, 44.62, "value_milli / 1000, rounded to 0.01");
  assert.deepEqual(state.switches, {
    standby: false,
    nightVision: true,
    nightVisionAlwaysOn: false,
    statusLight: true,
    micMute: false,
  });
  assert.deepEqual(state.light, { on: false, brightness: 60 });
  assert.equal(state.volume, 50);
  assert.equal(state.lightLevel, 12, "lux");
  assert.equal(state.night, true);
  assert.deepEqual(state.soundMachine, { on: false, track: "White_Noise.wav" });
  // Sensor push enabled on the fresh socket before anything else.
  const first = h.sim.received[0]!.request;
  assert.equal(first.type, "PUT_CONTROL");
  assert.deepEqual(first.control?.sensor_data_transfer, {
    sound: true,
    motion: true,
    temperature: true,
    humidity: true,
    light: true,
    night: true,
  });
});

test("sensor pushes (PUT_SENSOR_DATA) update temperature and humidity; irregular pushes keep coming", async (t) => {
  const h = await harness({ sim: { sensorPushMs: [10, 60] } });
  t.after(() => h.close());
  await whenAvailable(h);
  const temp = h.sink.next((c) => c.type === "stateChanged" && c.patch.temperature === 23.25);
  h.sim.setTemperature(23.25);
  await temp;
  const hum = h.sink.next((c) => c.type === "stateChanged" && c.patch.humidity === 51.5);
  h.sim.setHumidity(51.5);
  await hum;
  // The irregular cadence pushes on its own too.
  let pushes = 0;
  h.sim.on("push", (p) => (p.request.type === "PUT_SENSOR_DATA" ? pushes++ : 0));
  await waitFor(() => pushes >= 3, 3000, { on: [[h.sim, "push"]] });
  assert.equal(h.sink.states.get(h.id())!.temperature, 23.25);
});

test("GET_SENSOR_DATA poll is the fallback when the camera does not push", async (t) => {
  const h = await harness({ driver: { sensorPollMs: 60 } });
  t.after(() => h.close());
  await whenAvailable(h);
  const changed = h.sink.next((c) => c.type === "stateChanged" && c.patch.temperature === 18.75);
  h.sim.setTemperatureQuietly(18.75);
  await changed;
  assert.ok(h.sim.requests("GET_SENSOR_DATA").length >= 2);
});

test("night light: the command sends PUT_CONTROL and resolves on the camera's 200", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  const seen = nextEvent<[ReceivedRequest]>(
    h.sim,
    "request",
    (r) => r.request.type === "PUT_CONTROL" && r.request.control?.night_light !== undefined,
  );
  await h.driver.command(h.id(), { light: { on: true } });
  const [req] = await seen;
  assert.deepEqual(req.request.control, { night_light: "LIGHT_ON" });
  assert.equal(h.sim.camera().nightLight, true);
  assert.equal(h.sink.states.get(h.id())!.light?.on, true);
  await h.driver.command(h.id(), { light: { on: false } });
  assert.equal(h.sim.camera().nightLight, false);
  assert.equal(h.sink.states.get(h.id())!.light?.on, false);
});

test("standby: PUT_SETTINGS sleep_mode, with false sent explicitly (proto2 presence)", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  await h.driver.command(h.id(), { switches: { standby: true } });
  assert.equal(h.sim.camera().settings.sleep_mode, true);
  await h.driver.command(h.id(), { switches: { standby: false } });
  const puts = h.sim.requests("PUT_SETTINGS").map((r) => r.request.settings);
  assert.deepEqual(puts, [{ sleep_mode: true }, { sleep_mode: false }]);
  assert.equal(h.sim.camera().settings.sleep_mode, false);
  assert.equal(h.sink.states.get(h.id())!.switches?.standby, false);
});

test("changes made in the phone app arrive as camera-initiated PUT_CONTROL / PUT_SETTINGS deltas", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  const light = h.sink.next((c) => c.type === "stateChanged" && c.patch.light?.on === true);
  h.sim.setNightLightFromApp(true);
  await light;
  const standby = h.sink.next((c) => c.type === "stateChanged" && c.patch.switches?.standby === true);
  h.sim.setStandbyFromApp(true);
  await standby;
  assert.equal(h.sink.states.get(h.id())!.light?.on, true);
  assert.equal(h.sink.states.get(h.id())!.switches?.standby, true);
});

test("a command the camera never answers rejects after the request timeout and replaces the socket", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  h.sim.goSilent();
  const reconnected = nextEvent(h.sim, "connection");
  await assert.rejects(
    h.driver.command(h.id(), { light: { on: true } }),
    /could not turn the night light on: no answer to PUT_CONTROL within 400 ms/,
  );
  await reconnected;
  await whenAvailable(h);
  await waitFor(() => h.sim.connections().length === 1, 2000, { on: [[h.sim, "disconnect"]] });
  await h.driver.command(h.id(), { light: { on: true } });
  assert.equal(h.sim.camera().nightLight, true);
});

test("unsupported commands and unknown devices are refused with a clear error", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  await assert.rejects(h.driver.command(h.id(), { fan: { on: true } }), /cannot do fan/);
  await assert.rejects(h.driver.command(h.id(), { switches: { away: true } }), /cannot do switches\.away/);
  await assert.rejects(h.driver.command("nanit:nope", { light: { on: true } }), /no device/);
  assert.equal(h.sim.requests("PUT_CONTROL").filter((r) => r.request.control?.night_light).length, 0);
});

test("motion and sound from /messages: a new message pulses the sensor; old ones are ignored", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  await whenAvailable(h);
  h.sim.postMessage("MOTION", { ageS: 3600 });
  const motion = h.sink.next((c) => c.type === "stateChanged" && c.patch.motion === true);
  const cleared = h.sink.next((c) => c.type === "stateChanged" && c.patch.motion === false, 2000);
  const fresh = h.sim.postMessage("MOTION");
  await motion;
  await cleared;
  // The stale message never fired: exactly one motion=true.
  assert.equal(h.sink.of("stateChanged").filter((c) => c.patch.motion === true).length, 1);
  const sound = h.sink.next((c) => c.type === "stateChanged" && c.patch.sound === true);
  h.sim.postMessage("SOUND");
  await sound;
  assert.ok(h.sim.httpRequests.some((r) => r.path === `/babies/${h.sim.babies[0]!.uid}/messages` && r.status === 200));
  assert.ok(fresh.id > 0);
});
