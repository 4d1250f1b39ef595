// Nanit parsers without I/O: the protobuf frame decoder (mutated valid frames, random bytes) and the
// REST answer readers (/babies, /messages, uc_token, JWT expiry) on JSON near the real answers.
import fc from "fast-check";
import { decodeMessage, NanitFrameError, sensorValue } from "../../../src/drivers/nanit/proto.ts";
import {
  jwtExpiry,
  NanitHttpError,
  parseBabies,
  parseMessages,
  parseUcToken,
} from "../../../src/drivers/nanit/rest.ts";
import { FuzzFailure, type FuzzTarget } from "../runner.ts";
import { hostileJson, mutatedBytes, mutatedText, mutatedValue } from "../mutate.ts";
import { nanitFrame } from "./nanit-gen.ts";

const MESSAGE_TYPES = new Set(["KEEPALIVE", "REQUEST", "RESPONSE"]);

export const nanitProto: FuzzTarget = {
  name: "nanit-proto",
  covers: "decodeMessage (proto/nanit.proto via protobufjs): byte-mutated camera frames and random bytes",
  batch: 500,
  async open() {
    return {
      input: fc.oneof(
        { weight: 6, arbitrary: mutatedBytes(nanitFrame) },
        { weight: 1, arbitrary: nanitFrame },
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
      ),
      async run(inputs) {
        let rejected = 0;
        for (const bytes of inputs as Uint8Array[]) {
          let message;
          try {
            message = decodeMessage(bytes);
          } catch (error) {
            if (error instanceof NanitFrameError) {
              rejected++;
              continue;
            }
            throw new FuzzFailure(
              `decodeMessage(${Buffer.from(bytes).toString("hex")}) ` +
                `threw ${(error as Error)?.name}: ${(error as Error)?.message}`,
            );
          }
          if (!MESSAGE_TYPES.has(message.type))
            throw new FuzzFailure(`decoded an unknown type ${String(message.type)}`);
          for (const d of [...(message.request?.sensor_data ?? []), ...(message.response?.sensor_data ?? [])]) {
            const v = sensorValue(d);
            if (v !== undefined && !Number.isFinite(v))
              throw new FuzzFailure(`sensor value ${v} from ${Buffer.from(bytes).toString("hex")}`);
          }
        }
        return { rejected };
      },
      async close() {},
    };
  },
};

const baby = fc.record(
  {
    uid: fc.oneof(fc.constantFrom("b1", "b2", ""), fc.string({ maxLength: 8 })),
    name: fc.oneof(fc.constantFrom("Ada", "  ", ""), fc.string({ maxLength: 10 })),
    camera_uid: fc.string({ maxLength: 8 }),
    camera: fc.record(
      {
        uid: fc.constantFrom("N1", "N2", ""),
        private_address: fc.constantFrom("10.0.0.5:442", "", "[::1]:442"),
        version: fc.constantFrom("6.29.1", ""),
        hardware: fc.constant("N301"),
        connected: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
const message = fc.record(
  {
    id: fc.oneof(fc.nat(), fc.double()),
    type: fc.constantFrom("MOTION", "SOUND", "CRY"),
    time: fc.oneof(fc.nat(), fc.double()),
    baby_uid: fc.constant("b1"),
  },
  { requiredKeys: [] },
);
const restBody = fc.oneof(
  mutatedValue(fc.record({ babies: fc.array(baby, { maxLength: 4 }) })),
  mutatedValue(fc.record({ messages: fc.array(message, { maxLength: 5 }) })),
  mutatedValue(
    fc.record(
      {
        token: fc.string({ maxLength: 10 }),
        uc_token: fc.oneof(fc.string({ maxLength: 10 }), fc.record({ token: fc.string({ maxLength: 10 }) })),
      },
      { requiredKeys: [] },
    ),
  ),
  hostileJson,
);
const jwtLike = fc.oneof(
  mutatedText(fc.nat().map((exp) => `e30.${Buffer.from(JSON.stringify({ exp })).toString("base64url")}.sig`)),
  fc.string({ maxLength: 40 }),
);

const asObject = (v: unknown): Record<string, unknown> =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };

export const nanitRest: FuzzTarget = {
  name: "nanit-rest",
  covers:
    "parseBabies, parseMessages, parseUcToken, jwtExpiry on mutated /babies, /messages, uc_token answers and tokens",
  batch: 500,
  async open() {
    return {
      input: fc.tuple(restBody, jwtLike),
      async run(inputs) {
        let rejected = 0;
        for (const [raw, jwt] of inputs as [unknown, string][]) {
          // The REST layer hands these functions a parsed JSON object (getJson refuses anything else).
          const body = asObject(JSON.parse(JSON.stringify(raw ?? null)) as unknown);
          const { cameras, skipped } = parseBabies(body);
          rejected += skipped;
          for (const c of cameras)
            if (!c.babyUid || !c.cameraUid || typeof c.babyName !== "string" || !c.babyName)
              throw new FuzzFailure(`parseBabies kept ${JSON.stringify(c)}`);
          const messages = parseMessages(body);
          for (let i = 1; i < messages.length; i++)
            if (!(messages[i - 1]!.id <= messages[i]!.id))
              throw new FuzzFailure(`parseMessages did not sort ${JSON.stringify(messages)}`);
          try {
            if (typeof parseUcToken(body) !== "string") throw new FuzzFailure("parseUcToken returned a non-string");
          } catch (error) {
            if (!(error instanceof NanitHttpError)) throw error;
            rejected++;
          }
          const exp = jwtExpiry(jwt);
          if (exp !== undefined && !Number.isFinite(exp)) throw new FuzzFailure(`jwtExpiry(${jwt}) = ${exp}`);
        }
        return { rejected };
      },
      async close() {},
    };
  },
};
