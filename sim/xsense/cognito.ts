// The simulated Cognito user pool (docs/protocols/xsense.md §2): SRP login (USER_SRP_AUTH and its
// PASSWORD_VERIFIER challenge) with SECRET_HASH checks per app client, REFRESH_TOKEN_AUTH, and the access,
// id and refresh tokens it issues. One login per account: a new one displaces the earlier sessions.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { secretHash } from "../../src/drivers/xsense/mac.ts";
import { CLIENTS, POOL_NAME, type SimShared, type SrpSession } from "./model.ts";
import {
  claimSignature,
  makeVerifier,
  safeEqual,
  serverChallenge,
  serverKey,
  TIMESTAMP_RE,
  type Verifier,
} from "./srp.ts";

export class SimCognito {
  readonly #st: SimShared;
  readonly #verifiers = new Map<string, Verifier>();
  readonly #srp = new Map<string, SrpSession>();
  #jwtKey = randomBytes(32);

  constructor(shared: SimShared) {
    this.#st = shared;
  }

  #cognitoError(res: ServerResponse, type: string, message: string, status = 400): void {
    const text = JSON.stringify({ __type: type, message });
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-errortype": `${type}:`,
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  #clientById(clientId: unknown): [string, (typeof CLIENTS)[string]] | undefined {
    return Object.entries(CLIENTS).find(([, c]) => c.clientId === clientId);
  }

  #verifier(): Verifier {
    // The account's password as the app stored it at sign-up: trimmed, at most 50 characters.
    const stored = this.#st.sim.password.trim().slice(0, 50);
    let v = this.#verifiers.get(stored);
    if (!v) {
      v = makeVerifier(POOL_NAME, this.#st.sim.sub, stored);
      this.#verifiers.set(stored, v);
    }
    return v;
  }

  #jwt(claims: Record<string, unknown>): string {
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = `${enc({ alg: "HS256", kid: "sim" })}.${enc(claims)}`;
    return `${head}.${createHmac("sha256", this.#jwtKey).update(head).digest("base64url")}`;
  }

  #issueTokens(
    sub: string,
    clientType: string,
    withRefresh: boolean,
    generation = this.#st.generation,
  ): Record<string, unknown> {
    const ttl = this.#st.sim.options.accessTokenTtlS ?? 3600;
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + ttl;
    const common = { sub, iat, exp, jti: randomUUID(), "cognito:username": sub, user_id_code: this.#st.sim.userIdCode };
    const access = this.#jwt({
      ...common,
      token_use: "access",
      username: sub,
      client_id: CLIENTS[clientType]!.clientId,
    });
    const id = this.#jwt({ ...common, token_use: "id", email: this.#st.sim.email, aud: CLIENTS[clientType]!.clientId });
    this.#st.access.set(access, { sub, exp, generation });
    this.#st.secrets.add(access).add(id);
    const result: Record<string, unknown> = { AccessToken: access, IdToken: id, ExpiresIn: ttl, TokenType: "Bearer" };
    if (withRefresh) {
      const refresh = `simrefresh.${randomBytes(48).toString("base64url")}`;
      this.#st.refresh.set(refresh, { sub, clientType, generation });
      this.#st.secrets.add(refresh);
      result.RefreshToken = refresh;
    }
    return result;
  }

  /** One Cognito call: USER_SRP_AUTH, its PASSWORD_VERIFIER challenge, or REFRESH_TOKEN_AUTH. */
  handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const target = String(req.headers["x-amz-target"] ?? "");
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    } catch {
      return this.#cognitoError(res, "SerializationException", "bad JSON");
    }
    const found = this.#clientById(body.ClientId);
    if (!found) return this.#cognitoError(res, "ResourceNotFoundException", "User pool client does not exist.");
    const [clientType, client] = found;
    const secret = Buffer.from(client.secret, "utf8");
    for (const params of [body.AuthParameters, body.ChallengeResponses]) {
      if (!params || typeof params !== "object") continue;
      for (const [k, v] of Object.entries(params as Record<string, unknown>))
        if (/SECRET_HASH|SIGNATURE|REFRESH_TOKEN/.test(k) && typeof v === "string") this.#st.secrets.add(v);
    }
    if (typeof body.Session === "string") this.#st.secrets.add(body.Session);
    const failLogin = (type: string, message: string, status = 400): void => {
      this.#st.sim.emit("loginFailed", { reason: message });
      this.#cognitoError(res, type, message, status);
    };

    if (target === "AWSCognitoIdentityProviderService.InitiateAuth" && body.AuthFlow === "USER_SRP_AUTH") {
      const p = (body.AuthParameters ?? {}) as Record<string, string>;
      if (typeof p.USERNAME !== "string" || p.USERNAME.toLowerCase() !== this.#st.sim.email.toLowerCase())
        return failLogin("UserNotFoundException", "User does not exist.");
      if (p.SECRET_HASH !== secretHash(secret, p.USERNAME, client.clientId))
        return failLogin("NotAuthorizedException", `SecretHash does not match for the client: ${client.clientId}`);
      if (typeof p.SRP_A !== "string" || !/^[0-9a-f]+$/i.test(p.SRP_A))
        return failLogin("InvalidParameterException", "SRP_A missing");
      const A = BigInt(`0x${p.SRP_A}`);
      const verifier = this.#verifier();
      const challenge = serverChallenge(verifier);
      const session = randomBytes(64).toString("base64url");
      const secretBlock = randomBytes(64).toString("base64");
      this.#st.secrets.add(session);
      this.#srp.set(session, {
        sub: this.#st.sim.sub,
        clientType,
        challenge,
        A,
        secretBlock,
        expiresAt: Date.now() + 180_000,
      });
      const text = JSON.stringify({
        ChallengeName: "PASSWORD_VERIFIER",
        Session: session,
        ChallengeParameters: {
          SALT: verifier.saltHex,
          SECRET_BLOCK: secretBlock,
          SRP_B: challenge.B.toString(16),
          USERNAME: this.#st.sim.sub,
          USER_ID_FOR_SRP: this.#st.sim.sub,
        },
      });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      return void res.end(text);
    }
    if (
      target === "AWSCognitoIdentityProviderService.RespondToAuthChallenge" &&
      body.ChallengeName === "PASSWORD_VERIFIER"
    ) {
      const r = (body.ChallengeResponses ?? {}) as Record<string, string>;
      const session = typeof body.Session === "string" ? this.#srp.get(body.Session) : undefined;
      if (!session || session.expiresAt < Date.now())
        return failLogin("NotAuthorizedException", "Invalid session for the user, session is expired.");
      this.#srp.delete(body.Session as string);
      if (r.USERNAME !== session.sub) return failLogin("NotAuthorizedException", "Incorrect username or password.");
      if (r.SECRET_HASH !== secretHash(secret, session.sub, client.clientId))
        return failLogin("NotAuthorizedException", `SecretHash does not match for the client: ${client.clientId}`);
      if (typeof r.TIMESTAMP !== "string" || !TIMESTAMP_RE.test(r.TIMESTAMP))
        return failLogin("InvalidParameterException", "TIMESTAMP format");
      if (r.PASSWORD_CLAIM_SECRET_BLOCK !== session.secretBlock)
        return failLogin("NotAuthorizedException", "Incorrect username or password.");
      const key = serverKey(this.#verifier(), session.challenge, session.A);
      const expected = key ? claimSignature(key, POOL_NAME, session.sub, session.secretBlock, r.TIMESTAMP) : "";
      if (!key || typeof r.PASSWORD_CLAIM_SIGNATURE !== "string" || !safeEqual(expected, r.PASSWORD_CLAIM_SIGNATURE))
        return failLogin("NotAuthorizedException", "Incorrect username or password.");
      // One login per account: a new login displaces every earlier session.
      this.#st.generation++;
      const result = this.#issueTokens(session.sub, session.clientType, true);
      this.#st.sim.emit("login", { sub: session.sub, clientType: session.clientType });
      const text = JSON.stringify({ ChallengeParameters: {}, AuthenticationResult: result });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      return void res.end(text);
    }
    if (target === "AWSCognitoIdentityProviderService.InitiateAuth" && body.AuthFlow === "REFRESH_TOKEN_AUTH") {
      const p = (body.AuthParameters ?? {}) as Record<string, string>;
      const refresh = typeof p.REFRESH_TOKEN === "string" ? this.#st.refresh.get(p.REFRESH_TOKEN) : undefined;
      const refuse = (why: string): void => {
        this.#st.sim.emit("refresh", { ok: false, reason: why });
        this.#cognitoError(res, "NotAuthorizedException", why);
      };
      if (!refresh) return refuse("Invalid Refresh Token");
      const mode = this.#st.sim.options.refreshSecretHash ?? "hmac";
      const hmacOk = p.SECRET_HASH === secretHash(secret, refresh.sub, client.clientId);
      const rawOk = p.SECRET_HASH === client.secret;
      const ok = mode === "any" ? hmacOk || rawOk : mode === "hmac" ? hmacOk : mode === "raw" ? rawOk : false;
      if (!ok) return refuse(`SecretHash does not match for the client: ${client.clientId}`);
      // A displaced session stays displaced through a refresh when the option says so (real behaviour unknown).
      const generation = this.#st.sim.options.refreshKeepsDisplacement ? refresh.generation : this.#st.generation;
      const result = this.#issueTokens(refresh.sub, refresh.clientType, false, generation);
      this.#st.sim.emit("refresh", { ok: true });
      const text = JSON.stringify({ ChallengeParameters: {}, AuthenticationResult: result });
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      return void res.end(text);
    }
    this.#cognitoError(
      res,
      "InvalidParameterException",
      `unsupported ${target} ${String(body.AuthFlow ?? body.ChallengeName ?? "")}`,
    );
  }
}
