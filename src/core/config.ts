// The config file: YAML (so JSON works too), validated as a whole before anything starts. A bad
// config yields one line per problem naming the key and the value, and the bridge never starts half.
import { readFileSync, existsSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { hashPasswordSync, isPasswordHash, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "./password.ts";
import { AccountSecrets } from "./account-secrets.ts";
import { str, type VendorAccount, type VendorModule } from "./vendor.ts";
// The one import of src/drivers from core: the vendors' descriptors (not their drivers' code paths)
// make up the accounts' schema.
import { vendors } from "../drivers/index.ts";

const PINCODE = /^\d{3}-\d{2}-\d{3}$/;
// HAP forbids trivially guessable setup codes (HAP spec 5.6.1).
const INVALID_PINCODES = new Set([
  "000-00-000",
  "111-11-111",
  "222-22-222",
  "333-33-333",
  "444-44-444",
  "555-55-555",
  "666-66-666",
  "777-77-777",
  "888-88-888",
  "999-99-999",
  "123-45-678",
  "876-54-321",
]);
// Matter core spec 5.1.7.1: passcodes that must never be used.
export const FORBIDDEN_MATTER_PASSCODES = new Set([
  0, 11111111, 22222222, 33333333, 44444444, 55555555, 66666666, 77777777, 88888888, 99999999, 12345678, 87654321,
]);

export function isValidMatterPasscode(passcode: number): boolean {
  return (
    Number.isInteger(passcode) && passcode >= 1 && passcode <= 99999998 && !FORBIDDEN_MATTER_PASSCODES.has(passcode)
  );
}

export function isValidPincode(pincode: string): boolean {
  return PINCODE.test(pincode) && !INVALID_PINCODES.has(pincode);
}

const port = z.number().int().min(0).max(65535);

const homekitSchema = z.strictObject({
  enabled: z.boolean().default(true),
  port: port.default(51826),
  pincode: z
    .string()
    .refine(isValidPincode, "must look like 031-45-154 and not be a trivial code such as 123-45-678")
    .optional(),
  name: str(1, 64).default("Hearthbridge"),
  advertiser: z.enum(["ciao", "avahi", "resolved", "none"]).default("ciao"),
  // Cameras are published as their own accessories (own port and setup code) by default, as Home
  // Assistant and Scrypted do: HomeKit handles a bridged camera's streams through the bridge.
  cameras: z.enum(["standalone", "bridged"]).default("standalone"),
});

const matterSchema = z.strictObject({
  enabled: z.boolean().default(true),
  port: port.default(5540),
  passcode: z
    .number()
    .int()
    .refine(
      isValidMatterPasscode,
      "must be 1-99999998 and not a passcode the Matter spec forbids (e.g. 12345678, 11111111)",
    )
    .optional(),
  discriminator: z.number().int().min(0).max(4095).optional(),
  mdnsInterface: str(1).optional(),
  name: str(1, 32).default("Hearthbridge"),
  // Each camera as its own Matter 1.5 Camera node (WebRTC live view, snapshots). Off until real
  // controllers have been tested with it (README "Matter cameras").
  cameras: z.boolean().default(false),
});

// The status page. `host` 0.0.0.0 serves every interface (the appliance's LAN page); a password is then
// required (set here, or on the page with the one-time setup token from the log). A plain `password` is
// hashed at load and dropped. The rest guards the page against DNS rebinding and makes it work behind
// a TLS reverse proxy (README "The web page").
/** A name a browser may put in the Host header: a DNS name (".example.com" = it and its subdomains) or an address. */
const DNS_LABEL = "[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?";
const HOST_NAME = new RegExp(`^\\.?${DNS_LABEL}(\\.${DNS_LABEL})*\\.?$`);
const hostEntry = z
  .string()
  .refine(
    (s) => isIP(s.replace(/^\[(.*)\]$/, "$1")) !== 0 || HOST_NAME.test(s),
    "must be a host name such as bridge.example.com, .example.com (with its subdomains) or an IP address",
  );
/** What a browser sends as `Origin` for the page behind a proxy: scheme, host and port only. */
export function parsePublicOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  const bare = !url.username && !url.password && url.pathname === "/" && !url.search && !url.hash;
  return (url.protocol === "https:" || url.protocol === "http:") && bare ? url.origin : undefined;
}
/** An IPv4/IPv6 address or a CIDR block such as 10.0.0.0/8 or fd00::/8. */
export function isAddressOrCidr(value: string): boolean {
  const [address = "", prefix, extra] = value.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}
const accessMode = z.enum(["open", "loopback", "login"]);
const webSchema = z.strictObject({
  enabled: z.boolean().default(true),
  port: port.default(8581),
  host: str(1).default("0.0.0.0"),
  password: str(MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH).optional(),
  passwordHash: z
    .string()
    .refine(isPasswordHash, "must be a scrypt hash as written to data/web.json (scrypt$N$r$p$salt$hash)")
    .optional(),
  /** Host header names accepted besides localhost, IP addresses, this machine's name and publicOrigin's. */
  allowedHosts: z.array(hostEntry).default([]),
  /** The page's address behind a reverse proxy, e.g. https://bridge.example.com. */
  publicOrigin: z
    .string()
    .refine(
      (s) => parsePublicOrigin(s) !== undefined,
      "must be an http:// or https:// origin without a path, such as https://bridge.example.com",
    )
    .transform((s) => parsePublicOrigin(s)!)
    .optional(),
  /** Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (the reverse proxy's addresses). */
  trustedProxies: z
    .array(z.string().refine(isAddressOrCidr, "must be an IP address or a CIDR block such as 10.0.0.0/8"))
    .default([]),
  healthAccess: accessMode.default("open"),
  metricsAccess: accessMode.default("open"),
});

const MIB = 1024 * 1024;

function isAddressOrRange(value: string): boolean {
  const [address, bits, ...rest] = value.split("/");
  if (rest.length || !address || isIP(address) === 0) return false;
  if (bits === undefined) return true;
  const prefix = Number(bits);
  return /^\d+$/.test(bits) && prefix <= (isIP(address) === 4 ? 32 : 128);
}

/** A network interface name (eth0) or one of this machine's IP addresses. */
const interfaceEntry = z
  .string()
  .min(1)
  .max(64)
  .refine(
    (s) => isIP(s) !== 0 || /^[A-Za-z0-9_.:@-]+$/.test(s),
    "must be an interface name such as eth0 or an IP address",
  );
/** stun:host[:port] / turn:host[:port][?transport=udp|tcp] (RFC 7064, RFC 7065). */
const iceUrl = (scheme: "stun" | "turn") =>
  z
    .string()
    .max(300)
    .regex(
      scheme === "stun" ? /^stuns?:[^\s/?#]+$/ : /^turns?:[^\s/?#]+(\?transport=(udp|tcp))?$/,
      `must look like ${scheme}:host:port`,
    );
// The WebRTC live view (web page and WHEP players): which addresses it offers, optional STUN/TURN for
// viewers outside the LAN (off by default: nothing leaves the LAN unless configured), and its limits.
const webrtcSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Interfaces or addresses whose host candidates are offered; empty: every non-internal one. */
  interfaces: z.array(interfaceEntry).default([]),
  stun: iceUrl("stun").optional(),
  turn: z.strictObject({ url: iceUrl("turn"), username: str(1), credential: str(1) }).optional(),
  /** Live views at once, all cameras together. */
  maxSessions: z.number().int().min(1).max(64).default(4),
  /** A viewer whose ICE and DTLS are not done this long after its offer is dropped. */
  connectTimeoutMs: z.number().int().min(2_000).max(120_000).default(15_000),
});

// Camera video. The camera pushes RTMP to `rtmpHost:rtmpPort`, which must be an address it can reach on
// the LAN (not 127.0.0.1); absent = the first non-internal IPv4 address of this machine.
const mediaSchema = z.strictObject({
  rtmpHost: str(1).optional(),
  rtmpPort: port.default(1935),
  /** Address the RTMP ingest listens on. */
  bind: str(1).default("0.0.0.0"),
  /** ffmpeg binary; default `ffmpeg` on the PATH (or HEARTHBRIDGE_FFMPEG). */
  ffmpeg: str(1).optional(),
  /** Cameras (name or vendor id) kept pushing all the time for an instant picture; costs camera bandwidth. */
  keepWarm: z.array(str(1)).default([]),
  /** `auto`: copy the camera's H.264 when it fits what the viewer asked, re-encode otherwise. */
  transcode: z.enum(["auto", "always"]).default("auto"),
  /** How video reaches the bridge: `local` (the camera pushes to rtmpHost), `cloud` (read back from the vendor's
   * cloud), `auto` (local, and the cloud when the camera did not push within a few seconds). */
  source: z.enum(["auto", "local", "cloud"]).default("auto"),
  /** Copy mode's video: `native` sends it from the bridge process (ffmpeg only for audio), `ffmpeg` as before. */
  videoRelay: z.enum(["native", "ffmpeg"]).default("native"),
  /** Addresses (or CIDR ranges) cameras push from; empty: any address may connect (a key is still needed). */
  allowedCameras: z
    .array(z.string().refine(isAddressOrRange, "must be an IP address or a CIDR range such as 192.168.1.0/24"))
    .default([]),
  /** Bounds on what a peer can make the RTMP ingest hold before (and after) it shows a stream key. */
  rtmpLimits: z
    .strictObject({
      /** A connection must have published a known stream key this long after it opened. */
      publishTimeoutMs: z.number().int().min(1_000).max(120_000).default(10_000),
      /** Largest message before the publish (only commands are sent then). */
      messageBytesBeforePublish: z
        .number()
        .int()
        .min(4_096)
        .max(16 * MIB)
        .default(64 * 1024),
      /** Largest message of a publishing camera (a keyframe). */
      messageBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .max(64 * MIB)
        .default(8 * MIB),
      chunkStreamsBeforePublish: z.number().int().min(2).max(64).default(8),
      chunkStreams: z.number().int().min(2).max(1024).default(32),
      /** Connections from one address that have not yet published. */
      pendingPerAddress: z.number().int().min(1).max(1024).default(4),
      /** Connections in total. */
      connections: z.number().int().min(1).max(10_000).default(64),
    })
    .prefault({}),
  webrtc: webrtcSchema.prefault({}),
});

const secretFields = {
  email: str(3),
  password: str(1).optional(),
  passwordFile: str(1).optional(),
};

/** One account entry of a vendor: the common keys, then the vendor's own (in this order, as the
 * "did you mean" hints and problem lines list them). */
function accountSchemaOf(vendor: VendorModule) {
  return z.strictObject({
    vendor: z.literal(vendor.id),
    name: str(1).optional(),
    ...secretFields,
    ...vendor.accountKeys,
  });
}
const vendorAccounts = new Map<string, ReturnType<typeof accountSchemaOf>>(
  (vendors as readonly VendorModule[]).map((v) => [v.id, accountSchemaOf(v)]),
);
const [firstAccount, ...otherAccounts] = [...vendorAccounts.values()];
const accountSchema = z.discriminatedUnion("vendor", [firstAccount!, ...otherAccounts]);
/** One account entry as the web page adds it, checked with the config's own schema of its vendor (no
 * passwordFile, no ${ENV} expansion: what the user typed is the value). Returns the problems in words. */
export function checkAccountEntry(raw: Record<string, unknown>): { account: AccountConfig } | { problems: string[] } {
  const schema = vendorAccounts.get(String(raw.vendor));
  if (!schema) return { problems: [`vendor: ${UNKNOWN_VENDOR}`] };
  if (raw.passwordFile !== undefined) return { problems: ["passwordFile: not on the page; type the password"] };
  const result = schema.safeParse(raw);
  if (!result.success) {
    return { problems: result.error.issues.map((i) => `${i.path.join(".") || "account"}: ${i.message}`) };
  }
  const { passwordFile: _file, name, ...rest } = result.data;
  return { account: { ...rest, name: name ?? `${result.data.vendor}:${result.data.email}` } as AccountConfig };
}

const UNKNOWN_VENDOR = `must be one of ${vendors.map((v) => v.id).join(", ")}`;

const configSchema = z.strictObject({
  homekit: homekitSchema.prefault({}),
  matter: matterSchema.prefault({}),
  web: webSchema.prefault({}),
  media: mediaSchema.prefault({}),
  accounts: z.array(accountSchema).default([]),
  log: z
    .strictObject({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info") })
    .prefault({}),
});

type RawConfig = z.infer<typeof configSchema>;

/** An account after load: the common keys typed, the vendor's own keys (accountKeys) as its module
 * reads them. */
export type AccountConfig = VendorAccount;
/** The web section after load: a plain password is replaced by its hash. */
export type WebConfig = Omit<RawConfig["web"], "password">;
export type Config = Omit<RawConfig, "accounts" | "web"> & { accounts: AccountConfig[]; web: WebConfig };

export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n` +
        problems.map((p) => `  ${p}`).join("\n"),
    );
    this.problems = problems;
  }
}

/** Known keys at each level, for "did you mean" hints. */
function knownKeys(path: (string | number)[], raw: unknown): string[] {
  const top = Object.keys(configSchema.shape);
  if (path.length === 0) return top;
  const [head] = path;
  if (head === "homekit") return Object.keys(homekitSchema.shape);
  if (head === "matter") return Object.keys(matterSchema.shape);
  if (head === "log") return ["level"];
  if (head === "web") return Object.keys(webSchema.shape);
  if (head === "media") return Object.keys(mediaSchema.shape);
  if (head === "accounts" && typeof path[1] === "number") {
    const vendor = (raw as { accounts?: { vendor?: string }[] })?.accounts?.[path[1]]?.vendor;
    // An unknown vendor: the first vendor's keys, as good a guess as any.
    const schema = vendorAccounts.get(String(vendor)) ?? firstAccount!;
    if (path.length === 2) return Object.keys(schema.shape);
    const nested = (schema.shape as Record<string, z.ZodType>)[String(path[2])];
    const object = nested instanceof z.ZodOptional ? nested.unwrap() : nested;
    return path.length === 3 && object instanceof z.ZodObject ? Object.keys(object.shape) : [];
  }
  return [];
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent swaps, so "prot" is one edit from "port". */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[x.length]![y.length]!;
}

export function didYouMean(key: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(key, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

function formatPath(path: PropertyKey[]): string {
  return (
    path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("") ||
    "(top level)"
  );
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let node = raw;
  for (const p of path) node = node && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[p] : undefined;
  return node;
}

const SECRET_KEY = /password|secret|token|credential/i;
const NAME_LIKE = /^[A-Za-z0-9_.$-]{1,40}$/;

/** A value for a problem line: secret-named keys hidden at any depth, and YAML aliases (which can
 * make the document cyclic) shown once. */
function show(value: unknown, key: string): string {
  if (SECRET_KEY.test(key)) return "(hidden)";
  const seen = new WeakSet<object>();
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (k: string, v: unknown) => {
      if (k && SECRET_KEY.test(k)) return "(hidden)";
      // A password written into a URL (scheme://user:password@host) is hidden too.
      if (typeof v === "string") return v.replace(/(\/\/[^/@:]*:)[^/@]*@/g, "$1(hidden)@");
      if (v && typeof v === "object") {
        if (seen.has(v)) return "(alias)";
        seen.add(v);
      }
      return v;
    });
  } catch {
    text = `a ${typeof value}`;
  }
  return text === undefined ? "nothing" : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Replace `${VAR}` with the environment variable's value; a missing variable is a problem. */
function expandEnv(value: string, key: string, problems: string[]): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = process.env[name];
    if (v === undefined) {
      problems.push(`${key}: environment variable ${name} is not set (value "\${${name}}")`);
      return "";
    }
    return v;
  });
}

interface RawSecretFields {
  vendor?: unknown;
  email?: unknown;
  name?: unknown;
  password?: unknown;
  passwordFile?: unknown;
}

/** Passwords entered on the web page (account-secrets.ts): which password an account uses. */
export interface StoredPasswords {
  get(account: string): unknown;
  choose(account: string, configured: string | undefined): string | undefined;
}

const rawAccountName = (a: RawSecretFields) =>
  typeof a.name === "string" && a.name ? a.name : `${String(a.vendor)}:${String(a.email)}`;

/** Resolve an account's password from password / passwordFile / ${ENV}; records problems. */
function resolvePassword(
  account: RawSecretFields,
  key: string,
  baseDir: string,
  problems: string[],
  stored?: StoredPasswords,
): string | undefined {
  const { password, passwordFile } = account;
  if (typeof password === "string" && typeof passwordFile === "string") {
    problems.push(`${key}: give password or passwordFile, not both`);
    return undefined;
  }
  if (typeof password === "string") return expandEnv(password, `${key}.password`, problems);
  if (typeof passwordFile === "string") {
    const path = resolve(baseDir, expandEnv(passwordFile, `${key}.passwordFile`, problems));
    try {
      return readFileSync(path, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      problems.push(
        `${key}.passwordFile: cannot read ${JSON.stringify(path)} ` +
          `(${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
      return undefined;
    }
  }
  // A vendor that keeps a session after the first login (an MFA log-in) may go without.
  const optional = vendors.some((v) => v.id === account.vendor && v.passwordOptional);
  if (!optional && password === undefined && !stored?.get(rawAccountName(account))) {
    problems.push(`${key}: a password is required (password, passwordFile or "\${ENV_VAR}")`);
  }
  return undefined;
}

/** Validate a parsed config document. Throws ConfigError listing every problem. */
export function validateConfig(
  raw: unknown,
  file = "config",
  baseDir = process.cwd(),
  stored?: StoredPasswords,
): Config {
  const problems: string[] = [];
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          const name = NAME_LIKE.test(key);
          const hint = name ? didYouMean(key, knownKeys(issue.path as (string | number)[], raw)) : undefined;
          // A mangled line that YAML read as one long key may hold a password: show names only.
          const where = formatPath([...issue.path, name ? key : `(a ${key.length}-character key that is not a name)`]);
          problems.push(`${where}: unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`);
        }
        continue;
      }
      const where = formatPath(issue.path);
      const value = valueAt(raw, issue.path);
      const message = issue.code === "invalid_union" && issue.path.at(-1) === "vendor" ? UNKNOWN_VENDOR : issue.message;
      problems.push(`${where}: ${message} (got ${show(value, where)})`);
    }
  }
  // Secrets are checked on the raw entries too, so one run reports every problem at once.
  const rawAccounts = (raw as { accounts?: unknown })?.accounts;
  const passwords = Array.isArray(rawAccounts)
    ? rawAccounts.map((a, i) => {
        if (!a || typeof a !== "object") return undefined;
        const configured = resolvePassword(a as RawSecretFields, `accounts[${i}]`, baseDir, problems, stored);
        return stored ? stored.choose(rawAccountName(a as RawSecretFields), configured) : configured;
      })
    : [];
  if (!result.success || problems.length) throw new ConfigError(file, problems);

  const names = new Set<string>();
  const accounts: AccountConfig[] = result.data.accounts.map((account, i) => {
    const { password: _password, passwordFile: _file, name, ...rest } = account;
    const accountName = name ?? `${account.vendor}:${account.email}`;
    if (names.has(accountName))
      problems.push(
        `accounts[${i}].name: ${JSON.stringify(accountName)} is used by another account; names must be unique`,
      );
    names.add(accountName);
    return { ...rest, name: accountName, password: passwords[i] } as AccountConfig;
  });
  const { password: rawWebPassword, ...web } = result.data.web;
  const webPassword = rawWebPassword === undefined ? undefined : expandEnv(rawWebPassword, "web.password", problems);
  if (webPassword !== undefined && web.passwordHash !== undefined)
    problems.push("web: give password or passwordHash, not both");
  if (webPassword !== undefined && webPassword.length < MIN_PASSWORD_LENGTH)
    problems.push(`web.password: must be at least ${MIN_PASSWORD_LENGTH} characters`);
  if (problems.length) throw new ConfigError(file, problems);
  return {
    ...result.data,
    accounts,
    web: webPassword === undefined ? web : { ...web, passwordHash: hashPasswordSync(webPassword) },
  };
}

/** Read and validate the config file. A missing file gives the defaults (no accounts). With `dataDir`,
 * passwords entered on the web page (<data>/account-secrets.json) apply, and `secrets` is that store. */
export function loadConfig(
  file: string,
  options: { dataDir?: string } = {},
): { config: Config; found: boolean; secrets?: AccountSecrets } {
  const path = resolve(file);
  let secrets: AccountSecrets | undefined;
  if (options.dataDir !== undefined) {
    try {
      secrets = new AccountSecrets(resolve(options.dataDir));
    } catch (error) {
      throw new ConfigError(file, [(error as Error).message]);
    }
  }
  const extra = secrets ? { secrets } : {};
  if (!existsSync(path)) return { config: validateConfig({}, file, undefined, secrets), found: false, ...extra };
  return { config: parseConfigText(readFileSync(path, "utf8"), file, dirname(path), secrets), found: true, ...extra };
}

/** A YAML error without the source text some messages quote ("extra characters: <the line>"): a
 * password may be on that line. The reason and the position are enough to find it. */
function yamlProblem(error: unknown): string {
  const first = (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
  const reason = first
    .replace(/ at line \d+, column \d+:?$/, "")
    .split(": ")[0]!
    .slice(0, 100);
  const at =
    error instanceof YAMLParseError && error.linePos
      ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}`
      : "";
  return `not valid YAML/JSON: ${reason}${at}`;
}

/** Parse and validate the text of a config file (YAML or JSON). Throws ConfigError, never anything else. */
export function parseConfigText(
  text: string,
  file = "config",
  baseDir = process.cwd(),
  stored?: StoredPasswords,
): Config {
  let raw: unknown;
  try {
    // logLevel "error": yaml's warnings (unknown tags, directives) go to stderr with the source line
    // quoted, password or not; the value still has to pass the schema.
    raw = parseYaml(text, { prettyErrors: true, logLevel: "error" });
  } catch (error) {
    throw new ConfigError(file, [yamlProblem(error)]);
  }
  if (raw !== null && raw !== undefined && (typeof raw !== "object" || Array.isArray(raw))) {
    throw new ConfigError(file, [
      `(top level): must be a mapping of keys such as homekit, matter, accounts (got ${show(raw, "")})`,
    ]);
  }
  return validateConfig(raw, file, baseDir, stored);
}
