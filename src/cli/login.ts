// `npm run login -- nanit [--account <name>] [-c config.yaml] [-d data]`: log a Nanit account in
// (e-mail + password, then the MFA code sent by SMS) and store the session (refresh token) in the
// account's 0600 data file, where the bridge (running or not) picks it up. The password is used
// once and not stored; give it in the config, or type it at the prompt.
// `npm run login -- fansync|xsense [--account <name>]`: check the configured credentials (or the one
// entered on the web page and kept in the data directory) by logging in once (nothing is stored) and
// say clearly whether the vendor accepted them.
import { createInterface } from "node:readline/promises";
import { resolve } from "node:path";
import { Command } from "commander";
import { ConfigError, loadConfig } from "../core/config.ts";
import { accountStore, JsonStore } from "../core/storage.ts";
import { loginWithMfa } from "../drivers/nanit/index.ts";
import { verifyCredentials } from "./verify-login.ts";

/** The same file the bridge gives the account's driver (src/main.ts). */
export function accountStorePath(dataDir: string, accountName: string): string {
  return accountStore(resolve(dataDir), accountName).path;
}

export async function loginCommand(argv: string[]): Promise<number> {
  const program = new Command("login")
    .argument("<vendor>", "the vendor: nanit (interactive login with MFA), fansync or xsense (check the configured credentials)")
    .option("-c, --config <file>", "config file (YAML or JSON)", process.env.HEARTHBRIDGE_CONFIG ?? "./config.yaml")
    .option("-d, --data <dir>", "data directory (pairings, sessions)", process.env.HEARTHBRIDGE_DATA ?? "./data")
    .option("-a, --account <name>", "which account, when the config has several of this vendor")
    .option("--email-code", "ask Nanit to send the code by e-mail instead of SMS")
    .option("--timeout <seconds>", "fansync/xsense: give up on the vendor after this long", "20")
    .showHelpAfterError()
    .parse(argv, { from: "user" });
  const [vendor] = program.args;
  const opts = program.opts<{ config: string; data: string; account?: string; emailCode?: boolean; timeout: string }>();
  if (vendor === "fansync" || vendor === "xsense") return verifyCredentials(vendor, opts.config, opts.account, Number(opts.timeout) * 1000, opts.data);
  if (vendor !== "nanit") {
    console.error(`login: the vendor must be nanit, fansync or xsense (got ${JSON.stringify(vendor)})`);
    return 2;
  }
  let accounts;
  try {
    accounts = loadConfig(opts.config).config.accounts.filter((a) => a.vendor === "nanit" && (!opts.account || a.name === opts.account));
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : (error as Error).message);
    return 2;
  }
  const account = accounts[0];
  if (!account || accounts.length > 1) {
    console.error(accounts.length ? `login: several Nanit accounts; pick one with --account (${accounts.map((a) => a.name).join(", ")})` : `login: no Nanit account${opts.account ? ` named ${opts.account}` : ""} in ${opts.config}`);
    return 2;
  }
  const rl = createInterface({ input: process.stdin, terminal: false });
  // An iterator rather than rl.question(): piped answers that arrive early are not lost.
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (prompt: string): Promise<string> => {
    process.stdout.write(prompt);
    const next = await lines.next();
    if (next.done) throw new Error("no answer on stdin");
    return next.value;
  };
  try {
    const password = account.password ?? (await ask(`Nanit password for ${account.email} (used once, not stored): `));
    const store = new JsonStore(accountStorePath(opts.data, account.name));
    const endpoints = account.vendor === "nanit" ? account.endpoints : undefined;
    const result = await loginWithMfa(
      { email: account.email, password, endpoints: { api: endpoints?.api }, store, ...(opts.emailCode ? { channel: "email" as const } : {}) },
      async ({ phoneSuffix, channel, attempt }) => {
        const where = phoneSuffix ? ` (sent by ${channel ?? "sms"} to the number ending ${phoneSuffix})` : "";
        return ask(attempt > 1 ? "That code was refused; the latest code please: " : `Verification code${where}: `);
      },
    );
    console.log(`Logged in${result.mfa ? " with two-factor authentication" : ""}; the session is saved in ${store.path}. The bridge picks it up within a minute.`);
    return 0;
  } catch (error) {
    console.error(`login failed: ${(error as Error).message}`);
    return 1;
  } finally {
    rl.close();
  }
}

if (import.meta.main) process.exitCode = await loginCommand(process.argv.slice(2));
