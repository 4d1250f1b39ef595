// One logger for the whole bridge. Secrets never reach a log line: the values of well-known secret
// keys are redacted, every secret value the bridge learns (passwords, tokens; setup codes are not
// secret) is registered here and scrubbed from every string at any depth, in its URL-encoded,
// JSON-escaped, base64 and base64url forms too, and pre-signed URL credentials (X-Amz-*) go always.
import { pino, type Logger as PinoLogger } from "pino";
import pretty from "pino-pretty";

export type Logger = PinoLogger;
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

/** Registered secrets, each with the patterns (regular expression sources) it is scrubbed by: itself,
 * URL-encoded, JSON-escaped, base64 and base64url. */
const secretForms = new Map<string, string[]>();
/** How many registered secrets produce each pattern (two secrets may share one). */
const formCounts = new Map<string, number>();
/** One alternation of every pattern, longest first; rebuilt lazily after a change. */
let matcher: RegExp | undefined;
let matcherStale = false;

/** Secrets shorter than this are not registered at all (a 1-3 character "secret" would shred every line). */
const MIN_SECRET_LENGTH = 4;
/** Encoded forms shorter than this are not scrubbed: a short base64 or percent-encoded fragment turns
 * up in unrelated text by chance, and the raw secret is scrubbed anyway. */
const MIN_FORM_LENGTH = 8;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The base64 characters that depend only on the secret's bytes, at each of the three alignments it
 * can have inside a longer base64 text (a password after "user:" in a Basic authorization header), in
 * both alphabets. Aligned at the start, the run also takes the last partial character and padding
 * when they follow: the whole `base64(secret)`. */
function base64Patterns(bytes: Buffer): string[] {
  const out: string[] = [];
  for (const shift of [0, 1, 2]) {
    const text = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64");
    const run = text.slice(Math.ceil((shift * 8) / 6), Math.floor(((shift + bytes.length) * 8) / 6));
    if (run.length < MIN_FORM_LENGTH) {
      // A short secret: only its whole base64 text is long enough to be told from chance.
      if (shift === 0 && text.length >= MIN_FORM_LENGTH) out.push(escapeRegExp(text));
      continue;
    }
    const tail = shift === 0 && bytes.length % 3 ? "(?:[A-Za-z0-9+/_-]={0,2})?" : "";
    out.push(escapeRegExp(run) + tail, escapeRegExp(run.replaceAll("+", "-").replaceAll("/", "_")) + tail);
  }
  return out;
}

/** Every pattern a secret may take in a log line. */
function patternsOf(secret: string): string[] {
  const uri = encodeURIComponent(secret);
  const encoded = [
    uri,
    uri.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`), // RFC 3986 (AWS SigV4)
    new URLSearchParams({ s: secret }).toString().slice(2), // form encoding: space as "+"
    JSON.stringify(secret).slice(1, -1),
  ].filter((form) => form.length >= MIN_FORM_LENGTH);
  return [...new Set([secret, ...encoded].map(escapeRegExp).concat(base64Patterns(Buffer.from(secret, "utf8"))))];
}

/** Scrubbed object keys: a lookup is much cheaper than the alternation of every pattern. Cleared when
 * the patterns change, and when full. */
const scrubbedKeys = new Map<string, string>();
const CACHED_KEY_LENGTH = 128;
const CACHED_KEYS = 2048;

function currentMatcher(): RegExp | undefined {
  if (matcherStale) {
    matcherStale = false;
    scrubbedKeys.clear();
    const patterns = [...formCounts.keys()].sort((a, b) => b.length - a.length);
    matcher = patterns.length ? new RegExp(patterns.join("|"), "g") : undefined;
  }
  return matcher;
}

/** Remember a secret so that it is replaced by "[redacted]" wherever it appears in a log line, in any
 * of its encoded forms too. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < MIN_SECRET_LENGTH || secretForms.has(value)) return;
  const forms = patternsOf(value);
  secretForms.set(value, forms);
  for (const form of forms) formCounts.set(form, (formCounts.get(form) ?? 0) + 1);
  matcherStale = true;
}

/** Whether a value is scrubbed already (so a caller that registered it only for a while knows not to forget it). */
export function isSecret(value: string | undefined): boolean {
  return value !== undefined && secretForms.has(value);
}

/** Stop scrubbing a secret that was rotated out (keeps the set from growing without bound). */
export function forgetSecret(value: string | undefined): void {
  const forms = value === undefined ? undefined : secretForms.get(value);
  if (!forms) return;
  secretForms.delete(value!);
  for (const form of forms) {
    const left = (formCounts.get(form) ?? 1) - 1;
    if (left > 0) formCounts.set(form, left);
    else formCounts.delete(form);
  }
  matcherStale = true;
}

/** Pre-signed URL parameters (X-Amz-Signature, -Credential, -Security-Token...): their values are
 * credentials, whoever's they are, so they go even when nobody registered them. Plain or URL-encoded. */
const AMZ_PARAM = /(X-Amz-[A-Za-z0-9-]+(?:=|%3D))((?:(?!%26)[^&\s"'<>#])+)/gi;

export function scrub(text: string): string {
  if (text.length < MIN_SECRET_LENGTH) return text;
  const re = currentMatcher();
  return (re ? text.replace(re, "[redacted]") : text).replace(AMZ_PARAM, "$1[redacted]");
}

/** scrub() for object keys: the same few keys come in every line of a kind, so their results are kept. */
function scrubKey(key: string): string {
  if (key.length < MIN_SECRET_LENGTH) return key;
  currentMatcher(); // clears the kept results when the patterns changed
  const known = scrubbedKeys.get(key);
  if (known !== undefined) return known;
  const out = scrub(key);
  if (key.length <= CACHED_KEY_LENGTH) {
    if (scrubbedKeys.size >= CACHED_KEYS) scrubbedKeys.clear();
    scrubbedKeys.set(key, out);
  }
  return out;
}

/** Keys whose values are redacted whole, compared without case ("Authorization" as "authorization"). */
const REDACT_KEYS = new Set(
  [
    ...["password", "token", "accessToken", "refreshToken", "access_token", "refresh_token", "secret", "authorization"],
    ...["mfa_code", "mfaCode", "srtpKey", "mac", "x-amz-security-token"],
  ].map((k) => k.toLowerCase()),
);
/** Work bound per log call: nodes visited, and nesting (JSON.stringify would fail deeper anyway). Past
 * either, values are replaced, never passed on unscrubbed. */
const MAX_NODES = 20_000;
const MAX_DEPTH = 500;

interface Walk {
  nodes: number;
  /** Objects on the current path: meeting one again is a cycle (a value shared by two branches is not). */
  readonly path: Set<object>;
}

function scrubDeep(value: unknown, walk: Walk, depth: number): unknown {
  if (typeof value === "string") return scrub(value);
  if (value === null || typeof value !== "object") return value;
  if (walk.path.has(value)) return "[circular]";
  if (++walk.nodes > MAX_NODES) return "[truncated: too many values]";
  if (depth > MAX_DEPTH) return "[truncated: nested too deep]";
  if (value instanceof Date) return value;
  walk.path.add(value);
  try {
    if (value instanceof Error) return scrubError(value, walk, depth);
    if (Array.isArray(value)) return value.map((v) => scrubDeep(v, walk, depth + 1));
    // What JSON.stringify would write (a URL's href, a Buffer's bytes) is what must be scrubbed.
    const json = (value as { toJSON?: unknown }).toJSON;
    if (typeof json === "function") return scrubDeep(json.call(value), walk, depth + 1);
    if (value instanceof Map || value instanceof Set) return value; // written as {} by JSON.stringify
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, scrubKey(k), scrubEntry(k, v, walk, depth));
    return out;
  } finally {
    walk.path.delete(value);
  }
}

function scrubError(error: Error, walk: Walk, depth: number): Error {
  const copy = new Error(scrub(error.message));
  copy.name = error.name;
  copy.stack = error.stack === undefined ? undefined : scrub(error.stack);
  for (const [k, v] of Object.entries(error)) setOwn(copy, scrubKey(k), scrubEntry(k, v, walk, depth));
  if (error.cause !== undefined) copy.cause = scrubDeep(error.cause, walk, depth + 1);
  return copy;
}

/** The value of a property: whole "[redacted]" under a secret-named key. */
function scrubEntry(key: string, value: unknown, walk: Walk, depth: number): unknown {
  return REDACT_KEYS.has(key.toLowerCase()) ? "[redacted]" : scrubDeep(value, walk, depth + 1);
}

/** A plain assignment of "__proto__" would swap the copy's prototype instead of writing the key. */
function setOwn(target: object, key: string, value: unknown): void {
  if (key !== "__proto__") (target as Record<string, unknown>)[key] = value;
  else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Scrub one log argument: registered secrets and X-Amz-* values in every string at any depth,
 * the values of secret-named keys, cycles cut. */
export function scrubValue(value: unknown): unknown {
  return scrubDeep(value, { nodes: 0, path: new Set() }, 0);
}

export const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace"];

/** Every logger made from one createLogger call, children included: pino gives a child its parent's
 * level when it is made and never again, so a level change at runtime has to reach each one. Weak
 * references: a child made for a request or a session must not be kept alive by this list. */
interface LoggerFamily {
  level: LogLevel;
  members: Set<WeakRef<Logger>>;
  /** Dead references are dropped whenever the list doubles past this (children made per request). */
  pruneAt: number;
}

function prune(family: LoggerFamily): void {
  for (const ref of family.members) if (!ref.deref()) family.members.delete(ref);
  family.pruneAt = Math.max(64, family.members.size * 2);
}
const families = new WeakMap<Logger, LoggerFamily>();

/** The level of the bridge's loggers (any member of the family tells). */
export function logLevel(logger: Logger): LogLevel {
  return families.get(logger)?.level ?? (logger.level as LogLevel);
}

/** Change the level of every logger of this one's family (the root and all its children), now. */
export function setLogLevel(logger: Logger, level: LogLevel): void {
  if (!LOG_LEVELS.includes(level)) throw new Error(`unknown log level ${String(level)}`);
  const family = families.get(logger);
  if (!family) {
    logger.level = level;
    return;
  }
  family.level = level;
  for (const ref of family.members) {
    const member = ref.deref();
    if (member) member.level = level;
    else family.members.delete(ref);
  }
}

/** `tap` also receives every (already scrubbed) JSON log line: the web page's recent-log buffer. */
export function createLogger(
  level: LogLevel = "info",
  options: { json?: boolean; destination?: NodeJS.WritableStream; tap?: { write(line: string): void } } = {},
): Logger {
  const output = options.json
    ? (options.destination ?? process.stdout)
    : pretty({
        sync: true,
        colorize: false,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname",
        destination: options.destination ?? 1,
      });
  const stream = options.tap
    ? pino.multistream([
        { level: "trace", stream: output },
        { level: "trace", stream: options.tap },
      ])
    : output;
  const family: LoggerFamily = { level, members: new Set(), pruneAt: 64 };
  const join = (member: Logger): void => {
    families.set(member, family);
    family.members.add(new WeakRef(member));
    if (family.members.size > family.pruneAt) prune(family);
    // A child made before a level change and still alive keeps the family's level from here on.
    member.level = family.level;
  };
  const root = pino(
    {
      level,
      // Called for children of children too (pino passes its options down).
      onChild: (child) => join(child as Logger),
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map(scrubValue) as Parameters<typeof method>);
        },
      },
    },
    stream as NodeJS.WritableStream & { write(s: string): boolean },
  );
  join(root);
  return root;
}
