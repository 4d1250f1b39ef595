// Vendor-cloud chaos against the real bridge (bench/chaos.ts and test/e2e/chaos-smoke.test.ts).
//
// The bridge runs from its CLI in a child process with its real defaults (timeouts, back-offs,
// grace periods), HomeKit and Matter enabled, against the three simulators; each simulator sits
// behind a ChaosProxy (sim/chaos-proxy.ts) for the faults it cannot make itself. What
// the bridge shows is read the way a user sees it: the web page's live event stream (/events: device
// availability and state, account links) and HomeKit controllers (hap-controller) paired with the
// bridge and with each standalone camera, that read every accessory after each round ("No Response"
// = HAP status -70402).
//
// A round: inject a fault, hold it, clear it; then make a fresh change at the vendor (the probe) and
// wait until the account is connected, all its devices are reachable and the change has arrived.
// Recovery time = clear (or injection, for faults the bridge should ride through) -> that moment.
//
// Nanit rounds may run with a live view (round options liveView): a viewer on the standalone camera
// (SetupEndpoints, START, SRTP verified with the negotiated keys) before the fault, watched through
// it; after recovery the video must arrive again (timed from the camera's control link being back),
// then STOP, and once the camera is told to stop (the hub's linger) no ffmpeg of the bridge is left.
import { EventEmitter, once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { XSenseSimulator } from "../../sim/xsense/index.ts";
import { NanitSimulator } from "../../sim/nanit/index.ts";
import { ChaosProxy } from "../../sim/chaos-proxy.ts";
import { BridgeProcess, type LogLine } from "./bridge-process.ts";
import { E2E_PIN, writeE2EConfig } from "./e2e-config.ts";
import { HapClient, longUUID, type HapAccessory } from "./hap-client.ts";
import { Viewer } from "./camera-fixture.ts";
import { SETUP_STATUS } from "./camera-tlv.ts";
import { ffmpegChildrenOf } from "./camera-live.ts";
import { pause, waitFor } from "./wait.ts";

export type Vendor = "fansync" | "xsense" | "nanit";
export const VENDORS: readonly Vendor[] = ["fansync", "xsense", "nanit"];

/** HAP status of a read from an unreachable accessory: what the Home app shows as "No Response". */
export const HAP_NO_RESPONSE = -70402;

/** Services whose characteristics say nothing about the device's state: accessory and protocol
 * information, and a camera's stream set-up (static capabilities). */
const NOT_DEVICE_STATE = new Set(["3E", "A2", "110", "112", "113", "129", "204", "21A"].map(longUUID));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- the bridge as the web page sees it ------------------------------------------------------------

export interface DeviceView {
  id: string;
  name: string;
  vendor: string;
  account: string;
  available: boolean;
  summary: string;
  state: {
    fan?: { speed?: number };
    smokeAlarm?: { detected?: boolean };
    temperature?: number;
    [key: string]: unknown;
  };
}

/** The web page's live stream (/events) folded into current device and account state. */
export class BridgeView extends EventEmitter<{
  change: [];
  device: [DeviceView];
  account: [name: string, link: string];
}> {
  readonly devices = new Map<string, DeviceView>();
  readonly links = new Map<string, string>();
  readonly #abort = new AbortController();
  #closed = false;

  static async open(base: string): Promise<BridgeView> {
    const view = new BridgeView();
    view.setMaxListeners(0);
    const response = await fetch(`${base}/events`, { signal: view.#abort.signal });
    if (response.status !== 200 || !response.body) throw new Error(`/events answered HTTP ${response.status}`);
    const snapshot = new Promise<void>((resolve, reject) => {
      view.once("change", resolve);
      void view.#read(response.body!).catch((error: Error) => {
        if (!view.#closed) reject(error);
      });
    });
    await snapshot;
    return view;
  }

  close(): void {
    this.#closed = true;
    this.#abort.abort();
  }

  /** Devices of one account. */
  of(account: string): DeviceView[] {
    return [...this.devices.values()].filter((d) => d.account === account);
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) this.#apply(event, JSON.parse(data) as unknown);
      }
    }
  }

  #apply(event: string, data: unknown): void {
    if (event === "snapshot") {
      const s = data as { accounts: { name: string; link: string }[]; devices: DeviceView[] };
      for (const a of s.accounts) this.links.set(a.name, a.link);
      for (const d of s.devices) this.devices.set(d.id, d);
    } else if (event === "device") {
      const d = data as DeviceView;
      this.devices.set(d.id, d);
      this.emit("device", d);
    } else if (event === "account") {
      const a = data as { name: string; link: string };
      this.links.set(a.name, a.link);
      this.emit("account", a.name, a.link);
    } else return;
    this.emit("change");
  }
}

// ---- resources of the bridge process ---------------------------------------------------------------

export interface ResourceSample {
  at: number;
  rssKb: number;
  fds: number;
  children: number;
  ffmpeg: number;
}

/** RSS and open descriptors from /proc/<pid>, and its child processes (ffmpeg among them). */
export function sampleResources(pid: number): ResourceSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  let children = 0;
  let ffmpeg = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(")");
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    if (ppid !== pid) continue;
    children++;
    if (/ffmpeg/.test(stat.slice(stat.indexOf("(") + 1, close))) ffmpeg++;
  }
  return { at: Date.now(), rssKb, fds, children, ffmpeg };
}

// ---- faults ---------------------------------------------------------------------------------------------

export interface Fault {
  /** How long the fault lasts before `clear` (default 0: a one-off event). */
  holdMs?: number;
  clear?(): void | Promise<void>;
  /** "clear" (default): recovery is timed from the end of the fault. "inject": the bridge should find a
   * way round it while it lasts (e.g. the cloud relay when the camera refuses local connections);
   * the fault is cleared after recovery. */
  measureFrom?: "clear" | "inject";
}

export interface FaultKind {
  name: string;
  /** What the fault does, for the printed table. */
  summary: string;
  /** Rounds in a default bench run (the full issue asks 50: --rounds 50). */
  rounds: number;
  /** Must the account's devices read "No Response" during the fault? "no": a reconnect that works at
   * once must not flap availability (flaps are counted, not failed); "any": not judged. */
  expectDown: "yes" | "no" | "any";
  /** Give up waiting for recovery after this long. */
  timeoutMs: number;
  inject(round: number): Fault | Promise<Fault>;
}

/** What a live view running through a round saw. */
export interface VideoResult {
  /** START written -> first verified SRTP video packet (ms). */
  startMs: number;
  /** The video stopped during the round (no packet for VIDEO_GAP_MS or more). */
  interrupted: boolean;
  /** ms from the camera's control link being back (its last "connected" after the fault began, else
   * the moment recovery is timed from) to the video arriving again; 0 when it never stopped or came
   * back before the link did; NaN when it did not come back. */
  resumedMs: number;
  /** Packets whose SRTP authentication tag did not verify with the negotiated key. */
  authFailures: number;
  /** ffmpeg children of the bridge just before STOP (the viewer's: 1). */
  ffmpegWatching: number;
  /** ffmpeg children of the bridge once the camera was told to stop after STOP and the linger. */
  ffmpegAfterStop: number;
}

/** A pause in the video longer than this is an interruption (15 fps: packets every 67 ms or less). */
export const VIDEO_GAP_MS = 1000;

export interface RoundResult {
  vendor: Vendor;
  kind: string;
  round: number;
  ok: boolean;
  /** ms from the end of the fault (or its injection) to recovery; NaN when it did not recover. */
  recoveryMs: number;
  /** performance.now() when the fault was injected, and when recovery timing started. */
  injectedAt: number;
  measuredFrom: number;
  /** With round options liveView (Nanit). */
  video?: VideoResult;
  /** The account's devices went unreachable during the round. */
  down: boolean;
  /** HAP status read from an unreachable device while it was down (undefined: not read in time). */
  hapWhileDown: number | undefined;
  /** Times the account's link left "connected" during the round. */
  linkDrops: number;
  problems: string[];
}

interface VendorRig {
  vendor: Vendor;
  account: string;
  accountConfig: Record<string, unknown>;
  env: Record<string, string>;
  /** Serial numbers of the vendor's HomeKit accessories. */
  serials: Set<string>;
  /** The HomeKit serial number of a device (by the bridge's device id). */
  serialOf(deviceId: string): string | undefined;
  proxies: ChaosProxy[];
  kinds: FaultKind[];
  /** The simulated camera that pushes a live view (Nanit). */
  cameraSim?: NanitSimulator;
  /** Make a fresh change at the vendor; the predicate says whether it reached the bridge. */
  probe(round: number, view: BridgeView): (view: BridgeView) => boolean;
  stop(): Promise<void>;
}

export interface RigOptions {
  vendors?: readonly Vendor[];
  dir: string;
  logLevel?: string;
  /** Per kind name ("outage"), or per vendor and kind ("nanit:outage", which wins), a hold time
   * overriding the default (ms). */
  holdMs?: Partial<Record<string, number>>;
  /** Random source for the proxies' slow delays. */
  random?: () => number;
  /** The stream hub's linger after the last viewer (HEARTHBRIDGE_TEST_HUB_LINGER_MS; default 30 s). */
  hubLingerMs?: number;
}

export interface RoundOptions {
  /** Watch a live view of the vendor's camera through the round (Nanit). */
  liveView?: boolean;
}

const SLOW_RANGE: [number, number] = [2_000, 10_000];

function hold(options: RigOptions, kind: string, fallback: number, vendor?: Vendor): number {
  return (vendor && options.holdMs?.[`${vendor}:${kind}`]) ?? options.holdMs?.[kind] ?? fallback;
}

async function proxied(port: number, options: RigOptions): Promise<ChaosProxy> {
  const proxy = new ChaosProxy(port, "127.0.0.1", options.random ? { random: options.random } : {});
  await proxy.start();
  return proxy;
}

interface ProxyKindDefaults {
  vendor: Vendor;
  rounds: { slow: number; truncate: number; outage: number };
  outageHoldMs: number;
  outageDown: FaultKind["expectDown"];
}

/** Faults every proxied vendor shares: slow answers, truncated answers, a full outage. */
function proxyKinds(
  options: RigOptions,
  proxies: ChaosProxy[],
  trigger: (round: number) => void,
  d: ProxyKindDefaults,
): FaultKind[] {
  return [
    {
      name: "slow",
      summary:
        `every answer delayed ${SLOW_RANGE[0] / 1000}-${SLOW_RANGE[1] / 1000} s for ` +
        `${hold(options, "slow", 15_000) / 1000} s`,
      rounds: d.rounds.slow,
      expectDown: "any",
      timeoutMs: 120_000,
      inject: () => {
        for (const p of proxies) p.slow(SLOW_RANGE);
        return { holdMs: hold(options, "slow", 15_000), clear: () => proxies.forEach((p) => p.slow(undefined)) };
      },
    },
    {
      name: "truncate",
      summary: "the next answer cut in half mid-frame, its connection reset",
      rounds: d.rounds.truncate,
      expectDown: "any",
      timeoutMs: 120_000,
      inject: async (round) => {
        const waiting = new AbortController();
        const cut = Promise.race(proxies.map((p) => once(p, "truncated", { signal: waiting.signal })));
        cut.catch(() => undefined); // aborted once one proxy cut
        for (const p of proxies) p.truncateNext();
        trigger(round); // traffic to cut
        try {
          await withTimeout(cut, 10_000, "an answer to cut");
        } finally {
          waiting.abort();
          for (const p of proxies) p.truncateNext(false);
        }
        return {};
      },
    },
    {
      name: "outage",
      summary: `connections reset and refused for ${hold(options, "outage", d.outageHoldMs, d.vendor) / 1000} s`,
      rounds: d.rounds.outage,
      expectDown: d.outageDown,
      timeoutMs: 180_000,
      inject: () => {
        for (const p of proxies) {
          p.refuse(true);
          p.dropAll();
        }
        return {
          holdMs: hold(options, "outage", d.outageHoldMs, d.vendor),
          clear: () => proxies.forEach((p) => p.refuse(false)),
        };
      },
    },
  ];
}

async function fansyncRig(options: RigOptions): Promise<VendorRig> {
  const sim = new FanSyncSimulator({
    devices: [
      { profile: "continuous", displayName: "Chaos Porch" },
      { profile: "cct", displayName: "Chaos Living" },
    ],
    deviceAckDelayMs: 50,
    pushDelayMs: 20,
  });
  const { port } = await sim.start();
  const proxy = await proxied(port, options);
  const [probeVid] = sim.deviceIds as [string];
  const probeId = `fansync:${probeVid}`;
  let last = -1;
  const nextSpeed = (round: number, current: number | undefined): number => {
    let v = 10 + ((round * 7) % 80);
    while (v === current || v === last) v = v >= 89 ? 10 : v + 1;
    last = v;
    return v;
  };
  const kinds: FaultKind[] = [
    {
      name: "drop",
      summary: "the cloud drops every socket",
      rounds: 30,
      expectDown: "no",
      timeoutMs: 90_000,
      inject: () => {
        sim.dropSockets();
        return {};
      },
    },
    {
      name: "stall-login",
      summary:
        `websocket logins unanswered for ${hold(options, "stall-login", 3_000) / 1000} s (the driver's 15 s ` +
        `login timeout decides)`,
      rounds: 5,
      expectDown: "yes",
      timeoutMs: 120_000,
      inject: () => {
        sim.stallLogins(true);
        sim.dropSockets();
        return { holdMs: hold(options, "stall-login", 3_000), clear: () => sim.stallLogins(false) };
      },
    },
    {
      name: "expire",
      summary: "every session token expired, sockets dropped",
      rounds: 30,
      expectDown: "no",
      timeoutMs: 90_000,
      inject: () => {
        sim.expireTokens();
        sim.dropSockets();
        return {};
      },
    },
    {
      name: "http-5xx",
      summary: `token expired and HTTP 503 to every request for ${hold(options, "http-5xx", 5_000) / 1000} s`,
      rounds: 8,
      expectDown: "yes",
      timeoutMs: 120_000,
      inject: () => {
        sim.expireTokens();
        sim.setHttpFault(503);
        sim.dropSockets();
        return { holdMs: hold(options, "http-5xx", 5_000), clear: () => sim.setHttpFault(undefined) };
      },
    },
    ...proxyKinds(options, [proxy], (round) => void sim.remote(probeVid, { H02: nextSpeed(round + 1000, undefined) }), {
      vendor: "fansync",
      rounds: { slow: 4, truncate: 20, outage: 5 },
      outageHoldMs: 10_000,
      outageDown: "yes",
    }),
  ];
  return {
    vendor: "fansync",
    account: "chaos-fansync",
    accountConfig: {
      vendor: "fansync",
      name: "chaos-fansync",
      email: sim.email,
      password: "${CHAOS_FANSYNC_PASSWORD}",
      endpoints: { api: `http://127.0.0.1:${proxy.port}/api:1`, websocket: `ws://127.0.0.1:${proxy.port}/api:1/phone` },
    },
    env: { CHAOS_FANSYNC_PASSWORD: sim.password },
    serials: new Set(sim.deviceIds),
    serialOf: (id) => id.replace(/^fansync:/, ""),
    proxies: [proxy],
    kinds,
    probe: (round, view) => {
      const speed = nextSpeed(round, view.devices.get(probeId)?.state.fan?.speed);
      void sim.remote(probeVid, { H00: 1, H02: speed });
      return (v) => v.devices.get(probeId)?.state.fan?.speed === speed;
    },
    stop: async () => {
      await proxy.stop();
      await sim.stop();
    },
  };
}

async function xsenseRig(options: RigOptions): Promise<VendorRig> {
  const sim = new XSenseSimulator({ reportDelayMs: 20 });
  const urls = await sim.start();
  const port = Number(new URL(urls.api).port);
  const proxy = await proxied(port, options);
  const base = `127.0.0.1:${proxy.port}`;
  const probeSn = "00000001"; // Kitchen smoke, behind the SBS50
  const probeId = `xsense:${sim.vendorId(probeSn)}`;
  const serialById = new Map<string, string>();
  for (const h of sim.houses)
    for (const s of h.stations) for (const d of s.self ? [s.self] : s.devices) serialById.set(`xsense:${d.id}`, d.sn);
  const serials = new Set(serialById.values());
  const grace = 60_000; // the driver's alarm-link grace: shorter outages never show "No Response"
  const kinds: FaultKind[] = [
    {
      name: "drop",
      summary: "the broker drops every MQTT connection",
      rounds: 30,
      expectDown: "no",
      timeoutMs: 90_000,
      inject: () => {
        sim.dropMqtt();
        return {};
      },
    },
    {
      name: "stall-login",
      summary:
        `session and credentials expired, Cognito unanswered for ` +
        `${hold(options, "stall-login", 3_000) / 1000} s (15 s Cognito timeout decides)`,
      rounds: 5,
      expectDown: "no",
      timeoutMs: 120_000,
      inject: () => {
        sim.stallLogins(true);
        sim.expireSessions();
        sim.expireCredentials();
        return { holdMs: hold(options, "stall-login", 3_000), clear: () => sim.stallLogins(false) };
      },
    },
    {
      name: "expire",
      summary: "access tokens revoked and AWS credentials expired (MQTT dropped)",
      rounds: 20,
      expectDown: "no",
      timeoutMs: 90_000,
      inject: () => {
        sim.expireSessions();
        sim.expireCredentials();
        return {};
      },
    },
    {
      name: "revoke",
      summary: "AWS credentials revoked before their expiration: MQTT dropped, upgrades with them answered HTTP 403",
      rounds: 20,
      expectDown: "no",
      timeoutMs: 60_000,
      inject: () => {
        sim.revokeCredentials();
        return {};
      },
    },
    {
      name: "displace",
      summary: "credentials revoked and the session displaced by a login elsewhere at the same moment",
      rounds: 10,
      expectDown: "no",
      timeoutMs: 60_000,
      inject: () => {
        sim.loginElsewhere();
        sim.revokeCredentials();
        return {};
      },
    },
    {
      name: "refuse",
      summary: "MQTT dropped, then the next 3 upgrades refused with HTTP 403 whatever their credentials",
      rounds: 10,
      expectDown: "no",
      timeoutMs: 60_000,
      inject: () => {
        sim.refuseUpgrades(3);
        sim.dropMqtt();
        return {};
      },
    },
    {
      name: "http-5xx",
      summary: "credentials expired, then 4 app API calls answered HTTP 503",
      rounds: 8,
      expectDown: "no",
      timeoutMs: 120_000,
      inject: () => {
        for (let i = 0; i < 4; i++) sim.failNextApp("http503");
        sim.expireCredentials();
        return { measureFrom: "inject" };
      },
    },
    ...proxyKinds(options, [proxy], () => sim.setBattery(probeSn, 3), {
      vendor: "xsense",
      rounds: { slow: 4, truncate: 20, outage: 1 },
      outageHoldMs: grace + 5_000,
      outageDown: hold(options, "outage", grace + 5_000, "xsense") > grace ? "yes" : "no",
    }),
  ];
  return {
    vendor: "xsense",
    account: "chaos-xsense",
    accountConfig: {
      vendor: "xsense",
      name: "chaos-xsense",
      email: sim.email,
      password: "${CHAOS_XSENSE_PASSWORD}",
      endpoints: {
        api: `http://${base}`,
        cognito: `http://${base}/cognito/`,
        iotData: `http://${base}`,
        mqtt: `ws://${base}/mqtt`,
      },
    },
    env: { CHAOS_XSENSE_PASSWORD: sim.password },
    serials,
    serialOf: (id) => serialById.get(id),
    proxies: [proxy],
    kinds,
    probe: (_round, view) => {
      const raise = view.devices.get(probeId)?.state.smokeAlarm?.detected !== true;
      if (raise) sim.raiseSmoke(probeSn);
      else sim.clearSmoke(probeSn);
      return (v) => v.devices.get(probeId)?.state.smokeAlarm?.detected === raise;
    },
    stop: async () => {
      await proxy.stop();
      await sim.stop();
    },
  };
}

async function nanitRig(options: RigOptions): Promise<VendorRig> {
  // MFA off: the bridge may log in again with the password (an MFA account needs a person).
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000] });
  const urls = await sim.start();
  const cameraUid = sim.babies[0]!.cameraUid;
  const localPort = Number(new URL(urls.localUrls[cameraUid]!).port);
  const api = await proxied(Number(new URL(urls.apiUrl).port), options);
  const local = await proxied(localPort, options);
  const probeId = `nanit:${cameraUid}`;
  const proxies = [api, local];
  let lastTemperature = -1;
  const nextTemperature = (round: number, current: number | undefined): number => {
    let v = 18 + (round % 24) * 0.25;
    while (v === current || v === lastTemperature) v = v >= 23.75 ? 18 : v + 0.25;
    lastTemperature = v;
    return v;
  };
  const limits = { local: sim.localConnectionLimit, cloud: sim.cloudConnectionLimit };
  const grace = 10_000; // the driver's link grace (timeouts.linkGraceMs): shorter losses never show "No Response"
  const outageHoldMs = hold(options, "outage", grace + 5_000, "nanit");
  const kinds: FaultKind[] = [
    {
      name: "drop",
      summary: "the camera and the relay drop every socket",
      rounds: 10,
      expectDown: "no",
      timeoutMs: 120_000,
      inject: () => {
        sim.dropSockets();
        return {};
      },
    },
    {
      name: "stall-login",
      summary:
        `access tokens revoked, sockets dropped, the REST API (token refresh, uc_token) stalled ` +
        `${hold(options, "stall-login", 22_000) / 1000} s`,
      rounds: 3,
      expectDown: "yes",
      timeoutMs: 180_000,
      inject: () => {
        api.stall(true);
        sim.revokeAccessTokens();
        sim.dropSockets();
        return { holdMs: hold(options, "stall-login", 22_000), clear: () => api.stall(false) };
      },
    },
    {
      name: "expire",
      summary: "access tokens revoked, sockets dropped (the session refreshes)",
      rounds: 10,
      expectDown: "no",
      timeoutMs: 120_000,
      inject: () => {
        sim.revokeAccessTokens();
        sim.dropSockets();
        return {};
      },
    },
    {
      name: "limit-local",
      summary: "the camera answers 403 to local sockets (two-connection limit); the relay must take over",
      rounds: 5,
      expectDown: "any",
      timeoutMs: 120_000,
      inject: () => {
        sim.localConnectionLimit = 0;
        sim.dropSockets();
        return { measureFrom: "inject", clear: () => void (sim.localConnectionLimit = limits.local) };
      },
    },
    {
      name: "limit-cloud",
      summary:
        `local refused and the relay declines ("Mobile App connections above limit", 403) for ` +
        `${hold(options, "limit-cloud", 5_000) / 1000} s`,
      rounds: 1,
      expectDown: "yes",
      timeoutMs: 420_000,
      inject: () => {
        sim.localConnectionLimit = 0;
        sim.cloudConnectionLimit = 0;
        sim.dropSockets();
        return {
          holdMs: hold(options, "limit-cloud", 5_000),
          clear: () => {
            sim.localConnectionLimit = limits.local;
            sim.cloudConnectionLimit = limits.cloud;
          },
        };
      },
    },
    {
      name: "http-5xx",
      summary: "access tokens revoked, sockets dropped, 3 x HTTP 503 on token refresh and uc_token",
      rounds: 5,
      expectDown: "any", // three failed attempts with back-off: about the grace period
      timeoutMs: 120_000,
      inject: () => {
        sim.revokeAccessTokens();
        sim.failNext("/tokens/refresh", 503, 3);
        sim.failNext(`/focus/cameras/${cameraUid}/uc_token`, 503, 3);
        sim.dropSockets();
        return { measureFrom: "inject" };
      },
    },
    ...proxyKinds(options, proxies, (round) => sim.setTemperature(nextTemperature(round + 1000, undefined)), {
      vendor: "nanit",
      rounds: { slow: 3, truncate: 10, outage: 3 },
      outageHoldMs: grace + 5_000,
      outageDown: outageHoldMs > grace ? "yes" : "no",
    }),
  ];
  return {
    vendor: "nanit",
    account: "chaos-nanit",
    accountConfig: {
      vendor: "nanit",
      name: "chaos-nanit",
      email: sim.email,
      password: "${CHAOS_NANIT_PASSWORD}",
      endpoints: {
        api: `http://127.0.0.1:${api.port}`,
        websocket: `ws://127.0.0.1:${api.port}/focus/cameras/{camera_uid}/user_connect`,
        local: `127.0.0.1:${local.port}`,
      },
    },
    env: { CHAOS_NANIT_PASSWORD: sim.password },
    serials: new Set([cameraUid]),
    serialOf: (id) => id.replace(/^nanit:/, ""),
    proxies,
    kinds,
    cameraSim: sim,
    probe: (round, view) => {
      const t = nextTemperature(round, view.devices.get(probeId)?.state.temperature);
      sim.setTemperature(t);
      return (v) => v.devices.get(probeId)?.state.temperature === t;
    },
    stop: async () => {
      await Promise.all(proxies.map((p) => p.stop()));
      await sim.stop();
    },
  };
}

/** Per vendor, ms from spawning the bridge until its account was first connected with every device
 * reachable, replayed from the bridge's own log (link lines, and the registry's found / unreachable /
 * reachable again lines): the web page starts only after the accounts, so it cannot see this. */
function coldStarts(
  lines: LogLine[],
  vendors: Map<Vendor, VendorRig>,
  view: BridgeView,
  spawnedAt: number,
): Partial<Record<Vendor, number>> {
  const out: Partial<Record<Vendor, number>> = {};
  for (const r of vendors.values()) {
    const ids = new Set(view.of(r.account).map((d) => d.id));
    const available = new Map<string, boolean>();
    let link = "";
    for (const l of lines) {
      if (l.account === r.account && typeof l.link === "string") link = l.link;
      const device = typeof l.device === "string" ? l.device : undefined;
      if (device && ids.has(device) && l.module === "core") {
        if (/^found /.test(l.msg) || /is reachable again$/.test(l.msg)) available.set(device, true);
        else if (/is unreachable$/.test(l.msg)) available.set(device, false);
      }
      if (link === "connected" && available.size === ids.size && [...available.values()].every(Boolean)) {
        out[r.vendor] = Number(l.time) - spawnedAt;
        break;
      }
    }
  }
  return out;
}

// ---- a live view through a round -------------------------------------------------------------------------

/** How long the video may take to come back once a round is over. */
const VIDEO_RESUME_TIMEOUT_MS = 60_000;

/** A viewer of the standalone camera, with the arrival time of every verified video packet. */
class LiveVideo {
  readonly viewer: Viewer;
  readonly arrivals: number[] = [];
  /** START written -> first verified video packet (ms). */
  startMs = NaN;

  constructor(viewer: Viewer) {
    this.viewer = viewer;
    viewer.video.on("packet", () => this.arrivals.push(performance.now()));
  }

  /** Packets that arrived after `t`. */
  since(t: number): number {
    let n = 0;
    for (let i = this.arrivals.length - 1; i >= 0 && this.arrivals[i]! > t; i--) n++;
    return n;
  }

  /** The first packet after the last pause of VIDEO_GAP_MS or more that ended after `t`. */
  resumedAfter(t: number): number | undefined {
    for (let i = this.arrivals.length - 1; i > 0 && this.arrivals[i]! > t; i--) {
      if (this.arrivals[i]! - this.arrivals[i - 1]! >= VIDEO_GAP_MS) return this.arrivals[i];
    }
    return undefined;
  }
}

// ---- the rig ---------------------------------------------------------------------------------------------

interface HapTarget {
  /** The controller paired with the HAP server that holds it (the bridge, or a standalone camera). */
  client: HapClient;
  serial: string;
  name: string | undefined;
  /** One readable characteristic, "aid.iid". */
  id: string;
}

export class ChaosRig {
  readonly bridge: BridgeProcess;
  readonly view: BridgeView;
  /** Paired with the bridge. */
  readonly hap: HapClient;
  /** Paired with each standalone camera (its own HAP server and setup code). */
  readonly cameraHaps: HapClient[] = [];
  readonly vendors: Map<Vendor, VendorRig>;
  /** ms from spawning the bridge until each account was connected with every device reachable. */
  readonly coldStartMs: Partial<Record<Vendor, number>>;
  /** The stream hub's linger after the last viewer, as the bridge was started with. */
  hubLingerMs = 30_000;
  #dir = "";
  /** performance.now() of each Nanit camera control link "connected" log line. */
  readonly #linkUps: number[] = [];
  readonly #deviceCounts = new Map<Vendor, number>();
  readonly #hapTargets = new Map<Vendor, HapTarget[]>();
  #hapAccessories = 0;
  #hapChain: Promise<unknown> = Promise.resolve();

  private constructor(
    bridge: BridgeProcess,
    view: BridgeView,
    hap: HapClient,
    vendors: Map<Vendor, VendorRig>,
    coldStartMs: Partial<Record<Vendor, number>>,
  ) {
    this.bridge = bridge;
    this.view = view;
    this.hap = hap;
    this.vendors = vendors;
    this.coldStartMs = coldStartMs;
  }

  /** Start the simulators, their proxies and the bridge; pair a HomeKit controller; wait until every
   * account is up. */
  static async start(options: RigOptions): Promise<ChaosRig> {
    const wanted = options.vendors ?? VENDORS;
    const makers: Record<Vendor, (o: RigOptions) => Promise<VendorRig>> = {
      fansync: fansyncRig,
      xsense: xsenseRig,
      nanit: nanitRig,
    };
    const vendors = new Map<Vendor, VendorRig>();
    let bridge: BridgeProcess | undefined;
    let view: BridgeView | undefined;
    try {
      for (const v of wanted) vendors.set(v, await makers[v](options));
      const configFile = join(options.dir, "config.yaml");
      await writeE2EConfig(configFile, {
        name: "Chaos Bridge",
        accounts: [...vendors.values()].map((r) => r.accountConfig),
        web: { host: "127.0.0.1", port: 0 },
        logLevel: options.logLevel ?? "info",
      });
      const spawnedAt = Date.now();
      const env = Object.assign({}, ...[...vendors.values()].map((r) => r.env)) as Record<string, string>;
      if (options.hubLingerMs !== undefined) env.HEARTHBRIDGE_TEST_HUB_LINGER_MS = String(options.hubLingerMs);
      bridge = new BridgeProcess(["--config", configFile, "--data", join(options.dir, "data")], env);
      const web = await bridge.waitForLine((l) => l.event === "web", 90_000);
      view = await BridgeView.open(`http://127.0.0.1:${web.port as number}`);
      const ready = await bridge.ready(90_000);
      const v = view;
      await Promise.all(
        [...vendors.values()].map((r) =>
          waitFor(
            () =>
              v.links.get(r.account) === "connected" &&
              v.of(r.account).length > 0 &&
              v.of(r.account).every((d) => d.available),
            90_000,
            {
              on: [[v, "change"]],
              message: `${r.account} up at start`,
            },
          ),
        ),
      );
      const coldStartMs = coldStarts(bridge.lines, vendors, v, spawnedAt);
      const hap = await HapClient.pair(ready.homekitPort as number, E2E_PIN);
      const rig = new ChaosRig(bridge, view, hap, vendors, coldStartMs);
      rig.#dir = options.dir;
      if (options.hubLingerMs !== undefined) rig.hubLingerMs = options.hubLingerMs;
      bridge.on("line", (l) => {
        if (/^nanit: .+: connected \(/.test(l.msg)) rig.#linkUps.push(performance.now());
      });
      // Cameras are their own HomeKit accessories by default: pair each one too.
      if (vendors.has("nanit")) {
        const b = bridge;
        await b.waitForLine((l) => l.event === "camera-pairing", 15_000).catch(() => undefined);
        for (const line of b.lines.filter((l) => l.event === "camera-pairing"))
          rig.cameraHaps.push(await HapClient.pair(line.port as number, line.setupCode as string));
      }
      for (const r of vendors.values()) rig.#deviceCounts.set(r.vendor, view.of(r.account).length);
      await rig.#mapAccessories();
      return rig;
    } catch (error) {
      view?.close();
      await bridge?.stop();
      await Promise.allSettled([...vendors.values()].map((r) => r.stop()));
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.view.close();
    for (const client of [this.hap, ...this.cameraHaps]) await client.close().catch(() => undefined);
    await this.bridge.stop();
    await Promise.allSettled([...this.vendors.values()].map((r) => r.stop()));
  }

  kinds(vendor: Vendor): FaultKind[] {
    return this.vendors.get(vendor)?.kinds ?? [];
  }

  sample(): ResourceSample {
    return sampleResources(this.bridge.child.pid!);
  }

  /** Log lines that mean a handler threw where it should not have (the bridge logs instead of dying). */
  get crashLines(): LogLine[] {
    return this.bridge.lines.filter((l) => /^(uncaught exception|unhandled rejection)/.test(l.msg));
  }

  get alive(): boolean {
    return this.bridge.exitCode === undefined;
  }

  /** HomeKit calls one at a time: hap-controller shares one connection. */
  #hapDo<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#hapChain.then(fn, fn);
    this.#hapChain = next.catch(() => undefined);
    return next;
  }

  /** Every accessory of every paired HAP server, with the client that reads it. */
  async #accessories(): Promise<{ client: HapClient; accessory: HapAccessory }[]> {
    const out: { client: HapClient; accessory: HapAccessory }[] = [];
    for (const client of [this.hap, ...this.cameraHaps])
      for (const accessory of await this.#hapDo(() => client.accessories(true))) out.push({ client, accessory });
    return out;
  }

  async #mapAccessories(): Promise<void> {
    const accessories = await this.#accessories();
    this.#hapAccessories = accessories.length;
    for (const r of this.vendors.values()) {
      const targets: HapTarget[] = [];
      for (const { client, accessory: a } of accessories) {
        if (!a.serialNumber || !r.serials.has(a.serialNumber)) continue;
        const c = a.services
          .filter((s) => !NOT_DEVICE_STATE.has(s.type))
          .flatMap((s) => s.characteristics)
          .find((ch) => ch.perms.includes("pr"));
        if (c) targets.push({ client, serial: a.serialNumber, name: a.name, id: c.id });
      }
      this.#hapTargets.set(r.vendor, targets);
    }
  }

  /** HAP statuses of one readable characteristic of each of the vendor's accessories (0 = readable). */
  async hapStatuses(vendor: Vendor): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const targets = this.#hapTargets.get(vendor) ?? [];
    for (const client of new Set(targets.map((t) => t.client))) {
      const mine = targets.filter((t) => t.client === client);
      const response = await this.#hapDo(() => client.http.getCharacteristics(mine.map((t) => t.id)));
      for (const t of mine) {
        const got = response.characteristics.find((c) => `${c.aid}.${c.iid}` === t.id);
        out.set(t.serial, got ? (got.status ?? 0) : NaN);
      }
    }
    return out;
  }

  /** Duplicates and losses: device counts in the bridge and accessory counts in HomeKit. */
  async inventoryProblems(vendor: Vendor): Promise<string[]> {
    const problems: string[] = [];
    const r = this.vendors.get(vendor)!;
    const devices = this.view.of(r.account).length;
    if (devices !== this.#deviceCounts.get(vendor))
      problems.push(`${devices} devices in the bridge, ${this.#deviceCounts.get(vendor)} at start`);
    const accessories = (await this.#accessories()).map((a) => a.accessory);
    if (accessories.length !== this.#hapAccessories)
      problems.push(`${accessories.length} HomeKit accessories, ${this.#hapAccessories} at start`);
    const serials = accessories.map((a) => a.serialNumber).filter((s): s is string => !!s && r.serials.has(s));
    const dupes = serials.filter((s, i) => serials.indexOf(s) !== i);
    if (dupes.length) problems.push(`duplicate HomeKit accessories: ${[...new Set(dupes)].join(", ")}`);
    return problems;
  }

  #healthy(r: VendorRig): boolean {
    const devices = this.view.of(r.account);
    return (
      this.view.links.get(r.account) === "connected" &&
      devices.length === this.#deviceCounts.get(r.vendor) &&
      devices.every((d) => d.available)
    );
  }

  /** Wait until the vendor's account is connected with every device reachable. */
  async settled(vendor: Vendor, timeoutMs: number): Promise<boolean> {
    const r = this.vendors.get(vendor)!;
    try {
      await waitFor(() => this.#healthy(r), timeoutMs, { on: [[this.view, "change"]] });
      return true;
    } catch {
      return false;
    }
  }

  /** SetupEndpoints and START on the vendor's standalone camera; resolves once video flows. */
  async #startLiveView(r: VendorRig): Promise<LiveVideo> {
    const client = this.cameraHaps[0];
    if (!client || !r.cameraSim) throw new Error(`${r.vendor} has no standalone camera paired`);
    const viewer = await this.#hapDo(() => Viewer.setUp(client, { index: 0, dir: this.#dir }));
    const live = new LiveVideo(viewer);
    let started = false;
    try {
      if (viewer.response.status !== SETUP_STATUS.success)
        throw new Error(`SetupEndpoints answered status ${viewer.response.status}`);
      const asked = performance.now();
      await this.#hapDo(() => viewer.start({ width: 1280, height: 720 }));
      started = true;
      await viewer.video.until(() => live.arrivals.length > 0, 30_000, "the live view's first video packet");
      live.startMs = live.arrivals[0]! - asked;
      await viewer.video.until(() => live.arrivals.length >= 10, 10_000, "the live view's video");
      return live;
    } catch (error) {
      if (started) await this.#hapDo(() => viewer.stop()).catch(() => undefined);
      viewer.close();
      throw error;
    }
  }

  /** After a round: wait for the video to flow again and time its return from the camera link's;
   * then STOP, wait until the camera is told to stop (the hub's linger) and count the bridge's ffmpeg. */
  async #videoAfterRound(r: VendorRig, live: LiveVideo, result: RoundResult): Promise<VideoResult> {
    const video: VideoResult = {
      startMs: live.startMs,
      interrupted: false,
      resumedMs: NaN,
      authFailures: 0,
      ffmpegWatching: NaN,
      ffmpegAfterStop: NaN,
    };
    const pid = this.bridge.child.pid!;
    const { viewer } = live;
    try {
      const checkFrom = performance.now();
      try {
        await viewer.video.until(() => live.since(checkFrom) >= 10, VIDEO_RESUME_TIMEOUT_MS, "video after the round");
        const linkUp =
          this.#linkUps.filter((t) => t > result.injectedAt).at(-1) ??
          (Number.isNaN(result.measuredFrom) ? result.injectedAt : result.measuredFrom);
        const resumedAt = live.resumedAfter(result.injectedAt);
        video.interrupted = resumedAt !== undefined;
        video.resumedMs = resumedAt === undefined ? 0 : Math.max(0, resumedAt - linkUp);
      } catch {
        const last = live.arrivals.at(-1);
        result.problems.push(
          `live view: no video within ${VIDEO_RESUME_TIMEOUT_MS / 1000} s after the round (last packet ` +
            `${last === undefined ? "never" : `${((performance.now() - last) / 1000).toFixed(1)} s ago`})`,
        );
      }
      video.authFailures = viewer.video.authFailures;
      if (video.authFailures)
        result.problems.push(`live view: ${video.authFailures} SRTP packets failed authentication`);
      video.ffmpegWatching = ffmpegChildrenOf(pid).length;
    } finally {
      try {
        await this.#hapDo(() => viewer.stop());
      } catch (error) {
        result.problems.push(`live view: STOP failed: ${(error as Error).message}`);
      }
      viewer.close();
      // The hub keeps the camera pushing for its linger after the last viewer, then tells it to stop.
      const sim = r.cameraSim!;
      try {
        await waitFor(() => sim.livePushes === 0, this.hubLingerMs + 15_000, { on: [[sim, "stream-stop"]] });
      } catch {
        result.problems.push(
          `live view: the camera still pushes ${(this.hubLingerMs + 15_000) / 1000} s after STOP (linger ` +
            `${this.hubLingerMs / 1000} s)`,
        );
      }
      video.ffmpegAfterStop = ffmpegChildrenOf(pid).length;
      if (video.ffmpegAfterStop)
        result.problems.push(
          `live view: ${video.ffmpegAfterStop} ffmpeg children of the bridge left after STOP and the linger`,
        );
    }
    return video;
  }

  /** One round of one fault kind; never throws for the bridge's misbehaviour (it is in `problems`). */
  async round(vendor: Vendor, kind: FaultKind, round: number, options: RoundOptions = {}): Promise<RoundResult> {
    const r = this.vendors.get(vendor)!;
    const result: RoundResult = {
      vendor,
      kind: kind.name,
      round,
      ok: false,
      recoveryMs: NaN,
      injectedAt: NaN,
      measuredFrom: NaN,
      down: false,
      hapWhileDown: undefined,
      linkDrops: 0,
      problems: [],
    };
    let live: LiveVideo | undefined;
    if (options.liveView) {
      try {
        live = await this.#startLiveView(r);
      } catch (error) {
        result.problems.push(`live view did not start: ${(error as Error).message}`);
      }
    }
    let hapRead: Promise<void> | undefined;
    const onDevice = (d: DeviceView): void => {
      if (d.account !== r.account || d.available || result.down) return;
      result.down = true;
      // What HomeKit shows for this device while the bridge calls it unreachable (counted only when
      // it is still unreachable once the read is answered).
      const serial = r.serialOf(d.id);
      hapRead = this.hapStatuses(vendor).then(
        (statuses) => {
          if (serial !== undefined && statuses.has(serial) && this.view.devices.get(d.id)?.available === false)
            result.hapWhileDown = statuses.get(serial);
        },
        () => undefined,
      );
    };
    let link = this.view.links.get(r.account);
    const onAccount = (name: string, state: string): void => {
      if (name !== r.account) return;
      if (link === "connected" && state !== "connected") result.linkDrops++;
      link = state;
    };
    this.view.on("device", onDevice);
    this.view.on("account", onAccount);
    try {
      result.injectedAt = performance.now();
      const fault = await kind.inject(round);
      const fromClear = (fault.measureFrom ?? "clear") === "clear";
      if (fromClear) {
        if (fault.holdMs) await pause(fault.holdMs); // the outage lasts this long: part of the fault
        await fault.clear?.();
      }
      const started = performance.now();
      result.measuredFrom = started;
      const arrived = r.probe(round, this.view);
      try {
        await waitFor(() => this.#healthy(r) && arrived(this.view), kind.timeoutMs, { on: [[this.view, "change"]] });
        result.recoveryMs = performance.now() - started;
      } catch {
        const link = this.view.links.get(r.account);
        const unreachable = this.view
          .of(r.account)
          .filter((d) => !d.available)
          .map((d) => d.name);
        result.problems.push(
          `not recovered within ${kind.timeoutMs / 1000} s (link ${link}, unreachable: ` +
            `${unreachable.join(", ") || "none"}, probe ${arrived(this.view) ? "arrived" : "missing"})`,
        );
      }
      if (!fromClear) await fault.clear?.();
      await hapRead;
      if (kind.expectDown === "yes" && !result.down)
        result.problems.push("the devices never read unreachable during the fault");
      if (result.down && result.hapWhileDown !== undefined && result.hapWhileDown !== HAP_NO_RESPONSE)
        result.problems.push(
          `HomeKit read status ${result.hapWhileDown} for an unreachable device (expected ${HAP_NO_RESPONSE})`,
        );
      if (!Number.isNaN(result.recoveryMs)) {
        const statuses = await this.hapStatuses(vendor);
        const bad = [...statuses].filter(([, s]) => s !== 0);
        if (bad.length)
          result.problems.push(
            `HomeKit cannot read ${bad.map(([serial, s]) => `${serial} (${s})`).join(", ")} after recovery`,
          );
      }
      result.problems.push(...(await this.inventoryProblems(vendor)));
      if (!this.alive) result.problems.push(`the bridge exited (${this.bridge.exitCode})`);
    } catch (error) {
      result.problems.push(`round failed: ${(error as Error).message}`);
    } finally {
      this.view.off("device", onDevice);
      this.view.off("account", onAccount);
    }
    if (live) result.video = await this.#videoAfterRound(r, live, result);
    result.ok = result.problems.length === 0;
    return result;
  }
}
