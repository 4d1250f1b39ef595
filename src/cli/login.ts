// `npm run login -- <vendor> [--account <name>] [-c config.yaml] [-d data]`, by the vendor module's
// login kind (src/core/vendor.ts):
// - password + MFA: log the account in (e-mail + password, then the code the vendor sends) and store
//   the session (refresh token) in the account's 0600 data file, where the bridge (running or not)
//   picks it up. The password is used once and not stored; give it in the config, or type it at the prompt.
// - password: check the configured credentials (or the one entered on the web page and kept in the data
//   directory) by logging in once (nothing is stored) and say clearly whether the vendor accepted them.
import { createInterface } from "node:readline/promises";
import { resolve } from "node:path";
import { Command } from "commander";
import { ConfigError, loadConfig } from "../core/config.ts";
import { accountStore, JsonStore } from "../core/storage.ts";
import { namesOf, type VendorModule } from "../core/vendor.ts";
import { vendors } from "../drivers/index.ts";
import { verifyCredentials } from "./verify-login.ts";

const all = vendors as readonly VendorModule[];
const mfaVendors = all.filter((v) => v.login.kind === "password+mfa");
const passwordVendors = all.filter((v) => v.login.kind === "password");
const ids = (list: readonly VendorModule[]) => namesOf(list.map((v) => ({ displayName: v.id })));

/** The same file the bridge gives the account's driver (src/main.ts). */
export function accountStorePath(dataDir: string, accountName: string): string {
  return accountStore(resolve(dataDir), accountName).path;
}

export async function loginCommand(argv: string[]): Promise<number> {
  const program = new Command("login")
    .argument(
      "<vendor>",
      `the vendor: ${ids(mfaVendors)} (interactive login with MFA), ` +
        `${ids(passwordVendors)} (check the configured credentials)`,
    )
    .option("-c, --config <file>", "config file (YAML or JSON)", process.env.HEARTHBRIDGE_CONFIG ?? "./config.yaml")
    .option("-d, --data <dir>", "data directory (pairings, sessions)", process.env.HEARTHBRIDGE_DATA ?? "./data")
    .option("-a, --account <name>", "which account, when the config has several of this vendor")
    .option("--email-code", `ask ${namesOf(mfaVendors)} to send the code by e-mail instead of SMS`)
    .option(
      "--timeout <seconds>",
      `${passwordVendors.map((v) => v.id).join("/")}: give up on the vendor after this long`,
      "20",
    )
    .showHelpAfterError()
    .parse(argv, { from: "user" });
  const [id] = program.args;
  const opts = program.opts<{ config: string; data: string; account?: string; emailCode?: boolean; timeout: string }>();
  const vendor = all.find((v) => v.id === id);
  if (!vendor) {
    console.error(`login: the vendor must be ${ids([...mfaVendors, ...passwordVendors])} (got ${JSON.stringify(id)})`);
    return 2;
  }
  const { login } = vendor;
  if (login.kind === "password") {
    return verifyCredentials(vendor, opts.config, opts.account, Number(opts.timeout) * 1000, opts.data);
  }
  let accounts;
  try {
    const { config } = loadConfig(opts.config);
    accounts = config.accounts.filter((a) => a.vendor === vendor.id && (!opts.account || a.name === opts.account));
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : (error as Error).message);
    return 2;
  }
  const account = accounts[0];
  if (!account || accounts.length > 1) {
    console.error(
      accounts.length
        ? `login: several ${vendor.displayName} accounts; ` +
            `pick one with --account (${accounts.map((a) => a.name).join(", ")})`
        : `login: no ${vendor.displayName} account${opts.account ? ` named ${opts.account}` : ""} in ${opts.config}`,
    );
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
    const password =
      account.password ?? (await ask(`${vendor.displayName} password for ${account.email} (used once, not stored): `));
    const store = new JsonStore(accountStorePath(opts.data, account.name));
    const result = await login.login(
      account,
      { password, store, ...(opts.emailCode ? { codeByEmail: true } : {}) },
      async ({ phoneSuffix, channel, attempt }) => {
        const where = phoneSuffix ? ` (sent by ${channel ?? "sms"} to the number ending ${phoneSuffix})` : "";
        return ask(attempt > 1 ? "That code was refused; the latest code please: " : `Verification code${where}: `);
      },
    );
    console.log(
      `Logged in${result.mfa ? " with two-factor authentication" : ""}; the session is saved in ${store.path}. ` +
        "The bridge picks it up within a minute.",
    );
    return 0;
  } catch (error) {
    console.error(`login failed: ${(error as Error).message}`);
    return 1;
  } finally {
    rl.close();
  }
}

if (import.meta.main) process.exitCode = await loginCommand(process.argv.slice(2));
