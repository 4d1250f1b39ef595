// One logger for the whole bridge. Secrets never reach a log line: well-known secret keys are
// redacted by pino, and every secret value the bridge learns (passwords, tokens, setup codes are
// not secret) is registered here and scrubbed from every message string too.
import { pino, type Logger as PinoLogger } from "pino";
import pretty from "pino-pretty";

export type Logger = PinoLogger;
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

const secretValues = new Set<string>();

/** Remember a secret so that it is replaced by "[redacted]" wherever it appears in a log line. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secretValues.add(value);
}

/** Whether a value is scrubbed already (so a caller that registered it only for a while knows not to forget it). */
export function isSecret(value: string | undefined): boolean {
  return value !== undefined && secretValues.has(value);
}

/** Stop scrubbing a secret that was rotated out (keeps the set from growing without bound). */
export function forgetSecret(value: string | undefined): void {
  if (value) secretValues.delete(value);
}

export function scrub(text: string): string {
  let out = text;
  for (const secret of secretValues) if (out.includes(secret)) out = out.split(secret).join("[redacted]");
  return out;
}

const REDACT_KEYS = ["password", "token", "accessToken", "refreshToken", "access_token", "refresh_token", "secret", "authorization", "mfa_code", "mfaCode", "srtpKey", "mac"];

function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrub(value);
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) {
    const e = new Error(scrub(value.message));
    e.name = value.name;
    e.stack = value.stack ? scrub(value.stack) : undefined;
    return e;
  }
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = REDACT_KEYS.includes(k) ? "[redacted]" : scrubDeep(v, depth + 1);
  return out;
}

/** `tap` also receives every (already scrubbed) JSON log line: the web page's recent-log buffer. */
export function createLogger(level: LogLevel = "info", options: { json?: boolean; destination?: NodeJS.WritableStream; tap?: { write(line: string): void } } = {}): Logger {
  const output = options.json
    ? (options.destination ?? process.stdout)
    : pretty({ sync: true, colorize: false, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", destination: options.destination ?? 1 });
  const stream = options.tap ? pino.multistream([{ level: "trace", stream: output }, { level: "trace", stream: options.tap }]) : output;
  return pino(
    {
      level,
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => scrubDeep(a)) as Parameters<typeof method>);
        },
      },
    },
    stream as NodeJS.WritableStream & { write(s: string): boolean },
  );
}
