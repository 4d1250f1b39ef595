// Nanit baby cameras (cloud + local control socket). See docs/protocols/nanit.md.
export { NanitDriver, NIGHT_LIGHT, STANDBY, type NanitDriverOptions, type NanitTimeouts } from "./driver.ts";
export { loginWithMfa, type LoginWithMfaOptions, type MfaPrompt, type LoginResult } from "./login.ts";
export { NanitSession, saveSession, isStoredSession, SESSION_KEY, MFA_KEY, LOGIN_HINT, type StoredSession } from "./session.ts";
export {
  DEFAULT_API,
  DEFAULT_WEBSOCKET,
  NanitAuthError,
  NanitMfaRequiredError,
  NanitLoginRequiredError,
  NanitUnauthorizedError,
  NanitHttpError,
  parseBabies,
  parseMessages,
  jwtExpiry,
  type Tokens,
  type BabyCamera,
} from "./rest.ts";
export { NanitSocket, NanitHandshakeError, NanitTimeoutError, NanitClosedError, NanitRequestError } from "./socket.ts";
export { NanitCertificateMismatchError, fetchPeerCertificate, fingerprintOf, type PinnedCert } from "./pin.ts";
export { encodeMessage, decodeMessage, KEEPALIVE_FRAME, NanitFrameError, PROTO_PATH, type NanitMessage, type RequestMsg, type ResponseMsg } from "./proto.ts";
