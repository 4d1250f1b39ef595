// The simulator itself reproduces docs/protocols/fansync.md §8: if it drifts, the driver tests prove
// nothing. Raw HTTP and WebSocket clients, no driver.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { FanSyncSimulator, applyWrite, PROFILES, type FanSyncSimulatorOptions } from "../../sim/fansync/index.ts";
import { nextEvent } from "../helpers/wait.ts";

async function sim(t: { after: (fn: () => Promise<void>) => void }, options: FanSyncSimulatorOptions = {}) {
  const s = new FanSyncSimulator({ deviceAckDelayMs: 20, pushDelayMs: 10, ...options });
  const urls = await s.start();
  t.after(() => s.stop());
  return { s, ...urls };
}

async function httpLogin(apiUrl: string, email: string, password: string): Promise<Response> {
  return fetch(`${apiUrl}/session`, {
    method: "POST",
    headers: { "content-type": "application/json", charset: "utf-8", connection: "close" },
    body: JSON.stringify({ email, password }),
  });
}

/** A raw client that collects every frame and can await one by predicate. */
class Client {
  readonly frames: Record<string, unknown>[] = [];
  readonly ws: WebSocket;
  constructor(url: string, deflate: boolean) {
    this.ws = new WebSocket(url, { perMessageDeflate: deflate });
    this.ws.on("message", (d) => this.frames.push(JSON.parse(String(d)) as Record<string, unknown>));
  }
  opened(): Promise<unknown> {
    return nextEvent(this.ws, "open");
  }
  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }
  async wait(pred: (f: Record<string, unknown>) => boolean, count = 1): Promise<Record<string, unknown>[]> {
    for (;;) {
      const hits = this.frames.filter(pred);
      if (hits.length >= count) return hits;
      await nextEvent(this.ws, "message");
    }
  }
}

async function loggedIn(url: string, token: string, deflate = false): Promise<Client> {
  const c = new Client(url, deflate);
  await c.opened();
  c.send({ id: 1, request: "login", data: { token } });
  const [answer] = await c.wait((f) => f.id === 1);
  assert.deepEqual(answer, { status: "ok", response: "login", id: 1 });
  return c;
}

test(
  "HTTP: login issues a 30-day HS256 JWT, " + "400 on bad credentials, bearer validation, info-model, faults",
  async (t) => {
    const { s, apiUrl } = await sim(t);
    assert.equal((await httpLogin(apiUrl, s.email, "nope")).status, 400);
    const res = await httpLogin(apiUrl, s.email, s.password);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { id: string; token: string };
    assert.equal(body.id, String(s.userId));
    const [h, p] = body.token
      .split(".")
      .slice(0, 2)
      .map((x) => JSON.parse(Buffer.from(x, "base64url").toString())) as [
      Record<string, unknown>,
      Record<string, number | string>,
    ];
    assert.deepEqual(h, { typ: "JWT", alg: "HS256" });
    assert.equal((p.exp as number) - (p.iat as number), 2_592_000);
    assert.equal(p.sub, s.userId);
    assert.ok(p.iss && p.nbf && p.jti);
    const ok = await fetch(`${apiUrl}/session`, {
      headers: { authorization: `Bearer ${body.token}`, connection: "close" },
    });
    assert.deepEqual(await ok.json(), { id: String(s.userId), status: "valid" });
    assert.equal(
      (await fetch(`${apiUrl}/session`, { headers: { authorization: "Bearer x.y.z", connection: "close" } })).status,
      401,
    );
    const im = (await (await fetch(`${apiUrl}/info-model`, { headers: { connection: "close" } })).json()) as Record<
      string,
      { informationModel: { familyMembers: string[] } }
    >;
    assert.deepEqual(im["FAN-FDR1L2"]?.informationModel.familyMembers, [".*-FDR1L2$"]);
    s.setHttpFault(403);
    assert.equal((await httpLogin(apiUrl, s.email, s.password)).status, 403);
    s.setHttpFault(undefined);
    s.expireTokens();
    assert.equal(
      (await fetch(`${apiUrl}/session`, { headers: { authorization: `Bearer ${body.token}`, connection: "close" } }))
        .status,
      401,
    );
  },
);

test("WS: login with and without permessage-deflate; requests before login are refused; ids echoed", async (t) => {
  const { s, apiUrl, wsUrl } = await sim(t);
  const token = ((await (await httpLogin(apiUrl, s.email, s.password)).json()) as { token: string }).token;
  const seen: boolean[] = [];
  s.on("connection", (_c, deflate) => seen.push(deflate));
  const plain = await loggedIn(wsUrl, token, false);
  const deflated = await loggedIn(wsUrl, token, true);
  assert.deepEqual(seen, [false, true]);
  assert.equal(deflated.ws.extensions.includes("permessage-deflate"), true);
  deflated.send({ id: 7, request: "lst_device" });
  const [list] = await deflated.wait((f) => f.id === 7);
  assert.equal((list!.data as unknown[]).length, 4);
  plain.ws.close();
  deflated.ws.close();

  const anon = new Client(wsUrl, false);
  await anon.opened();
  anon.send({ id: 1, request: "lst_device" });
  const [refused] = await anon.wait((f) => f.id === 1);
  assert.equal(refused!.status, "error");
  anon.ws.close();
});

test("WS: get returns the last REPORTED state, set is acked twice, pushes reach every client", async (t) => {
  const { s, apiUrl, wsUrl } = await sim(t);
  const token = ((await (await httpLogin(apiUrl, s.email, s.password)).json()) as { token: string }).token;
  const a = await loggedIn(wsUrl, token);
  const b = await loggedIn(wsUrl, token);
  const [kute, spit] = [s.deviceIds[1]!, s.deviceIds[3]!];
  a.send({ id: 2, request: "set", device: kute, data: { H00: 0 } });
  const acks = await a.wait((f) => f.id === 2, 2);
  assert.deepEqual(acks, [
    { status: "ok", response: "set", id: 2 },
    { status: "ok", response: "set", id: 2 },
  ]);
  a.send({ id: 3, request: "get", device: kute });
  const [got] = await a.wait((f) => f.id === 3);
  const data = got!.data as {
    status: Record<string, number>;
    fields: string[];
    profile: { esh: { model: string }; module: { firmware_version: string } };
    connected: number;
    device_state: string;
    calendar: unknown[];
  };
  assert.equal(data.status.H00, 1, "Kute60 never reported the power-off");
  assert.equal(s.actual(kute).H00, 0);
  assert.notDeepEqual(data.fields.sort(), Object.keys(data.status).sort());
  assert.equal(data.profile.esh.model, "Kute60-FD6R1L5");
  assert.equal(data.profile.module.firmware_version, "3.2.9");
  assert.deepEqual([data.connected, data.device_state, data.calendar], [1, "idle", []]);

  a.send({ id: 4, request: "set", device: spit, data: { H00: 0, H02: 40 } });
  const pushes = await b.wait((f) => f.event === "device_change", 2);
  assert.deepEqual(
    pushes.map((p) => (p.data as { changes: { status: Record<string, number> } }).changes.status.H00),
    [0, 1],
    "Spitfire bounces back on",
  );
  assert.equal((pushes[0]!.data as { device: string }).device, spit);
  a.ws.close();
  b.ws.close();
});

test("WS: pipelined requests are answered out of order with jitter", async (t) => {
  const { s, apiUrl, wsUrl } = await sim(t, { responseJitterMs: 20 });
  const token = ((await (await httpLogin(apiUrl, s.email, s.password)).json()) as { token: string }).token;
  const c = await loggedIn(wsUrl, token);
  s.deviceIds.forEach((d, i) => c.send({ id: 10 + i, request: "get", device: d }));
  const answers = await c.wait((f) => typeof f.id === "number" && f.id >= 10, 4);
  assert.notDeepEqual(
    answers.map((a) => a.id),
    [10, 11, 12, 13],
  );
  for (const a of answers) assert.equal((a.data as { device: string }).device, s.deviceIds[(a.id as number) - 10]);
  c.ws.close();
});

test("WS faults: greeting after upgrade, stalled login still ponged, failed and expired logins, silence", async (t) => {
  const { s, apiUrl, wsUrl } = await sim(t, { greeting: [{ type: "hello" }] });
  const token = ((await (await httpLogin(apiUrl, s.email, s.password)).json()) as { token: string }).token;
  const c = new Client(wsUrl, false);
  await c.opened();
  await c.wait((f) => f.type === "hello");
  s.stallLogins(true);
  c.send({ id: 1, request: "login", data: { token } });
  c.ws.ping();
  await nextEvent(c.ws, "pong");
  assert.equal(c.frames.filter((f) => f.id === 1).length, 0, "no login answer during a stall");
  s.stallLogins(false);
  s.failLogins(true, { data: { reason: "x" } });
  c.send({ id: 2, request: "login", data: { token } });
  assert.deepEqual((await c.wait((f) => f.id === 2))[0], {
    status: "error",
    response: "login",
    id: 2,
    data: { reason: "x" },
  });
  s.failLogins(false);
  s.expireTokens();
  c.send({ id: 3, request: "login", data: { token } });
  assert.equal((await c.wait((f) => f.id === 3))[0]!.status, "error");
  s.goSilent(true);
  c.ws.ping();
  const pong = await Promise.race([
    nextEvent(c.ws, "pong", () => true, 150).then(
      () => "pong",
      () => "none",
    ),
  ]);
  assert.equal(pong, "none", "a silent server does not pong");
  c.ws.close();
});

test("profiles: Kute60 rules of docs/protocols/fansync.md §6.3", () => {
  const b = PROFILES.kute60.behaviour;
  const on = { ...PROFILES.kute60.status };
  const off = { ...on, H00: 0 };
  assert.deepEqual(applyWrite(b, on, { H00: 0 }), { state: off, reports: [], ack: "ok" });
  assert.deepEqual(applyWrite(b, off, { H00: 1 }).reports, []);
  const offSpeed = applyWrite(b, on, { H00: 0, H02: 40 });
  assert.deepEqual(
    [offSpeed.state.H00, offSpeed.state.H02, offSpeed.reports.length, offSpeed.ack],
    [0, 35, 1, "error"],
  );
  const whileOff = applyWrite(b, off, { H02: 80 });
  assert.deepEqual(
    [whileOff.state.H00, whileOff.state.H02, whileOff.reports[0]?.H00, whileOff.ack],
    [0, 50, 0, "error"],
  );
  assert.deepEqual(applyWrite(b, off, { H00: 1, H02: 100, H01: 0 }).reports, []);
  assert.equal(applyWrite(b, off, { H00: 1, H02: 99, H01: 0 }).reports[0]?.H02, 80);
  assert.equal(applyWrite(b, on, { H02: 19 }).state.H02, 20);
  const away = applyWrite(b, on, { H0D: 1 });
  assert.deepEqual([away.reports[0]?.H0D, away.reports[0]?.H00], [1, 0]);
  const back = applyWrite(b, away.state, { H00: 1, H02: 50 });
  assert.deepEqual([back.reports[0]?.H0D, back.reports[0]?.H00], [0, 1]);
  assert.deepEqual(applyWrite(PROFILES.universal.behaviour, PROFILES.universal.status, { H06: 1 }).reports[0]?.H06, 0);
  assert.equal(applyWrite(PROFILES.ac3.behaviour, PROFILES.ac3.status, { H06: 2 }).state.H06, 1);
  assert.equal(applyWrite(PROFILES.spitfire.behaviour, PROFILES.spitfire.status, { H02: 60 }).state.H00, 1);
  assert.equal(
    applyWrite({ ...PROFILES.continuous.behaviour, clampMax: 87 }, PROFILES.continuous.status, { H02: 100 }).reports[0]
      ?.H02,
    87,
  );
});
