// `login fansync|xsense`: log each configured account of the vendor in once with the configured
// password and report, per account, whether the vendor accepted the credentials. Nothing is stored
// and no device is touched. (An X-Sense login may sign a running bridge out; it logs in again.)
// The web page's password form (src/web/account-login.ts) checks a new password with verifyAccount too.
import { loadConfigOrReport } from "./common.ts";
import type { AccountConfig } from "../core/config.ts";
import { DEFAULT_API as FANSYNC_API } from "../drivers/fansync/driver.ts";
import { FanSyncAuthError, login as fansyncLogin } from "../drivers/fansync/http-auth.ts";
import { CognitoError, DEFAULT_API as XSENSE_API, XSenseApi, XSenseCognito } from "../drivers/xsense/index.ts";

export interface VerifyResult {
  ok: boolean;
  /** The vendor refused the credentials (as opposed to: could not be reached). */
  refused: boolean;
  message: string;
}

export async function verifyAccount(account: AccountConfig, timeoutMs = 20_000): Promise<VerifyResult> {
  if (!account.password) return { ok: false, refused: false, message: "no password in the config (password, passwordFile or ${ENV_VAR})" };
  try {
    if (account.vendor === "fansync") {
      const api = account.endpoints?.api ?? FANSYNC_API;
      await fansyncLogin(api, account.email, account.password, { timeoutMs });
      return { ok: true, refused: false, message: `FanSync accepted the e-mail and password (${api})` };
    }
    if (account.vendor === "xsense") {
      const base = account.endpoints?.api ?? XSENSE_API;
      const api = new XSenseApi({ base, timeoutMs });
      const info = await api.clientInfo();
      const cognito = new XSenseCognito({
        endpoint: account.endpoints?.cognito ?? `https://cognito-idp.${info.cgtRegion}.amazonaws.com/`,
        userPoolId: info.userPoolId,
        clientId: info.clientId,
        secret: info.secret,
        timeoutMs,
      });
      await cognito.login(account.email, account.password);
      return { ok: true, refused: false, message: `X-Sense accepted the e-mail and password (${base})` };
    }
    return { ok: false, refused: false, message: `${account.vendor}: use the interactive login (npm run login -- ${account.vendor})` };
  } catch (error) {
    if (error instanceof FanSyncAuthError) return { ok: false, refused: true, message: `refused: ${error.message}; check email and password` };
    if (error instanceof CognitoError && error.isAuthFailure) return { ok: false, refused: true, message: `refused: X-Sense rejected the e-mail or password (${error.code}); check email and password` };
    return { ok: false, refused: false, message: `could not check: ${(error as Error).message}` };
  }
}

/** `dataDir`: the password the bridge would use, including one entered on the web page. */
export async function verifyCredentials(vendor: "fansync" | "xsense", configFile: string, accountName: string | undefined, timeoutMs: number, dataDir?: string): Promise<number> {
  const loaded = loadConfigOrReport(configFile, undefined, dataDir);
  if (!loaded) return 2;
  const accounts = loaded.config.accounts.filter((a) => a.vendor === vendor && (!accountName || a.name === accountName));
  if (!accounts.length) {
    console.error(`login: no ${vendor} account${accountName ? ` named ${accountName}` : ""} in ${configFile}`);
    return 2;
  }
  let failed = 0;
  for (const account of accounts) {
    process.stdout.write(`${account.name} (${account.email}): logging in... `);
    const result = await verifyAccount(account, timeoutMs);
    console.log(result.ok ? `OK, ${result.message}` : `FAILED, ${result.message}`);
    if (!result.ok) failed++;
  }
  if (!failed) console.log(`The bridge will log in with ${accounts.length === 1 ? "this account" : "these accounts"}; nothing was stored.`);
  return failed ? 1 : 0;
}
