// The vendor module contract. A vendor is one folder, src/drivers/<vendor>/, whose index.ts exports a
// VendorModule; src/drivers/index.ts lists them. The config schema, the CLI (login, doctor, example
// config), the web page's log-in forms and main.ts read what they need from these descriptors, so no
// file outside src/drivers names a vendor (README "Adding a vendor").
import { z } from "zod";
import type { Driver } from "./driver.ts";
import type { Logger } from "./logger.ts";

/** A string of `min` (to `max`) characters. Not z.string().min(): zod runs length checks on anything
 * that has a `length`, even after the type check failed, and a mapping such as {length: {toString: 1}}
 * then throws a TypeError instead of giving a problem line; refinements run on strings only. */
export function str(min: number, max = Infinity) {
  return z
    .string()
    .refine((s) => s.length >= min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    .refine((s) => s.length <= max, `must be at most ${max} characters`);
}
export const httpUrl = z.string().regex(/^https?:\/\/[^\s]+$/, "must be an http:// or https:// URL");
export const wsUrl = z.string().regex(/^wss?:\/\/[^\s]+$/, "must be a ws:// or wss:// URL");

/** The keys every account has after the config is loaded (the password resolved from password,
 * passwordFile or the web page's store). The vendor's own keys come on top (VendorAccount). */
export interface AccountBase {
  vendor: string;
  /** Unique; labels the account's log lines and its session file (default `<vendor>:<email>`). */
  name: string;
  email: string;
  password?: string | undefined;
}

/** An account of one vendor: the common keys and the vendor's `accountKeys`. */
export type VendorAccount<Keys extends z.ZodRawShape = z.ZodRawShape> = AccountBase & z.infer<z.ZodObject<Keys>>;

/** Whether the vendor accepted an e-mail and password, checked once with nothing stored. */
export interface CredentialCheck {
  ok: boolean;
  /** The vendor refused the credentials (as opposed to: could not be reached). */
  refused: boolean;
  message: string;
}

/** The user logs in with the account's e-mail and password only (they live in the config). */
export interface PasswordLogin<A> {
  kind: "password";
  /** Log in once; nothing is stored and no device is touched. Resolves with the vendor's verdict
   * (accepted or refused); throws when the vendor could not be asked (unreachable, timeout). */
  check(account: A & { password: string }, timeoutMs: number): Promise<CredentialCheck>;
}

/** What an MFA login asks the user while it runs. */
export interface CodePrompt {
  /** The end of the phone number the code went to, when the vendor says. */
  phoneSuffix: string | undefined;
  channel: string | undefined;
  /** 1 for the first prompt, 2 after a refused code, ... */
  attempt: number;
}

/** A session store (the account's 0600 data file, as its driver gets it). */
export interface SessionStore {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

/** The user logs in interactively (password, then a code the vendor sends); the session is stored
 * where the driver finds it, the password is used once. */
export interface MfaLogin<A> {
  kind: "password+mfa";
  login(
    account: A,
    options: { password: string; store: SessionStore; codeByEmail?: boolean },
    askCode: (prompt: CodePrompt) => Promise<string>,
  ): Promise<{ mfa: boolean }>;
}

/** What a driver's account may publish besides plain devices: cameras need the media service. */
export interface VendorProduces {
  cameras: boolean;
}

export interface VendorModule<Id extends string = string, Keys extends z.ZodRawShape = z.ZodRawShape> {
  /** The config's `vendor` value and the first part of every device id (`<vendor>:<vendor id>`). */
  id: Id;
  /** The vendor's name in messages and on the web page ("X-Sense"). */
  displayName: string;
  /** The config keys of the vendor's accounts besides vendor, name, email, password and passwordFile. */
  accountKeys: Keys;
  /** The config may leave the password out (the vendor's session is kept in the data directory). */
  passwordOptional: boolean;
  login: PasswordLogin<VendorAccount<Keys>> | MfaLogin<VendorAccount<Keys>>;
  produces: VendorProduces;
  /** Method syntax on purpose: a list of descriptors of different account types stays one type. */
  create(account: VendorAccount<Keys>, context: { log: Logger }): Driver;
  /** The HTTP endpoints an account talks to (`doctor --network` checks reachability and the clock). */
  endpoints(account: VendorAccount<Keys>): { label: string; url: string }[];
  /** The example config's commented account entry: a comment line, then the entry's YAML lines
   * (`- vendor: <id>` first), as they read uncommented. */
  example: { comment: string; lines: string[] };
}

/** Keeps the literal id and the account keys' types while checking the descriptor. */
export function defineVendor<const Id extends string, Keys extends z.ZodRawShape>(
  module: VendorModule<Id, Keys>,
): VendorModule<Id, Keys> {
  return module;
}

/** The vendors' display names for a sentence: "A", "A or B", "A, B or C". */
export function namesOf(vendors: readonly { displayName: string }[], conjunction = "or"): string {
  const names = vendors.map((v) => v.displayName);
  return names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} ${conjunction} ${names.at(-1)}`;
}
