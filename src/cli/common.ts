// Shared bits of the command-line tools: the --config/--data options (same defaults and variables
// as the bridge), loading the config with readable problems, and a yes/no prompt.
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { ConfigError, loadConfig, type Config } from "../core/config.ts";

export interface CommonOptions {
  config: string;
  data: string;
}

export function withCommonOptions(command: Command): Command {
  return command
    .option("-c, --config <file>", "config file (YAML or JSON)", process.env.HEARTHBRIDGE_CONFIG ?? "./config.yaml")
    .option("-d, --data <dir>", "data directory (pairings, sessions)", process.env.HEARTHBRIDGE_DATA ?? "./data");
}

/** The config, or undefined after printing its problems to stderr. With `dataDir`, passwords entered
 * on the web page apply as they do for the bridge. */
export function loadConfigOrReport(
  file: string,
  out: (line: string) => void = (l) => console.error(l),
  dataDir?: string,
): { config: Config; found: boolean } | undefined {
  try {
    return loadConfig(file, dataDir === undefined ? {} : { dataDir });
  } catch (error) {
    if (error instanceof ConfigError) {
      out(`the config has problems:\n${error.message}`);
      return undefined;
    }
    throw error;
  }
}

/** Ask a question on the terminal; true only for "y" / "yes". No terminal (stdin closed): false. */
export async function confirm(question: string, input: NodeJS.ReadableStream = process.stdin): Promise<boolean> {
  const rl = createInterface({ input, terminal: false });
  try {
    process.stdout.write(`${question} [y/N] `);
    const lines = rl[Symbol.asyncIterator]();
    const next = await lines.next();
    if (next.done) {
      process.stdout.write("\n");
      return false;
    }
    return /^\s*y(es)?\s*$/i.test(next.value);
  } finally {
    rl.close();
  }
}
