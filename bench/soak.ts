// Soak (issue 7, part 5): the real bridge from its CLI (child process; HomeKit with advertiser "none",
// Matter, the web page) against the three simulators for --minutes (default 30) of constant churn,
// with its memory, descriptors and child processes sampled every 10 s.
//
// Churn, all at once for the whole run:
// - the vendors change something every 1-2 s, round-robin: FanSync speed and light, X-Sense smoke and
//   CO alarms and battery, Nanit temperature, humidity, motion/sound messages and night light;
// - a paired HomeKit controller writes every 2-4 s (fan speed, lights, the Nanit night light) and a
//   second one stays subscribed to every characteristic; matter.js's controller is commissioned and its
//   subscription keeps reports flowing; the web page's live event stream (/events) stays open;
// - short token lifetimes: the Nanit access token lives 6 min (refreshed 5 min early, so about every
//   minute, rotating the refresh token), X-Sense tokens and AWS credentials 15 min (MQTT re-made);
// - every minute a HomeKit live view of the Nanit camera (its own pairing): SetupEndpoints, START, a
//   receiver counts SRTP packets (tags verified), STOP after --hold-s (25 s); the hub's real 30 s
//   linger then stops the camera, so starts alternate between cold (camera asked to push) and warm
//   (the camera still pushing for a snapshot); a snapshot every minute, alternately during the live
//   view and just after the linger (cold: the camera is started for it).
//
// Printed: a compact per-minute table, the RSS slope (least squares, MB/hour) over the second half and
// over the whole soak, fds / child processes / ffmpeg children min-max-end, streams and snapshots
// ok/failed, churn counts, and a verdict "flat" against explicit thresholds (THRESHOLDS below).
// Figures are printed, never asserted.
//
//   npm run bench -- soak                              30 minutes (not part of a plain `npm run bench`)
//   test/netns.sh node_modules/.bin/node bench/soak.ts --minutes 3      a short run
//   --sample-s 10  --hold-s 25  --log-level info  --dump bridge-log.jsonl
//   --heap-snapshots <dir>   V8 heap snapshots of the bridge after the warm-up and at the end, compared
//                            (a diagnosis run: writing them perturbs the RSS figures)
//   Ctrl-C (SIGINT) or SIGTERM ends the soak early and still prints the figures.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { Environment } from "@matter/main";
import { DEFAULT_HUB_TIMING } from "../src/media/hub.ts";
import { FanSyncSimulator } from "../sim/fansync/index.ts";
import { XSenseSimulator } from "../sim/xsense/index.ts";
import { NanitSimulator } from "../sim/nanit/index.ts";
import { BridgeProcess, type LogLine } from "../test/helpers/bridge-process.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "../test/helpers/e2e-config.ts";
import { HapClient, longUUID, type HapCharacteristic } from "../test/helpers/hap-client.ts";
import { MatterTestClient } from "../test/helpers/matter-client.ts";
import { Viewer } from "../test/helpers/camera-fixture.ts";
import { BridgeView, sampleResources, type ResourceSample } from "../test/helpers/chaos-rig.ts";
import { waitFor } from "../test/helpers/wait.ts";
import { diff, summarize, takeHeapSnapshot } from "./_heap-diff.ts";
import { argValue, fmt, stats, table, withTimeout, writeSummary, type SummaryRow } from "./lib.ts";

if (!process.env.HEARTHBRIDGE_NETNS) {
  console.error(
    "soak pairs and commissions: run it inside the loopback namespace (npm run bench -- soak, or test/netns.sh " +
      "node_modules/.bin/node bench/soak.ts)",
  );
  process.exit(2);
}
// matter.js read its environment variables while being imported: quiet its logger (the controller
// here) through the default environment instead. The bridge child gets MATTER_LOG_LEVEL=error.
if (!process.env.MATTER_LOG_LEVEL) Environment.default.vars.set("log.level", "error");

const MINUTES = Number(argValue("--minutes", "30"));
const SAMPLE_MS = Number(argValue("--sample-s", "10")) * 1000;
const HOLD_MS = Number(argValue("--hold-s", "25")) * 1000;
const CYCLE_MS = 60_000;
/** The bridge's real linger after the last viewer (not shortened here: this is the real thing). */
const LINGER_MS = DEFAULT_HUB_TIMING.lingerMs;
/** Warm-up window for the baseline: the soak's first 2 minutes. */
const WARMUP_MS = 2 * 60_000;
const THRESHOLDS = {
  /** RSS growth over the second half, MB per hour. */
  rssSlopeMbPerHour: 5,
  /** Open descriptors at the end (after the last STOP + linger) vs before the first stream. */
  fdGrowth: 5,
};
/** --heap-snapshots <dir>: the bridge writes V8 heap snapshots there (kept) after the warm-up and at
 * the end, and the two are compared by constructor. Writing one pauses the bridge for seconds and
 * costs memory: the RSS figures of such a run are not the measurement. */
const heapArg = argValue("--heap-snapshots");
const HEAP_DIR = heapArg ? resolve(heapArg) : undefined;
const NANIT_ACCESS_LIFETIME_S = 360;
const XSENSE_TTL_S = 900;

if (!(MINUTES > 0) || !(SAMPLE_MS >= 1000) || !(HOLD_MS >= 5000 && HOLD_MS < CYCLE_MS - 20_000)) {
  console.error("usage: soak [--minutes N>0] [--sample-s S>=1] [--hold-s 5..39]");
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), "hb-bench-soak-"));
const stopSoak = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.log(`\n${signal}: ending the soak early; figures follow`);
    stopSoak.abort();
  });
}

/** Sleep until `at` (performance.now() ms); false when the soak was ended first. */
async function until(at: number): Promise<boolean> {
  const ms = at - performance.now();
  if (stopSoak.signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await delay(ms, undefined, { signal: stopSoak.signal });
    return true;
  } catch {
    return false;
  }
}

const errorText = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 200);
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

/** One request at a time per hap-controller client: it shares one persistent connection. */
function serial(): <T>(fn: () => Promise<T>) => Promise<T> {
  let chain: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>) => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };
}

// ---- samples --------------------------------------------------------------------------------------

interface Sample extends ResourceSample {
  /** performance.now() */
  t: number;
  threads: number;
  rssAnonKb: number;
  live: boolean;
}

function sample(pid: number, live: boolean): Sample | undefined {
  try {
    const base = sampleResources(pid);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    const rssAnonKb = Number(/^RssAnon:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    return { ...base, t: performance.now(), threads, rssAnonKb, live };
  } catch {
    return undefined; // the bridge is gone
  }
}

/** Least-squares slope of y over t, per hour (t in ms); NaN with fewer than 3 points. */
function slopePerHour(points: { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 3) return NaN;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den ? (num / den) * 3_600_000 : NaN;
}

// ---- the run --------------------------------------------------------------------------------------

interface StreamResult {
  cycle: number;
  warm: boolean;
  ok: boolean;
  firstPacketMs: number;
  video: number;
  audio: number;
  authFailures: number;
  /** Bridge ffmpeg children 1 s after STOP was answered (should be 0). */
  ffmpegAfterStop: number;
  error?: string;
}

interface SnapshotResult {
  cycle: number;
  kind: "during live view" | "after linger";
  ok: boolean;
  ms: number;
  error?: string;
}

const fansync = new FanSyncSimulator({
  devices: [
    { profile: "continuous", displayName: "Soak Porch" },
    { profile: "cct", displayName: "Soak Living" },
    { profile: "spitfire", displayName: "Soak Patio" },
  ],
  deviceAckDelayMs: 200,
  pushDelayMs: 100,
});
const xsense = new XSenseSimulator({ reportDelayMs: 20, accessTokenTtlS: XSENSE_TTL_S, credentialTtlS: XSENSE_TTL_S });
// The sensors are changed by the churn; the simulator's own pushes stay at their real cadence.
const nanit = new NanitSimulator({ mfa: false, accessTokenLifetimeS: NANIT_ACCESS_LIFETIME_S, streamProfile: "720p" });
const cameraUid = nanit.babies[0]!.cameraUid;
const cameraId = `nanit:${cameraUid}`;

const samples: Sample[] = [];
const streams: StreamResult[] = [];
const snapshots: SnapshotResult[] = [];
const counts = {
  simChanges: { fansync: 0, xsense: 0, nanit: 0 },
  hapWrites: 0,
  hapWriteFailures: [] as string[],
  hapEvents: 0,
  matterReports: 0,
  unreachable: new Map<string, number>(),
};
/** Per-minute counters for the compact table. */
const perMinute = new Map<number, { hapEvents: number; matterReports: number; simChanges: number }>();
let live = false;
let bridge: BridgeProcess | undefined;
let view: BridgeView | undefined;
const clients: HapClient[] = [];
let matter: MatterTestClient | undefined;
let soakStart = 0;
let soakEnd = 0;
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s`;
const minuteOf = (t: number) => Math.max(0, Math.floor((t - soakStart) / 60_000));
const bump = (key: "hapEvents" | "matterReports" | "simChanges", n = 1) => {
  if (!soakStart) return;
  const m = minuteOf(performance.now());
  const row = perMinute.get(m) ?? { hapEvents: 0, matterReports: 0, simChanges: 0 };
  row[key] += n;
  perMinute.set(m, row);
};

async function setUp(): Promise<{
  cameraClient: HapClient;
  writer: HapClient;
  writeTargets: HapCharacteristic[];
  matterPort: number;
}> {
  const f = await fansync.start();
  const x = await xsense.start();
  const n = await nanit.start();
  const configFile = join(dir, "config.yaml");
  const { matterPort } = await writeE2EConfig(configFile, {
    name: "Soak Bridge",
    web: { host: "127.0.0.1", port: 0 },
    logLevel: argValue("--log-level", "info"),
    accounts: [
      {
        vendor: "fansync",
        name: "soak-fansync",
        email: fansync.email,
        password: "${SOAK_FANSYNC_PASSWORD}",
        endpoints: { api: f.apiUrl, websocket: f.wsUrl },
      },
      {
        vendor: "xsense",
        name: "soak-xsense",
        email: xsense.email,
        password: "${SOAK_XSENSE_PASSWORD}",
        endpoints: { api: x.api, cognito: x.cognito, iotData: x.iotData, mqtt: x.mqtt },
      },
      {
        vendor: "nanit",
        name: "soak-nanit",
        email: nanit.email,
        password: "${SOAK_NANIT_PASSWORD}",
        endpoints: { api: n.apiUrl, websocket: n.wsUrl },
      },
    ],
  });
  const b = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
    SOAK_FANSYNC_PASSWORD: fansync.password,
    SOAK_XSENSE_PASSWORD: xsense.password,
    SOAK_NANIT_PASSWORD: nanit.password,
    ...(HEAP_DIR
      ? {
          NODE_OPTIONS:
            `${process.env.NODE_OPTIONS ?? ""} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HEAP_DIR}`.trim(),
        }
      : {}),
  });
  bridge = b;
  // Sample from the first moment, so the table shows start-up too (the slopes use the soak only).
  const sampler = setInterval(() => {
    const s = sample(b.child.pid!, live);
    if (s) samples.push(s);
  }, SAMPLE_MS);
  b.once("exit", () => clearInterval(sampler));
  stopSampling = () => clearInterval(sampler);

  const web = await b.waitForLine((l) => l.event === "web", 90_000);
  view = await BridgeView.open(`http://127.0.0.1:${web.port as number}`);
  const ready = await b.ready(90_000);
  const pairing = await b.waitForLine((l) => l.event === "camera-pairing" && l.deviceId === cameraId, 30_000);
  const v = view;
  await waitFor(
    () =>
      ["soak-fansync", "soak-xsense", "soak-nanit"].every(
        (a) => v.links.get(a) === "connected" && v.of(a).length > 0 && v.of(a).every((d) => d.available),
      ),
    90_000,
    {
      on: [[v, "change"]],
      message: "every account connected with its devices reachable",
    },
  );
  v.on("device", (d) => {
    if (!d.available && soakStart) counts.unreachable.set(d.name, (counts.unreachable.get(d.name) ?? 0) + 1);
  });
  console.log(
    `${elapsed()} bridge up (pid ${b.child.pid}): ${v.devices.size} devices; camera accessory on port ` +
      `${pairing.port as number}`,
  );

  // HomeKit: a writer, a subscriber to every characteristic that notifies (events counted, not queued).
  const pairingFile = join(dir, "hap-pairing.json");
  const writer = await HapClient.pair(ready.homekitPort as number, E2E_PIN, { file: pairingFile });
  clients.push(writer);
  const subscriber = HapClient.load(pairingFile, ready.homekitPort as number);
  clients.push(subscriber);
  const accessories = await writer.accessories();
  const notifying = accessories.flatMap((a) =>
    a.services.flatMap((s) => s.characteristics.filter((c) => c.perms.includes("ev"))),
  );
  subscriber.http.on("event", (event: { characteristics?: unknown[] }) => {
    const k = event.characteristics?.length ?? 0;
    counts.hapEvents += k;
    bump("hapEvents", k);
  });
  await subscriber.http.subscribeCharacteristics(notifying.map((c) => c.id));
  const writable = (service: string, characteristic: string) =>
    accessories.flatMap((a) =>
      a.services
        .filter((s) => s.type === longUUID(service))
        .flatMap((s) => s.characteristics.filter((c) => c.type === longUUID(characteristic) && c.perms.includes("pw"))),
    );
  const writeTargets = [
    ...writable(Service.Fanv2.UUID, Characteristic.RotationSpeed.UUID),
    ...writable(Service.Lightbulb.UUID, Characteristic.On.UUID),
  ];
  console.log(
    `${elapsed()} HomeKit paired: ${accessories.length} accessories, ${notifying.length} characteristics ` +
      `subscribed, ${writeTargets.length} written by the churn`,
  );

  const cameraClient = await HapClient.pair(pairing.port as number, pairing.setupCode as string);
  clients.push(cameraClient);
  console.log(`${elapsed()} camera paired`);

  matter = await MatterTestClient.commission({ port: matterPort, passcode: E2E_PASSCODE, discriminator: 3840 });
  matter.node.events.attributeChanged.on(() => {
    counts.matterReports++;
    bump("matterReports");
  });
  console.log(`${elapsed()} Matter commissioned: ${matter.endpoints().length} endpoints, subscribed`);
  return { cameraClient, writer, writeTargets, matterPort };
}
let stopSampling = () => {};

/** Vendor-side changes every 1-2 s, round-robin over the vendors. */
async function simulatorChurn(): Promise<void> {
  const fans = fansync.deviceIds;
  const flags = { smoke: false, co: false, light: false, night: false };
  const actions: [vendor: keyof typeof counts.simChanges, act: (i: number) => void][] = [
    [
      "fansync",
      () =>
        void fansync.remote(pick(fans), { H00: 1, H02: 10 + Math.floor(Math.random() * 90) }).catch(() => undefined),
    ],
    ["xsense", () => ((flags.smoke = !flags.smoke) ? xsense.raiseSmoke("00000001") : xsense.clearSmoke("00000001"))],
    ["nanit", () => nanit.setTemperature(18 + Math.round(Math.random() * 60) / 10)],
    [
      "fansync",
      () => void fansync.remote(fans[1]!, { H0B: (flags.light = !flags.light) ? 1 : 0 }).catch(() => undefined),
    ],
    [
      "xsense",
      (i) =>
        i % 2
          ? xsense.setBattery("00000011", 2 + (i % 4 === 1 ? 1 : 0))
          : (flags.co = !flags.co)
            ? xsense.raiseCo("00000002")
            : xsense.clearCo("00000002"),
    ],
    [
      "nanit",
      (i) =>
        i % 3 === 0
          ? nanit.setHumidity(35 + Math.round(Math.random() * 250) / 10)
          : i % 3 === 1
            ? void nanit.postMessage(pick(["MOTION", "SOUND"]))
            : nanit.setNightLightFromApp((flags.night = !flags.night)),
    ],
  ];
  let next = performance.now();
  for (let i = 0; ; i++) {
    next += 1000 + Math.random() * 1000;
    if (!(await until(next))) return;
    const [vendor, act] = actions[i % actions.length]!;
    try {
      act(Math.floor(i / actions.length));
      counts.simChanges[vendor]++;
      bump("simChanges");
    } catch (error) {
      console.log(`${elapsed()} simulator change failed: ${errorText(error)}`);
    }
  }
}

/** HomeKit writes every 2-4 s: fan speeds within the characteristic's range, lights toggled. */
async function hapWrites(writer: HapClient, targets: HapCharacteristic[]): Promise<void> {
  if (!targets.length) return;
  const last = new Map<string, boolean>();
  let next = performance.now();
  for (;;) {
    next += 2000 + Math.random() * 2000;
    if (!(await until(next))) return;
    const c = pick(targets);
    let value: number | boolean;
    if (c.format === "bool") {
      value = !(last.get(c.id) ?? false);
      last.set(c.id, value);
    } else {
      const min = c.minValue ?? 0;
      const max = c.maxValue ?? 100;
      const step = c.minStep ?? 1;
      value = Math.min(max, min + step * Math.floor((Math.random() * (max - min)) / step + 1));
    }
    try {
      await withTimeout(writer.write([c, value]), 15_000, `HAP write ${c.id}`);
      counts.hapWrites++;
    } catch (error) {
      counts.hapWriteFailures.push(`${c.id}=${String(value)}: ${errorText(error)}`);
    }
  }
}

function ffmpegChildren(pid: number): number {
  try {
    return sampleResources(pid).ffmpeg;
  } catch {
    return NaN;
  }
}

/** Every minute: a live view (START, SRTP counted, STOP after HOLD_MS) and a snapshot. Resolves with
 * the last time the camera was in use (a STOP or a snapshot's end): the hub's linger starts there. */
async function cameraCycles(client: HapClient): Promise<number> {
  const call = serial();
  let lastStop = performance.now();
  let lastUse = lastStop;
  const snapshot = async (cycle: number, kind: SnapshotResult["kind"]) => {
    const asked = performance.now();
    try {
      const jpeg = await call(() => withTimeout(client.http.getImage(640, 360), 20_000, "snapshot"));
      const ok = jpeg[0] === 0xff && jpeg[1] === 0xd8 && jpeg.at(-2) === 0xff && jpeg.at(-1) === 0xd9;
      snapshots.push({
        cycle,
        kind,
        ok,
        ms: performance.now() - asked,
        ...(ok ? {} : { error: `not a JPEG (${jpeg.length} bytes)` }),
      });
    } catch (error) {
      snapshots.push({ cycle, kind, ok: false, ms: performance.now() - asked, error: errorText(error) });
    }
    lastUse = performance.now();
  };
  for (let cycle = 0; ; cycle++) {
    const at = soakStart + cycle * CYCLE_MS;
    if (at >= soakEnd || !(await until(at))) return lastUse;
    const warm = nanit.livePushes > 0;
    const result: StreamResult = {
      cycle,
      warm,
      ok: false,
      firstPacketMs: NaN,
      video: 0,
      audio: 0,
      authFailures: 0,
      ffmpegAfterStop: 0,
    };
    let viewer: Viewer | undefined;
    const startedAt = performance.now();
    try {
      viewer = await call(() => withTimeout(Viewer.setUp(client, { index: 0, dir }), 15_000, "SetupEndpoints"));
      live = true;
      const v = viewer;
      await call(() => withTimeout(v.start({ width: 1280, height: 720 }), 15_000, "START"));
      await v.video.until(() => v.video.packets.length > 0, 20_000, "first SRTP packet");
      result.firstPacketMs = performance.now() - startedAt;
    } catch (error) {
      result.error = errorText(error);
    }
    if (cycle % 2 === 0) {
      await until(at + 10_000);
      await snapshot(cycle, "during live view");
    }
    // The hold ends at its time even when the soak is ended meanwhile: STOP always follows START.
    const holdLeft = at + HOLD_MS - performance.now();
    if (holdLeft > 0 && !stopSoak.signal.aborted) await until(at + HOLD_MS);
    if (viewer) {
      const v = viewer;
      try {
        await call(() => withTimeout(v.stop(), 15_000, "STOP"));
      } catch (error) {
        result.error ??= `STOP: ${errorText(error)}`;
      }
      lastStop = performance.now();
      lastUse = Math.max(lastUse, lastStop);
      live = false;
      result.video = v.video.packets.length;
      result.audio = v.audio.packets.length;
      result.authFailures = v.video.authFailures + v.audio.authFailures;
      v.close();
      await delay(1000);
      result.ffmpegAfterStop = ffmpegChildren(bridge!.child.pid!);
    }
    result.ok = result.video > 0 && result.authFailures === 0 && result.error === undefined;
    streams.push(result);
    console.log(
      `${elapsed()} stream #${cycle + 1} ${result.ok ? "ok  " : "FAIL"} ${warm ? "warm" : "cold"}: first packet ` +
        `${fmt(result.firstPacketMs / 1000)} s, ${result.video} video / ${result.audio} audio ` +
        `packets${result.authFailures ? `, ${result.authFailures} failed tags` : ""}` +
        `${result.ffmpegAfterStop ? `, ${result.ffmpegAfterStop} ffmpeg left 1 s after STOP` : ""}` +
        `${result.error ? `: ${result.error}` : ""}`,
    );
    // Odd minutes: a snapshot just after the linger ran out (the camera has been told to stop).
    const afterLinger = lastStop + LINGER_MS + 3000;
    if (cycle % 2 === 1 && afterLinger < at + CYCLE_MS && (await until(afterLinger)))
      await snapshot(cycle, "after linger");
  }
}

// ---- main ----------------------------------------------------------------------------------------------

let exitCode: number | null | "timeout" | undefined;
try {
  console.log(
    `soak: ${MINUTES} min; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}; samples every ` +
      `${SAMPLE_MS / 1000} s; live view every minute for ${HOLD_MS / 1000} s, linger ${LINGER_MS / 1000} s`,
  );
  const { cameraClient, writer, writeTargets } = await setUp();
  const nanitRefreshesAtStart = nanit.refreshes;
  const startSample = sample(bridge!.child.pid!, false)!;
  soakStart = performance.now();
  soakEnd = soakStart + MINUTES * 60_000;
  const endTimer = setTimeout(() => stopSoak.abort(), MINUTES * 60_000);
  console.log(
    `${elapsed()} soak started: RSS ${fmt(startSample.rssKb / 1024, 1)} MB, ${startSample.fds} fds, ` +
      `${startSample.children} children`,
  );
  const minuteTicker = setInterval(() => {
    const s = samples.at(-1);
    const m = minuteOf(performance.now());
    if (s)
      console.log(
        `${elapsed()} minute ${m}: RSS ${fmt(s.rssKb / 1024, 1)} MB, ${s.fds} fds, ${s.children} children ` +
          `(${s.ffmpeg} ffmpeg), ${s.threads} threads; HAP events ${counts.hapEvents}, Matter reports ` +
          `${counts.matterReports}, streams ${streams.filter((r) => r.ok).length}/${streams.length} ok`,
      );
  }, 60_000);
  if (HEAP_DIR) mkdirSync(HEAP_DIR, { recursive: true });
  const firstHeap = HEAP_DIR
    ? until(soakStart + Math.min(WARMUP_MS + 60_000, (MINUTES * 60_000) / 2))
        .then((ok) => (ok ? takeHeapSnapshot(bridge!.child.pid!, HEAP_DIR) : undefined))
        .catch((error: unknown) => new Error(`the first heap snapshot: ${errorText(error)}`))
    : undefined;
  const [, , lastUse] = await Promise.all([
    simulatorChurn(),
    hapWrites(writer, writeTargets),
    cameraCycles(cameraClient),
  ]);
  clearTimeout(endTimer);
  clearInterval(minuteTicker);
  const soakStopped = performance.now();
  const nanitRefreshes = nanit.refreshes - nanitRefreshesAtStart;

  // After the camera's last use, the hub lingers, then stops the camera: wait for that (+5 s), then look.
  console.log(`${elapsed()} churn over; waiting for the linger after the camera's last use`);
  await delay(Math.max(0, lastUse + LINGER_MS + 5000 - performance.now()));
  const endSample = sample(bridge!.child.pid!, false);
  stopSampling();
  const pushesAfterLinger = nanit.livePushes;
  let heapReport: string[] = [];
  if (HEAP_DIR) {
    try {
      const early = await firstHeap;
      if (early instanceof Error) throw early;
      const late = await takeHeapSnapshot(bridge!.child.pid!, HEAP_DIR);
      if (early) {
        const a = summarize(early);
        const b = summarize(late);
        heapReport = [
          `live heap (after V8's GC): ${fmt(a.totalBytes / 1048576)} MB, ${a.nodes} objects -> ` +
            `${fmt(b.totalBytes / 1048576)} MB, ${b.nodes} objects (${early} -> ${late})`,
          ...diff(a, b).map(
            (d) =>
              `  ${d.key.padEnd(48)} count ${d.count[0]} -> ${d.count[1]}, bytes ${d.bytes[0]} -> ${d.bytes[1]} ` +
              `(${d.bytes[1] >= d.bytes[0] ? "+" : ""}${d.bytes[1] - d.bytes[0]})`,
          ),
        ];
      }
    } catch (error) {
      heapReport = [`heap snapshots failed: ${errorText(error)}`];
    }
  }
  const alive = bridge!.exitCode === undefined;

  // ---- figures ----
  const mb = (kb: number) => kb / 1024;
  const soakSamples = samples.filter((s) => s.t >= soakStart && s.t <= soakStopped);
  const rssPoints = (from: number, to: number) =>
    soakSamples.filter((s) => s.t >= from && s.t <= to).map((s) => ({ t: s.t, y: mb(s.rssKb) }));
  const mid = soakStart + (soakStopped - soakStart) / 2;
  const slopeAll = slopePerHour(rssPoints(soakStart, soakStopped));
  const slopeFirstHalf = slopePerHour(rssPoints(soakStart, mid));
  const slopeSecondHalf = slopePerHour(rssPoints(mid, soakStopped));
  const slopeWarmup = slopePerHour(rssPoints(soakStart, soakStart + WARMUP_MS));
  const slopeRest = slopePerHour(rssPoints(soakStart + WARMUP_MS, soakStopped));
  // Level baseline: median RSS of the soak's first 2 minutes vs its last 2 minutes (robust where a
  // slope over a short window is not: one GC can flip its sign).
  const medianRss = (from: number, to: number) => stats(rssPoints(from, to).map((p) => p.y)).p50;
  const rssWarmup = medianRss(soakStart, soakStart + WARMUP_MS);
  const rssLast = medianRss(soakStopped - WARMUP_MS, soakStopped);
  const rssAnonSecondHalf = slopePerHour(
    soakSamples.filter((s) => s.t >= mid).map((s) => ({ t: s.t, y: mb(s.rssAnonKb) })),
  );

  console.log(`\nper minute of the soak (samples every ${SAMPLE_MS / 1000} s; min-max within the minute):`);
  const rows: (string | number)[][] = [
    [
      "min",
      "RSS MB",
      "RssAnon MB",
      "fds",
      "children",
      "ffmpeg",
      "threads",
      "sim changes",
      "HAP events",
      "Matter reports",
    ],
  ];
  const range = (xs: number[], digits = 0) =>
    xs.length
      ? Math.min(...xs) === Math.max(...xs)
        ? fmt(xs[0], digits)
        : `${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)}`
      : "-";
  const before = samples.filter((s) => s.t < soakStart);
  if (before.length)
    rows.push([
      "setup",
      range(
        before.map((s) => mb(s.rssKb)),
        1,
      ),
      range(
        before.map((s) => mb(s.rssAnonKb)),
        1,
      ),
      range(before.map((s) => s.fds)),
      range(before.map((s) => s.children)),
      range(before.map((s) => s.ffmpeg)),
      range(before.map((s) => s.threads)),
      "",
      "",
      "",
    ]);
  for (let m = 0; m * 60_000 < soakStopped - soakStart; m++) {
    const ss = soakSamples.filter((s) => minuteOf(s.t) === m);
    const c = perMinute.get(m);
    if (!ss.length) continue;
    rows.push([
      m + 1,
      range(
        ss.map((s) => mb(s.rssKb)),
        1,
      ),
      range(
        ss.map((s) => mb(s.rssAnonKb)),
        1,
      ),
      range(ss.map((s) => s.fds)),
      range(ss.map((s) => s.children)),
      range(ss.map((s) => s.ffmpeg)),
      range(ss.map((s) => s.threads)),
      c?.simChanges ?? 0,
      c?.hapEvents ?? 0,
      c?.matterReports ?? 0,
    ]);
  }
  if (endSample)
    rows.push([
      "end",
      fmt(mb(endSample.rssKb), 1),
      fmt(mb(endSample.rssAnonKb), 1),
      endSample.fds,
      endSample.children,
      endSample.ffmpeg,
      endSample.threads,
      "",
      "",
      "",
    ]);
  console.log(table(rows));

  const all = [startSample, ...soakSamples, ...(endSample ? [endSample] : [])];
  const mmEnd = (pickOf: (s: Sample) => number) =>
    `${Math.min(...all.map(pickOf))} / ${Math.max(...all.map(pickOf))} / ${endSample ? pickOf(endSample) : "-"}`;
  const okStreams = streams.filter((s) => s.ok);
  const firstPacket = (warm: boolean) =>
    stats(streams.filter((s) => s.ok && s.warm === warm).map((s) => s.firstPacketMs / 1000));
  const snapStats = (kind: SnapshotResult["kind"]) =>
    stats(snapshots.filter((s) => s.ok && s.kind === kind).map((s) => s.ms));
  const leftAfterStop = streams.filter((s) => s.ffmpegAfterStop > 0).length;
  const crashLines = bridge!.lines.filter((l: LogLine) => /^(uncaught exception|unhandled rejection)/.test(l.msg));
  const errors = bridge!.lines.filter((l) => l.level >= 50);
  const warnings = bridge!.lines.filter((l) => l.level === 40);
  const xsenseRenewals = bridge!.lines.filter((l) => /AWS credentials renewed/.test(l.msg)).length;

  console.log(
    `\nRSS (MB): start ${fmt(mb(startSample.rssKb), 1)}, end ${endSample ? fmt(mb(endSample.rssKb), 1) : "-"}, max ` +
      `${fmt(Math.max(...all.map((s) => mb(s.rssKb))), 1)}`,
  );
  console.log(
    `RSS slope (least squares over the soak's ${SAMPLE_MS / 1000} s samples): second half ${fmt(slopeSecondHalf)} ` +
      `MB/h, whole soak ${fmt(slopeAll)} MB/h (RssAnon, second half ${fmt(rssAnonSecondHalf)} MB/h)`,
  );
  // Baseline in the same run: the soak's first 2 minutes. Two comparisons, both printed:
  // - level: median RSS of the last 2 minutes / of the first 2 (same load, same phase mix of live
  //   views and idle). A leak shows as a ratio that keeps rising with the run's length; flat is ~1.0x.
  // - slopes: the warm-up's slope vs the rest's. The first minutes often move a lot either way (V8
  //   growing its heap, or a GC after pairing and commissioning returning memory), so this ratio
  //   only means something when the warm-up grew (slope > 0); otherwise it is shown as "-". With
  //   short runs (a few minutes) every slope here is noise: the verdict uses the second-half slope
  //   of a 30-minute run.
  const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${fmt(a / b)}x` : "-");
  console.log(
    `baseline: median RSS first ${WARMUP_MS / 60_000} min ${fmt(rssWarmup, 1)} MB, last ${WARMUP_MS / 60_000} min ` +
      `${fmt(rssLast, 1)} MB (${ratio(rssLast, rssWarmup)})`,
  );
  console.log(
    `baseline slopes: first ${WARMUP_MS / 60_000} min ${fmt(slopeWarmup)} MB/h vs the rest ${fmt(slopeRest)} MB/h ` +
      `(ratio ${ratio(slopeRest, slopeWarmup)}); first half ${fmt(slopeFirstHalf)} vs second half ` +
      `${fmt(slopeSecondHalf)} MB/h (ratio ${ratio(slopeSecondHalf, slopeFirstHalf)})`,
  );
  console.log(`open fds min / max / end: ${mmEnd((s) => s.fds)} (before the first stream: ${startSample.fds})`);
  console.log(
    `child processes min / max / end: ${mmEnd((s) => s.children)}; ffmpeg children ${mmEnd((s) => s.ffmpeg)}; ` +
      `threads ${mmEnd((s) => s.threads)}`,
  );
  console.log(
    `streams started / ok / failed: ${streams.length} / ${okStreams.length} / ${streams.length - okStreams.length}; ` +
      `START -> first SRTP packet: cold p50 ${fmt(firstPacket(false).p50)} s max ${fmt(firstPacket(false).max)} s ` +
      `(${firstPacket(false).n}), warm p50 ${fmt(firstPacket(true).p50)} s max ${fmt(firstPacket(true).max)} s ` +
      `(${firstPacket(true).n}); ${stats(okStreams.map((s) => s.video)).p50} video packets per stream (p50); ` +
      `streams with an ffmpeg left 1 s after STOP: ${leftAfterStop}`,
  );
  for (const s of streams.filter((r) => !r.ok))
    console.log(
      `  stream #${s.cycle + 1} failed: ${s.error ?? `${s.video} video packets, ${s.authFailures} failed tags`}`,
    );
  console.log(
    `snapshots ok / failed: ${snapshots.filter((s) => s.ok).length} / ${snapshots.filter((s) => !s.ok).length}; ` +
      `during live view p50 ${fmt(snapStats("during live view").p50, 0)} ms, after linger (camera started) p50 ` +
      `${fmt(snapStats("after linger").p50, 0)} ms`,
  );
  for (const s of snapshots.filter((r) => !r.ok))
    console.log(`  snapshot (minute ${s.cycle + 1}, ${s.kind}) failed: ${s.error}`);
  console.log(
    `churn: simulator changes ${counts.simChanges.fansync} FanSync / ${counts.simChanges.xsense} X-Sense / ` +
      `${counts.simChanges.nanit} Nanit; HAP writes ${counts.hapWrites} ok / ${counts.hapWriteFailures.length} ` +
      `failed; HAP events ${counts.hapEvents}; Matter reports ${counts.matterReports}; Nanit token refreshes ` +
      `${nanitRefreshes}; X-Sense credential renewals ${xsenseRenewals}`,
  );
  for (const f of counts.hapWriteFailures.slice(0, 5)) console.log(`  HAP write failed: ${f}`);
  console.log(
    `devices that read unreachable during the soak: ` +
      `${counts.unreachable.size ? [...counts.unreachable].map(([n, k]) => `${n} x${k}`).join(", ") : "none"}`,
  );
  console.log(`camera pushes still running after the last linger: ${pushesAfterLinger}`);
  for (const line of heapReport) console.log(line);
  console.log(
    `bridge: ${alive ? "running" : `EXITED (${bridge!.exitCode})`}; crash lines ${crashLines.length}; error lines ` +
      `${errors.length}; warnings ${warnings.length}`,
  );
  const distinct = (ls: LogLine[]) =>
    [...new Map(ls.map((l) => [l.msg.replace(/\d+/g, "N"), l.msg])).values()].slice(0, 6);
  for (const m of distinct([...crashLines, ...errors, ...warnings])) console.log(`  log: ${m.slice(0, 240)}`);

  const checks: [string, boolean][] = [
    [
      `RSS slope over the second half ${fmt(slopeSecondHalf)} < ${THRESHOLDS.rssSlopeMbPerHour} MB/h`,
      slopeSecondHalf < THRESHOLDS.rssSlopeMbPerHour,
    ],
    [
      `fds at the end ${endSample?.fds ?? "-"} <= ${startSample.fds} + ${THRESHOLDS.fdGrowth}`,
      !!endSample && endSample.fds <= startSample.fds + THRESHOLDS.fdGrowth,
    ],
    [
      `child processes at the end ${endSample?.children ?? "-"} <= ${startSample.children} (before the first stream)`,
      !!endSample && endSample.children <= startSample.children,
    ],
    [`no ffmpeg child after the last STOP + linger (${endSample?.ffmpeg ?? "-"})`, endSample?.ffmpeg === 0],
    [`the camera told to stop after the last linger (pushes running: ${pushesAfterLinger})`, pushesAfterLinger === 0],
    [`no ffmpeg left 1 s after any STOP (${leftAfterStop} streams)`, leftAfterStop === 0],
    ["bridge running, no crash lines", alive && crashLines.length === 0],
  ];
  const flat = checks.every(([, ok]) => ok);
  console.log(`\nverdict: ${flat ? "flat" : "NOT flat"}`);
  for (const [what, ok] of checks) console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`);
  if (MINUTES < 10)
    console.log("  (a run this short says little about slopes: the 30-minute default is the measurement)");
  console.log(`time: ${elapsed().trim()}`);

  const summary: SummaryRow[] = [
    {
      metric: "RSS slope second half / whole soak",
      value: `${fmt(slopeSecondHalf)} / ${fmt(slopeAll)} MB/h`,
      baseline: `first ${WARMUP_MS / 60_000} min ${fmt(slopeWarmup)} MB/h`,
      ratio: ratio(slopeRest, slopeWarmup),
      target: `< ${THRESHOLDS.rssSlopeMbPerHour} MB/h`,
    },
    {
      metric: `median RSS last ${WARMUP_MS / 60_000} min`,
      value: `${fmt(rssLast, 1)} MB`,
      baseline: `${fmt(rssWarmup, 1)} MB first ${WARMUP_MS / 60_000} min`,
      ratio: ratio(rssLast, rssWarmup),
      target: "~1.00x",
    },
    {
      metric: "RSS start -> end (max)",
      value:
        `${fmt(mb(startSample.rssKb), 1)} -> ${endSample ? fmt(mb(endSample.rssKb), 1) : "-"} MB ` +
        `(${fmt(Math.max(...all.map((s) => mb(s.rssKb))), 1)})`,
    },
    {
      metric: "open fds min/max/end",
      value: mmEnd((s) => s.fds),
      target: `end <= ${startSample.fds + THRESHOLDS.fdGrowth}`,
    },
    {
      metric: "children / ffmpeg min/max/end",
      value: `${mmEnd((s) => s.children)}; ${mmEnd((s) => s.ffmpeg)}`,
      target: "ffmpeg end 0",
    },
    {
      metric: "streams started/ok/failed",
      value: `${streams.length}/${okStreams.length}/${streams.length - okStreams.length}`,
    },
    {
      metric: "snapshots ok/failed",
      value: `${snapshots.filter((s) => s.ok).length}/${snapshots.filter((s) => !s.ok).length}`,
    },
    { metric: "verdict", value: flat ? "flat" : "NOT flat", target: "flat" },
  ];
  writeSummary("soak", summary, [
    `${MINUTES} min; HAP events ${counts.hapEvents}, Matter reports ${counts.matterReports}, Nanit refreshes ` +
      `${nanitRefreshes}`,
  ]);
} finally {
  stopSoak.abort();
  stopSampling();
  const dump = argValue("--dump");
  if (dump && bridge) writeFileSync(dump, `${bridge.lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
  view?.close();
  await Promise.allSettled(clients.map((c) => withTimeout(c.close(), 10_000, "closing a HAP client")));
  await matter?.close().catch(() => undefined);
  if (bridge) {
    exitCode = await Promise.race([bridge.stop(), delay(20_000).then(() => "timeout" as const)]);
    if (exitCode === "timeout") {
      bridge.child.kill("SIGKILL");
      await bridge.exited();
    }
  }
  await Promise.allSettled([fansync.stop(), xsense.stop(), nanit.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
console.log(`bridge exit code after SIGTERM: ${exitCode}`);
process.exit(0);
