// Cognito login for X-Sense (docs/protocols/xsense.md §2.2-§2.5): USER_SRP_AUTH through amazon-cognito-identity-js
// (its SRP math and PASSWORD_VERIFIER signature), with our own transport that adds the SECRET_HASH
// the library does not know about, honours a timeout and the driver's abort signal, and reads
// `ExpiresIn` (authoritative for the access-token lifetime).
import {
  AuthenticationDetails,
  CognitoRefreshToken,
  CognitoUser,
  CognitoUserPool,
  type CognitoUserSession,
  type ICognitoStorage,
} from "amazon-cognito-identity-js";
import { readBodyCapped } from "../../core/http.ts";
import { registerSecret } from "../../core/logger.ts";
import { requestSignal } from "../../core/timing.ts";
import { secretHash } from "./mac.ts";

/** How the REFRESH_TOKEN_AUTH SECRET_HASH is made (docs/protocols/xsense.md §2.5). */
export type RefreshSecretHashMode = "hmac" | "raw" | "none";

export interface CognitoConfig {
  /** Cognito endpoint (default https://cognito-idp.{region}.amazonaws.com/). */
  endpoint: string;
  userPoolId: string;
  clientId: string;
  /** The derived client secret. */
  secret: Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
  refreshSecretHash?: RefreshSecretHashMode;
}

export interface CognitoTokens {
  accessToken: string;
  idToken: string;
  refreshToken: string;
  /** Epoch ms when the access token expires (from ExpiresIn). */
  expiresAt: number;
  /** The Cognito username: a UUID (`sub`), USER_ID_FOR_SRP. */
  sub: string;
  /** Custom claim `user_id_code` when present. */
  userIdCode?: string;
}

export class CognitoError extends Error {
  override name = "CognitoError";
  readonly code: string;
  readonly status: number | undefined;
  constructor(code: string, message: string, status?: number) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
  }
  /** Bad credentials (or secret hash): retrying will not help until the user acts. */
  get isAuthFailure(): boolean {
    return (
      this.code === "NotAuthorizedException" ||
      this.code === "UserNotFoundException" ||
      this.code === "UnsupportedChallenge"
    );
  }
}

/** The app strips whitespace and truncates passwords to 50 characters (docs/protocols/xsense.md §2.3). */
export function normalisePassword(password: string): string {
  return password.trim().slice(0, 50);
}

class MemoryStorage implements ICognitoStorage {
  readonly #data = new Map<string, string>();
  setItem(key: string, value: string): void {
    this.#data.set(key, value);
  }
  getItem(key: string): string | null {
    return this.#data.get(key) ?? null;
  }
  removeItem(key: string): void {
    this.#data.delete(key);
  }
  clear(): void {
    this.#data.clear();
  }
}

type Callback = (error: Error | null, data?: unknown) => void;
interface LibClient {
  request(operation: string, params: Record<string, unknown>, callback: Callback): void;
  requestWithRetry(operation: string, params: Record<string, unknown>, callback: Callback): void;
}

function jwtClaims(token: string): Record<string, unknown> {
  try {
    const part = token.split(".")[1];
    return part ? (JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export class XSenseCognito {
  readonly #cfg: CognitoConfig;
  readonly #storage = new MemoryStorage();
  readonly #pool: CognitoUserPool;
  /** Set by the transport from the last AuthenticationResult. */
  #lastExpiresIn: number | undefined;
  #sub: string | undefined;

  constructor(cfg: CognitoConfig) {
    this.#cfg = cfg;
    this.#pool = new CognitoUserPool({
      UserPoolId: cfg.userPoolId,
      ClientId: cfg.clientId,
      endpoint: cfg.endpoint,
      Storage: this.#storage,
    });
    const client = (this.#pool as unknown as { client: LibClient }).client;
    const send = (op: string, params: Record<string, unknown>, cb: Callback): void => {
      this.#send(op, params).then(
        (data) => cb(null, data),
        (error: Error) => cb(error),
      );
    };
    client.request = send;
    // The library retries refreshes for up to 5 minutes on any error; we fall back to SRP instead.
    client.requestWithRetry = send;
  }

  async #send(op: string, input: Record<string, unknown>): Promise<unknown> {
    const params = structuredClone(input);
    const { secret, clientId } = this.#cfg;
    if (op === "InitiateAuth") {
      const auth = (params.AuthParameters ?? {}) as Record<string, unknown>;
      if (auth.DEVICE_KEY === null || auth.DEVICE_KEY === undefined) delete auth.DEVICE_KEY;
      if (params.AuthFlow === "USER_SRP_AUTH") auth.SECRET_HASH = secretHash(secret, String(auth.USERNAME), clientId);
      else if (params.AuthFlow === "REFRESH_TOKEN_AUTH") {
        const mode = this.#cfg.refreshSecretHash ?? "hmac";
        if (mode === "hmac" && this.#sub) auth.SECRET_HASH = secretHash(secret, this.#sub, clientId);
        else if (mode === "raw") auth.SECRET_HASH = secret.toString("utf8");
      }
      params.AuthParameters = auth;
    } else if (op === "RespondToAuthChallenge") {
      const responses = (params.ChallengeResponses ?? {}) as Record<string, unknown>;
      if (responses.DEVICE_KEY === null || responses.DEVICE_KEY === undefined) delete responses.DEVICE_KEY;
      // USERNAME here is USER_ID_FOR_SRP (the library swapped it in), as the hash requires.
      responses.SECRET_HASH = secretHash(secret, String(responses.USERNAME), clientId);
      params.ChallengeResponses = responses;
    }
    if (params.ClientMetadata && Object.keys(params.ClientMetadata as object).length === 0)
      delete params.ClientMetadata;
    const request = requestSignal(this.#cfg.timeoutMs, this.#cfg.signal);
    let response: Response;
    let text: string;
    try {
      try {
        response = await fetch(this.#cfg.endpoint, {
          method: "POST",
          headers: {
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": `AWSCognitoIdentityProviderService.${op}`,
          },
          body: JSON.stringify(params),
          signal: request.signal,
        });
      } catch (error) {
        throw new CognitoError("NetworkError", `Cognito ${op} failed: ${(error as Error).message}`);
      }
      try {
        text = await readBodyCapped(response);
      } catch (error) {
        throw new CognitoError("NetworkError", `Cognito ${op} failed: ${(error as Error).message}`, response.status);
      }
    } finally {
      request.dispose();
    }
    let data: Record<string, unknown> = {};
    try {
      data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // handled below
    }
    if (!response.ok) {
      const type = String(
        data.__type ?? data.code ?? response.headers.get("x-amzn-errortype") ?? `HTTP${response.status}`,
      )
        .split("#")
        .pop()!
        .split(":")[0]!;
      throw new CognitoError(type, String(data.message ?? data.Message ?? `HTTP ${response.status}`), response.status);
    }
    if (op === "InitiateAuth" && params.AuthFlow === "USER_SRP_AUTH") {
      if (data.ChallengeName !== "PASSWORD_VERIFIER") {
        throw new CognitoError(
          "UnsupportedChallenge",
          `Cognito asked for ${String(data.ChallengeName)}; only PASSWORD_VERIFIER is supported (MFA is not)`,
        );
      }
      const cp = data.ChallengeParameters as Record<string, unknown> | undefined;
      if (typeof cp?.USER_ID_FOR_SRP === "string") this.#sub = cp.USER_ID_FOR_SRP;
    }
    const result = data.AuthenticationResult as Record<string, unknown> | undefined;
    if (result) {
      if (typeof data.ChallengeName === "string" && data.ChallengeName) {
        throw new CognitoError("UnsupportedChallenge", `Cognito asked for ${data.ChallengeName}`);
      }
      this.#lastExpiresIn = typeof result.ExpiresIn === "number" ? result.ExpiresIn : undefined;
      for (const key of ["AccessToken", "IdToken", "RefreshToken"])
        registerSecret(typeof result[key] === "string" ? (result[key] as string) : undefined);
    } else if (op === "RespondToAuthChallenge" && data.ChallengeName) {
      throw new CognitoError(
        "UnsupportedChallenge",
        `Cognito asked for ${String(data.ChallengeName)}; only PASSWORD_VERIFIER is supported (MFA is not)`,
      );
    }
    return data;
  }

  #tokens(session: CognitoUserSession, fallbackRefresh?: string): CognitoTokens {
    const accessToken = session.getAccessToken().getJwtToken();
    const idToken = session.getIdToken().getJwtToken();
    const refreshToken = session.getRefreshToken().getToken() || fallbackRefresh || "";
    const claims = { ...jwtClaims(idToken), ...jwtClaims(accessToken) };
    const sub = typeof claims.sub === "string" ? claims.sub : (this.#sub ?? "");
    this.#sub = sub || this.#sub;
    const exp = typeof claims.exp === "number" ? claims.exp * 1000 : Date.now() + 3600_000;
    const expiresAt = this.#lastExpiresIn !== undefined ? Date.now() + this.#lastExpiresIn * 1000 : exp;
    const userIdCode = typeof claims.user_id_code === "string" ? claims.user_id_code : undefined;
    return { accessToken, idToken, refreshToken, expiresAt, sub, ...(userIdCode ? { userIdCode } : {}) };
  }

  /** Full USER_SRP_AUTH login. */
  login(email: string, password: string): Promise<CognitoTokens> {
    this.#storage.clear();
    this.#lastExpiresIn = undefined;
    const user = new CognitoUser({ Username: email, Pool: this.#pool, Storage: this.#storage });
    const details = new AuthenticationDetails({ Username: email, Password: normalisePassword(password) });
    return new Promise((resolve, reject) => {
      const unsupported = (what: string) => () =>
        reject(new CognitoError("UnsupportedChallenge", `Cognito asked for ${what}; not supported`));
      user.authenticateUser(details, {
        onSuccess: (session) => {
          try {
            resolve(this.#tokens(session));
          } catch (error) {
            reject(error as Error);
          }
        },
        onFailure: (error: unknown) =>
          reject(
            error instanceof CognitoError
              ? error
              : new CognitoError("LoginFailed", (error as Error)?.message ?? String(error)),
          ),
        newPasswordRequired: unsupported("a new password"),
        mfaRequired: unsupported("MFA"),
        totpRequired: unsupported("TOTP MFA"),
        customChallenge: unsupported("a custom challenge"),
        mfaSetup: unsupported("MFA setup"),
        selectMFAType: unsupported("an MFA type"),
      });
    });
  }

  /** REFRESH_TOKEN_AUTH; rejects when Cognito refuses (the caller then logs in again). */
  refresh(tokens: CognitoTokens): Promise<CognitoTokens> {
    this.#sub = tokens.sub || this.#sub;
    this.#lastExpiresIn = undefined;
    const user = new CognitoUser({ Username: tokens.sub, Pool: this.#pool, Storage: this.#storage });
    return new Promise((resolve, reject) => {
      user.refreshSession(
        new CognitoRefreshToken({ RefreshToken: tokens.refreshToken }),
        (error: unknown, session: CognitoUserSession | null) => {
          if (error || !session)
            return reject(
              error instanceof CognitoError
                ? error
                : new CognitoError("RefreshFailed", (error as Error)?.message ?? "no session"),
            );
          try {
            resolve(this.#tokens(session, tokens.refreshToken));
          } catch (e) {
            reject(e as Error);
          }
        },
      );
    });
  }
}
