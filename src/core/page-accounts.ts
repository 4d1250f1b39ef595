// Accounts added on the web page, kept in <data>/page-accounts.json (0600, atomic writes): the entry as
// the config would hold it (vendor, name, e-mail, the vendor's own keys) and, for a vendor whose driver
// logs in with the password every time, the password (a vendor with a stored session, such as an MFA
// log-in, keeps no password). main.ts starts them beside the config's accounts; when both name the same
// account, the config's entry wins and the page's is ignored (README "Accounts on the page").
//
// Renaming one moves the only state keyed by its name, its store <data>/accounts/<name>.json: device
// ids, HomeKit accessory ids and Matter endpoints come from the vendor's device ids, never the account's
// name. The move survives a crash at any point: the intent is written first (`moving`), the renamed entry
// is the commit, the store file is moved with one rename(2), and the constructor finishes (or drops, when
// the entry was not renamed yet) whatever a killed process left in `moving`.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { AccountConfig } from "./config.ts";
import { checkAccountEntry } from "./config.ts";
import { accountFileName, JsonStore } from "./storage.ts";

export const PAGE_ACCOUNTS_FILE = "page-accounts.json";
/** Longest account name the page accepts (it is shown in a table row and a filter list). */
export const MAX_ACCOUNT_NAME = 64;
const NAME_CHARACTERS = /^[\p{L}\p{N}][\p{L}\p{N} ._@:+-]*$/u;

/** Why a name typed on the page cannot name an account (undefined: it can). Uniqueness is the caller's. */
export function accountNameProblem(name: string): string | undefined {
  if (!name) return "the name is empty";
  if (name.length > MAX_ACCOUNT_NAME) return `the name is longer than ${MAX_ACCOUNT_NAME} characters`;
  if (!NAME_CHARACTERS.test(name) || name.endsWith(" "))
    return "a name is letters, digits, spaces and . _ - @ : +, starting with a letter or digit";
  return undefined;
}

/** Whether two account names would share one store file (the file name drops some characters, and a
 * data directory on a case-insensitive disk ignores case). */
export function shareAccountFile(a: string, b: string): boolean {
  return accountFileName(a).toLowerCase() === accountFileName(b).toLowerCase();
}

interface Move {
  from: string;
  to: string;
}

interface PageAccountsFile extends Record<string, unknown> {
  accounts?: unknown[];
  /** Renames under way (see the top of this file). */
  moving?: Move[];
}

const nameOf = (entry: unknown) => (entry as { name?: unknown } | null)?.name;

export class PageAccounts {
  readonly #store: JsonStore<PageAccountsFile>;
  readonly #accountsDir: string;

  /** Throws when the file exists but is not JSON (the message names the file). Finishes a rename that a
   * crash interrupted, so the driver of a renamed account starts with its own store. */
  constructor(dataDir: string) {
    this.#store = new JsonStore<PageAccountsFile>(join(dataDir, PAGE_ACCOUNTS_FILE));
    this.#accountsDir = join(dataDir, "accounts");
    this.#finishMoves();
  }

  get path(): string {
    return this.#store.path;
  }

  /** The stored accounts that still pass their vendor's schema; the others come back as problems. */
  load(): { accounts: AccountConfig[]; problems: string[] } {
    const accounts: AccountConfig[] = [];
    const problems: string[] = [];
    const raw = this.#store.get("accounts");
    for (const [i, entry] of (Array.isArray(raw) ? raw : []).entries()) {
      const checked =
        entry && typeof entry === "object"
          ? checkAccountEntry(entry as Record<string, unknown>)
          : { problems: ["not an object"] };
      if ("account" in checked) accounts.push(checked.account);
      else problems.push(`${PAGE_ACCOUNTS_FILE} accounts[${i}]: ${checked.problems.join("; ")}`);
    }
    return { accounts, problems };
  }

  has(name: string): boolean {
    return this.load().accounts.some((a) => a.name === name);
  }

  /** Add or replace the account of that name. */
  save(account: AccountConfig): void {
    const others = this.#entries().filter((a) => (a as { name?: unknown }).name !== account.name);
    this.#store.set("accounts", [...others, { ...account }]);
  }

  /** Keep a new password for a page account (the re-login form); false when it is not one. */
  setPassword(name: string, password: string): boolean {
    const entries = this.#entries();
    const entry = entries.find((a) => (a as { name?: unknown }).name === name) as Record<string, unknown> | undefined;
    if (!entry) return false;
    entry.password = password;
    this.#store.set("accounts", entries);
    return true;
  }

  remove(name: string): boolean {
    const entries = this.#entries();
    const kept = entries.filter((a) => (a as { name?: unknown }).name !== name);
    if (kept.length === entries.length) return false;
    this.#store.set("accounts", kept);
    return true;
  }

  /** Rename a stored account and move its store file. Throws when `from` is not stored or `to` is. */
  rename(from: string, to: string): void {
    for (const step of this.renameSteps(from, to)) step();
  }

  /** rename() as its steps, each one atomic on disk; a test stops between any two to play a crash. */
  renameSteps(from: string, to: string): (() => void)[] {
    const entries = this.#entries();
    if (!entries.some((e) => nameOf(e) === from)) throw new Error(`no account "${from}" was added on this page`);
    if (from !== to && entries.some((e) => nameOf(e) === to)) throw new Error(`an account named "${to}" exists`);
    const source = this.#storePath(from);
    const target = this.#storePath(to);
    const move = { from, to };
    return [
      // A file a former account of the new name left behind is not this account's session.
      () => {
        if (!shareAccountFile(from, to)) rmSync(target, { force: true });
      },
      () => this.#store.set("moving", [...this.#moves(), move]),
      () => {
        const renamed = this.#entries().map((e) => (nameOf(e) === from ? { ...(e as object), name: to } : e));
        this.#store.set("accounts", renamed);
      },
      () => moveFile(source, target),
      () => this.#forgetMove(move),
    ];
  }

  #finishMoves(): void {
    for (const move of this.#moves()) {
      // Committed (the entry holds the new name): the store follows. Otherwise the rename never happened.
      if (this.#entries().some((e) => nameOf(e) === move.to)) {
        moveFile(this.#storePath(move.from), this.#storePath(move.to));
      }
      this.#forgetMove(move);
    }
  }

  #moves(): Move[] {
    const raw = this.#store.get("moving");
    if (!Array.isArray(raw)) return [];
    return raw.filter((m): m is Move => typeof m?.from === "string" && typeof m?.to === "string");
  }

  #forgetMove(move: Move): void {
    const left = this.#moves().filter((m) => m.from !== move.from || m.to !== move.to);
    this.#store.set("moving", left.length ? left : undefined);
  }

  #storePath(name: string): string {
    return join(this.#accountsDir, accountFileName(name));
  }

  #entries(): unknown[] {
    const raw = this.#store.get("accounts");
    return Array.isArray(raw) ? [...raw] : [];
  }
}

/** One rename(2): the file is under its old name or its new one, never both or neither. Nothing to do
 * when the source is gone (moved already, or the account never stored anything). */
function moveFile(source: string, target: string): void {
  if (source === target || !existsSync(source)) return;
  renameSync(source, target);
  try {
    const dir = openSync(dirname(target), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}
