// hearthbridge entry point: reads the config, starts the vendor drivers, then the HomeKit and
// Matter hosts, prints the pairing codes, and shuts everything down cleanly on SIGTERM/SIGINT.
import { Command } from "commander";
import { resolve } from "node:path";
import { ConfigError, loadConfig, type Config } from "./core/config.ts";
import { createLogger, registerSecret, type Logger } from "./core/logger.ts";
import { accountStore, ensureDataDir } from "./core/storage.ts";
import { loadIdentity } from "./core/identity.ts";
import { DeviceRegistry } from "./core/registry.ts";
import type { Driver } from "./core/driver.ts";
import { createDriver } from "./drivers/index.ts";
import { HomeKitHost } from "./homekit/index.ts";
import { MatterHost } from "./matter/index.ts";
import { printPairingCodes } from "./pairing-output.ts";
import { LogRing, startWeb, type WebServer } from "./web/index.ts";
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
    .description("FanSync, X-Sense and Nanit devices in Apple Home and Matter")
    .option("-c, --config <file>", "config file (YAML or JSON)", process.env.HEARTHBRIDGE_CONFIG ?? "./config.yaml")
    .option("-d, --data <dir>", "data directory (pairings, sessions)", process.env.HEARTHBRIDGE_DATA ?? "./data")
    .option("--log-json", "log JSON lines instead of text", process.env.HEARTHBRIDGE_LOG_FORMAT === "json")
    .showHelpAfterError();
  program.parse(argv);
  return program.opts<Options>();
}

/** How long start waits for the first device lists before publishing the bridges anyway. */
const DRIVER_START_GRACE_MS = 15_000;

async function startDrivers(config: Config, registry: DeviceRegistry, dataDir: string, log: Logger): Promise<Driver[]> {
  const drivers: Driver[] = [];
  const starts: Promise<void>[] = [];
  for (const account of config.accounts) {
    registerSecret(account.password);
    const accountLog = log.child({ account: account.name });
    let driver: Driver;
    try {
      driver = createDriver(account, accountLog);
    } catch (error) {
      accountLog.error((error as Error).message);
      continue;
    }
    drivers.push(driver);
    const store = accountStore(dataDir, account.name);
    starts.push(
      driver.start({ sink: registry.sinkFor(driver), log: accountLog, store }).catch((error: Error) => accountLog.error({ err: error }, "account failed to start; it keeps retrying")),
    );
  }
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((done) => (timer = setTimeout(done, DRIVER_START_GRACE_MS).unref()));
  await Promise.race([Promise.all(starts), grace]);
  clearTimeout(timer);
  return drivers;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv);
  let config: Config;
  let found: boolean;
  try {
    ({ config, found } = loadConfig(options.config));
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`hearthbridge: the config has problems, nothing was started.\n${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const logRing = new LogRing(200); // recent lines for the web page
  const log = createLogger(config.log.level, { json: options.logJson, tap: logRing });
  const startedAt = performance.now();
  if (!found) writeFirstRunConfig(options.config, config, log);
  const dataDir = ensureDataDir(resolve(options.data));
  let releaseDataDir: () => void;
  try {
    releaseDataDir = claimDataDir(dataDir);
  } catch (error) {
    console.error(`hearthbridge: ${(error as Error).message}`);
    process.exit(2);
  }
  const identity = loadIdentity(dataDir, config);
  const registry = new DeviceRegistry(log.child({ module: "core" }));
  registry.on("link", (account, state, detail) => log.info({ account, link: state }, detail ? `${account}: ${state} (${detail})` : `${account}: ${state}`));

  const drivers = await startDrivers(config, registry, dataDir, log);

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

  let web: WebServer | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    await Promise.allSettled([web?.stop(), homekit?.stop(), matter?.stop(), ...drivers.map((d) => d.stop())]);
    clearTimeout(force);
    releaseDataDir();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // A bug in one handler must never take the bridge (and its pairings) down.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
  process.on("uncaughtException", (error) => log.error({ err: error }, "uncaught exception"));

  await homekit?.start();
  await matter?.start();
  printPairingCodes(log, {
    homekit: homekit ? { pincode: identity.homekit.pincode, setupURI: homekit.setupURI(), port: homekit.port } : undefined,
    matter: matter ? { ...matter.pairingCodes(), port: matter.port } : undefined,
  });
  const webSources = { registry, accounts: config.accounts, homekit, matter, startedAt: Date.now() - Math.round(process.uptime() * 1000) };
  web = await startWeb(config, webSources, dataDir, log.child({ module: "web" }), logRing);
  // The bound port, not the configured one (0 = any free port); no URL when the page did not start.
  const statusPage = web ? webUrl(config, undefined, web.port) : undefined;
  if (statusPage) log.info({ event: "web-url", url: statusPage }, `status page: ${statusPage}`);
  const readyMs = Math.round(performance.now() - startedAt);
  log.info({ event: "ready", homekitPort: homekit?.port, matterPort: matter?.port, devices: registry.devices.length, readyMs }, `bridge ready in ${readyMs} ms with ${registry.devices.length} devices`);
}

main().catch((error: Error) => {
  console.error(`hearthbridge: ${error.stack ?? error.message}`);
  process.exit(1);
});
