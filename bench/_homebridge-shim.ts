// Just enough of Homebridge's plugin API to run a camera plugin (homebridge-camera-ffmpeg, the
// baseline of bench/camera.ts) on our own HAP-NodeJS 2.2.3: Homebridge itself is not installed (its
// 2.x pins a HAP-NodeJS release the registry lacks). registerPlatform, api.hap, platformAccessory,
// didFinishLaunching / shutdown, user.storagePath(), a Homebridge-style logger, and
// publishExternalAccessories / registerPlatformAccessories publishing on loopback with no mDNS and
// a fixed setup code (as `homebridge -I` with a test pin would). Written by hand because the only
// alternative is Homebridge itself.
//
// Run as a child process by bench/camera.ts (HomebridgeChild below): it reports the published
// accessories over IPC and stops its plugin on SIGTERM. The file name starts with "_" so bench/run.ts
// does not take it for a bench.
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as HAP from "@homebridge/hap-nodejs";
import { publishBridge } from "../src/homekit/advertiser.ts";

const require = createRequire(import.meta.url);
// The CommonJS instance the plugin gets as api.hap (and the one advertiser.ts patches).
const hap = require("@homebridge/hap-nodejs") as typeof HAP;

export type PlatformConfig = { platform: string; [key: string]: unknown };

type LogSink = (level: "info" | "warn" | "error" | "debug", message: string) => void;

/** Homebridge's Logging: callable, with info/warn/error/debug/success/log. */
function homebridgeLogger(prefix: string, sink: LogSink) {
  const line =
    (level: "info" | "warn" | "error" | "debug") =>
    (message: unknown, ...rest: unknown[]) =>
      sink(level, `[${prefix}] ${[message, ...rest].map(String).join(" ")}`);
  const log = Object.assign((message: unknown, ...rest: unknown[]) => line("info")(message, ...rest), {
    prefix,
    info: line("info"),
    success: line("info"),
    warn: line("warn"),
    error: line("error"),
    debug: line("debug"),
    log: (level: string, message: unknown, ...rest: unknown[]) =>
      line(level === "warn" || level === "error" || level === "debug" ? level : "info")(message, ...rest),
  });
  return log;
}

/** Homebridge's PlatformAccessory: a wrapper around a HAP-NodeJS Accessory. */
class PlatformAccessory extends EventEmitter {
  readonly _associatedHAPAccessory: HAP.Accessory;
  readonly displayName: string;
  readonly UUID: string;
  category: HAP.Categories;
  context: Record<string, unknown> = {};

  constructor(displayName: string, uuid: string, category?: HAP.Categories) {
    super();
    this.displayName = displayName;
    this.UUID = uuid;
    // Homebridge: Categories.OTHER (1) unless the plugin says otherwise.
    this.category = category ?? (1 as HAP.Categories);
    this._associatedHAPAccessory = new hap.Accessory(displayName, uuid);
    this._associatedHAPAccessory.category = this.category;
    this._associatedHAPAccessory.on("identify" as never, (paired: boolean, callback: () => void) => {
      this.emit("identify", paired);
      callback();
    });
  }

  get services(): HAP.Service[] {
    return this._associatedHAPAccessory.services;
  }

  addService(...args: Parameters<HAP.Accessory["addService"]>): HAP.Service {
    return this._associatedHAPAccessory.addService(...args);
  }

  removeService(service: HAP.Service): void {
    this._associatedHAPAccessory.removeService(service);
  }

  getService(...args: Parameters<HAP.Accessory["getService"]>): HAP.Service | undefined {
    return this._associatedHAPAccessory.getService(...args);
  }

  getServiceById(...args: Parameters<HAP.Accessory["getServiceById"]>): HAP.Service | undefined {
    return this._associatedHAPAccessory.getServiceById(...args);
  }

  configureController(controller: HAP.Controller): void {
    this._associatedHAPAccessory.configureController(controller);
  }
}

type PlatformConstructor = new (
  log: ReturnType<typeof homebridgeLogger>,
  config: PlatformConfig,
  api: HomebridgeApiShim,
) => unknown;

export interface PublishedAccessory {
  displayName: string;
  port: number;
  pincode: string;
  /** "external" (its own HAP server, unbridged) or "bridge" (the shim's bridge). */
  kind: "external" | "bridge";
}

/** Random locally administered MAC for a HAP username (as Homebridge generates for external accessories). */
function randomUsername(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! | 0x02) & 0xfe;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** What `api` is for a plugin (Homebridge API 2.7-ish, the parts camera plugins use). */
export class HomebridgeApiShim extends EventEmitter {
  readonly version = 2.7;
  readonly serverVersion = "1.8.4";
  readonly hap = hap;
  readonly hapLegacyTypes = hap.LegacyTypes;
  readonly platformAccessory = PlatformAccessory;
  readonly user: { storagePath(): string; configPath(): string; persistPath(): string; cachedAccessoryPath(): string };
  readonly platforms = new Map<string, PlatformConstructor>();
  readonly #pincode: string;
  readonly #publishing: Promise<PublishedAccessory>[] = [];
  readonly #published: HAP.Accessory[] = [];
  readonly #bridged: PlatformAccessory[] = [];

  constructor(storagePath: string, pincode: string) {
    super();
    this.#pincode = pincode;
    this.user = {
      storagePath: () => storagePath,
      configPath: () => join(storagePath, "config.json"),
      persistPath: () => join(storagePath, "persist"),
      cachedAccessoryPath: () => join(storagePath, "accessories"),
    };
  }

  versionGreaterOrEqual(): boolean {
    return true;
  }

  /** registerPlatform(pluginIdentifier, platformName, constructor) or (platformName, constructor). */
  registerPlatform(...args: [string, string, PlatformConstructor] | [string, PlatformConstructor]): void {
    const [name, ctor] = args.length === 3 ? [args[1], args[2]] : args;
    this.platforms.set(name, ctor);
  }

  registerAccessory(): void {
    throw new Error("accessory plugins are not supported by this shim");
  }

  publishExternalAccessories(_plugin: string, accessories: PlatformAccessory[]): void {
    for (const accessory of accessories)
      this.#publishing.push(this.#publish(accessory._associatedHAPAccessory, accessory.displayName, "external"));
  }

  registerPlatformAccessories(_plugin: string, _platform: string, accessories: PlatformAccessory[]): void {
    this.#bridged.push(...accessories);
  }

  unregisterPlatformAccessories(_plugin: string, _platform: string, accessories: PlatformAccessory[]): void {
    for (const accessory of accessories) {
      const i = this.#bridged.indexOf(accessory);
      if (i >= 0) this.#bridged.splice(i, 1);
    }
  }

  updatePlatformAccessories(): void {}

  async #publish(
    accessory: HAP.Accessory,
    displayName: string,
    kind: PublishedAccessory["kind"],
  ): Promise<PublishedAccessory> {
    const listening = once(accessory, "listening") as Promise<[number]>;
    await publishBridge(
      accessory,
      { username: randomUsername(), pincode: this.#pincode, port: 0, bind: "127.0.0.1", category: accessory.category },
      "none",
    );
    const [port] = await listening;
    this.#published.push(accessory);
    return { displayName, port, pincode: this.#pincode, kind };
  }

  /** didFinishLaunching, then publish the bridge (if any accessory is bridged) and every external accessory. */
  async launch(): Promise<PublishedAccessory[]> {
    this.emit("didFinishLaunching");
    if (this.#bridged.length) {
      const bridge = new hap.Bridge("Homebridge Shim", hap.uuid.generate("homebridge-shim-bridge"));
      bridge.addBridgedAccessories(this.#bridged.map((a) => a._associatedHAPAccessory));
      this.#publishing.push(this.#publish(bridge, "Homebridge Shim", "bridge"));
    }
    return Promise.all(this.#publishing);
  }

  async shutdown(): Promise<void> {
    this.emit("shutdown");
    await Promise.allSettled(this.#published.map((a) => a.unpublish()));
  }
}

export interface PluginOptions {
  /** Module name or path (a Homebridge plugin: `module.exports = (api) => ...`). */
  plugin: string;
  config: PlatformConfig;
  storagePath: string;
  pincode: string;
  log: LogSink;
}

/** Load a platform plugin, construct its platform with `config`, and publish what it registers. */
export async function runPlatformPlugin(
  options: PluginOptions,
): Promise<{ api: HomebridgeApiShim; accessories: PublishedAccessory[] }> {
  mkdirSync(options.storagePath, { recursive: true });
  // Homebridge keeps HAP-NodeJS's pairing files in its persist directory, never in the working directory.
  hap.HAPStorage.setCustomStoragePath(join(options.storagePath, "persist"));
  const api = new HomebridgeApiShim(options.storagePath, options.pincode);
  const init = require(options.plugin) as
    | ((api: HomebridgeApiShim) => void)
    | { default: (api: HomebridgeApiShim) => void };
  (typeof init === "function" ? init : init.default)(api);
  const Platform = api.platforms.get(options.config.platform);
  if (!Platform)
    throw new Error(
      `plugin ${options.plugin} registered no platform ${options.config.platform} (has ` +
        `${[...api.platforms.keys()].join(", ")})`,
    );
  new Platform(homebridgeLogger(options.config.platform, options.log), options.config, api);
  return { api, accessories: await api.launch() };
}

// ---- child process -------------------------------------------------------------------------------

interface ChildSettings {
  plugin: string;
  config: PlatformConfig;
  storagePath: string;
  pincode: string;
}

type ChildMessage =
  | { type: "ready"; accessories: PublishedAccessory[] }
  | { type: "log"; level: string; message: string; time: number }
  | { type: "error"; message: string };

/** The plugin in a process of its own (its ffmpeg children are its own, CPU and memory apart). */
export class HomebridgeChild extends EventEmitter<{ log: [{ level: string; message: string; time: number }] }> {
  readonly child: ChildProcess;
  readonly ready: Promise<PublishedAccessory[]>;
  readonly #exited: Promise<void>;

  constructor(settings: ChildSettings) {
    super();
    this.child = fork(fileURLToPath(import.meta.url), [], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      env: { ...process.env, BENCH_HOMEBRIDGE_SHIM: JSON.stringify(settings) },
    });
    this.#exited = new Promise((done) => this.child.once("exit", () => done()));
    this.ready = new Promise((resolve, reject) => {
      this.child.on("message", (message: ChildMessage) => {
        if (message.type === "ready") resolve(message.accessories);
        else if (message.type === "error") reject(new Error(message.message));
        else this.emit("log", message);
      });
      void this.#exited.then(() => reject(new Error("the Homebridge shim exited before it was ready")));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.#exited;
  }
}

/** Our child processes (the plugin's ffmpeg): its shutdown handler iterates a Map with for..in and
 * stops nothing, so whatever still runs at exit is killed here rather than orphaned. */
function killChildren(): void {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid)
        process.kill(Number(name), "SIGKILL");
    } catch {
      // gone already
    }
  }
}

async function childMain(): Promise<void> {
  const settings = JSON.parse(process.env.BENCH_HOMEBRIDGE_SHIM!) as ChildSettings;
  const send = (message: ChildMessage) => process.send?.(message);
  let api: HomebridgeApiShim | undefined;
  const stop = () => {
    void (api?.shutdown() ?? Promise.resolve()).finally(() => {
      killChildren();
      process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("disconnect", stop);
  try {
    const run = await runPlatformPlugin({
      ...settings,
      log: (level, message) => send({ type: "log", level, message, time: Date.now() }),
    });
    api = run.api;
    send({ type: "ready", accessories: run.accessories });
  } catch (error) {
    send({ type: "error", message: (error as Error).stack ?? String(error) });
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await childMain();
