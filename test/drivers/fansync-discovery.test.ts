// Initial discovery: the right frames in the right order, every device announced once with the
// capabilities its model and registers call for (phantom Kute60 light hidden, CCT detected).
import { test } from "node:test";
import assert from "node:assert/strict";
import { harness } from "./fansync-harness.ts";

test("discovers every listed device with its capabilities and info", async (t) => {
  const h = await harness({
    sim: {
      devices: [
        { profile: "continuous" },
        { profile: "kute60" },
        { profile: "cct" },
        { profile: "spitfire" },
        { profile: "ac3" },
        { profile: "corke" },
      ],
    },
  });
  t.after(() => h.close());
  const found = h.sink.of("deviceFound");
  assert.equal(found.length, 6);
  assert.equal(h.sink.link, "connected");

  const cont = h.sink.infos.get(h.id(0))!;
  assert.equal(cont.id, `fansync:${h.vid(0)}`);
  assert.match(h.vid(0), /^[0-9a-f]{24}$/);
  assert.equal(cont.kind, "ceiling-fan");
  assert.equal(cont.manufacturer, "Fanimation");
  assert.equal(cont.model, "OdynCustom-FDR1L2");
  assert.equal(cont.serialNumber, h.vid(0));
  assert.equal(cont.firmware, "1.7.1");
  assert.equal(cont.name, "Porch");
  assert.equal(cont.account, "home");
  assert.deepEqual(cont.capabilities, {
    fan: { reversible: true, breeze: true },
    light: { dimmable: true },
    switches: { homeAway: { label: "Home Away" } },
  });
  assert.deepEqual(h.sink.states.get(h.id(0)), {
    fan: { on: false, speed: 86, direction: "forward", breeze: false },
    light: { on: false, brightness: 82 },
    switches: { homeAway: false },
  });

  const kute = h.sink.infos.get(h.id(1))!;
  assert.equal(kute.model, "Kute60-FD6R1L5");
  assert.equal(kute.firmware, "3.2.9");
  assert.deepEqual(kute.capabilities.fan, { speedSteps: [20, 35, 50, 65, 80, 100], reversible: true, breeze: true });
  assert.equal(kute.capabilities.light, undefined, "phantom H0B/H0C with hideLightDimmer must not become a light");
  assert.deepEqual(kute.capabilities.switches, { homeAway: { label: "Home Away" } });

  const cct = h.sink.infos.get(h.id(2))!;
  assert.deepEqual(cct.capabilities.light, { dimmable: true, colorTemperatureK: [3000, 4000, 5000] });
  assert.deepEqual(h.sink.states.get(h.id(2))?.light, { on: true, brightness: 60, colorTemperatureK: 4000 });
  assert.equal(h.sink.states.get(h.id(2))?.fan?.direction, "reverse");

  const spit = h.sink.infos.get(h.id(3))!;
  assert.equal(spit.capabilities.light, undefined, "H04 without H0B/H0C is no light");
  assert.equal(spit.capabilities.switches, undefined, "no H0D, no Home Away");
  assert.equal(spit.capabilities.fan?.speedSteps, undefined);

  assert.deepEqual(h.sink.infos.get(h.id(4))!.capabilities.fan?.speedSteps, [33, 66, 100]);
  assert.deepEqual(h.sink.infos.get(h.id(5))!.capabilities.light?.colorTemperatureK, [2700, 3000, 3500, 4000, 5000]);
});

test("bootstrap frames: login (id 1, token only there), lst_device, one get per device; no deflate", async (t) => {
  let deflate: boolean | undefined;
  const h = await harness({ start: false });
  t.after(() => h.close());
  h.sim.on("connection", (_c, d) => (deflate = d));
  await h.driver.start({ sink: h.sink, log: h.log, store: h.store });
  const frames = h.sim.frames.map((f) => f.frame!);
  assert.deepEqual(frames[0], { id: 1, request: "login", data: { token: h.sim.issuedTokens[0] } });
  assert.equal(frames[1]?.request, "lst_device");
  assert.equal(frames[1]?.id, 2);
  const gets = frames.filter((f) => f.request === "get");
  assert.deepEqual(gets.map((g) => g.device).sort(), [...h.sim.deviceIds].sort());
  assert.deepEqual(
    gets.map((g) => g.id),
    [3, 4, 5, 6],
  );
  const token = h.sim.issuedTokens[0]!;
  assert.equal(
    h.sim.frames.filter((f) => f.raw.includes(token)).length,
    1,
    "the token travels only in the login frame",
  );
  assert.equal(deflate, false, "permessage-deflate is off");
  assert.equal(h.sim.httpRequests.filter((r) => r.method === "POST" && r.path === "/api:1/session").length, 1);
});

test("pipelined answers that come back out of order are matched by id", async (t) => {
  const h = await harness({ sim: { responseJitterMs: 15 } });
  t.after(() => h.close());
  for (let i = 0; i < 4; i++)
    assert.equal(
      h.sink.infos.get(h.id(i))?.model,
      ["OdynCustom-FDR1L2", "Kute60-FD6R1L5", "Influx-FDR1L3", "SpitfireV2-FD6R2L5"][i],
    );
});

test("a device the cloud lists as not connected is announced unavailable", async (t) => {
  const h = await harness({ sim: { devices: [{ profile: "continuous" }, { profile: "kute60", connected: 0 }] } });
  t.after(() => h.close());
  assert.deepEqual(
    h.sink.of("availabilityChanged").map((c) => [c.id, c.available]),
    [[h.id(1), false]],
  );
  assert.equal(h.sink.available.get(h.id(0)), true);
});
