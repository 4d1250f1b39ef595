// hearthbridge entry point: reads the config, starts the vendor drivers, then the HomeKit and
// Matter hosts, prints the pairing codes, and shuts everything down cleanly on SIGTERM/SIGINT.
import { Command } from "commander";
import { resolve } from "node:path";
import { ConfigError, loadConfig, type AccountConfig, type Config } from "./core/config.ts";
import type { AccountSecrets } from "./core/account-secrets.ts";
import { createLogger, registerSecret, type Logger } from "./core/logger.ts";
import { accountStore, ensureDataDir } from "./core/storage.ts";
import { PageAccounts } from "./core/page-accounts.ts";
import { loadIdentity } from "./core/identity.ts";
import { DeviceRegistry } from "./core/registry.ts";
import type { Driver } from "./core/driver.ts";
import { namesOf } from "./core/vendor.ts";
import { createDriver, vendorOf, vendors } from "./drivers/index.ts";
import { HomeKitHost } from "./homekit/index.ts";
import { MatterHost } from "./matter/index.ts";
import type { MediaService } from "./media/index.ts";
import { printCameraPairing, printPairingCodes } from "./pairing-output.ts";
import { LogRing, startWeb, type WebServer } from "./web/index.ts";
import { LinkHistory } from "./web/diagnostics.ts";
import { webUrl, writeFirstRunConfig } from "./cli/first-run.ts";
import { claimDataDir } from "./cli/pidfile.ts";

interface Options {
  config: string;
  data: string;
  logJson?: boolean;
}

function parseArgs(argv: string[]): Options {
  const program = new Command()
    .name("hearthbridge")
    .description(`${namesOf(vendors, "and")} devices in Apple Home and Matter`)
    .option("-c, --config <file>", "config file (YAML or JSON)", process.env.HEARTHBRIDGE_CONFIG ?? "./config.yaml")
    .option("-d, --data <dir>", "data directory (pairings, sessions)", process.env.HEARTHBRIDGE_DATA ?? "./data")
    .option("--log-json", "log JSON lines instead of text", process.env.HEARTHBRIDGE_LOG_FORMAT === "json")
    .showHelpAfterError();
  program.parse(argv);
  return program.opts<Options>();
}

/** How long start waits for the first device lists before publishing the bridges anyway. */
const DRIVER_START_GRACE_MS = 15_000;

/** Build and start one account's driver; undefined when its vendor is not supported. */
function startDriver(
  account: AccountConfig,
  registry: DeviceRegistry,
  dataDir: string,
  log: Logger,
): { driver: Driver; started: Promise<void> } | undefined {
  registerSecret(account.password);
  const accountLog = log.child({ account: account.name });
  let driver: Driver;
  try {
    driver = createDriver(account, accountLog);
  } catch (error) {
    accountLog.error((error as Error).message);
    return undefined;
  }
  const store = accountStore(dataDir, account.name);
  const started = driver
    .start({ sink: registry.sinkFor(driver), log: accountLog, store })
    .catch((error: Error) => accountLog.error({ err: error }, "account failed to start; it keeps retrying"));
  return { driver, started };
}

async function startDrivers(config: Config, registry: DeviceRegistry, dataDir: string, log: Logger): Promise<Driver[]> {
  const drivers: Driver[] = [];
  const starts: Promise<void>[] = [];
  for (const account of config.accounts) {
    const run = startDriver(account, registry, dataDir, log);
    if (!run) continue;
    drivers.push(run.driver);
    starts.push(run.started);
  }
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((done) => (timer = setTimeout(done, DRIVER_START_GRACE_MS).unref()));
  await Promise.race([Promise.all(starts), grace]);
  clearTimeout(timer);
  return drivers;
}

/** The RTMP ingest and stream hubs, only when an account can have cameras. A taken port is logged and
 * the bridge runs on without camera video (sensors and controls still work). */
async function startMedia(config: Config, registry: DeviceRegistry, log: Logger): Promise<MediaService | undefined> {
  if (!config.accounts.some((a) => vendorOf(a.vendor)?.produces.cameras)) return undefined;
  // Loaded only here: a household without cameras never holds the video code.
  const { MediaService } = await import("./media/index.ts");
  const media = new MediaService({ config: config.media, registry, log: log.child({ module: "media" }) });
  try {
    await media.start();
    return media;
  } catch (error) {
    log.error({ err: error }, `camera video is off: ${(error as Error).message}`);
    await media.stop().catch(() => undefined);
    return undefined;
  }
}

/** The accounts added on the web page join the config's; a name the config uses stays the config's. */
function loadPageAccounts(dataDir: string, config: Config, log: Logger): PageAccounts | undefined {
  let store: PageAccounts;
  try {
    store = new PageAccounts(dataDir);
  } catch (error) {
    log.error({ err: error }, `the accounts added on the web page cannot be read: ${(error as Error).message}`);
    return undefined;
  }
  const { accounts, problems } = store.load();
  for (const problem of problems) log.error(`skipped an account added on the web page: ${problem}`);
  for (const account of accounts) {
    if (config.accounts.some((a) => a.name === account.name)) {
      log.warn(
        { account: account.name },
        `${account.name}: named in the config and on the web page; the config's entry is used`,
      );
      continue;
    }
    config.accounts.push(account);
  }
  return store;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv);
  let config: Config;
  let found: boolean;
  let secrets: AccountSecrets | undefined;
  try {
    ({ config, found, secrets } = loadConfig(options.config, { dataDir: options.data }));
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`hearthbridge: the config has problems, nothing was started.\n${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const logRing = new LogRing(1000); // recent lines for the web page (200 shown) and its log download
  const log = createLogger(config.log.level, { json: options.logJson, tap: logRing });
  const startedAt = performance.now();
  if (!found) writeFirstRunConfig(options.config, config, log);
  // Everything created from here on (our stores, HAP-NodeJS's and matter.js's files, which hold
  // pairing keys and fabrics) is private from its first byte, not chmod-ed after the fact.
  process.umask(0o077);
  const dataDir = ensureDataDir(resolve(options.data));
  let releaseDataDir: () => void;
  try {
    releaseDataDir = claimDataDir(dataDir);
  } catch (error) {
    console.error(`hearthbridge: ${(error as Error).message}`);
    process.exit(2);
  }
  const identity = loadIdentity(dataDir, config);
  const configAccountNames = new Set(config.accounts.map((a) => a.name));
  const pageAccounts = loadPageAccounts(dataDir, config, log);
  const registry = new DeviceRegistry(log.child({ module: "core" }));
  const links = new LinkHistory(registry); // link states with since when, for the diagnostics bundle
  registry.on("link", (account, state, detail) =>
    log.info({ account, link: state }, detail ? `${account}: ${state} (${detail})` : `${account}: ${state}`),
  );

  const drivers = await startDrivers(config, registry, dataDir, log);
  let media = await startMedia(config, registry, log);
  // Read at each use: an account with cameras added on the page starts the media layer later.
  const cameras = { sourceFor: (id: string) => media?.sourceFor(id) };

  const homekit = config.homekit.enabled
    ? new HomeKitHost({
        registry,
        log: log.child({ module: "homekit" }),
        dataDir,
        name: config.homekit.name,
        port: config.homekit.port,
        pincode: identity.homekit.pincode,
        username: identity.homekit.username,
        advertiser: config.homekit.advertiser,
        cameras,
        cameraMode: config.homekit.cameras,
      })
    : undefined;
  const matter = config.matter.enabled
    ? new MatterHost({
        registry,
        log: log.child({ module: "matter" }),
        dataDir,
        name: config.matter.name,
        port: config.matter.port,
        passcode: identity.matter.passcode,
        discriminator: identity.matter.discriminator,
        mdnsInterface: config.matter.mdnsInterface,
      })
    : undefined;

  // Matter cameras are opt-in (matter.cameras): their device types and WebRTC code load only then.
  const matterCameras =
    config.matter.enabled && config.matter.cameras
      ? new (await import("./matter/camera/host.ts")).MatterCameraHost({
          registry,
          log: log.child({ module: "matter-camera" }),
          dataDir,
          bridgePort: config.matter.port,
          media: () =>
            media && {
              snapshot: async (id: string, width: number, height: number) => {
                const source = media?.sourceFor(id);
                if (!source) throw new Error("no such camera");
                return source.snapshot(width, height);
              },
              webrtc: media.webrtc,
            },
        })
      : undefined;

  let web: WebServer | undefined;
  let stopping = false;
  /** An account added on the web page: its driver starts now; its devices reach HomeKit and Matter as
   * the registry reports them (the hosts follow the registry), the bridge keeps running. */
  const addAccount = async (account: AccountConfig): Promise<void> => {
    if (stopping) throw new Error("the bridge is stopping");
    if (config.accounts.some((a) => a.name === account.name))
      throw new Error(`an account named ${account.name} exists`);
    // The first account that can have cameras (the first visit adds one on the page): video starts now,
    // before its driver reports the cameras.
    media ??= await startMedia({ ...config, accounts: [account] }, registry, log);
    const run = startDriver(account, registry, dataDir, log);
    if (!run) throw new Error(`account ${account.name} has no driver`);
    config.accounts.push(account);
    drivers.push(run.driver);
    log.info({ account: account.name }, `${account.name}: added on the web page`);
    await run.started;
  };
  /** An account removed on the web page: its driver stops and its devices leave both ecosystems. */
  const removeAccount = async (name: string): Promise<void> => {
    const index = config.accounts.findIndex((a) => a.name === name);
    if (index < 0) throw new Error(`no account ${name}`);
    const old = drivers.findIndex((d) => d.accountName === name);
    if (old >= 0) await drivers.splice(old, 1)[0]!.stop();
    config.accounts.splice(index, 1);
    const gone = registry.removeAccount(name);
    log.info({ account: name, devices: gone.length }, `${name}: removed on the web page with ${gone.length} device(s)`);
  };
  /** An account renamed on the web page: its driver stops, its stored state moves (`move`), and it starts
   * again under the new name. Its devices stay in the registry, so HomeKit and Matter keep them paired. */
  const renameAccount = async (from: string, to: string, move: () => void): Promise<void> => {
    const index = config.accounts.findIndex((a) => a.name === from);
    if (index < 0 || stopping) throw new Error(stopping ? "the bridge is stopping" : `no account ${from}`);
    if (config.accounts.some((a) => a.name === to)) throw new Error(`an account named ${to} exists`);
    const account = config.accounts[index]!;
    const old = drivers.findIndex((d) => d.accountName === from);
    const oldDriver = old >= 0 ? drivers.splice(old, 1)[0]! : undefined;
    await oldDriver?.stop();
    let renamed = account;
    try {
      move();
      renamed = { ...account, name: to };
      config.accounts[index] = renamed;
      registry.renameAccount(from, to, oldDriver);
    } finally {
      // Moved or not (a full disk), the account runs again: under its new name or its old one.
      const run = startDriver(renamed, registry, dataDir, log);
      if (run) drivers.push(run.driver);
      log.info({ account: renamed.name }, renamed === account ? `${from}: not renamed` : `${from}: renamed ${to}`);
      await run?.started;
    }
  };
  /** A password entered on the web page: replace the account's driver (the bridge keeps running). */
  const restartAccount = async (name: string, password: string): Promise<void> => {
    const index = config.accounts.findIndex((a) => a.name === name);
    if (index < 0 || stopping) throw new Error(stopping ? "the bridge is stopping" : `no account ${name}`);
    const account: AccountConfig = { ...config.accounts[index]!, password };
    config.accounts[index] = account;
    const old = drivers.findIndex((d) => d.accountName === name);
    if (old >= 0) await drivers.splice(old, 1)[0]!.stop();
    const run = startDriver(account, registry, dataDir, log);
    if (!run) throw new Error(`account ${name} has no driver`);
    drivers.push(run.driver);
    log.info({ account: name }, `${name}: restarted with the password entered on the web page`);
    await run.started;
  };
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    // Media first: it tells the cameras to stop pushing while their drivers still run.
    await media?.stop().catch((error: Error) => log.warn({ err: error }, "media stop failed"));
    await Promise.allSettled([
      web?.stop(),
      homekit?.stop(),
      matter?.stop(),
      matterCameras?.stop(),
      ...drivers.map((d) => d.stop()),
    ]);
    clearTimeout(force);
    releaseDataDir();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // A bug in one handler must never take the bridge (and its pairings) down.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
  process.on("uncaughtException", (error) => log.error({ err: error }, "uncaught exception"));

  // Standalone cameras listen as they are found (also after start): print each one's code then.
  homekit?.on("camera-listening", (deviceId) => {
    const camera = homekit.cameraPairings().find((c) => c.deviceId === deviceId);
    if (camera) printCameraPairing(log, camera);
  });
  await homekit?.start();
  await matter?.start();
  await matterCameras?.start();
  printPairingCodes(log, {
    homekit: homekit
      ? { pincode: identity.homekit.pincode, setupURI: homekit.setupURI(), port: homekit.port }
      : undefined,
    matter: matter ? { ...matter.pairingCodes(), port: matter.port } : undefined,
  });
  const webSources = {
    registry,
    accounts: config.accounts,
    homekit,
    matter,
    matterCameras,
    get media() {
      return media;
    },
    startedAt: Date.now() - Math.round(process.uptime() * 1000),
  };
  const accountRuntime = { add: addAccount, remove: removeAccount, rename: renameAccount };
  web = await startWeb(config, webSources, dataDir, log.child({ module: "web" }), logRing, {
    secrets,
    restartAccount,
    accountRuntime,
    pageAccounts,
    configAccountNames,
    whep: media?.webrtc,
    links,
  });
  // The bound port, not the configured one (0 = any free port); no URL when the page did not start.
  const statusPage = web ? webUrl(config, undefined, web.port) : undefined;
  if (statusPage) log.info({ event: "web-url", url: statusPage }, `status page: ${statusPage}`);
  const readyMs = Math.round(performance.now() - startedAt);
  log.info(
    { event: "ready", homekitPort: homekit?.port, matterPort: matter?.port, devices: registry.devices.length, readyMs },
    `bridge ready in ${readyMs} ms with ${registry.devices.length} devices`,
  );
}

main().catch((error: Error) => {
  console.error(`hearthbridge: ${error.stack ?? error.message}`);
  process.exit(1);
});
