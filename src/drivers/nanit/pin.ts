// Trust-on-first-use pinning of the camera's self-signed certificate (local socket, wss://<ip>:442).
// TLS verification stays on: the pinned certificate is the only trust anchor (`ca`), and
// checkServerIdentity compares the peer's SHA-256 fingerprint instead of the (wrong) host name.
// The first-use probe only reads the presented certificate and sends nothing over that connection.
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import { X509Certificate } from "node:crypto";

export interface PinnedCert {
  /** SHA-256 fingerprint, colon-separated upper-case hex (Node's `fingerprint256`). */
  fingerprint256: string;
  /** The certificate itself (PEM): the only CA trusted for this camera. */
  pem: string;
  pinnedAt: string;
}

export class NanitCertificateMismatchError extends Error {
  override name = "NanitCertificateMismatchError";
  readonly expected: string;
  readonly presented: string;
  constructor(where: string, expected: string, presented: string) {
    super(
      `the camera at ${where} presented a certificate with SHA-256 fingerprint ${presented}, ` +
        `but ${expected} is pinned; refusing the local connection ` +
        `(if the camera was replaced or reset, remove its entry under "pins" in the account's data file)`,
    );
    this.expected = expected;
    this.presented = presented;
  }
}

function toPem(der: Buffer): string {
  const b64 =
    der
      .toString("base64")
      .match(/.{1,64}/g)
      ?.join("\n") ?? "";
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** Read the certificate a TLS server presents, without verifying it and without sending any data. */
export function fetchPeerCertificate(host: string, port: number, timeoutMs: number): Promise<PinnedCert> {
  return new Promise((resolve, reject) => {
    // Verification is off for this probe only: it reads the certificate to pin and closes at once.
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, servername: undefined, timeout: timeoutMs });
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.once("timeout", () => fail(new Error(`TLS probe of ${host}:${port} timed out after ${timeoutMs} ms`)));
    socket.once("error", (e) => fail(new Error(`TLS probe of ${host}:${port} failed: ${e.message}`)));
    socket.once("secureConnect", () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      socket.destroy();
      if (!cert?.raw) return reject(new Error(`${host}:${port} presented no certificate`));
      resolve({ fingerprint256: cert.fingerprint256, pem: toPem(cert.raw), pinnedAt: new Date().toISOString() });
    });
  });
}

/** TLS options for a pinned connection: verification on, the pin as the only CA, fingerprint match. */
export function pinnedTlsOptions(
  pin: PinnedCert,
  where: string,
): {
  ca: string;
  rejectUnauthorized: true;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
} {
  return {
    ca: pin.pem,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) =>
      cert.fingerprint256 === pin.fingerprint256
        ? undefined
        : new NanitCertificateMismatchError(where, pin.fingerprint256, cert.fingerprint256),
  };
}

/** The fingerprint of a PEM certificate, in Node's fingerprint256 format. */
export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}
