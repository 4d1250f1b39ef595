// The rooms of the app (bizCode 102008, docs/protocols/xsense.md §3.6) on the devices: read once per house with
// the device list, looked up by each device's roomId, renamed rooms seen at the next re-read, and bad answers
// (no map, names of the wrong type, huge names, a refused call) handled without losing a device.
import { test } from "node:test";
import assert from "node:assert/strict";
import { XSenseApiError, XSenseSessionError } from "../../src/drivers/xsense/api.ts";
import { cleanRoomName, fetchRooms, MAX_ROOM_NAME, parseRooms, roomOf } from "../../src/drivers/xsense/rooms.ts";
import { createLogger } from "../../src/core/logger.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import type { SinkCall } from "../helpers/fake-sink.ts";
import { harness } from "./xsense-harness.ts";

const roomOfDevice = (id: string, room: string | undefined) => (c: SinkCall) =>
  c.type === "deviceFound" && c.info.id === id && c.info.room === room;

test("devices carry the rooms the app puts them in; one without a room has none", async (t) => {
  const h = await harness({ start: false });
  t.after(() => h.close());
  h.sim.moveToRoom("00000005", undefined);
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  const room = (sn: string) => h.sink.infos.get(h.id(sn))?.room;
  assert.equal(room("00000001"), "Kitchen");
  assert.equal(room("00000002"), "Utility room");
  assert.equal(room("00000003"), "Bedroom");
  assert.equal(room("00000011"), "Attic", "a detector of the SBS10");
  assert.equal(room("EN7000AB"), "Living room", "a Wi-Fi detector: its station's room");
  assert.equal(room("C0400001"), "Kitchen", "the other house's own Kitchen");
  assert.ok(h.sink.infos.has(h.id("00000005")));
  assert.equal(room("00000005"), undefined, "moved out of every room");
  assert.ok(!("room" in h.sink.infos.get(h.id("00000005"))!), "no empty room key");
  // One 102008 per house, its parameters in the app's order: houseId, then utctimestamp "0".
  const calls = h.sim.calls.filter((c) => c.bizCode === "102008" && c.ok);
  assert.deepEqual(calls.map((c) => c.body.houseId).sort(), h.sim.houses.map((house) => house.id).sort());
  for (const c of calls) {
    const params = Object.keys(c.body).filter((k) => k === "houseId" || k === "utctimestamp");
    assert.deepEqual(params, ["houseId", "utctimestamp"]);
    assert.equal(c.body.utctimestamp, "0");
  }
  assert.deepEqual(
    h.logs.warnings.filter((l) => /room/.test(l.msg)),
    [],
    "a good answer warns about nothing",
  );
});

test("a room renamed in the app, or a device moved, shows after the next re-read of the device list", async (t) => {
  const h = await harness({ driver: { pollIntervalMs: 50 } });
  t.after(() => h.close());
  assert.equal(h.sink.infos.get(h.id("00000001"))?.room, "Kitchen");
  const renamed = h.sink.next(roomOfDevice(h.id("00000001"), "Cooking"), 10_000);
  h.sim.renameRoom("Kitchen", "Cooking");
  await renamed;
  assert.equal(h.sink.infos.get(h.id("C0400001"))?.room, "Cooking", "both houses had a Kitchen");
  const moved = h.sink.next(roomOfDevice(h.id("00000002"), "Cellar"), 10_000);
  h.sim.moveToRoom("00000002", "Cellar");
  await moved;
  const left = h.sink.next(roomOfDevice(h.id("00000003"), undefined), 10_000);
  h.sim.moveToRoom("00000003", undefined);
  await left;
  // Every re-read of a house's devices (103007) came with a fresh read of its rooms (102008).
  const last = new Map<unknown, string>();
  let lists = 0;
  for (const c of h.sim.calls.filter((call) => call.ok)) {
    if (c.bizCode === "103007") {
      lists++;
      assert.equal(last.get(c.body.houseId), "102008", "the house's rooms were read right before its devices");
    }
    if (c.body.houseId !== undefined) last.set(c.body.houseId, c.bizCode);
  }
  assert.ok(lists > h.sim.houses.length, "the device list was re-read");
});

test("malformed room answers: no map, wrong types, huge names, unknown ids; never a lost device", async (t) => {
  const h = await harness({ start: false });
  t.after(() => h.close());
  const [home, cabin] = h.sim.houses;
  const idOf = (name: string) => [...home!.rooms].find(([, n]) => n === name)![0];
  const [kitchen, utility, bedroom] = [idOf("Kitchen"), idOf("Utility room"), idOf("Bedroom")];
  h.sim.roomsAnswer = (houseId) =>
    houseId === cabin!.id
      ? { houseId, houseRooms: "not a map" }
      : {
          houseId,
          // The Garage is missing (its heat detector names an unknown room id).
          houseRooms: {
            [kitchen]: { roomName: `  ${"K".repeat(10_000)}  ` },
            [utility]: { roomName: 42 },
            [bedroom]: { roomName: "Bed\u0000room\n" },
            ["__proto__"]: { roomName: "Polluted" },
          },
        };
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  const room = (sn: string) => h.sink.infos.get(h.id(sn))?.room;
  assert.equal(room("00000001"), "K".repeat(MAX_ROOM_NAME), "a huge name clipped to 64 characters");
  assert.equal(room("00000002"), undefined, "a name that is not a string: no room");
  assert.equal(room("00000003"), "Bed room", "control characters out");
  assert.equal(room("00000004"), undefined, "a room id the answer does not know: no room");
  assert.equal(room("EN7000AB"), undefined, "a house whose answer has no map: no rooms");
  for (const sn of ["00000001", "00000002", "00000004", "EN7000AB", "C0400001"]) {
    assert.ok(h.sink.infos.has(h.id(sn)), `${sn} is still found`);
  }
  assert.equal(({} as Record<string, unknown>).roomName, undefined, "no prototype was touched");
  const whys = h.logs.warnings.filter((l) => l.msg === "xsense: ignoring malformed rooms").map((l) => l.why);
  assert.deepEqual(whys.sort(), ["a room without a name", "houseRooms is not a map"]);
});

test("parseRooms and roomOf: the shapes a cloud may send", () => {
  assert.deepEqual(parseRooms(undefined), { rooms: new Map(), problems: ["no houseRooms map"] });
  assert.deepEqual(parseRooms({ houseRooms: [] }).problems, ["houseRooms is not a map"]);
  assert.deepEqual(parseRooms({ houseRooms: null }).problems, ["houseRooms is not a map"]);
  const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`R${i}`, { roomName: `Room ${i}` }]));
  const parsed = parseRooms({ houseRooms: many });
  assert.equal(parsed.rooms.size, 256, "rooms per house are bounded");
  assert.deepEqual(parsed.problems, ["more than 256 rooms"]);
  assert.equal(cleanRoomName(`${"😀".repeat(70)}`), "😀".repeat(MAX_ROOM_NAME), "clipped by whole characters");
  assert.equal(cleanRoomName(" \t "), "");
  const rooms = new Map([["R1", "Hall"]]);
  assert.equal(roomOf(rooms, "R1"), "Hall");
  assert.equal(roomOf(rooms, "R2"), undefined);
  assert.equal(roomOf(rooms, 1), undefined);
  assert.equal(roomOf(rooms, ""), undefined);
  assert.equal(roomOf(undefined, "R1"), undefined);
});

test("a refused rooms call keeps the rooms and warns; a session error goes to the caller", async () => {
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const refusing = (error: Error) => ({ call: () => Promise.reject(error) });
  const refused = new XSenseApiError("102008", "reCode 400 (10000006)", 200, "10000006");
  assert.equal(await fetchRooms(refusing(refused), "H1", log), undefined);
  const line = logs.warnings.find((l) => l.why === "rooms not read");
  assert.ok(line, "a warning says the rooms were not read");
  assert.equal(line.house, "H1");
  const expired = new XSenseSessionError("102008", "token expired", 200, "10000008");
  await assert.rejects(fetchRooms(refusing(expired), "H1", log), XSenseSessionError);
});
