// JWT-shaped session tokens like the FanSync cloud hands out (HS256, 30-day life, docs/protocols/fansync.md §2).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const TOKEN_LIFETIME_S = 2_592_000;
export const TOKEN_ISSUER = "http://sphinx-usm:4070/api/v1/user/login";

export interface JwtPayload {
  sub: number;
  iss: string;
  iat: number;
  exp: number;
  nbf: number;
  jti: string;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString("base64url");

export function signJwt(payload: JwtPayload, secret: string): string {
  const header = b64url(JSON.stringify({ typ: "JWT", alg: "HS256" }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac("sha256", secret).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${sig}`;
}

export function issueJwt(userId: number, secret: string, nowS = Math.floor(Date.now() / 1000)): string {
  return signJwt(
    {
      sub: userId,
      iss: TOKEN_ISSUER,
      iat: nowS,
      exp: nowS + TOKEN_LIFETIME_S,
      nbf: nowS,
      jti: randomBytes(16).toString("hex"),
    },
    secret,
  );
}

/** The payload when the signature is good, undefined otherwise (expiry is the caller's business). */
export function verifyJwt(token: string, secret: string): JwtPayload | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [header, body, sig] = parts as [string, string, string];
  const expected = Buffer.from(createHmac("sha256", secret).update(`${header}.${body}`).digest("base64url"));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    return JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as JwtPayload;
  } catch {
    return undefined;
  }
}
