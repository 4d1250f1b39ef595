// The crash-safety rig shared by bench/crash.ts and test/e2e/crash-safety.test.ts: the real bridge
// (CLI child process) against the FanSync and Nanit simulators, hap-controller and matter.js's
// controller, SIGKILL at chosen moments (including while a pairing or a rotated Nanit refresh token is
// being written), and the checks after each restart: HAP pair-verify + a read, Matter reconnect + a
// read, the stored Nanit refresh token still valid at the simulator and no password login needed,
// every file parseable and 0600 in 0700 directories, no temp file left over.
// Runs inside test/netns.sh (it pairs and commissions).
import { watch, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { resetEcosystem } from "../../src/cli/reset.ts";
import { FanSyncSimulator } from "../../sim/fansync/index.ts";
import { NanitSimulator, type HttpRecord } from "../../sim/nanit/index.ts";
import { BridgeProcess, type LogLine } from "./bridge-process.ts";
import { E2E_PASSCODE, E2E_PIN, writeE2EConfig } from "./e2e-config.ts";
import { HapClient } from "./hap-client.ts";
import { MatterTestClient } from "./matter-client.ts";
import { pause } from "./wait.ts";

export const NANIT_ACCOUNT = "nursery";
/** matter.js files written while a controller commissions, in order: fail-safe armed (breadcrumb),
 * trusted root, AddNOC (ACL, NOC, fabric table), CommissioningComplete (fabric table, breadcrumb). */
export const MATTER_COMMISSIONING_FILES = [
  /^root\.generalCommissioning\./,
  /^root\.operationalCredentials\.trustedRoot/,
  /^root\.accessControl\.acl/,
  /^root\.operationalCredentials\.nocs/,
  /^fabrics\.fabrics/,
];

/** Small seeded PRNG (mulberry32): a run can be repeated with --seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!;

export type TokenVerdict =
  /** No session stored yet (before the first login). */
  | "none"
  /** The stored refresh token is the live one at the simulator. */
  | "valid"
  /** The simulator rotated the stored token in its last answer, within `inFlightMs` of the kill: the
   * answer was on its way to disk when the process died. No client can close this window; the bridge
   * logs in again (password) or asks for a login (MFA). */
  | "in-flight"
  /** The stored token was rotated long before the kill: a rotated token was lost (a real failure). */
  | "stale"
  /** The file is missing, unparseable or has no token (a real failure). */
  | "unreadable";

export interface RestartResult {
  /** Spawn to the "ready" log line. */
  readyMs: number;
  ready: LogLine;
}

export class CrashRig {
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly controllerPairingFile: string;
  readonly fansync = new FanSyncSimulator({
    devices: [{ profile: "continuous", displayName: "Living Room" }],
    deviceAckDelayMs: 20,
    pushDelayMs: 10,
  });
  // No MFA: when a rotated token is lost in flight the bridge can still log in with its password.
  readonly nanit = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000] });
  readonly cameraUid = this.nanit.babies[0]!.cameraUid;
  fanId = "";
  matterPort = 0;
  bridge: BridgeProcess | undefined;
  hap: HapClient | undefined;
  matter: MatterTestClient | undefined;
  /** When the last bridge was SIGKILLed (performance.now()). */
  killedAt = 0;
  /** Successful /tokens/refresh answers: which token they consumed and when (performance.now()). */
  readonly refreshes: { consumed: string; at: number }[] = [];
  #loginsAtStart = 0;
  readonly #lostInFlight = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
    this.dataDir = join(dir, "data");
    this.configFile = join(dir, "config.yaml");
    /** hap-controller's side of the pairing. */
    this.controllerPairingFile = join(dir, "hap-pairing.json");
    this.nanit.on("http", (r: HttpRecord) => {
      if (r.path === "/tokens/refresh" && r.status === 200 && typeof r.body?.refresh_token === "string")
        this.refreshes.push({ consumed: r.body.refresh_token, at: performance.now() });
    });
  }

  async setup(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const fansync = await this.fansync.start();
    const nanit = await this.nanit.start();
    this.fanId = this.fansync.deviceIds[0]!;
    process.env.CRASH_FANSYNC_PASSWORD = this.fansync.password;
    process.env.CRASH_NANIT_PASSWORD = this.nanit.password;
    ({ matterPort: this.matterPort } = await writeE2EConfig(this.configFile, {
      name: "Crash Rig",
      web: { enabled: false },
      accounts: [
        {
          vendor: "fansync",
          name: "home",
          email: this.fansync.email,
          password: "${CRASH_FANSYNC_PASSWORD}",
          endpoints: { api: fansync.apiUrl, websocket: fansync.wsUrl },
        },
        {
          vendor: "nanit",
          name: NANIT_ACCOUNT,
          email: this.nanit.email,
          password: "${CRASH_NANIT_PASSWORD}",
          endpoints: { api: nanit.apiUrl, websocket: nanit.wsUrl },
        },
      ],
    }));
  }

  get hapDir(): string {
    return join(this.dataDir, "homekit", "hap");
  }

  get matterDir(): string {
    return join(this.dataDir, "matter");
  }

  get nanitStoreFile(): string {
    return join(this.dataDir, "accounts", `${NANIT_ACCOUNT}.json`);
  }

  /** HAP-NodeJS's pairing file of the main bridge (written at pair-setup M5, before M6); cameras
   * published as accessories of their own have theirs. Known once the bridge has started. */
  get bridgePairingFile(): string {
    const layout = JSON.parse(readFileSync(join(this.dataDir, "homekit", "bridges.json"), "utf8")) as {
      bridges?: { username: string }[];
    };
    const username = layout.bridges?.[0]?.username;
    if (!username) throw new Error("the main bridge has no username yet");
    return `AccessoryInfo.${username.replace(/:/g, "").toUpperCase()}.json`;
  }

  /** The pairing file and the temp files it is written through. */
  get hapPairingWrites(): RegExp {
    return new RegExp(`^\\.?${this.bridgePairingFile.replace(/\./g, "\\.")}`);
  }

  /** The controllers HAP-NodeJS has stored for the main bridge, read as a restarted bridge would. */
  storedHapPairings(): string[] {
    const info = JSON.parse(readFileSync(join(this.hapDir, this.bridgePairingFile), "utf8")) as {
      pairedClients?: Record<string, unknown>;
    };
    return Object.keys(info.pairedClients ?? {});
  }

  get hapPaired(): boolean {
    return existsSync(this.controllerPairingFile);
  }

  /** Password logins the Nanit simulator answered since the last start(). */
  get nanitLoginsSinceStart(): number {
    return this.#logins() - this.#loginsAtStart;
  }

  #logins(): number {
    return this.nanit.httpRequests.filter((r) => r.path === "/login" && r.status === 201).length;
  }

  /** Epoch ms of the last start(). */
  startedAt = 0;

  /** Start the bridge on the data directory and wait for "ready". */
  async start(timeoutMs = 60_000): Promise<RestartResult> {
    this.#loginsAtStart = this.#logins();
    this.startedAt = Date.now();
    const started = performance.now();
    const bridge = new BridgeProcess(["--config", this.configFile, "--data", this.dataDir]);
    this.bridge = bridge;
    const ready = await bridge.ready(timeoutMs);
    return { readyMs: performance.now() - started, ready };
  }

  get homekitPort(): number {
    return Number(this.bridge?.lines.find((l) => l.event === "ready")?.homekitPort);
  }

  /** SIGKILL the bridge now and wait until it is gone; close the clients' dead connections. */
  async kill(): Promise<void> {
    const bridge = this.bridge;
    if (bridge && bridge.exitCode === undefined) {
      this.killedAt = performance.now();
      bridge.child.kill("SIGKILL");
      await bridge.exited();
    }
    await this.closeHap();
  }

  /** Stop the bridge cleanly (SIGTERM), e.g. before resetting a pairing. */
  async stop(): Promise<void> {
    await this.closeHap();
    await this.bridge?.stop();
  }

  async closeHap(): Promise<void> {
    const hap = this.hap;
    this.hap = undefined;
    await hap?.close().catch(() => undefined);
  }

  /**
   * Kill the bridge `jitterMs()` after the first change in `dir` whose name matches `file`. Returns
   * the name that fired (or undefined) once the kill is done, and a disarm function.
   */
  killOnWrite(
    dir: string,
    file: RegExp,
    jitterMs: () => number,
  ): { fired: Promise<string | undefined>; disarm: () => void } {
    let watcher: FSWatcher | undefined;
    let resolveFired!: (name: string | undefined) => void;
    const fired = new Promise<string | undefined>((resolve) => (resolveFired = resolve));
    const disarm = () => {
      watcher?.close();
      watcher = undefined;
      resolveFired(undefined);
    };
    mkdirSync(dir, { recursive: true });
    watcher = watch(dir, (_event, name) => {
      if (!watcher || !name || !file.test(name)) return;
      watcher.close();
      watcher = undefined;
      setTimeout(() => void this.kill().then(() => resolveFired(name)), jitterMs());
    });
    return { fired, disarm };
  }

  // ---- pairing ------------------------------------------------------------------------------

  /** Pair-setup with hap-controller; the pairing is kept only when the bridge answered M6. */
  async pairHap(): Promise<void> {
    const client = await this.#unlessKilled(HapClient.pair(this.homekitPort, E2E_PIN), "HAP pair-setup");
    client.save(this.controllerPairingFile);
    this.hap = client;
  }

  /** Commission with matter.js's controller: done when the bridge accepted CommissioningComplete
   * (the controller then holds the fabric); the first connection is made by verifyMatter(). */
  async commissionMatter(): Promise<void> {
    await this.closeMatter();
    // Not given up early when the bridge dies: one matter.js controller per process at a time, and a
    // failed commissioning closes its controller only when matter.js gives up (40-60 s).
    this.matter = await withTimeout(
      MatterTestClient.commission({
        port: this.matterPort,
        passcode: E2E_PASSCODE,
        discriminator: 3840,
        connect: false,
      }),
      120_000,
      "Matter commissioning",
    );
  }

  /** A pairing step, given up 300 ms after the bridge died (hap-controller never settles a request
   * whose connection died). */
  #unlessKilled<T>(step: Promise<T>, what: string): Promise<T> {
    const bridge = this.bridge;
    if (!bridge) return Promise.reject(new Error("no bridge"));
    step.catch(() => undefined);
    const died = bridge.exited().then(async () => {
      // A grace for an answer that was already on its way; the connection's end is not ours to see.
      await pause(300);
      throw new Error(`the bridge was killed during ${what}`);
    });
    return withTimeout(Promise.race([step, died]), 60_000, what);
  }

  async closeMatter(): Promise<void> {
    const matter = this.matter;
    this.matter = undefined;
    await matter?.close().catch(() => undefined);
  }

  /** Forget one ecosystem's pairing on both sides (the bridge must be stopped). */
  async forget(which: "homekit" | "matter"): Promise<void> {
    if (which === "homekit") rmSync(this.controllerPairingFile, { force: true });
    else await this.closeMatter();
    resetEcosystem(this.dataDir, which);
  }

  /** What the bridge said about Matter at start: commissioned with fabrics, or waiting. */
  get matterCommissionedAtStart(): boolean | undefined {
    const line = this.bridge?.lines.find((l) => typeof l.msg === "string" && /^Matter bridge running/.test(l.msg));
    return line ? /fabric/.test(line.msg) : undefined;
  }

  // ---- checks after a restart --------------------------------------------------------------

  /** HAP pair-verify with the stored pairing and a read of the bridge's name (aid 1). */
  async verifyHap(timeoutMs = 20_000): Promise<number> {
    const started = performance.now();
    const client = HapClient.load(this.controllerPairingFile, this.homekitPort);
    this.hap = client;
    await withTimeout(
      (async () => {
        const name = await client.find({
          service: Service.AccessoryInformation.UUID,
          characteristic: Characteristic.Name.UUID,
          accessory: 1,
        });
        const [value] = await client.read(name);
        if (typeof value !== "string" || !value.startsWith("Crash Rig"))
          throw new Error(`the bridge's name read back as ${JSON.stringify(value)}`);
      })(),
      timeoutMs,
      "HAP pair-verify and read",
    );
    return performance.now() - started;
  }

  /** Reconnects that needed a second reconnect() (see verifyMatter). */
  matterSecondTries = 0;

  /**
   * Matter controller reconnect (CASE with the stored fabric) and a read from the device. matter.js's
   * controller sometimes re-subscribes first over the CASE session that died with the killed bridge
   * (it was never told: SIGKILL sends no close) and waits out its 15 s response timeout; the session
   * is dropped some 20 s after the reconnect. A second reconnect() then connects at once; it is
   * allowed and counted (matterSecondTries).
   */
  async verifyMatter(): Promise<number> {
    const matter = this.matter;
    if (!matter) throw new Error("not commissioned");
    const started = performance.now();
    const attempt = async (timeoutMs: number) => {
      await withTimeout(matter.reconnect(), timeoutMs, "Matter reconnect");
      const fan = matter.withCluster(matter.bridged(`fansync:${this.fanId}`), "fanControl");
      const { percentCurrent } = await withTimeout(
        matter.read(fan, "fanControl", ["percentCurrent"]),
        10_000,
        "Matter read",
      );
      if (typeof percentCurrent !== "number")
        throw new Error(`percentCurrent read back as ${JSON.stringify(percentCurrent)}`);
    };
    try {
      await attempt(21_000);
    } catch {
      this.matterSecondTries++;
      await attempt(30_000);
    }
    return performance.now() - started;
  }

  /** Judge the Nanit session on disk against the simulator. Call with the bridge stopped. */
  nanitToken(inFlightMs = 250): TokenVerdict {
    if (!existsSync(this.nanitStoreFile)) return this.refreshes.length || this.#logins() ? "unreadable" : "none";
    let token: unknown;
    try {
      token = (JSON.parse(readFileSync(this.nanitStoreFile, "utf8")) as { session?: { refreshToken?: unknown } })
        .session?.refreshToken;
    } catch {
      return "unreadable";
    }
    if (typeof token !== "string") return this.#logins() ? "unreadable" : "none";
    if (this.nanit.validRefreshTokens.includes(token)) return "valid";
    // Still the token a kill lost in flight earlier (a later kill came before the bridge logged in again).
    if (this.#lostInFlight.has(token)) return "in-flight";
    const rotation = this.refreshes.findLast((r) => r.consumed === token);
    if (rotation && rotation === this.refreshes.at(-1) && this.killedAt - rotation.at <= inFlightMs) {
      this.#lostInFlight.add(token);
      return "in-flight";
    }
    return "stale";
  }

  /** Wait until the Nanit camera is reachable (its control link synced). */
  async nanitReachable(timeoutMs = 20_000): Promise<void> {
    await this.bridge!.waitForLine(
      (l) => typeof l.msg === "string" && l.msg.includes(`Nanit is reachable again`),
      timeoutMs,
    );
  }

  /**
   * Problems with the data directory: unparseable JSON files, modes other than 0600 / 0700, and with
   * `tempsBefore`, temp files older than that (epoch ms): a kill may leave one, the next start must
   * remove it.
   */
  fileProblems(tempsBefore?: number): string[] {
    const problems: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        let st;
        try {
          st = statSync(path);
        } catch {
          continue; // replaced by a running bridge between readdir and stat
        }
        if (st.isDirectory()) {
          if ((st.mode & 0o777) !== 0o700) problems.push(`mode ${(st.mode & 0o777).toString(8)}: ${path}`);
          walk(path);
          continue;
        }
        if ((st.mode & 0o777) !== 0o600) problems.push(`mode ${(st.mode & 0o777).toString(8)}: ${path}`);
        if (/\.tmp$/.test(name)) {
          if (tempsBefore !== undefined && st.mtimeMs < tempsBefore)
            problems.push(`temp file survived the restart: ${path}`);
        } else if (name.endsWith(".json") && dir !== this.matterDir) {
          let text: string;
          try {
            text = readFileSync(path, "utf8");
          } catch {
            continue;
          }
          try {
            JSON.parse(text);
          } catch {
            problems.push(`not JSON: ${path}`);
          }
        }
      }
    };
    if (existsSync(this.dataDir)) walk(this.dataDir);
    return problems;
  }

  // ---- activity -------------------------------------------------------------------------------

  /** Make the bridge rotate its Nanit refresh token now: every access token is refused, and the
   * camera socket drops, so the reconnect's REST call (uc_token) gets 401 and refreshes. */
  forceNanitRefresh(): void {
    this.nanit.revokeAccessTokens();
    this.nanit.dropSockets();
  }

  /** One random action: a command from either controller, a vendor event, or a token rotation.
   * TODO(streams): once the Nanit simulator streams (issue 7's streaming work), add "start / stop a
   * camera stream through the HAP camera controller" here, so kills also land mid-stream. */
  act(random: () => number): Promise<string> {
    // hap-controller never settles a request whose connection died with the bridge: bound every action.
    return withTimeout(this.#act(random), 5000, "action");
  }

  async #act(random: () => number): Promise<string> {
    const pick = Math.floor(random() * 7);
    const hap = this.hap;
    const matter = this.matter;
    switch (pick) {
      case 0:
        if (!hap) return "none";
        await hap.write([
          await hap.find({
            service: Service.Fanv2.UUID,
            characteristic: Characteristic.RotationSpeed.UUID,
            accessory: { serial: this.fanId },
          }),
          Math.round(random() * 100),
        ]);
        return "hap-fan-speed";
      case 1:
        if (!hap) return "none";
        await hap.write([
          await hap.find({
            service: Service.Lightbulb.UUID,
            characteristic: Characteristic.On.UUID,
            accessory: { serial: this.cameraUid },
          }),
          random() < 0.5,
        ]);
        return "hap-night-light";
      case 2: {
        if (!matter) return "none";
        const light = matter.withCluster(matter.bridged(`fansync:${this.fanId}`), "levelControl");
        await matter.invoke(light, "onOff", "toggle");
        return "matter-light";
      }
      case 3:
        await this.fansync.remote(this.fanId, { H00: 1, H02: 1 + Math.floor(random() * 100) });
        return "fansync-remote";
      case 4:
        this.nanit.setTemperature(18 + Math.round(random() * 80) / 10);
        return "nanit-temperature";
      case 5:
        this.nanit.setNightLightFromApp(random() < 0.5);
        return "nanit-app-night-light";
      default:
        this.forceNanitRefresh();
        return "nanit-token-rotation";
    }
  }

  async close(): Promise<void> {
    await this.closeHap();
    if (this.bridge && this.bridge.exitCode === undefined) {
      this.bridge.child.kill("SIGKILL");
      await this.bridge.exited();
    }
    await this.closeMatter();
    await this.fansync.stop();
    await this.nanit.stop();
  }
}

export { errorText, withTimeout };
