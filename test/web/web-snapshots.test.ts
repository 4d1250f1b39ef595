// The page's camera tiles (issue 19): GET /api/cameras/<id>/snapshot.jpg against a real WebServer with
// a stand-in media layer: behind the login, the camera's JPEG as it is, and a clear error for what is
// not a camera, a bridge without video, an unreachable camera and a failed picture (no stream key in it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { hashPasswordSync } from "../../src/core/password.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { DriverSink } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { WebServer } from "../../src/web/server.ts";

const PASSWORD = "the page password";
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);

const CAMERA: DeviceInfo = {
  id: "test:cam1",
  vendor: "test",
  account: "home",
  kind: "camera",
  name: "Nursery Camera",
  manufacturer: "T",
  model: "C1",
  serialNumber: "1",
  capabilities: { camera: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: false }, temperature: {} },
};
const SENSOR: DeviceInfo = { ...CAMERA, id: "test:sensor", name: "Sensor", capabilities: { temperature: {} } };

async function setUp(t: { after(fn: () => unknown): void }, withMedia = true) {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-snapshots-"));
  const log = pino({ level: "silent" });
  const registry = new DeviceRegistry(log);
  const sink: DriverSink = registry.sinkFor({ vendor: "test", accountName: "home" } as never);
  sink.deviceFound(CAMERA, {});
  sink.deviceFound(SENSOR, {});
  sink.linkStateChanged("connected");
  const asked: [number, number][] = [];
  const camera = {
    fail: undefined as string | undefined,
    async snapshot(width: number, height: number): Promise<Buffer> {
      asked.push([width, height]);
      if (camera.fail) throw new Error(camera.fail);
      return JPEG;
    },
  };
  const media = {
    liveSessions: 0,
    state: () => [],
    sourceFor: (id: string) => (id === CAMERA.id ? camera : undefined),
  };
  const sources = { registry, accounts: [{ name: "home", vendor: "test" }], startedAt: Date.now() };
  const config = { host: "127.0.0.1", port: 0, passwordHash: hashPasswordSync(PASSWORD) };
  const web = new WebServer({ sources: withMedia ? { ...sources, media } : sources, log, dataDir: dir, config });
  const port = await web.start();
  t.after(async () => {
    await web.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  const login = await fetch(`${base}/login`, {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ password: PASSWORD }).toString(),
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
  const get = (id: string, headers: Record<string, string> = { Cookie: cookie }) =>
    fetch(`${base}/api/cameras/${encodeURIComponent(id)}/snapshot.jpg`, { headers });
  return { sink, camera, asked, get, base, cookie };
}

const errorOf = async (res: Response) => ((await res.json()) as { error: string }).error;

test("a camera's snapshot: login first, then its JPEG as it is, at the tile's size", async (t) => {
  const { get, asked } = await setUp(t);
  assert.equal((await get(CAMERA.id, {})).status, 401);
  assert.deepEqual(asked, [], "nothing asked of the camera before the login");
  const res = await get(CAMERA.id);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/jpeg");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), JPEG);
  assert.deepEqual(asked, [[640, 360]]);
});

test("a snapshot that cannot be made says why", async (t) => {
  const { get, sink, camera } = await setUp(t);
  let res = await get(SENSOR.id);
  assert.equal(res.status, 404);
  assert.match(await errorOf(res), /no such camera/);
  res = await get("test:nothing");
  assert.equal(res.status, 404);
  camera.fail = "no push to rtmp://127.0.0.1:1935/live/secret-stream-key";
  res = await get(CAMERA.id);
  assert.equal(res.status, 502);
  const why = await errorOf(res);
  assert.match(why, /the camera did not push to rtmp:\/\/127\.0\.0\.1:1935/);
  assert.doesNotMatch(why, /secret-stream-key/);
  sink.availabilityChanged(CAMERA.id, false);
  res = await get(CAMERA.id);
  assert.equal(res.status, 409);
  assert.match(await errorOf(res), /Nursery Camera is not reachable/);
});

test("a bridge without video answers 404 for the snapshot, and the page draws a tile per camera only", async (t) => {
  const { get, base, cookie } = await setUp(t, false);
  const res = await get(CAMERA.id);
  assert.equal(res.status, 404);
  assert.match(await errorOf(res), /serves no video/);
  const page = await (await fetch(`${base}/`, { headers: { Cookie: cookie } })).text();
  assert.equal(page.match(/<figure class="tile">/g)?.length, 1, "the camera has a tile, the sensor none");
  assert.match(page, /<a class="button live-link" href="\/live\/test%3Acam1" hidden>Live view<\/a>/);
});
