// The simulator rejects what the real service rejects: a bad MAC, a wrong SECRET_HASH, a bad SigV4
// signature, a stale, forged or revoked presigned MQTT URL (HTTP 403, or CONNACK "not authorized"), a wrong thing name
// (404 "No shadow exists"), and an over-quota subscription.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as netConnect } from "node:net";
import { connect } from "mqtt";
import { XSenseSimulator } from "../../sim/xsense/index.ts";
import { requestMac, secretHash, signRequest, presignUrl, decodeClientSecret } from "../../src/drivers/xsense/index.ts";
import { harness } from "./xsense-harness.ts";

async function app(
  url: string,
  body: Record<string, unknown>,
  authorization?: string,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/app`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

test("101001 hands out a per-clientType secret encoded with the appCode", async (t) => {
  const sim = new XSenseSimulator();
  const urls = await sim.start();
  t.after(() => sim.stop());
  const common = { mac: "abcdefg", appVersion: "v1.40.0_20260612", bizCode: "101001", appCode: "1400" };
  const ios = (await app(urls.api, { clientType: "1", ...common })).reData as Record<string, string>;
  const android = (await app(urls.api, { clientType: "2", ...common })).reData as Record<string, string>;
  assert.notEqual(ios.clientId, android.clientId);
  assert.equal(decodeClientSecret(android.clientSecret!, "1400").toString(), sim.clientSecrets["2"]);
  assert.notEqual(decodeClientSecret(ios.clientSecret!, "1400").toString(), sim.clientSecrets["2"]);
  const wrongMac = await app(urls.api, { clientType: "2", ...common, mac: "0123" });
  assert.notEqual(wrongMac.reCode, 200);
});

test("a bad MAC, a reordered body and a Bearer token are rejected", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const token = h.sim.calls.find((c) => c.bizCode === "103007")!.authorization!;
  const houseId = h.sim.houses[0]!.id;
  const secret = Buffer.from(h.sim.clientSecrets["2"]!);
  const common = { clientType: "2", appVersion: "v1.40.0_20260612", bizCode: "103007", appCode: "1400" };
  const good = await app(
    h.urls.api,
    { houseId, utctimestamp: "0", ...common, mac: requestMac({ houseId, utctimestamp: "0" }, secret) },
    token,
  );
  assert.equal(good.reCode, 200);
  const badMacs: unknown[] = [];
  h.sim.on("badMac", (c) => badMacs.push(c));
  const reordered = await app(
    h.urls.api,
    { utctimestamp: "0", houseId, ...common, mac: requestMac({ houseId, utctimestamp: "0" }, secret) },
    token,
  );
  assert.notEqual(reordered.reCode, 200);
  const wrong = await app(h.urls.api, { houseId, utctimestamp: "0", ...common, mac: "0".repeat(32) }, token);
  assert.notEqual(wrong.reCode, 200);
  assert.equal(badMacs.length, 2);
  const bearer = await app(
    h.urls.api,
    { houseId, utctimestamp: "0", ...common, mac: requestMac({ houseId, utctimestamp: "0" }, secret) },
    `Bearer ${token}`,
  );
  assert.equal(bearer.errCode, "10000008");
});

test("Cognito refuses a SECRET_HASH made with the e-mail on the challenge step's user", async (t) => {
  const sim = new XSenseSimulator();
  const urls = await sim.start();
  t.after(() => sim.stop());
  const info = (
    await app(urls.api, {
      clientType: "2",
      mac: "abcdefg",
      appVersion: "v1.40.0_20260612",
      bizCode: "101001",
      appCode: "1400",
    })
  ).reData as Record<string, string>;
  const res = await fetch(urls.cognito, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({
      AuthFlow: "USER_SRP_AUTH",
      ClientId: info.clientId,
      AuthParameters: {
        USERNAME: sim.email,
        SRP_A: "abcdef",
        SECRET_HASH: secretHash(Buffer.from("not the secret"), sim.email, info.clientId!),
      },
    }),
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { __type: string; message: string };
  assert.equal(body.__type, "NotAuthorizedException");
  assert.match(body.message, /SecretHash does not match/);
});

test("shadow REST verifies SigV4 and answers 404 for a wrong thing name", async (t) => {
  const h = await harness();
  t.after(() => h.close());
  const token = h.sim.calls.find((c) => c.bizCode === "103007")!.authorization!;
  const secret = Buffer.from(h.sim.clientSecrets["2"]!);
  const got = await app(
    h.urls.api,
    {
      userName: h.sim.email,
      clientType: "2",
      appVersion: "v1.40.0_20260612",
      bizCode: "101003",
      appCode: "1400",
      mac: requestMac({ userName: h.sim.email }, secret),
    },
    token,
  );
  const c = got.reData as { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  const get = async (thing: string, tamper = false): Promise<{ status: number; body: Record<string, unknown> }> => {
    const url = new URL(`${h.urls.iotData}/things/${thing}/shadow?name=2nd_mainpage`);
    const headers = signRequest({
      method: "GET",
      url,
      headers: { "content-type": "application/x-amz-json-1.0", "user-agent": "aws-sdk-iOS/2.26.5 iOS/17.3 nl_NL" },
      body: "",
      region: "eu-central-1",
      credentials: c,
    });
    delete headers.host;
    if (tamper) headers.authorization = headers.authorization!.replace(/.$/, (ch) => (ch === "0" ? "1" : "0"));
    const res = await fetch(url, { headers });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  assert.equal((await get("SBS5013B96457")).status, 200);
  const forged = await get("SBS5013B96457", true);
  assert.equal(forged.status, 403);
  const missing = await get("SBS50-13B96457");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.message, "No shadow exists with name: 'SBS50-13B96457~2nd_mainpage'");
});

for (const mode of ["http", "connack"] as const) {
  const how = mode === "http" ? "HTTP 403 at the upgrade (AWS IoT)" : "CONNACK not authorized";
  test(`the broker refuses stale, forged or revoked presigned URLs with ${how}`, async (t) => {
    const h = await harness({ sim: { mqttRefusal: mode } });
    t.after(() => h.close());
    const token = h.sim.calls.find((c) => c.bizCode === "103007")!.authorization!;
    const secret = Buffer.from(h.sim.clientSecrets["2"]!);
    const body = {
      userName: h.sim.email,
      clientType: "2",
      appVersion: "v1.40.0_20260612",
      bizCode: "101003",
      appCode: "1400",
    };
    const got = await app(h.urls.api, { ...body, mac: requestMac({ userName: h.sim.email }, secret) }, token);
    const c = got.reData as { accessKeyId: string; secretAccessKey: string; sessionToken: string };
    const refusals: Array<{ reason: string; status?: number }> = [];
    h.sim.on("mqttRejected", (r) => void refusals.push(r));
    /** 0: connected; a CONNACK code; "closed": the upgrade was refused (mqtt.js then only closes). */
    const attempt = async (url: string): Promise<number | "closed" | undefined> => {
      const client = connect(url, {
        reconnectPeriod: 0,
        username: "?SDK=iOS&Version=2.26.5",
        password: "",
        connectTimeout: 2000,
      });
      try {
        return await new Promise<number | "closed" | undefined>((resolve) => {
          client.once("connect", () => resolve(0));
          client.once("error", (e) => resolve((e as { code?: number }).code));
          client.once("close", () => resolve("closed"));
        });
      } finally {
        client.end(true);
      }
    };
    const refused = mode === "http" ? "closed" : 5;
    assert.equal(await attempt(presignUrl(h.urls.mqtt, "eu-central-1", c)), 0);
    assert.equal(
      await attempt(presignUrl(h.urls.mqtt, "eu-central-1", c, new Date(Date.now() - 6 * 60_000))),
      refused,
      "older than 5 minutes",
    );
    assert.equal(await attempt(presignUrl(h.urls.mqtt, "eu-central-1", { ...c, secretAccessKey: "forged" })), refused);
    assert.equal(
      await attempt(presignUrl(h.urls.mqtt, "eu-central-1", c, new Date(), "iotdevicegateway")),
      refused,
      "service must be iotdata",
    );
    h.sim.revokeCredentials();
    assert.equal(await attempt(presignUrl(h.urls.mqtt, "eu-central-1", c)), refused, "revoked before their expiration");
    assert.deepEqual(
      refusals.map((r) => r.reason),
      ["URL too old or from the future", "signature", "scope", "credentials revoked"],
    );
    assert.ok(refusals.every((r) => r.status === (mode === "http" ? 403 : undefined)));
  });
}

test("the subscription quota negates subscriptions past it, and the driver says so", async (t) => {
  const h = await harness({ sim: { subscriptionQuota: 3 }, start: false });
  t.after(() => h.close());
  const exceeded: unknown[] = [];
  h.sim.on("quotaExceeded", (e) => exceeded.push(e));
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  assert.ok(exceeded.length > 0);
  assert.ok(h.logs.matching(/subscriptions refused by the broker/).length >= 1);
});

test("a client resetting the connection after a refused MQTT upgrade does not crash the simulator", async (t) => {
  const sim = new XSenseSimulator();
  const urls = await sim.start();
  t.after(() => sim.stop());
  sim.mqttAvailable = false;
  const url = new URL(urls.mqtt);
  const socket = netConnect(Number(url.port), url.hostname);
  await once(socket, "connect");
  socket.write(
    "GET /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  );
  // The refusal arrives, then the client resets instead of closing: the simulator's socket gets ECONNRESET.
  await once(socket, "data");
  const refusedAgain = once(sim, "mqttUnavailable");
  socket.resetAndDestroy();
  // A second client is still answered: the reset was not thrown from the event loop.
  const second = netConnect(Number(url.port), url.hostname);
  t.after(() => second.destroy());
  await once(second, "connect");
  second.write("GET /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  const [answer] = (await once(second, "data")) as [Buffer];
  assert.match(answer.toString(), /^HTTP\/1\.1 503/);
  await refusedAgain;
});
