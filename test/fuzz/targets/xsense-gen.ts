// X-Sense shadow reports near what the cloud sends (docs/protocols/xsense.md §4.4, §5.3): string flags
// and numbers, child records nested under `status`/`peak`, `devs` maps and lists, self-test results.
import fc from "fast-check";
import { nastyScalar } from "../mutate.ts";

/** What a flag or number field may hold on the wire, and the type confusions around it. */
export const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("0", "1", "2", "3", 0, 1, 3, "", "300", "-1", "1.5", " 2 ") },
  { weight: 1, arbitrary: nastyScalar },
  { weight: 1, arbitrary: fc.constantFrom({}, [], [1], { yes: true }) },
);

const FIELD_KEYS = [
  "isAlarm",
  "alarmStatus",
  "alarmType",
  "muteStatus",
  "coPpm",
  "coLevel",
  "batInfo",
  "isLifeEnd",
  "sensorStatus",
  "online",
  "onLine",
  "smokeAlarm",
  "coAlarm",
  "heatAlarm",
  "lastSelfTest",
  "selfTest",
  "result",
  "success",
  "selfTestSmokeFault",
  "selfTestCoFault",
  "selfTestLifeEnd",
  "selfTestLowPower",
  "time",
  "type",
  "__proto__",
  "constructor",
  "toString",
];

export const fields: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    flat: fc.dictionary(fc.constantFrom(...FIELD_KEYS), fieldValue, { maxKeys: 6 }),
    status: fc.option(fc.dictionary(fc.constantFrom(...FIELD_KEYS), fieldValue, { maxKeys: 4 }), {
      nil: undefined,
      freq: 3,
    }),
    peak: fc.option(fc.record({ coPpmPeak: fieldValue, time: fieldValue }, { requiredKeys: [] }), {
      nil: undefined,
      freq: 4,
    }),
  })
  .map(({ flat, status, peak }) => {
    const out: Record<string, unknown> = { ...flat };
    if (status) out.status = status;
    if (peak) out.peak = peak;
    return out;
  });

/** Serials of the simulator's default account and some it does not know. */
export const KNOWN_CHILDREN = ["00000001", "00000002", "00000003", "00000004", "00000005", "00000006", "00000011"];
const sn = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_CHILDREN, "EN7000AB", "C0400001", "13B96457", "SBS10A01") },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 8 }), nastyScalar) },
);
const snKey = fc.constantFrom("deviceSN", "deviceSn", "_deviceSN", "devSerialNumber", "serialNumber", "sn");

/** One child record: fields plus a serial under one of its aliases. */
const child = fc.tuple(fields, snKey, sn).map(([f, key, s]) => ({ ...f, [key]: s }));

/** A `reported` object of any shadow the driver reads: alarm, info, mainpage (devs map or list), testup, house maps. */
export const reported: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc
    .tuple(child, fc.option(sn, { nil: undefined }))
    .map(([c, station]) => (station === undefined ? c : { ...c, stationSN: station })),
  fc
    .tuple(
      fc.dictionary(sn.map(String), fc.oneof(fields, fieldValue), { maxKeys: 4 }),
      fc.option(sn, { nil: undefined }),
    )
    .map(([devs, station]) => ({ devs, ...(station === undefined ? {} : { stationSN: station }) })),
  fc
    .tuple(fc.array(fc.oneof(child, fieldValue), { maxLength: 4 }), fc.option(sn, { nil: undefined }))
    .map(([devs, station]) => ({ devs, ...(station === undefined ? {} : { stationSN: station }) })),
  fc.dictionary(sn.map(String), fc.oneof(fields, fieldValue), { maxKeys: 4 }),
  fc.record({ devs: nastyScalar }),
);
