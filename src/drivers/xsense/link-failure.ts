// Why an MQTT connection attempt failed, and what that means for the credentials it was presigned with.
// AWS IoT refuses a presigned WebSocket upgrade made with expired or revoked credentials with HTTP 403
// before any MQTT is spoken; an MQTT broker refuses at CONNECT with return code 4 or 5. Either way the
// same credentials will be refused again: retrying them is how a bridge goes deaf
// (docs/protocols/xsense.md §4.2).

/** `refused`: the service said no to these credentials; `unavailable`: it did not answer or failed. */
export type FailureKind = "refused" | "unavailable";

export interface LinkFailure {
  kind: FailureKind;
  /** A fixed, short key for rate-limited logging: "http-403", "connack-5", "tls", "ECONNREFUSED", ... */
  cause: string;
  /** HTTP status of a refused upgrade. */
  status?: number;
  /** Human-readable detail (never a URL: a presigned URL carries the credentials). */
  reason: string;
}

/** TLS failures that no retry with the same setup can cure (certificates, handshakes). */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

/** An upgrade the server answered with an HTTP status instead of 101 Switching Protocols. */
export function upgradeFailure(status: number, statusText: string, errorType?: string): LinkFailure {
  const reason = `HTTP ${status}${statusText ? ` ${statusText}` : ""}${errorType ? ` (${errorType})` : ""}`;
  const kind: FailureKind = status === 401 || status === 403 ? "refused" : "unavailable";
  return { kind, cause: `http-${status}`, status, reason };
}

/** An error the MQTT client or its socket reported during an attempt. */
export function errorFailure(error: Error & { code?: unknown }): LinkFailure {
  const code = error.code;
  if (code === 4 || code === 5) return { kind: "refused", cause: `connack-${code}`, reason: error.message };
  if (typeof code === "string" && TLS_CODE.test(code))
    return { kind: "refused", cause: "tls", reason: `${code}: ${error.message}` };
  if (typeof code === "string" && /^[A-Z_]+$/.test(code))
    return { kind: "unavailable", cause: code, reason: error.message };
  if (/connack timeout/i.test(error.message))
    return { kind: "unavailable", cause: "timeout", reason: "no CONNACK in time" };
  if (/signature/i.test(error.message)) return { kind: "refused", cause: "signature", reason: error.message };
  return { kind: "unavailable", cause: "error", reason: error.message.slice(0, 200) };
}

/** An attempt that closed without a word: nothing to learn about the credentials from it. */
export const CLOSED_WITHOUT_ANSWER: LinkFailure = {
  kind: "unavailable",
  cause: "closed",
  reason: "closed before CONNACK",
};
