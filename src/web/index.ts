// The status page, /health and /metrics (see server.ts).
export { WebServer, type WebServerOptions } from "./server.ts";
export { LogRing, type LogEntry } from "./log-ring.ts";
export { health, summarize, type WebSources, type Health } from "./status.ts";
export { hashPassword, hashPasswordSync, verifyPassword } from "../core/password.ts";

import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import type { LogRing } from "./log-ring.ts";
import type { LinkHistory } from "./diagnostics.ts";
import { WebServer, type WebServerOptions } from "./server.ts";
import type { WebSources } from "./status.ts";

/** Start the web page from the config; a failure (port taken) is logged and the bridge runs on without it. */
export async function startWeb(
  config: Config,
  sources: WebSources,
  dataDir: string,
  log: Logger,
  logs: LogRing,
  accounts: Pick<
    WebServerOptions,
    "secrets" | "restartAccount" | "accountRuntime" | "pageAccounts" | "configAccountNames" | "whep"
  > & {
    links?: LinkHistory;
  } = {},
): Promise<WebServer | undefined> {
  if (!config.web.enabled) return undefined;
  const server = new WebServer({
    sources,
    log,
    dataDir,
    config: config.web,
    logs,
    loginAccounts: config.accounts,
    ...accounts,
    title: config.homekit.name,
    diagnostics: { config, ffmpeg: config.media.ffmpeg, links: accounts.links },
  });
  try {
    await server.start();
    return server;
  } catch (error) {
    log.error((error as Error).message);
    return undefined;
  }
}
