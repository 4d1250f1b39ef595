// `accounts[].local` of an X-Sense account (README "Alarms without the internet"): where the SBS50's
// local MQTT output arrives. One object with every key optional and the combinations checked below,
// rather than a zod union: a union's error is "Invalid input", these name the key and the fix.
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { registerSecret } from "../../core/logger.ts";
import { str } from "../../core/vendor.ts";

const MIN_BROKER_PASSWORD = 8;
/** mqtt://host:port or mqtts://host:port, no user or password in it (those would end up in logs). */
const BROKER_URL = /^mqtts?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?\/?$/;

export const localConfigSchema = z
  .strictObject({
    /** "embedded": the bridge runs the broker the station connects to. */
    broker: z.literal("embedded", { error: 'must be "embedded" (or leave it out and give url)' }).optional(),
    /** An existing broker the station publishes to. */
    url: z
      .string()
      .regex(BROKER_URL, "must be mqtt://host:port or mqtts://host:port, with no user or password in it")
      .optional(),
    port: z.number().int().min(1).max(65535).optional(),
    bind: str(1, 100).optional(),
    username: str(1, 100).optional(),
    password: str(1, 200).optional(),
    passwordFile: str(1).refine(isAbsolute, "must be an absolute path").optional(),
    /** Home Assistant discovery prefix set in the X-Sense app (default homeassistant). */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "must be letters, digits, _ or - (default homeassistant)")
      .optional(),
    /** Embedded broker: connections at once. */
    maxConnections: z.number().int().min(1).max(256).optional(),
  })
  .superRefine((local, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    const embedded = local.broker === "embedded";
    if (embedded && local.url !== undefined) problem("url", "give broker: embedded or url, not both");
    if (!embedded && local.url === undefined)
      problem("broker", "give broker: embedded (the bridge runs the broker) or url (a broker you run)");
    if (local.password !== undefined && local.passwordFile !== undefined)
      problem("passwordFile", "give password or passwordFile, not both");
    if (!embedded) {
      for (const key of ["port", "bind", "maxConnections"] as const) {
        if (local[key] !== undefined) problem(key, "only with broker: embedded");
      }
      return;
    }
    if (local.username === undefined)
      problem("username", "required with broker: embedded (type the same into the X-Sense app)");
    if (local.password === undefined && local.passwordFile === undefined) {
      problem(
        "password",
        "required with broker: embedded (password or passwordFile): the broker is open to the whole LAN",
      );
    }
    if (local.password !== undefined && local.password.length < MIN_BROKER_PASSWORD && !local.password.includes("${")) {
      problem("password", `must be at least ${MIN_BROKER_PASSWORD} characters: the broker is open to the whole LAN`);
    }
  });

export type LocalConfig = z.infer<typeof localConfigSchema>;

/** The settings a LocalPath needs, with the password read (from passwordFile) and registered as a secret. */
export type LocalSettings =
  | {
      mode: "embedded";
      port: number;
      bind: string;
      username: string;
      password: string;
      prefix: string;
      maxConnections: number;
    }
  | { mode: "external"; url: string; username: string | undefined; password: string | undefined; prefix: string };

export const DEFAULT_LOCAL_PORT = 1883;

/** `${VAR}` in the password, as the account's own password allows. */
function expandEnv(value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const found = process.env[name];
    if (found === undefined) throw new Error(`local.password: environment variable ${name} is not set`);
    return found;
  });
}

/** Turn the config into settings. Throws an Error with a readable message (passwordFile unreadable,
 * password too short); the caller logs it and runs without the local path. */
export function localSettings(local: LocalConfig): LocalSettings {
  let password = local.password === undefined ? undefined : expandEnv(local.password);
  if (local.passwordFile !== undefined) {
    try {
      password = readFileSync(local.passwordFile, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new Error(`local.passwordFile: cannot read ${JSON.stringify(local.passwordFile)} (${code})`);
    }
  }
  registerSecret(password);
  const prefix = local.prefix ?? "homeassistant";
  if (local.broker === "embedded") {
    if (!password || password.length < MIN_BROKER_PASSWORD) {
      throw new Error(`local.password: must be at least ${MIN_BROKER_PASSWORD} characters`);
    }
    return {
      mode: "embedded",
      port: local.port ?? DEFAULT_LOCAL_PORT,
      bind: local.bind ?? "0.0.0.0",
      username: local.username ?? "",
      password,
      prefix,
      maxConnections: local.maxConnections ?? 16,
    };
  }
  return { mode: "external", url: local.url ?? "", username: local.username, password, prefix };
}
