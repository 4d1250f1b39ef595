// Configure matter.js for use inside our process. matter.js sets up a process-wide default
// Environment when it is first imported (reading MATTER_* variables, argv `--x=y` options and
// ~/.matter/config.json); the embedding program owns signals, the exit code and logging, so this
// module takes those back once, before any node starts:
// - runtime.signals=false: matter.js installs no SIGINT/SIGTERM/SIGUSR2 handlers (main.ts handles
//   SIGTERM and closes the host itself); runtime.exitcode=false: it never sets process.exitCode.
// - matter.js log lines are routed into our pino logger (plain format, level mapped from ours,
//   MATTER_LOG_LEVEL still wins when set).
// - each host gets a child Environment whose Filesystem is rooted in our data directory, so the
//   node's storage lives in <dataDir>/<node id> while mDNS, network and crypto stay shared.
import { Environment, Filesystem, LogFormat, LogLevel, Logger as MatterLogger } from "@matter/main";
import type { Diagnostic } from "@matter/main";
import { NodeJsFilesystem } from "@matter/nodejs";
import type { Logger } from "../core/logger.ts";

let configured = false;

/**
 * The events a node keeps for controllers that re-subscribe after an outage and ask for what they missed.
 * matter.js's default is 10,000 to 11,000, about 0.6 KB each in memory (heap snapshots while smoke alarms
 * toggle: bench/_leak-hunt.ts), some 6 MB on a small box. A household's bridge records a few hundred
 * events an hour; 1,000 cover hours of a controller's absence (critical ones, the smoke and CO alarms,
 * are dropped last). event-store.ts makes the limit free the memory.
 */
export const EVENT_BUFFER = {
  minEventAllowance: 1_000,
  maxEventAllowance: 1_100,
  minPriorityEventAllowance: { info: 200, debug: 200 },
};

/** Map our log level to matter.js's: matter.js is chatty, so it runs one notch quieter than we do. */
function matterLevelFor(log: Logger): LogLevel {
  switch (log.level) {
    case "trace":
      return LogLevel.DEBUG;
    case "debug":
      return LogLevel.INFO;
    case "info":
      return LogLevel.WARN;
    case "warn":
      return LogLevel.WARN;
    default:
      return LogLevel.ERROR;
  }
}

const TIME_AND_LEVEL = /^\S+ \S+ [A-Z]+ /;

/** Apply the process-wide matter.js settings; later calls only re-route logging. */
export function configureMatter(log: Logger, options: { mdnsInterface?: string } = {}): void {
  const env = Environment.default;
  if (!configured) {
    configured = true;
    env.vars.set("runtime.signals", false);
    env.vars.set("runtime.exitcode", false);
  }
  if (options.mdnsInterface !== undefined) env.vars.set("mdns.networkInterface", options.mdnsInterface);

  const matterLog = log.child({ component: "matter.js" });
  const envLevel = process.env.MATTER_LOG_LEVEL;
  MatterLogger.level = envLevel ? LogLevel(envLevel) : matterLevelFor(log);
  MatterLogger.format = LogFormat.PLAIN;
  const destination = MatterLogger.destinations.default!;
  destination.write = (text: string, message: Diagnostic.Message) => {
    // The plain format starts with "<date> <time> <LEVEL> "; pino adds its own time and level.
    const line = text.replace(TIME_AND_LEVEL, "");
    const bindings = { facility: message.facility };
    if (message.level >= LogLevel.ERROR) matterLog.error(bindings, line);
    else if (message.level >= LogLevel.WARN) matterLog.warn(bindings, line);
    else if (message.level >= LogLevel.INFO) matterLog.info(bindings, line);
    else matterLog.debug(bindings, line);
  };
}

/** A child environment whose storage root is `storageRoot` (shares mDNS, network and crypto). */
export function environmentAt(name: string, storageRoot: string): Environment {
  const env = new Environment(name, Environment.default);
  env.set(Filesystem, new NodeJsFilesystem(storageRoot));
  return env;
}
