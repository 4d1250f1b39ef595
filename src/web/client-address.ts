// Who is asking. Behind a reverse proxy every request comes from the proxy: the client's address and
// the scheme the browser used are in X-Forwarded-For / X-Forwarded-Proto, which anyone can send, so
// they are believed only from the peers listed in web.trustedProxies.
import { BlockList, isIP } from "node:net";
import type { IncomingMessage } from "node:http";

/** An IPv4 peer of a dual-stack socket shows as ::ffff:a.b.c.d: compare it as a.b.c.d. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address.toLowerCase();
}

export function isLoopbackAddress(address: string | undefined): boolean {
  const a = normalizeAddress(address);
  return a === "::1" || (isIP(a) === 4 && a.startsWith("127."));
}

const family = (address: string) => (isIP(address) === 6 ? "ipv6" : "ipv4");

/** A header's comma-separated values (node joins a repeated X-Forwarded-For with ", "). */
function headerList(value: string | string[] | undefined): string[] {
  const text = Array.isArray(value) ? value.join(",") : (value ?? "");
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export class ProxyTrust {
  readonly #trusted = new BlockList();
  readonly #any: boolean;

  /** `entries`: addresses and CIDR blocks (validated by the config schema). */
  constructor(entries: string[] = []) {
    for (const entry of entries) {
      const [address = "", prefix] = entry.split("/");
      const normalized = normalizeAddress(address);
      if (isIP(normalized) === 0) continue;
      if (prefix === undefined) this.#trusted.addAddress(normalized, family(normalized));
      else this.#trusted.addSubnet(normalized, Number(prefix), family(normalized));
    }
    this.#any = entries.length > 0;
  }

  trusts(address: string | undefined): boolean {
    const a = normalizeAddress(address);
    return this.#any && isIP(a) !== 0 && this.#trusted.check(a, family(a));
  }

  /** Whether the peer is a trusted proxy (its forwarding headers count). */
  viaProxy(req: IncomingMessage): boolean {
    return this.trusts(req.socket.remoteAddress);
  }

  /** The client's address: the peer's, or from a trusted proxy the nearest address in X-Forwarded-For
   * that is not itself a trusted proxy (entries further left were written by whoever sent them). */
  client(req: IncomingMessage): string {
    let client = normalizeAddress(req.socket.remoteAddress);
    if (!this.trusts(client)) return client;
    const hops = headerList(req.headers["x-forwarded-for"]);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeAddress(hops[i]);
      if (isIP(hop) === 0) break; // garbage: the last trusted hop is the best we know
      client = hop;
      if (!this.trusts(hop)) break;
    }
    return client;
  }

  /** "https" or "http" as the browser used it: from a trusted proxy's X-Forwarded-Proto, else http. */
  scheme(req: IncomingMessage): "http" | "https" {
    if (!this.viaProxy(req)) return "http";
    const proto = headerList(req.headers["x-forwarded-proto"])[0]?.toLowerCase();
    return proto === "https" ? "https" : "http";
  }
}

/** Whether the request says it was forwarded for someone else (then it is not "from this machine"). */
export function forwarded(req: IncomingMessage): boolean {
  return req.headers["x-forwarded-for"] !== undefined || req.headers.forwarded !== undefined;
}
