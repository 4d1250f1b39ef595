// Live view through Nanit's cloud (docs/protocols/nanit.md §6.2), driver and media together: the
// driver asks the camera to push to the simulated RTMPS media host and hands the bridge the URL; the
// bridge's own RTMP client reads it (TLS verified against the simulator's certificate, trusted through
// endpoints.mediaCa) into the ingest. media.source auto falls back to it when the camera cannot reach
// the bridge; refused and expired URLs are replaced; the token never reaches a log line. The firmware
// that closes its local socket after a second (§4.1) leaves the driver on the cloud relay, no loop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { RtmpIngest } from "../../src/media/ingest.ts";
import { StreamSource, type SourceMode } from "../../src/media/stream-source.ts";
import { CloudPull, CloudPullError } from "../../src/media/cloud-pull.ts";
import { createLogger } from "../../src/core/logger.ts";
import { CloudMediaServer } from "../../sim/nanit/cloud-media.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import type { NanitDriver, NanitDriverOptions } from "../../src/drivers/nanit/index.ts";
import type { NanitSimulatorOptions, ConnInfo } from "../../sim/nanit/index.ts";
import { harness, whenAvailable, type Harness } from "./nanit-harness.ts";
import { nextEvent, quietFor, waitFor } from "../helpers/wait.ts";

/** A push URL the simulated camera cannot connect to: stands for a bridge address unreachable from the camera. */
const UNREACHABLE = "rtmp://127.0.0.1:9/live/unreachable";
const TIMEOUTS = { httpMs: 2000, requestMs: 2000, connectMs: 2000, streamMs: 4000 };

interface CloudRig {
  h: Harness;
  driver: NanitDriver;
  ingest: RtmpIngest;
  source: StreamSource;
  id: string;
}

async function cloudRig(
  t: { after(fn: () => unknown): void },
  mode: SourceMode,
  options: { sim?: NanitSimulatorOptions; driver?: Partial<NanitDriverOptions>; reachable?: boolean } = {},
): Promise<CloudRig> {
  const h = await harness({ sim: options.sim, start: false });
  const caFile = join(h.dir, "media-ca.pem");
  writeFileSync(caFile, h.urls.mediaCert);
  const endpoints = { api: h.urls.apiUrl, websocket: h.urls.wsUrl, media: h.urls.mediaUrl, mediaCa: caFile };
  const driver = await h.newDriver({ endpoints, timeouts: TIMEOUTS, ...options.driver });
  const ingest = new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log: h.log });
  await ingest.start();
  const id = h.id();
  ingest.register(id);
  const source = new StreamSource({
    deviceId: id,
    name: "Robin Nanit",
    mode,
    ingest,
    request: (r) =>
      driver.requestStream!(id, r.path !== "cloud" && options.reachable === false ? { ...r, url: UNREACHABLE } : r),
    log: h.log,
    timing: { localWaitMs: 1500 },
  });
  t.after(async () => {
    source.close();
    await ingest.stop();
    await h.close();
  });
  await whenAvailable(h, 0, 5000);
  return { h, driver, ingest, source, id };
}

function keyframe(rig: CloudRig): Promise<unknown> {
  return nextEvent(rig.ingest, "keyframe-held", (id) => id === rig.id, 20_000);
}

function cloudPuts(h: Harness): string[] {
  return h.sim
    .requests("PUT_STREAMING")
    .map((r) => r.request.streaming?.rtmp_url ?? "")
    .filter((url) => url.startsWith("rtmps:"));
}

function tokenOf(url: string): string {
  return url
    .slice(url.lastIndexOf("/") + 1)
    .split(".")
    .slice(1)
    .join(".");
}

test("auto: the camera cannot reach the bridge, so the stream comes from the cloud, said in the log", async (t) => {
  const rig = await cloudRig(t, "auto", { reachable: false });
  const { h, ingest, source, id } = rig;
  const held = keyframe(rig);
  await source.request({ action: "start", url: ingest.urlFor(id) });
  assert.equal(source.path, "local", "local first");
  await held;
  const status = ingest.status(id)!;
  assert.equal(status.path, "cloud");
  assert.equal(status.video?.codec, "h264");
  assert.equal(source.path, "cloud", "remembered: the next start goes to the cloud at once");
  const puts = h.sim.requests("PUT_STREAMING").map((r) => r.request.streaming?.rtmp_url);
  assert.equal(puts[0], UNREACHABLE);
  const [cloudUrl] = cloudPuts(h);
  assert.ok(cloudUrl?.startsWith(`${h.urls.mediaUrl}/${h.sim.babies[0]!.uid}.ey`), "baby uid + access token");
  assert.ok(h.logs.has(/did not push to rtmp:\/\/127\.0\.0\.1:\d+ within 1\.5 s; reading its stream from the cloud/));
  assert.ok(h.logs.has(/is streaming via the cloud \(127\.0\.0\.1\)/));
  assert.equal(h.sim.cloudMedia.plays, 1);
  // The token is a secret: not in any log line, and the URL is never logged (not even redacted).
  const token = tokenOf(cloudUrl!);
  assert.ok(token.length > 100);
  assert.equal(h.logs.text.includes(token), false);
  assert.equal(h.logs.text.includes(`/nanit/${h.sim.babies[0]!.uid}`), false);
  // Stop: the read ends and the camera is told to stop.
  const gone = nextEvent(ingest, "publish-stop");
  await source.request({ action: "stop", url: "" });
  await gone;
  assert.equal(h.sim.requests("PUT_STREAMING").at(-1)?.request.streaming?.status, "STOPPED");
});

test("auto: a camera that reaches the bridge pushes locally; the cloud is not touched", async (t) => {
  const rig = await cloudRig(t, "auto");
  const held = keyframe(rig);
  await rig.source.request({ action: "start", url: rig.ingest.urlFor(rig.id) });
  await held;
  assert.equal(rig.ingest.status(rig.id)?.path, "local");
  await quietFor(2000);
  assert.equal(rig.source.path, "local");
  assert.equal(rig.h.sim.cloudMedia.plays, 0);
  assert.deepEqual(cloudPuts(rig.h), []);
});

test("cloud: a refused URL is a clear error; the next start asks for a new URL (a fresh token)", async (t) => {
  const rig = await cloudRig(t, "cloud");
  const { h, ingest, source, id } = rig;
  h.sim.cloudMedia.refuseNextPlays(1);
  await assert.rejects(
    source.request({ action: "start", url: ingest.urlFor(id) }),
    /Robin Nanit: reading the stream from the cloud \(127\.0\.0\.1:\d+\) failed: .*Play\.Failed: unauthorized/,
  );
  const refreshesBefore = h.sim.refreshes;
  const held = keyframe(rig);
  await source.request({ action: "start", url: ingest.urlFor(id) });
  await held;
  const [first, second] = cloudPuts(h);
  assert.notEqual(tokenOf(second!), tokenOf(first!), "a new token in the new URL");
  assert.equal(h.sim.refreshes, refreshesBefore + 1);
  assert.equal(ingest.status(id)?.path, "cloud");
  for (const url of [first!, second!]) assert.equal(h.logs.text.includes(tokenOf(url)), false);
});

test("cloud: a token that expires ends the read; asking again gets a new URL and the stream back", async (t) => {
  const rig = await cloudRig(t, "cloud", { sim: { accessTokenLifetimeS: 6 } });
  const { h, ingest, source, id } = rig;
  const held = keyframe(rig);
  await source.request({ action: "start", url: ingest.urlFor(id) });
  await held;
  const ended = nextEvent(ingest, "publish-stop", (d) => d === id, 15_000);
  await ended;
  const again = keyframe(rig);
  await source.request({ action: "start", url: ingest.urlFor(id) });
  await again;
  const urls = cloudPuts(h);
  assert.equal(urls.length, 2);
  assert.notEqual(urls[0], urls[1]);
  assert.equal(ingest.status(id)?.path, "cloud");
});

test("firmware that closes the local socket ~1 s after opening (1006): the link stays on the cloud", async (t) => {
  const h = await harness({ sim: { localCloseAfterMs: 300 }, driver: { localRetryMs: 200 } });
  t.after(() => h.close());
  const locals: ConnInfo[] = [];
  h.sim.on("connection", (c) => {
    if (c.flavour === "local") locals.push(c);
  });
  await waitFor(() => h.sim.connections("cloud").length === 1, 10_000, { on: [[h.sim, "connection"]] });
  assert.ok(h.logs.has(/closes its local connection right after opening it .*1006.*using the cloud relay/));
  const seen = locals.length;
  assert.ok(seen <= 2, `${seen} local connections before the pattern was recognised`);
  // Far longer than the local retry interval and the reconnect back-off: no new local attempt, no loop.
  await quietFor(2500);
  assert.equal(locals.length, seen);
  assert.equal(h.sim.connections("cloud").length, 1);
  assert.equal(h.sink.available.get(h.id()), true);
});

// ---- the read and the source on their own, against the simulated media host --------------------

/** A token shaped like the simulator's (a JWT with `exp` an hour ahead). */
function jwtLike(): string {
  const body = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600 })).toString("base64url");
  return `eyJhbGciOiJIUzI1NiJ9.${body}.c2lnbmF0dXJlLXNlY3JldA`;
}

const quiet = createLogger("fatal");
const noFeed = { received: () => undefined, media: () => undefined, end: () => undefined };

test("the read checks the certificate: without the CA it fails (no token in the error), with it plays", async (t) => {
  const media = new CloudMediaServer({ tokenKnown: () => true });
  await media.start();
  t.after(() => media.stop());
  const secret = jwtLike();
  const url = `${media.base}/baby1.${secret}`;
  const attached: string[] = [];
  const options = {
    deviceId: "cam:1",
    name: "Robin",
    ingest: {
      attachPull: (deviceId: string) => {
        attached.push(deviceId);
        return noFeed;
      },
    },
    log: quiet,
  };
  await assert.rejects(new CloudPull({ url }, options).start(), (error: Error) => {
    assert.ok(error instanceof CloudPullError);
    assert.match(error.message, /^Robin: reading the stream from the cloud \(127\.0\.0\.1:\d+\) failed: .*certificate/);
    assert.equal(error.message.includes(secret), false, "the token is not in the error");
    return true;
  });
  assert.deepEqual(attached, []);
  assert.equal(media.plays, 0);
  const trusted = new CloudPull({ url, ca: media.cert }, options);
  await trusted.start();
  assert.deepEqual(attached, ["cam:1"], "publishes into the camera's stream once playing");
  assert.equal(media.plays, 1);
  trusted.close("done");
  assert.equal(await trusted.ended, "done");
});

test("auto: once the cloud read plays, later starts go to the cloud at once, for an hour", async (t) => {
  const media = new CloudMediaServer({ tokenKnown: () => true });
  await media.start();
  t.after(() => media.stop());
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const claims = Buffer.from(JSON.stringify({ exp })).toString("base64url");
  const url = `${media.base}/baby1.eyJhbGciOiJIUzI1NiJ9.${claims}.c2ln`;
  const clock = new ManualClock();
  const logs = new LogCapture();
  const paths: string[] = [];
  const attached: string[] = [];
  const source = new StreamSource({
    deviceId: "cam:1",
    name: "Robin Nanit",
    mode: "auto",
    ingest: {
      status: () => ({ publishing: false, bytesIn: 0, audio: false }),
      attachPull: (deviceId) => {
        attached.push(deviceId);
        return noFeed;
      },
      publicAddress: "rtmp://192.0.2.10:1935",
    },
    request: async (req) => {
      paths.push(`${req.action} ${req.path}`);
      return req.path === "cloud" ? { url, ca: media.cert } : undefined;
    },
    log: createLogger("debug", { json: true, destination: logs }),
    clock,
    timing: { localWaitMs: 4000, localRetryMs: 3_600_000 },
  });
  t.after(() => source.close());
  await source.request({ action: "start", url: "rtmp://192.0.2.10:1935/live/key" });
  await clock.tick(4000);
  await waitFor(() => logs.has(/live view via the cloud/), 10_000, { on: [[logs, "line"]] });
  assert.deepEqual(attached, ["cam:1"]);
  assert.equal(source.path, "cloud");
  await source.request({ action: "stop", url: "" });
  await source.request({ action: "start", url: "rtmp://192.0.2.10:1935/live/key" });
  assert.deepEqual(paths, ["start local", "start cloud", "stop cloud", "start cloud"]);
  await clock.tick(3_600_000);
  source.close();
  assert.equal(source.path, "local", "an hour later local is tried again");
});
