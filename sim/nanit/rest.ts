// The simulated Nanit REST API (docs/protocols/nanit.md §2-§3, §5.1-§5.2): /login with its MFA step,
// /tokens/refresh with single-use rotating refresh tokens, /babies, /babies/{uid}/messages and
// /focus/cameras/{uid}/uc_token, and the tokens it issues, which the control sockets check (socket.ts).
// Every request is recorded; a fault can be injected per path.
import { createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NanitSimulator } from "./index.ts";
import type { HttpRecord, SimBaby, SimCamera } from "./types.ts";

/** What the REST API reads and counts on the simulator (tests change some of it between requests). */
export type RestHost = Pick<
  NanitSimulator,
  | "email"
  | "password"
  | "mfaEnabled"
  | "mfaCode"
  | "babies"
  | "messages"
  | "httpRequests"
  | "accessTokenLifetimeS"
  | "replayedRefreshStatus"
  | "smsSent"
  | "refreshes"
  | "emit"
>;

export function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString("hex"); // 48 chars, like the refresh tokens in the issue logs
}

export class SimRest {
  readonly #sim: RestHost;
  readonly #cameras: ReadonlyMap<string, SimCamera>;
  readonly #secret = randomBytes(32).toString("hex");
  readonly #refresh = new Map<string, "valid" | "used" | "expired">();
  readonly #access = new Set<string>();
  readonly #ucTokens = new Set<string>();
  readonly #faults = new Map<string, { status: number; count: number; body?: unknown }>();
  #mfaToken: string | undefined;

  constructor(sim: RestHost, cameras: ReadonlyMap<string, SimCamera>) {
    this.#sim = sim;
    this.#cameras = cameras;
  }

  /** An access token this API issued and has not revoked (expired or not). */
  accessKnown(token: string): boolean {
    return this.#access.has(token);
  }

  ucTokenValid(token: string): boolean {
    return this.#ucTokens.has(token);
  }

  /** Every access token issued so far answers 401 (mid-life 401s). */
  revokeAccessTokens(): void {
    this.#access.clear();
  }

  /** Every refresh token expires (404 on refresh; the user must log in again). */
  expireRefreshTokens(): void {
    for (const t of this.#refresh.keys()) this.#refresh.set(t, "expired");
  }

  /** The refresh tokens still valid (normally exactly one per session). */
  get validRefreshTokens(): string[] {
    return [...this.#refresh].filter(([, s]) => s === "valid").map(([t]) => t);
  }

  get usedRefreshTokens(): string[] {
    return [...this.#refresh].filter(([, s]) => s === "used").map(([t]) => t);
  }

  /** Answer the next `count` requests to `path` (e.g. "/tokens/refresh") with `status`. */
  failNext(path: string, status: number, count = 1, body?: unknown): void {
    this.#faults.set(path, { status, count, body });
  }

  /** A new session: an HS256 access token (JWT with `exp`) and a single-use refresh token. */
  issue(): { accessToken: string; refreshToken: string } {
    const now = Math.floor(Date.now() / 1000);
    const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({ sub: 4242, iat: now, exp: now + this.#sim.accessTokenLifetimeS, jti: randomToken(8) }),
    ).toString("base64url");
    const sig = createHmac("sha256", this.#secret).update(`${header}.${payload}`).digest("base64url");
    const accessToken = `${header}.${payload}.${sig}`;
    const refreshToken = randomToken();
    this.#access.add(accessToken);
    this.#refresh.set(refreshToken, "valid");
    return { accessToken, refreshToken };
  }

  /** Issued, not revoked and not past its `exp`. */
  accessValid(token: string | undefined): boolean {
    if (!token || !this.#access.has(token)) return false;
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { exp: number };
    return payload.exp * 1000 > Date.now();
  }

  /** Bare, `token ` and `Bearer ` are accepted on REST; `/focus/*` needs Bearer (docs/protocols/nanit.md §2.6). */
  tokenFrom(authorization: string | undefined, bearerOnly: boolean): string | undefined {
    if (!authorization) return undefined;
    const m = /^(Bearer|token) (.+)$/.exec(authorization);
    if (bearerOnly) return m?.[1] === "Bearer" ? m[2] : undefined;
    return m ? m[2] : authorization;
  }

  /** One REST request: its fault if one is injected for the path, else the route's answer. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> | undefined;
    try {
      body = chunks.length
        ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>)
        : undefined;
    } catch {
      body = undefined;
    }
    const url = new URL(req.url ?? "/", "http://sim");
    const send = (status: number, json: unknown): void => {
      const record: HttpRecord = {
        method: req.method ?? "",
        path: url.pathname,
        status,
        authorization: req.headers.authorization,
        body,
      };
      this.#sim.httpRequests.push(record);
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
      this.#sim.emit("http", record);
    };
    const fault = this.#faults.get(url.pathname);
    if (fault && fault.count > 0) {
      if (--fault.count === 0) this.#faults.delete(url.pathname);
      return send(fault.status, fault.body ?? { message: "injected fault" });
    }
    const route = `${req.method} ${url.pathname}`;
    if (route === "POST /login") return send(...this.#login(body));
    if (route === "POST /tokens/refresh") return send(...this.#refreshTokens(body));
    const bearerOnly = url.pathname.startsWith("/focus/");
    if (!this.accessValid(this.tokenFrom(req.headers.authorization, bearerOnly)))
      return send(401, { error: "unauthorized", error_description: "Access token is invalid or expired" });
    if (route === "GET /babies") return send(200, { babies: this.#sim.babies.map((b) => this.#babyJson(b)) });
    let m = /^GET \/babies\/([^/]+)\/messages$/.exec(route);
    if (m) {
      const limit = Math.max(1, Number(url.searchParams.get("limit") ?? 10));
      const list = this.#sim.messages
        .filter((x) => x.baby_uid === m![1])
        .sort((a, b) => b.id - a.id)
        .slice(0, limit);
      return send(200, { messages: list });
    }
    m = /^GET \/focus\/cameras\/([^/]+)\/uc_token$/.exec(route);
    if (m && this.#cameras.has(decodeURIComponent(m[1]!))) {
      const token = randomToken(16);
      this.#ucTokens.add(token);
      return send(200, { token });
    }
    return send(404, { message: "Not Found" });
  }

  #babyJson(b: SimBaby): Record<string, unknown> {
    const cam = this.#cameras.get(b.cameraUid)!;
    return {
      uid: b.uid,
      name: b.name,
      camera_uid: b.cameraUid,
      camera: {
        uid: b.cameraUid,
        baby_uid: b.uid,
        hardware: "gen_2",
        version: cam.firmware,
        mode: "STAND",
        connected: true,
        last_seen: Math.floor(Date.now() / 1000),
        stream_url: "rtmps://media-secured.nanit.invalid",
        private_address: `127.0.0.1:${cam.localPort}`,
        public_address: "203.0.113.7:50000",
      },
      speaker: b.speakerUid
        ? { attached_to_speaker: true, speaker: { uid: b.speakerUid } }
        : { attached_to_speaker: false, speaker: null },
      timezone: "Europe/London",
    };
  }

  #login(body: Record<string, unknown> | undefined): [number, unknown] {
    if (!body || body.email !== this.#sim.email || body.password !== this.#sim.password) {
      return [
        401,
        body?.mfa_token
          ? { message: "Unauthorized" }
          : { error: "invalid_grant", error_description: "Invalid email or password" },
      ];
    }
    if (this.#sim.mfaEnabled) {
      if (body.mfa_token === undefined) {
        this.#mfaToken = randomToken(16);
        this.#sim.smsSent++;
        this.#sim.emit("sms", this.#sim.mfaCode);
        return [
          482,
          { mfa_token: this.#mfaToken, phone_suffix: "42", channel: body.channel === "email" ? "email" : "sms" },
        ];
      }
      if (body.mfa_token !== this.#mfaToken || body.mfa_code !== this.#sim.mfaCode)
        return [401, { message: "Invalid or expired MFA code" }];
      this.#mfaToken = undefined;
    }
    const { accessToken, refreshToken } = this.issue();
    return [
      201,
      {
        access_token: accessToken,
        refresh_token: refreshToken,
        token: randomToken(),
        user: {
          id: 4242,
          email: this.#sim.email,
          enforce_mfa: this.#sim.mfaEnabled,
          units: "metric",
          feature_flags: {},
        },
      },
    ];
  }

  #refreshTokens(body: Record<string, unknown> | undefined): [number, unknown] {
    const token = typeof body?.refresh_token === "string" ? body.refresh_token : "";
    const state = this.#refresh.get(token);
    if (state === "used") return [this.#sim.replayedRefreshStatus, { message: "refresh token has expired" }];
    if (state !== "valid") return [404, { message: "refresh token has expired" }];
    this.#refresh.set(token, "used");
    this.#sim.refreshes++;
    const { accessToken, refreshToken } = this.issue();
    return [200, { access_token: accessToken, refresh_token: refreshToken }];
  }
}
