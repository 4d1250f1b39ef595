// An unreachable device on the page says which link is down, since when the device is unreachable and,
// when its account's link is the cause, since when that link is down (issue 19). Against a real
// WebServer: the account drops, and the device's /api/status view carries both times.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { unreachableView, type DeviceView } from "../../src/web/status.ts";
import { WebServer } from "../../src/web/server.ts";

const T0 = Date.parse("2026-12-06T10:00:00Z");
const T1 = Date.parse("2026-12-06T10:05:00Z");

test("the words name the link and both times; a connected link has no since of its own", () => {
  assert.equal(
    unreachableView("disconnected", T1, T0)!.text,
    "Unreachable (since 2026-12-06 10:05:00 UTC): the account's connection to the vendor is down " +
      "(since 2026-12-06 10:00:00 UTC).",
  );
  const offline = unreachableView("connected", T1, T0)!;
  assert.equal(offline.linkSince, undefined);
  assert.match(offline.text, /vendor reports the device offline\.$/);
  assert.equal(
    unreachableView("needs-login", undefined, undefined)!.text,
    "Unreachable: the account needs its password or a new log-in.",
  );
});

test("a dropped account link: the device's view says since when the link is down", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-reach-"));
  const log = pino({ level: "silent" });
  const registry = new DeviceRegistry(log);
  const sink = registry.sinkFor({ vendor: "test", accountName: "home" } as never);
  sink.linkStateChanged("connected");
  sink.deviceFound(
    {
      id: "test:a",
      vendor: "test",
      account: "home",
      kind: "sensor",
      name: "A",
      manufacturer: "T",
      model: "S",
      serialNumber: "1",
      capabilities: { temperature: {} },
    },
    { temperature: 20 },
  );
  const sources = { registry, accounts: [{ name: "home", vendor: "test" }], startedAt: Date.now() };
  const web = new WebServer({ sources, log, dataDir: dir, config: { host: "127.0.0.1", port: 0 } });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const before = Date.now();
  sink.linkStateChanged("disconnected");
  sink.availabilityChanged(undefined, false);
  const after = Date.now();
  const status = (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { devices: DeviceView[] };
  const why = status.devices[0]!.unreachable!;
  assert.equal(why.link, "disconnected");
  assert.ok(why.linkSince! >= before && why.linkSince! <= after, "the link's own since");
  assert.ok(why.since! >= before && why.since! <= after, "the device's since");
  assert.match(why.text, /connection to the vendor is down \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)\.$/);
});
