// Pure protocol pieces of the X-Sense driver: the MAC vectors of docs/protocols/xsense.md §3.3, the
// client-secret decoding (§2.1), SECRET_HASH, SigV4 (AWS's own get-vanilla vector) and the presigned
// MQTT URL shape (§4.1), credential expirations, thing naming (§5.2), the model catalogue and the
// mapping of reported fields to state (§5.4).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  decodeClientSecret,
  encodeClientSecret,
  requestMac,
  macInput,
  secretHash,
  signRequest,
  presignUrl,
  parseExpiration,
  thingName,
  MODELS,
  capabilitiesOf,
  fieldsToPatch,
  selfTestResult,
  modelSpec,
  inferSpec,
  appCodeOf,
  utcStamp,
} from "../../src/drivers/xsense/index.ts";

const SECRET = decodeClientSecret("MTE3MmR1bW15c2VjcmV0MDEyMzQ1Njc4OVg=", "1172");

test("the dummy client secret decodes as docs/protocols/xsense.md §3.3 says", () => {
  assert.equal(SECRET.toString("utf8"), "dummysecret0123456789");
  assert.equal(encodeClientSecret("dummysecret0123456789", "1172"), "MTE3MmR1bW15c2VjcmV0MDEyMzQ1Njc4OVg=");
  // Prefix length follows the appCode's digit count.
  assert.equal(decodeClientSecret(encodeClientSecret("abc", "14000", "Z"), "14000").toString(), "abc");
  assert.throws(() => decodeClientSecret(Buffer.from("117").toString("base64"), "1172"));
});

test("request MAC vectors of docs/protocols/xsense.md §3.3", () => {
  const vectors: Array<[Record<string, unknown>, string, string]> = [
    [{ utctimestamp: "0" }, "0", "aabc8fe01986bcd4e72bd5a9c0f43a4e"],
    [{ houseId: "ABCDEF0123", utctimestamp: "0" }, "ABCDEF01230", "4767f85c86af02d9ead83490c20315e9"],
    [{ utctimestamp: "0", houseId: "ABCDEF0123" }, "0ABCDEF0123", "17b5d85963917fa6e4b1fa39229c5fff"],
    [{ userName: "user@example.com" }, "user@example.com", "fe431fd1eb2f3fb800e4bc34cc8dbaa9"],
    [
      { deviceSN: ["00000001", "00000002"], stationSN: "13B96457" },
      "000000010000000213B96457",
      "c3d6c085b75f417c9951fc215f48225d",
    ],
    [{ cfg: { a: "1", b: 2 } }, '{"a":"1","b":2}', "978befe34fafca594d199ad1d985a898"],
  ];
  for (const [params, text, mac] of vectors) {
    assert.equal(macInput(params), text);
    assert.equal(requestMac(params, SECRET), mac, JSON.stringify(params));
  }
});

test("the MAC ignores the common fields, keeps body order and renders scalars as Java text", () => {
  const withCommon = {
    clientType: "2",
    houseId: "ABCDEF0123",
    mac: "x",
    appVersion: "v1",
    utctimestamp: "0",
    bizCode: "103007",
    appCode: "1400",
  };
  assert.equal(requestMac(withCommon, SECRET), "4767f85c86af02d9ead83490c20315e9");
  assert.equal(macInput({ a: 0 }), macInput({ a: "0" }));
  assert.equal(macInput({ a: true, b: null, c: [] }), "truenull");
  assert.equal(macInput({ a: [1, 2] }), "[1,2]");
  assert.equal(macInput({ a: { é: "ü" } }), '{"é":"ü"}');
});

test("SECRET_HASH is Base64(HMAC-SHA256(secret, username ‖ clientId))", () => {
  const expected = createHmac("sha256", "dummysecret0123456789").update("user@example.comclient123").digest("base64");
  assert.equal(secretHash(SECRET, "user@example.com", "client123"), expected);
  assert.notEqual(secretHash(SECRET, "0000-sub", "client123"), expected);
});

test("appCode derivation", () => {
  assert.equal(appCodeOf("v1.22.0_20240914.1"), "1220");
  assert.equal(appCodeOf("v1.17.2_20240115"), "1172");
  assert.equal(appCodeOf("v1.40.0_20260612"), "1400");
});

test("SigV4 header signing matches AWS's get-vanilla test vector", () => {
  const headers = signRequest({
    method: "GET",
    url: new URL("https://example.amazonaws.com/"),
    headers: {},
    body: "",
    region: "us-east-1",
    service: "service",
    credentials: {
      accessKeyId: "AKIDEXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      sessionToken: "",
    },
    now: new Date("2015-08-30T12:36:00Z"),
  });
  assert.equal(
    headers.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, " +
      "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  );
});

test("shadow requests sign every header with service iotdata", () => {
  const headers = signRequest({
    method: "POST",
    url: new URL("https://eu-central-1.x-sense-iot.com/things/SBS5013B96457/shadow?name=2nd_selftest_00000001"),
    headers: { "content-type": "application/x-amz-json-1.0", "user-agent": "aws-sdk-iOS/2.26.5 iOS/17.3 nl_NL" },
    body: '{"state":{"desired":{}}}',
    region: "eu-central-1",
    credentials: { accessKeyId: "ASIAX", secretAccessKey: "s", sessionToken: "tok" },
    now: new Date("2024-01-01T12:00:00Z"),
  });
  assert.match(
    headers.authorization!,
    new RegExp(
      /Credential=ASIAX\/20240101\/eu-central-1\/iotdata\/aws4_request, /.source +
        /SignedHeaders=content-type;host;user-agent;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/.source,
    ),
  );
  assert.equal(headers["x-amz-security-token"], "tok");
  assert.equal(headers["x-amz-date"], "20240101T120000Z");
});

test("the presigned MQTT URL puts the token after signing, outside the signed query", () => {
  const creds = { accessKeyId: "ASIAX", secretAccessKey: "s", sessionToken: "a/b+c=" };
  const url = presignUrl(
    "wss://eu-central-1.x-sense-iot.com/mqtt",
    "eu-central-1",
    creds,
    new Date("2024-01-01T12:00:00Z"),
  );
  assert.match(
    url,
    new RegExp(
      [
        /^wss:\/\/eu-central-1\.x-sense-iot\.com\/mqtt\?X-Amz-Algorithm=AWS4-HMAC-SHA256/.source,
        /&X-Amz-Credential=ASIAX%2F20240101%2Feu-central-1%2Fiotdata%2Faws4_request/.source,
        /&X-Amz-Date=20240101T120000Z&X-Amz-SignedHeaders=host&X-Amz-Security-Token=a%2Fb%2Bc%3D/.source,
        /&X-Amz-Signature=[0-9a-f]{64}$/.source,
      ].join(""),
    ),
  );
  // The signature does not depend on the token.
  const other = presignUrl(
    "wss://eu-central-1.x-sense-iot.com/mqtt",
    "eu-central-1",
    { ...creds, sessionToken: "zzz" },
    new Date("2024-01-01T12:00:00Z"),
  );
  assert.equal(new URL(url).searchParams.get("X-Amz-Signature"), new URL(other).searchParams.get("X-Amz-Signature"));
});

test("credential expirations in the 101003 format", () => {
  assert.equal(parseExpiration("2024-01-01 12:00:00+00:00"), Date.UTC(2024, 0, 1, 12));
  assert.equal(parseExpiration("2024-01-01 14:00:00+0200"), Date.UTC(2024, 0, 1, 12));
  assert.equal(parseExpiration("2024-01-01T12:00:00Z"), Date.UTC(2024, 0, 1, 12));
  assert.equal(parseExpiration("tomorrow"), undefined);
  assert.equal(utcStamp(new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), "20240102030405");
});

test("thing naming per model", () => {
  assert.equal(thingName("sbs50", "SBS50", "13B96457"), "SBS5013B96457");
  assert.equal(thingName("bare", "SBS10", "13B96457"), "13B96457");
  assert.equal(thingName("dashed", "SC07-WX", "AB12"), "SC07-WX-AB12");
  assert.equal(thingName("plain", "XS0E-iR", "AB12"), "XS0E-iRAB12");
  assert.equal(thingName("xs01wx", "XS01-WX", "EN1234"), "XS01-WX-EN1234");
  assert.equal(thingName("xs01wx", "XS01-WX", "AB1234"), "XS01-WXAB1234");
  assert.equal(MODELS["SC07-WX"]?.thing, "dashed");
  assert.equal(MODELS["XS03-WX"]?.thing, "plain");
});

test("every catalogued model is consistent", () => {
  for (const [model, spec] of Object.entries(MODELS)) {
    if (spec.kind === "station" || spec.kind === "ignored") continue;
    const caps = capabilitiesOf(spec);
    const alarms = [caps.smokeAlarm, caps.coAlarm, caps.heatAlarm].filter(Boolean).length;
    assert.ok(alarms >= 1 || caps.leak || caps.temperature, `${model} has an alarm, a leak or a climate reading`);
    if (spec.kind === "leak-sensor") assert.ok(caps.leak && alarms === 0, `${model} is a leak sensor only`);
    if (spec.kind === "climate-sensor") assert.ok(caps.temperature && caps.humidity && alarms === 0, model);
    if (spec.kind === "alarm-listener") assert.ok(caps.smokeAlarm && caps.coAlarm && !caps.coAlarm.ppm, model);
    if (spec.kind === "combo-alarm") assert.ok(caps.smokeAlarm && caps.coAlarm, `${model} is smoke+CO`);
    if (spec.kind === "co-alarm") assert.ok(caps.coAlarm?.ppm && !caps.smokeAlarm, `${model} is CO with ppm`);
    if (spec.kind === "heat-alarm") assert.ok(caps.heatAlarm && !caps.smokeAlarm, model);
    if (spec.wifi) assert.ok(spec.thing, `${model} Wi-Fi has a thing naming`);
  }
  // No remote self-test on XS01-WX, SC06-WX, XS0B-iR (APK 1400).
  for (const m of ["XS01-WX", "SC06-WX", "XS0B-iR"])
    assert.equal(capabilitiesOf(MODELS[m]!).smokeAlarm?.selfTest, undefined, m);
  assert.equal(MODELS["XC01-M"]?.selfTest?.shadow, "appCoSelfTest");
  assert.equal(MODELS["XH02-M"]?.selfTest?.shadow, "appXh02mSelfTest");
  assert.equal(MODELS["XS0B-MR"]?.selfTest?.shadow, "app2ndSelfTest");
  assert.equal(MODELS.SBS50?.kind, "station");
  assert.equal(modelSpec("nope"), undefined);
});

test("unknown models are inferred from the name prefix and what they report", () => {
  assert.equal(inferSpec("XS77-Q", {}, false)?.kind, "smoke-alarm");
  assert.equal(inferSpec("XC77-Q", {}, false)?.kind, "co-alarm");
  assert.equal(inferSpec("XH77-Q", {}, false)?.kind, "heat-alarm");
  assert.equal(inferSpec("SC77-Q", {}, false)?.kind, "combo-alarm");
  assert.equal(inferSpec("QQ01", { coPpm: "3" }, false)?.kind, "co-alarm");
  assert.equal(inferSpec("SWS77", { alarmStatus: "1" }, false), undefined, "a water alarm is not a smoke alarm");
});

test("reported fields map to state; bad values are named, not applied", () => {
  const smoke = MODELS["XS01-M"]!;
  assert.deepEqual(
    fieldsToPatch(smoke, { alarmStatus: "1", muteStatus: "0", batInfo: "1", isLifeEnd: "0", online: "1" }),
    {
      patch: { smokeAlarm: { detected: true, muted: false }, battery: { level: 33, low: true }, endOfLife: false },
      online: true,
      problems: [],
    },
  );
  assert.deepEqual(fieldsToPatch(smoke, { status: { alarmStatus: "0", batInfo: "3" } }).patch, {
    smokeAlarm: { detected: false },
    battery: { level: 100, low: false },
  });
  const co = MODELS["XC01-M"]!;
  assert.deepEqual(fieldsToPatch(co, { isAlarm: "1", coPpm: "312" }).patch, { coAlarm: { detected: true, ppm: 312 } });
  const combo = MODELS["SC07-MR"]!;
  assert.deepEqual(fieldsToPatch(combo, { isAlarm: "1", alarmType: "2" }).patch, { coAlarm: { detected: true } });
  assert.deepEqual(fieldsToPatch(combo, { isAlarm: "1", alarmType: "1" }).patch, { smokeAlarm: { detected: true } });
  assert.deepEqual(fieldsToPatch(combo, { alarmStatus: "1", coPpm: "400" }).patch, {
    coAlarm: { detected: true, ppm: 400 },
  });
  assert.deepEqual(fieldsToPatch(combo, { alarmStatus: "0" }).patch, {
    smokeAlarm: { detected: false },
    coAlarm: { detected: false },
  });
  assert.deepEqual(fieldsToPatch(MODELS["XH02-M"]!, { alarmStatus: "1" }).patch, { heatAlarm: { detected: true } });
  const bad = fieldsToPatch(smoke, { alarmStatus: { x: 1 }, batInfo: "9", online: [1] });
  assert.deepEqual(bad.patch, {});
  assert.equal(bad.problems.length, 3);
  assert.deepEqual(fieldsToPatch(smoke, { sensorStatus: "1" }).patch, { fault: "sensor malfunction" });
});

test("self-test results", () => {
  const combo = MODELS["SC07-MR"]!;
  assert.deepEqual(selfTestResult(combo, { lastSelfTest: "success" }), {
    success: true,
    patch: { smokeAlarm: { testing: false }, coAlarm: { testing: false }, fault: null },
  });
  const failed = selfTestResult(combo, { lastSelfTest: "fail", selfTestCoFault: "1" });
  assert.equal(failed?.success, false);
  assert.equal(failed?.patch.fault, "CO sensor fault");
  assert.equal(selfTestResult(combo, { nothing: "here" }), undefined);
});

test(
  "hostile reports: a CO figure far beyond any sensor is bad, " + "a model named after an Object method is unknown",
  () => {
    const spec = modelSpec("XC01-M")!;
    const r = fieldsToPatch(spec, { coPpm: 5.5e186 });
    assert.deepEqual(r.problems, ["coPpm=5.5e+186"]);
    assert.equal(r.patch.coAlarm?.ppm, undefined);
    assert.equal(fieldsToPatch(spec, { coPpm: "900" }).patch.coAlarm?.ppm, 900);
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"])
      assert.equal(modelSpec(name), undefined, name);
  },
);
