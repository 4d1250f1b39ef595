// `login <vendor>` for vendors whose log-in is e-mail and password: log each configured account of
// the vendor in once with the configured password and report, per account, whether the vendor accepted
// the credentials. Nothing is stored and no device is touched (the vendor module's login.check).
// The web page's password form (src/web/account-login.ts) checks a new password with verifyAccount too.
import { loadConfigOrReport } from "./common.ts";
import type { AccountConfig } from "../core/config.ts";
import type { CredentialCheck, VendorModule } from "../core/vendor.ts";
import { vendorOf } from "../drivers/index.ts";

export type VerifyResult = CredentialCheck;

export async function verifyAccount(account: AccountConfig, timeoutMs = 20_000): Promise<VerifyResult> {
  if (!account.password)
    return { ok: false, refused: false, message: "no password in the config (password, passwordFile or ${ENV_VAR})" };
  const login = vendorOf(account.vendor)?.login;
  if (login?.kind !== "password") {
    return {
      ok: false,
      refused: false,
      message: `${account.vendor}: use the interactive login (npm run login -- ${account.vendor})`,
    };
  }
  try {
    return await login.check({ ...account, password: account.password }, timeoutMs);
  } catch (error) {
    return { ok: false, refused: false, message: `could not check: ${(error as Error).message}` };
  }
}

/** `dataDir`: the password the bridge would use, including one entered on the web page. */
export async function verifyCredentials(
  vendor: VendorModule,
  configFile: string,
  accountName: string | undefined,
  timeoutMs: number,
  dataDir?: string,
): Promise<number> {
  const loaded = loadConfigOrReport(configFile, undefined, dataDir);
  if (!loaded) return 2;
  const accounts = loaded.config.accounts.filter(
    (a) => a.vendor === vendor.id && (!accountName || a.name === accountName),
  );
  if (!accounts.length) {
    console.error(`login: no ${vendor.id} account${accountName ? ` named ${accountName}` : ""} in ${configFile}`);
    return 2;
  }
  let failed = 0;
  for (const account of accounts) {
    process.stdout.write(`${account.name} (${account.email}): logging in... `);
    const result = await verifyAccount(account, timeoutMs);
    console.log(result.ok ? `OK, ${result.message}` : `FAILED, ${result.message}`);
    if (!result.ok) failed++;
  }
  if (!failed)
    console.log(
      `The bridge will log in with ${accounts.length === 1 ? "this account" : "these accounts"}; nothing was stored.`,
    );
  return failed ? 1 : 0;
}
