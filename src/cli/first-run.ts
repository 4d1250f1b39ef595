// First start helpers for src/main.ts: the commented example config when there is no config file,
// and the status page's address when the config has a web section.
import { hostname, networkInterfaces } from "node:os";
import { resolve } from "node:path";
import type { Config } from "../core/config.ts";
import type { Logger } from "../core/logger.ts";
import { writeExampleConfig } from "./example-config.ts";

/** Whether this build's config schema has the `web` section (it gets a default when present). */
export function hasWebSection(config: Config): boolean {
  return "web" in config;
}

/** No config file: write the commented example there (0600) and say so. Never fatal. */
export function writeFirstRunConfig(configPath: string, config: Config, log: Logger): void {
  const path = resolve(configPath);
  try {
    if (writeExampleConfig(path, { web: hasWebSection(config) })) {
      log.warn(
        { event: "example-config", path },
        `no config file at ${path}: wrote a commented example there (mode 0600); ` +
          "starting with defaults and no accounts. Add your accounts to it and restart.",
      );
      return;
    }
  } catch (error) {
    log.warn(`no config file at ${path}, and writing an example there failed (${(error as Error).message})`);
  }
  log.warn(`no config file at ${path}; starting with defaults and no accounts`);
}

/** The first non-internal IPv4 address, else the host name. */
export function lanHost(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return hostname();
}

/** The status page's URL, when the config has a web section (default port 8581). */
export function webUrl(config: Config, host = lanHost(), boundPort?: number): string | undefined {
  if (!hasWebSection(config)) return undefined;
  const web = (config as unknown as { web?: { enabled?: boolean; port?: number; host?: string } }).web;
  if (web?.enabled === false) return undefined;
  const bound = web?.host && !["0.0.0.0", "::"].includes(web.host) ? web.host : host;
  return `http://${bound.includes(":") ? `[${bound}]` : bound}:${boundPort ?? web?.port ?? 8581}/`;
}
