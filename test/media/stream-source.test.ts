// media.source's decisions on a manual clock, with a fake ingest and a fake driver: local never falls
// back; auto falls back after localWaitMs only when nothing publishes, remembers it, and tries local
// again after localRetryMs; a stop cancels a pending fallback and keeps a slow cloud start from opening
// a read nobody wants. (The reads themselves, and auto remembering a cloud that works: the Nanit driver's
// cloud stream tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CloudStream, StreamRequest } from "../../src/core/camera.ts";
import { createLogger } from "../../src/core/logger.ts";
import { StreamSource, type SourceMode } from "../../src/media/stream-source.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

const LOCAL = "rtmp://192.0.2.10:1935/live/key";
const TIMING = { localWaitMs: 4000, localRetryMs: 3_600_000 };

function rig(mode: SourceMode, answer: (r: StreamRequest) => Promise<CloudStream | undefined> = async () => undefined) {
  const clock = new ManualClock();
  const logs = new LogCapture();
  const log = createLogger("debug", { json: true, destination: logs });
  const requests: StreamRequest[] = [];
  let publishing = false;
  const source = new StreamSource({
    deviceId: "nanit:N1",
    name: "Robin Nanit",
    mode,
    ingest: {
      status: () => ({ publishing, bytesIn: 0, audio: false }),
      attachPull: () => undefined,
      publicAddress: "rtmp://192.0.2.10:1935",
    },
    request: (r) => {
      requests.push(r);
      return answer(r);
    },
    log,
    clock,
    timing: TIMING,
  });
  return {
    source,
    clock,
    logs,
    requests,
    paths: () => requests.map((r) => `${r.action} ${r.path ?? "-"}`),
    publish(on: boolean) {
      publishing = on;
    },
  };
}

test("local: only the camera's push is asked for, however long it takes", async () => {
  const r = rig("local");
  await r.source.request({ action: "start", url: LOCAL });
  await r.clock.tick(60_000);
  assert.deepEqual(r.paths(), ["start local"]);
  assert.equal(r.requests[0]!.url, LOCAL);
});

test("auto: no push within localWaitMs, so the cloud is asked for and logged; a failing cloud not kept", async () => {
  const r = rig("auto", async (req) => {
    if (req.path === "cloud") throw new Error("the cloud is down too");
    return undefined;
  });
  await r.source.request({ action: "start", url: LOCAL });
  await r.clock.tick(3999);
  assert.deepEqual(r.paths(), ["start local"]);
  await r.clock.tick(1);
  await settle();
  assert.deepEqual(r.paths(), ["start local", "start cloud"]);
  assert.ok(r.logs.has(/did not push to rtmp:\/\/192\.0\.2\.10:1935 within 4 s; reading its stream from the cloud/));
  assert.ok(r.logs.has(/the cloud stream did not start either: the cloud is down too/));
  assert.equal(r.source.path, "local", "a camera that was only slow gets its local push again");
});

test("auto: a driver without a cloud path stays local", async () => {
  const r = rig("auto");
  await r.source.request({ action: "start", url: LOCAL });
  await r.clock.tick(4000);
  await settle();
  assert.deepEqual(r.paths(), ["start local", "start cloud"]);
  assert.ok(r.logs.has(/this camera offers no cloud stream/));
  await r.source.request({ action: "start", url: LOCAL });
  await r.clock.tick(60_000);
  assert.deepEqual(r.paths(), ["start local", "start cloud", "start local"], "asked once, never again");
});

test("auto: a camera that pushes within the wait keeps the local path", async () => {
  const r = rig("auto");
  await r.source.request({ action: "start", url: LOCAL });
  await r.clock.tick(1000);
  r.publish(true);
  await r.clock.tick(10_000);
  assert.deepEqual(r.paths(), ["start local"]);
  assert.equal(r.source.path, "local");
});

test("auto: a stop before the wait is over cancels the fallback", async () => {
  const r = rig("auto");
  await r.source.request({ action: "start", url: LOCAL });
  await r.clock.tick(1000);
  await r.source.request({ action: "stop", url: "" });
  await r.clock.tick(10_000);
  assert.deepEqual(r.paths(), ["start local", "stop local"]);
});

test("cloud: a stop that overtakes a slow cloud start keeps its read from opening", async () => {
  let answer!: (stream: CloudStream) => void;
  const r = rig("cloud", (req) =>
    req.action === "start" ? new Promise<CloudStream>((resolve) => (answer = resolve)) : Promise.resolve(undefined),
  );
  const starting = r.source.request({ action: "start", url: LOCAL });
  await settle();
  await r.source.request({ action: "stop", url: "" });
  answer({ url: "rtmp://127.0.0.1:9/nanit/b.token" });
  await starting;
  assert.deepEqual(r.paths(), ["start cloud", "stop local"]);
  assert.equal(r.logs.has(/reading the stream from the cloud/), false, "no read was opened");
});

test("cloud: a driver without a cloud stream is a clear error", async () => {
  const r = rig("cloud");
  await assert.rejects(
    r.source.request({ action: "start", url: LOCAL }),
    /Robin Nanit: this camera offers no cloud stream \(set media\.source: local\)/,
  );
});
