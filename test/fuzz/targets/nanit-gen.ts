// Nanit control messages near what a camera sends (sensor pushes, control/settings deltas, answers),
// encoded with the bridge's own codec, as seeds for byte mutation.
import fc from "fast-check";
import { encodeMessage, type NanitMessage } from "../../../src/drivers/nanit/proto.ts";

const int32 = fc.oneof(fc.integer({ min: -100, max: 100_000 }), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31)));
const sensorType = fc.constantFrom("SOUND", "MOTION", "TEMPERATURE", "HUMIDITY", "LIGHT", "NIGHT", "CRY");
const requestType = fc.constantFrom(
  "PUT_SENSOR_DATA",
  "PUT_CONTROL",
  "PUT_SETTINGS",
  "PUT_STATUS",
  "PUT_STREAMING",
  "GET_STATUS",
  "GET_SENSOR_DATA",
  "PUT_STING_STATUS",
  "PUT_KEEP_ALIVE",
  "GET_CONTROL",
  "GET_SETTINGS",
);

const sensorData = fc.record(
  {
    sensor_type: sensorType,
    value: int32,
    is_alert: fc.boolean(),
    timestamp: int32,
    value_milli: int32,
    timestamp_real: fc.oneof(fc.constant(1_702_255_743_180), fc.nat()),
  },
  { requiredKeys: ["sensor_type"] },
);

const control = fc.record(
  {
    night_light: fc.constantFrom("LIGHT_OFF", "LIGHT_ON"),
    sensor_data_transfer: fc.record(
      { sound: fc.boolean(), motion: fc.boolean(), temperature: fc.boolean(), humidity: fc.boolean() },
      { requiredKeys: [] },
    ),
    force_connect_to_server: fc.boolean(),
    night_light_timeout: int32,
  },
  { requiredKeys: [] },
);

const settings = fc.record(
  {
    night_vision: fc.constantFrom("NV_OFF", "NV_AUTO", "NV_ON"),
    volume: int32,
    sleep_mode: fc.boolean(),
    status_light_on: fc.boolean(),
    mic_mute_on: fc.boolean(),
    night_light_brightness: int32,
  },
  { requiredKeys: [] },
);

const status = fc.record(
  {
    connection_to_server: fc.constantFrom("DISCONNECTED", "CONNECTED"),
    current_version: fc.string({ maxLength: 12 }),
    mode: fc.constantFrom("STAND", "TRAVEL", "SWITCH"),
    hardware_version: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: [] },
);

const payload = fc.record(
  {
    sensor_data: fc.array(sensorData, { maxLength: 4 }),
    control,
    settings,
    status,
    streaming: fc.record(
      {
        id: fc.constantFrom("MOBILE", "DVR"),
        status: fc.constantFrom("STARTED", "STOPPED"),
        rtmp_url: fc.string({ maxLength: 20 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

/** A message as a camera could send it. */
export const nanitMessage: fc.Arbitrary<NanitMessage> = fc.oneof(
  fc.constant<NanitMessage>({ type: "KEEPALIVE" }),
  fc
    .tuple(fc.integer({ min: 0, max: 1000 }), requestType, payload)
    .map(([id, type, p]): NanitMessage => ({ type: "REQUEST", request: { id, type, ...p } })),
  fc
    .tuple(
      fc.integer({ min: 0, max: 1000 }),
      requestType,
      fc.option(fc.constantFrom(200, 400, 403, 500, 0, -1), { nil: undefined }),
      fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      payload,
    )
    .map(([request_id, request_type, status_code, status_message, p]): NanitMessage => {
      const { streaming, ...rest } = p;
      return {
        type: "RESPONSE",
        response: {
          request_id,
          request_type,
          ...(status_code !== undefined ? { status_code } : {}),
          ...(status_message !== undefined ? { status_message } : {}),
          ...rest,
          ...(streaming ? { streaming: [streaming] } : {}),
        },
      };
    }),
);

/** The wire bytes of a plausible message. */
export const nanitFrame: fc.Arbitrary<Uint8Array> = nanitMessage.map((m) => encodeMessage(m));
