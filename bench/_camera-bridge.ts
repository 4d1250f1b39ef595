// Our side of bench/camera.ts: the bridge's own pieces, as src/main.ts puts them together (config
// loaded by loadConfig, the Nanit driver from createDriver, DeviceRegistry, MediaService, HomeKitHost
// with the camera as its own accessory, advertiser none), in a child process so that its CPU, its
// memory and its ffmpeg children are measured apart from the controller and the simulated camera.
// Two things the CLI does not offer and the bench needs: a short hub linger (so a cold start can be
// measured every few seconds, not every 30) and keep-warm switched on and off between phases; the
// parent asks for them over IPC. JSON log lines go to stdout (the parent reads their timestamps).
// With `matterCamera` the camera is also its own Matter node (MatterCameraHost, as main.ts starts it with
// matter.cameras: true), and its pairing code comes back with "ready" (bench/webrtc.ts commissions it).
//
// The file name starts with "_" so bench/run.ts does not take it for a bench.
import { fork, type ChildProcess } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/core/config.ts";
import { createLogger, registerSecret } from "../src/core/logger.ts";
import { DeviceRegistry } from "../src/core/registry.ts";
import { accountStore, ensureDataDir } from "../src/core/storage.ts";
import { createDriver } from "../src/drivers/index.ts";
import type { Driver } from "../src/core/driver.ts";
import { HomeKitHost } from "../src/homekit/index.ts";
import { MatterCameraHost } from "../src/matter/camera/host.ts";
import { configureMatter } from "../src/matter/platform.ts";
import { MediaService } from "../src/media/index.ts";
import type { StreamHubState } from "../src/media/hub.ts";

export interface BridgeSettings {
  configFile: string;
  dataDir: string;
  /** The hub's linger after the last viewer (the bridge's default is 30 s). */
  lingerMs: number;
  /** Snapshot cache (default 3 s); 0 makes every snapshot request real work. */
  snapshotCacheMs?: number;
  /** Also run the camera as a Matter node (ports from config matter.port + 10). */
  matterCamera?: boolean;
}

export interface BridgeReady {
  deviceId: string;
  cameraPort: number;
  pincode: string;
  /** The Matter camera node's manual pairing code (with `matterCamera`). */
  matterPairingCode?: string;
}

type Command =
  | { cmd: "keepWarm"; on: boolean }
  | { cmd: "state" }
  | { cmd: "webrtcOpen"; offer: string }
  | { cmd: "webrtcClose"; session: string }
  | { cmd: "webrtcTrickle"; session: string; fragment: string };
type Request = Command & { id: number };
type Reply = { id: number; result?: unknown; error?: string };
type ChildMessage =
  | ({ type: "ready" } & BridgeReady)
  | { type: "error"; message: string }
  | ({ type: "reply" } & Reply);

export interface BridgeLogLine {
  level: number;
  time: number;
  msg: string;
  [key: string]: unknown;
}

/** The parent's handle on the child. */
export class CameraBridgeChild extends EventEmitter<{ line: [BridgeLogLine] }> {
  readonly child: ChildProcess;
  readonly ready: Promise<BridgeReady>;
  readonly lines: BridgeLogLine[] = [];
  readonly #exited: Promise<void>;
  readonly #pending = new Map<number, (reply: Reply) => void>();
  #next = 1;

  constructor(settings: BridgeSettings) {
    super();
    this.child = fork(fileURLToPath(import.meta.url), [], {
      stdio: ["ignore", "pipe", "inherit", "ipc"],
      execArgv: [...process.execArgv, ...(process.env.BENCH_CHILD_ARGS?.split(" ").filter(Boolean) ?? [])],
      env: { ...process.env, BENCH_CAMERA_BRIDGE: JSON.stringify(settings) },
    });
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      try {
        const line = JSON.parse(text) as BridgeLogLine;
        this.lines.push(line);
        this.emit("line", line);
      } catch {
        // not a log line
      }
    });
    this.#exited = new Promise((done) => this.child.once("exit", () => done()));
    this.ready = new Promise((resolveReady, reject) => {
      this.child.on("message", (message: ChildMessage) => {
        if (message.type === "ready") resolveReady(message);
        else if (message.type === "error") reject(new Error(message.message));
        else this.#pending.get(message.id)?.(message);
      });
      void this.#exited.then(() =>
        reject(
          new Error(
            `the bridge exited before it was ready; last lines:\n${this.lines
              .slice(-10)
              .map((l) => l.msg)
              .join("\n")}`,
          ),
        ),
      );
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  #call(request: Command): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolveCall, reject) => {
      this.#pending.set(id, (reply) => {
        this.#pending.delete(id);
        if (reply.error) reject(new Error(reply.error));
        else resolveCall(reply.result);
      });
      this.child.send({ ...request, id });
    });
  }

  /** Keep the camera pushing (resolves once the ingest holds a keyframe), or stop doing so. */
  keepWarm(on: boolean): Promise<void> {
    return this.#call({ cmd: "keepWarm", on }) as Promise<void>;
  }

  state(): Promise<StreamHubState> {
    return this.#call({ cmd: "state" }) as Promise<StreamHubState>;
  }

  /** A WebRTC viewer's offer, as the WHEP endpoint hands it to the media layer (bench/webrtc.ts). */
  webrtcOpen(offer: string): Promise<{ id: string; answer: string }> {
    return this.#call({ cmd: "webrtcOpen", offer }) as Promise<{ id: string; answer: string }>;
  }

  webrtcClose(session: string): Promise<void> {
    return this.#call({ cmd: "webrtcClose", session }) as Promise<void>;
  }

  /** A viewer's trickled candidates, as the WHEP endpoint's PATCH hands them over. */
  webrtcTrickle(session: string, fragment: string): Promise<void> {
    return this.#call({ cmd: "webrtcTrickle", session, fragment }) as Promise<void>;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.#exited;
  }
}

async function childMain(): Promise<void> {
  const settings = JSON.parse(process.env.BENCH_CAMERA_BRIDGE!) as BridgeSettings;
  const send = (message: ChildMessage) => process.send?.(message);
  const { config } = loadConfig(settings.configFile, { dataDir: settings.dataDir });
  const log = createLogger(config.log.level, { json: true });
  process.umask(0o077);
  const dataDir = ensureDataDir(resolve(settings.dataDir));
  const registry = new DeviceRegistry(log.child({ module: "core" }));
  const drivers: Driver[] = [];
  for (const account of config.accounts) {
    if (account.password) registerSecret(account.password);
    const accountLog = log.child({ account: account.name });
    const driver = createDriver(account, accountLog);
    drivers.push(driver);
    await driver.start({ sink: registry.sinkFor(driver), log: accountLog, store: accountStore(dataDir, account.name) });
  }
  const media = new MediaService({
    config: config.media,
    registry,
    log: log.child({ module: "media" }),
    hubTiming: { lingerMs: settings.lingerMs },
    ...(settings.snapshotCacheMs !== undefined ? { snapshotCacheMs: settings.snapshotCacheMs } : {}),
  });
  await media.start();
  const homekit = new HomeKitHost({
    registry,
    log: log.child({ module: "homekit" }),
    dataDir,
    name: config.homekit.name,
    port: config.homekit.port,
    pincode: config.homekit.pincode ?? "031-45-154",
    advertiser: config.homekit.advertiser,
    cameras: media,
    cameraMode: config.homekit.cameras,
    cameraPort: 0,
  });
  await homekit.start();
  let matterCameras: MatterCameraHost | undefined;
  if (settings.matterCamera) {
    configureMatter(log.child({ module: "matter-camera" }));
    matterCameras = new MatterCameraHost({
      registry,
      log: log.child({ module: "matter-camera" }),
      dataDir,
      bridgePort: config.matter.port,
      media: () => ({
        snapshot: async (id: string, width: number, height: number) => {
          const source = media.sourceFor(id);
          if (!source) throw new Error("no such camera");
          return source.snapshot(width, height);
        },
        webrtc: media.webrtc,
      }),
    });
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await homekit.stop();
    await matterCameras?.stop();
    await media.stop();
    await Promise.all(drivers.map((d) => d.stop()));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("disconnect", () => void stop());

  // The camera: listed by the driver, its control socket up (PUT_STREAMING needs it), published.
  const camera = async (): Promise<BridgeReady> => {
    for (;;) {
      const entry = registry.devices.find((d) => d.info.capabilities.camera);
      const pairing = entry && homekit.cameraPairings().find((p) => p.deviceId === entry.info.id);
      if (entry?.available && pairing?.port)
        return { deviceId: entry.info.id, cameraPort: pairing.port, pincode: pairing.pincode };
      await Promise.race([once(registry, "availability"), once(registry, "device"), once(homekit, "camera-listening")]);
    }
  };
  const ready: BridgeReady = await camera();
  if (matterCameras) {
    await matterCameras.start();
    const pairing = matterCameras.cameraPairings().find((p) => p.deviceId === ready.deviceId);
    if (!pairing) throw new Error("the Matter camera node did not start");
    ready.matterPairingCode = pairing.manualPairingCode;
  }
  const hub = media.hub(ready.deviceId)!;
  process.on("message", (request: Request) => {
    const reply = (result: unknown) => send({ type: "reply", id: request.id, result });
    const fail = (error: Error) => send({ type: "reply", id: request.id, error: error.message });
    if (request.cmd === "state") reply(hub.state());
    else if (request.cmd === "webrtcOpen") media.webrtc.open(ready.deviceId, request.offer, "bench").then(reply, fail);
    else if (request.cmd === "webrtcTrickle") {
      try {
        reply(media.webrtc.trickle(ready.deviceId, request.session, request.fragment, "bench"));
      } catch (error) {
        fail(error as Error);
      }
    } else if (request.cmd === "webrtcClose")
      media.webrtc.close(ready.deviceId, request.session, "bench").then(() => reply(undefined), fail);
    else if (request.cmd === "keepWarm") {
      hub.setKeepWarm(request.on);
      if (request.on) hub.ready(20_000).then(() => reply(undefined), fail);
      else reply(undefined);
    }
  });
  send({ type: "ready", ...ready });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await childMain().catch((error: Error) => {
    process.send?.({ type: "error", message: error.stack ?? error.message });
    process.exit(1);
  });
}
