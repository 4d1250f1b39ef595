// Which Host header values the web server answers. A page on another site can make the owner's browser
// talk to the bridge by resolving its own name to the bridge's address (DNS rebinding); the browser then
// sends that foreign name as Host, and nothing else tells the two apart. So only names that mean this
// bridge are answered: localhost, this machine's name (and .local), the public origin's name and
// web.allowedHosts. An IP address is always accepted, as Vite does: rebinding needs a name, and inside
// Docker the address the browser used is the host's, not one of the container's interfaces.
import { isIP } from "node:net";
import { hostname } from "node:os";

const LABEL = "[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?";
const NAME = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

/** The name in a Host header (or an allowedHosts entry): lower case, without port, brackets or a
 * trailing dot; undefined when it is not a valid host. */
export function hostName(header: string): string | undefined {
  const value = header.trim().toLowerCase();
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    const rest = value.slice(end + 1);
    if (end < 0 || (rest && !/^:\d{1,5}$/.test(rest))) return undefined;
    const address = value.slice(1, end);
    return isIP(address) === 6 ? address : undefined;
  }
  if (isIP(value) === 6) return value; // an allowedHosts entry written without brackets
  const colon = value.lastIndexOf(":");
  if (colon >= 0 && !/^\d{1,5}$/.test(value.slice(colon + 1))) return undefined;
  const name = (colon >= 0 ? value.slice(0, colon) : value).replace(/\.$/, "");
  return NAME.test(name) ? name : undefined;
}

/** This machine's names as a LAN browser may use them: for `nas.lan`, also `nas` and `nas.local`. */
export function machineNames(name = hostname()): string[] {
  const full = hostName(name);
  if (!full) return [];
  const short = full.split(".")[0]!;
  return [...new Set([full, short, `${short}.local`])];
}

export interface HostCheckOptions {
  /** web.allowedHosts: exact names, or ".example.com" for it and its subdomains. */
  allowedHosts?: string[];
  /** web.publicOrigin: its host name is allowed. */
  publicOrigin?: string;
  /** The machine's names (tests); read from the system by default, again when it may have been renamed. */
  machineNames?: () => string[];
  now?: () => number;
}

/** How often an unknown name may make us look at the machine's name again. */
const RENAME_CHECK_MS = 10_000;

export class HostCheck {
  readonly #exact = new Set<string>(["localhost"]);
  readonly #suffixes: string[] = [".localhost"];
  readonly #machineNames: () => string[];
  readonly #now: () => number;
  #machine = new Set<string>();
  #machineReadAt = -Infinity;

  constructor(options: HostCheckOptions = {}) {
    this.#machineNames = options.machineNames ?? (() => machineNames());
    this.#now = options.now ?? Date.now;
    for (const entry of options.allowedHosts ?? []) {
      const subdomains = entry.startsWith(".");
      const name = hostName(subdomains ? entry.slice(1) : entry);
      if (!name) continue; // the config schema refused it already
      this.#exact.add(name);
      if (subdomains) this.#suffixes.push(`.${name}`);
    }
    if (options.publicOrigin) this.#exact.add(new URL(options.publicOrigin).hostname.replace(/^\[(.*)\]$/, "$1"));
    this.#readMachine();
  }

  /** Whether a request with this Host header is meant for the bridge. */
  allows(header: string | undefined): boolean {
    if (header === undefined) return false;
    const name = hostName(header);
    if (name === undefined) return false;
    if (isIP(name) !== 0 || this.#exact.has(name) || this.#machine.has(name)) return true;
    if (this.#suffixes.some((suffix) => name.endsWith(suffix))) return true;
    // The machine may have been renamed while the bridge runs; looking costs a syscall, so not per request.
    if (this.#now() - this.#machineReadAt < RENAME_CHECK_MS) return false;
    this.#readMachine();
    return this.#machine.has(name);
  }

  #readMachine(): void {
    this.#machine = new Set(this.#machineNames());
    this.#machineReadAt = this.#now();
  }
}
