// proto/nanit.proto on the wire: bytes checked by hand against the field numbers of docs/protocols/nanit.md §4.5, so a
// wrong number in the schema cannot hide behind a codec that is wrong the same way on both sides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, KEEPALIVE_FRAME, NanitFrameError } from "../../src/drivers/nanit/proto.ts";
import { jwtExpiry, parseBabies, parseMessages } from "../../src/drivers/nanit/rest.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("KEEPALIVE is the two bytes 08 00 (IF#7 trace)", () => {
  assert.equal(hex(KEEPALIVE_FRAME), "0800");
});

test("PUT_CONTROL night light: Request.control = 15, Control.night_light = 3", () => {
  const bytes = encodeMessage({
    type: "REQUEST",
    request: { id: 1, type: "PUT_CONTROL", control: { night_light: "LIGHT_ON" } },
  });
  // 08 01 (REQUEST) 12 08 (request, 8 bytes) 08 01 (id 1) 10 07 (PUT_CONTROL) 7a 02 (field 15) 18 01 (night_light ON)
  assert.equal(hex(bytes), "08011208080110077a021801");
});

test("GET_CONTROL uses Request field 17; the answer's control is Response field 13 (IF/HN/EM, not UL's 19/15)", () => {
  const req = encodeMessage({
    type: "REQUEST",
    request: { id: 2, type: "GET_CONTROL", get_control: { night_light: true } },
  });
  assert.ok(hex(req).endsWith("8a01021001"), hex(req)); // tag (17<<3|2) = 0x8a 0x01, len 2, field 2 = true
  // Response{request_id 2, request_type GET_CONTROL, status_code 200, control(13){night_light(3)=1}}
  const wire = Buffer.from("0802" + "1a0b" + "0802" + "1006" + "18c801" + "6a021801", "hex");
  const m = decodeMessage(wire);
  assert.equal(m.response?.status_code, 200);
  assert.deepEqual(m.response?.control, { night_light: "LIGHT_ON" });
});

test("standby: Settings.sleep_mode = 11 in Request.settings = 5; an explicit false is on the wire", () => {
  assert.equal(
    hex(encodeMessage({ type: "REQUEST", request: { id: 3, type: "PUT_SETTINGS", settings: { sleep_mode: false } } })),
    "0801120808031005" + "2a025800",
  );
});

test("sensor data (IF#7 sample): value, value_milli, timestamp_real in ms; absent fields stay absent", () => {
  const bytes = encodeMessage({
    type: "RESPONSE",
    response: {
      request_id: 5,
      request_type: "GET_SENSOR_DATA",
      status_code: 200,
      sensor_data: [{ sensor_type: "TEMPERATURE", value: 20, value_milli: 19959, timestamp_real: 1702255743180 }],
    },
  });
  const back = decodeMessage(bytes);
  assert.deepEqual(back.response?.sensor_data, [
    { sensor_type: "TEMPERATURE", value: 20, value_milli: 19959, timestamp_real: 1702255743180 },
  ]);
  assert.equal("settings" in back.response!, false);
  assert.ok(hex(bytes).includes("4a"), "Response.sensor_data is field 9");
});

test("malformed frames throw NanitFrameError", () => {
  for (const bad of ["ffffff07", "1001", "0801", "0802"])
    assert.throws(() => decodeMessage(Buffer.from(bad, "hex")), NanitFrameError, bad);
});

test("REST parsing: babies without a camera are skipped; messages sorted; JWT exp read", () => {
  const { cameras, skipped } = parseBabies({
    babies: [
      { uid: "b1", name: "A", camera: { uid: "N1", private_address: "10.0.0.5:442", version: "6.29.1" } },
      { uid: "b2", name: "B" },
      null,
    ],
  });
  assert.equal(skipped, 2);
  assert.deepEqual(
    cameras.map((c) => [c.cameraUid, c.privateAddress, c.firmware]),
    [["N1", "10.0.0.5:442", "6.29.1"]],
  );
  assert.deepEqual(
    parseMessages({
      messages: [{ id: 3, type: "SOUND", time: 5 }, { id: 1, type: "MOTION", time: 4 }, { id: "x" }],
    }).map((m) => m.id),
    [1, 3],
  );
  const jwt = `e30.${Buffer.from(JSON.stringify({ exp: 1_900_000_000 })).toString("base64url")}.sig`;
  assert.equal(jwtExpiry(jwt), 1_900_000_000);
  assert.equal(jwtExpiry("48-char-opaque-token"), undefined);
});
