// AWS credentials for the shadows and MQTT (bizCode 101003, docs/protocols/xsense.md §3.5): fetched
// once, renewed before they expire (then every MQTT link is re-made with them), and condemned when
// AWS refuses them so the next attempt never presents what was just refused.
import type { DriverRuntime, Timer } from "../../core/driver-runtime.ts";
import { forgetSecret, registerSecret, type Logger } from "../../core/logger.ts";
import { XSenseApiError } from "./api.ts";
import { isObject } from "./parse.ts";
import { renewDelay, type XSenseSession } from "./session.ts";
import type { AwsCredentials } from "./sigv4.ts";

/** `2024-01-01 12:00:00+00:00` / `+0000` / ISO → epoch ms. */
export function parseExpiration(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value > 1e12 ? value : value * 1000;
  if (typeof value !== "string") return undefined;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (!m) return undefined;
  let tz = m[3] ?? "Z";
  if (/^[+-]\d{4}$/.test(tz)) tz = `${tz.slice(0, 3)}:${tz.slice(3)}`;
  const t = Date.parse(`${m[1]}T${m[2]}${tz}`);
  return Number.isNaN(t) ? undefined : t;
}

type Expiring = AwsCredentials & { expiresAt: number };

/** The 101003 answer; without an expiry that we can read, they count as valid for an hour. */
function credentialsOf(data: unknown): Expiring {
  const d = isObject(data) ? data : {};
  const { accessKeyId, secretAccessKey, sessionToken } = d;
  if (typeof accessKeyId !== "string" || typeof secretAccessKey !== "string" || typeof sessionToken !== "string") {
    throw new XSenseApiError("101003", "the credentials answer lacks accessKeyId/secretAccessKey/sessionToken", 200);
  }
  const expiresAt = parseExpiration(d.expiration) ?? Date.now() + 3600_000;
  return { accessKeyId, secretAccessKey, sessionToken, expiresAt };
}

function secretsOf(creds: AwsCredentials): string[] {
  return [creds.accessKeyId, creds.secretAccessKey, creds.sessionToken];
}

export interface CredentialOptions {
  session: XSenseSession;
  rt: DriverRuntime;
  log: Logger;
  email: string;
  /** Renew this long before expiry (at most half the lifetime). */
  renewMarginMs: number;
  /** A failed renewal is tried again after this long. */
  retryMs: number;
  /** Renewed: re-make the MQTT connections with the new credentials. */
  onRenewed: () => void;
}

export class XSenseCredentials {
  readonly #o: CredentialOptions;
  #creds: Expiring | undefined;
  #flight: Promise<void> | undefined;
  #renewTimer: Timer | undefined;

  constructor(options: CredentialOptions) {
    this.#o = options;
  }

  /** The current credentials (ensure() first). */
  get current(): AwsCredentials | undefined {
    return this.#creds;
  }

  ensure(force = false): Promise<void> {
    // The timer normally renews earlier.
    if (!force && this.#creds && this.#creds.expiresAt > Date.now()) return Promise.resolve();
    this.#flight ??= this.#fetch().finally(() => (this.#flight = undefined));
    return this.#flight;
  }

  /** AWS refused a connection presigned with `accessKeyId`: fetch new ones before the next try. */
  condemn(accessKeyId: string): void {
    if (this.#creds?.accessKeyId === accessKeyId) this.#creds = { ...this.#creds, expiresAt: 0 };
  }

  async #fetch(): Promise<void> {
    const { rt, log } = this.#o;
    const creds = credentialsOf(await this.#o.session.call("101003", { userName: this.#o.email }));
    const previous = this.#creds;
    if (previous) for (const secret of secretsOf(previous)) forgetSecret(secret);
    for (const secret of secretsOf(creds)) registerSecret(secret);
    this.#creds = creds;
    const expiresAt = creds.expiresAt;
    log.debug({ expiresInS: Math.round((expiresAt - Date.now()) / 1000) }, "xsense: AWS credentials received");
    rt.cancel(this.#renewTimer);
    this.#renewTimer = rt.later(renewDelay(expiresAt, this.#o.renewMarginMs), () => void this.#renew());
  }

  /** Renew the credentials before they expire and re-make every MQTT connection with them. */
  async #renew(): Promise<void> {
    const { rt, log } = this.#o;
    if (rt.stopping) return;
    try {
      await this.ensure(true);
    } catch (error) {
      if (rt.stopping) return;
      log.warn(`xsense: renewing AWS credentials failed: ${(error as Error).message}; retrying`);
      rt.cancel(this.#renewTimer);
      this.#renewTimer = rt.later(this.#o.retryMs, () => void this.#renew());
      return;
    }
    log.info("xsense: AWS credentials renewed; re-making the MQTT connections");
    this.#o.onRenewed();
  }
}
