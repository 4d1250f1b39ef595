// The interactive login (`npm run login -- nanit`): e-mail + password, then, for MFA accounts
// (HTTP 482 with an mfa_token), the code the user received. The session (refresh token) is stored in
// the account's 0600 data file, where the running bridge picks it up; the password is not stored.
import { forgetSecret, isSecret, registerSecret, scrub } from "../../core/logger.ts";
import { DEFAULT_API, NanitAuthError, NanitMfaRequiredError, postLogin, type Tokens } from "./rest.ts";
import { saveSession, type StoredSession } from "./session.ts";

export interface LoginWithMfaOptions {
  email: string;
  password: string;
  endpoints?: { api?: string | undefined };
  /** Where to keep the session (the account's data file); omitted = only returned. */
  store?: { get(key: string): unknown; set(key: string, value: unknown): void };
  /** Ask for the code by "sms" (the server's default) or "email" (GM). */
  channel?: "sms" | "email";
  /** Wrong codes tolerated (re-prompting with the same mfa_token, no new SMS). Default 3. */
  codeAttempts?: number;
  timeoutMs?: number;
}

export interface MfaPrompt {
  /** The end of the phone number the code went to, when the server says. */
  phoneSuffix: string | undefined;
  channel: string | undefined;
  /** 1 for the first prompt, 2 after a refused code, ... */
  attempt: number;
}

export interface LoginResult {
  tokens: Tokens;
  /** The account asked for a code. */
  mfa: boolean;
  session: StoredSession | undefined;
}

export async function loginWithMfa(
  options: LoginWithMfaOptions,
  promptForCode: (prompt: MfaPrompt) => Promise<string>,
): Promise<LoginResult> {
  // What this attempt registers for scrubbing is forgotten again if it fails: the web page's form
  // must not let anyone grow the secret set (and slow every log line) with made-up passwords.
  const registered: string[] = [];
  const remember = (value: string): void => {
    if (isSecret(value)) return;
    registerSecret(value);
    registered.push(value);
  };
  try {
    return await attempt(options, promptForCode, remember);
  } catch (error) {
    // Scrubbed while they are still known: the error may quote what the server echoed back.
    if (error instanceof Error) {
      error.message = scrub(error.message);
      if (error.stack) error.stack = scrub(error.stack);
    }
    for (const value of registered) forgetSecret(value);
    throw error;
  }
}

async function attempt(
  options: LoginWithMfaOptions,
  promptForCode: (prompt: MfaPrompt) => Promise<string>,
  secret: (value: string) => void,
): Promise<LoginResult> {
  secret(options.password);
  const api = (options.endpoints?.api ?? DEFAULT_API).replace(/\/+$/, "");
  const http = { timeoutMs: options.timeoutMs ?? 20_000 };
  const base = {
    email: options.email,
    password: options.password,
    ...(options.channel ? { channel: options.channel } : {}),
  };
  let tokens: Tokens;
  let mfa = false;
  try {
    tokens = await postLogin(api, base, http);
  } catch (error) {
    if (!(error instanceof NanitMfaRequiredError)) throw error;
    mfa = true;
    secret(error.mfaToken);
    const attempts = Math.max(1, options.codeAttempts ?? 3);
    for (let attempt = 1; ; attempt++) {
      const code = (await promptForCode({ phoneSuffix: error.phoneSuffix, channel: error.channel, attempt })).trim();
      secret(code);
      try {
        tokens = await postLogin(api, { ...base, mfa_token: error.mfaToken, mfa_code: code }, http);
        break;
      } catch (codeError) {
        if (!(codeError instanceof NanitAuthError) || attempt >= attempts) throw codeError;
      }
    }
  }
  const session = options.store ? saveSession(options.store, options.email, tokens) : undefined;
  return { tokens, mfa, session };
}
