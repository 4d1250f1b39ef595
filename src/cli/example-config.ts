// The commented example config written on first start (no config file yet). Every key is shown
// commented out with its default and what it does, so the file parses to the defaults as written;
// a user removes the "# " in front of a key to set it. Commented-out settings are "# key: value" or
// "# - key: value" (indented under their section); prose never starts with a word and a colon. The
// unit test uncomments exactly the setting lines and checks the result against the config schema.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { namesOf, type VendorModule } from "../core/vendor.ts";
import { vendors } from "../drivers/index.ts";

const all = vendors as readonly VendorModule[];
const CAMERA_VENDORS = namesOf(
  all.filter((v) => v.produces.cameras),
  "and",
);

/** The keys under a vendor's `endpoints` (none when it has no such key). */
function endpointKeys(vendor: VendorModule): string[] {
  const endpoints = vendor.accountKeys.endpoints;
  const object = endpoints instanceof z.ZodOptional ? endpoints.unwrap() : endpoints;
  return object instanceof z.ZodObject ? Object.keys(object.shape) : [];
}

/** One vendor's commented account entry, from its module. */
function accountExample(vendor: VendorModule): string[] {
  return [`#   # ${vendor.example.comment}`, ...vendor.example.lines.map((line) => `#   ${line}`)];
}

export interface ExampleOptions {
  /** Include the `web` section (only once the config schema knows it). */
  web?: boolean;
}

export function exampleConfig(options: ExampleOptions = {}): string {
  const lines = [
    "# Hearthbridge configuration (YAML), written on first start with every key commented out.",
    '# As it stands, the bridge runs with the defaults and no accounts. To set a key, remove the "# "',
    "# in front of it and of its section line, then restart. Passwords can go in this file (mode 0600),",
    '# in an environment variable ("${FANSYNC_PASSWORD}") or in a file (passwordFile).',
    "# Check it with `npm run doctor`; show the pairing codes with `npm run pairing`.",
    "",
    "# Apple Home (HAP).",
    "# homekit:",
    "#   enabled: true",
    "#   # TCP port of the HAP server (0 = any free port); extra bridges past 149 accessories use the next ports.",
    "#   port: 51826",
    "#   # Setup code; generated once and kept in <data>/identity.json when absent. Trivial codes are refused.",
    '#   pincode: "031-45-154"',
    "#   # Bridge name shown while pairing.",
    "#   name: Hearthbridge",
    "#   # mDNS publisher: ciao (built in), avahi or resolved (the host's daemon), none (pair by address).",
    "#   advertiser: ciao",
    "#   # Cameras: standalone (own accessory, port and setup code, as Home Assistant does) or bridged.",
    "#   cameras: standalone",
    "",
    "# Matter (Google Home, SmartThings, Home Assistant, Apple Home via Matter).",
    "# matter:",
    "#   enabled: true",
    "#   # UDP port of the Matter node.",
    "#   port: 5540",
    "#   # Setup passcode (1-99999998, not 12345678 or all-same digits) and discriminator (0-4095);",
    "#   # generated once and kept in <data>/identity.json when absent.",
    "#   passcode: 20202021",
    "#   discriminator: 3840",
    "#   # Limit Matter's mDNS to one network interface (default: all).",
    "#   mdnsInterface: eth0",
    "#   # Node label of the Matter bridge.",
    "#   name: Hearthbridge",
    "#   # Each camera as its own Matter 1.5 Camera node (WebRTC live view, snapshots); off by default",
    '#   # until real controllers are tested (README "Matter cameras").',
    "#   cameras: false",
    "",
  ];
  if (options.web) {
    lines.push(
      "# The status web page (http://<this host>:8581/).",
      "# web:",
      "#   enabled: true",
      "#   port: 8581",
      "#   # Address to serve on: 0.0.0.0 = every interface (a password is then required), " +
        "127.0.0.1 = this machine only.",
      "#   host: 0.0.0.0",
      "#   # The page's password (8+ characters), hashed at load, never stored plain. Without it the page is",
      '#   # set up with the one-time link the bridge logs ("no password yet") and npm run pairing shows.',
      "#   password: ${WEB_PASSWORD}",
      "#   # Host names the page answers besides localhost, IP addresses and this machine's name.",
      "#   allowedHosts: [bridge.home.arpa]",
      "#   # Behind a TLS reverse proxy: the address browsers use, and the proxy's own addresses.",
      "#   publicOrigin: https://bridge.example.com",
      "#   trustedProxies: [127.0.0.1]",
      "#   # Who may read /health and /metrics: open (default), loopback (this machine only) or login.",
      "#   healthAccess: open",
      "#   metricsAccess: open",
      "",
    );
  }
  lines.push(
    `# Camera video (${CAMERA_VENDORS}). ` +
      "The camera pushes RTMP to rtmpHost:rtmpPort: an address it reaches on the LAN.",
    "# media:",
    "#   # This machine's LAN address as the camera sees it (default: its first non-loopback IPv4 address).",
    "#   rtmpHost: 192.168.1.20",
    "#   rtmpPort: 1935",
    "#   # Address the RTMP ingest listens on.",
    "#   bind: 0.0.0.0",
    "#   # ffmpeg binary (default: ffmpeg on the PATH).",
    "#   ffmpeg: /usr/bin/ffmpeg",
    "#   # Cameras (name or id) kept pushing all the time, for an instant picture. Default none.",
    "#   keepWarm: []",
    "#   # auto: pass the camera's H.264 through when it fits the viewer, re-encode otherwise; always: re-encode.",
    "#   transcode: auto",
    "#   # How video reaches the bridge: local (the camera pushes to rtmpHost), cloud (read back from the",
    "#   # vendor's cloud), auto (local, the cloud when the camera did not push within 4 s).",
    "#   source: auto",
    "#   # Live view in the web page (WebRTC). Host candidates only on these interfaces or addresses",
    "#   # (default: every LAN address); STUN/TURN only when set (for viewers outside the LAN).",
    "#   webrtc:",
    "#     enabled: true",
    "#     interfaces: []",
    "#     # stun: stun:stun.example.net:3478",
    "#     maxSessions: 4",
    "#     connectTimeoutMs: 15000",
    "#   # Copy mode's video: native (sent by the bridge itself, ffmpeg only for audio) or ffmpeg.",
    "#   videoRelay: native",
    "#   # Addresses or CIDR ranges cameras may push from (default: any; a secret stream key is needed anyway).",
    "#   allowedCameras: [192.168.1.0/24]",
    "#   # Bounds on what a peer can make the RTMP ingest hold (defaults shown).",
    "#   rtmpLimits:",
    "#     publishTimeoutMs: 10000",
    "#     messageBytesBeforePublish: 65536",
    "#     messageBytes: 8388608",
    "#     chunkStreamsBeforePublish: 8",
    "#     chunkStreams: 32",
    "#     pendingPerAddress: 4",
    "#     connections: 64",
    "",
    "# One entry per vendor account. Name (optional, unique) labels the account and its session file.",
    `# Instead of password, passwordFile: /run/secrets/${all[0]!.id} reads the password from a file.`,
    "# Endpoints (optional) override the vendor's cloud URLs, for simulators and tests only:",
    `# ${all.map((v) => `${v.displayName} ${endpointKeys(v).join(", ")}`).join("; ")}.`,
    "# accounts:",
    ...all.flatMap(accountExample),
    "",
    "# Logging: fatal, error, warn, info, debug or trace.",
    "# log:",
    "#   level: info",
    "",
  );
  return lines.join("\n");
}

/** Uncomment the setting lines of the example (the unit test's view of "every key set"). */
export function uncommentExample(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const m = /^# ( *)((?:- )?[a-z][A-Za-z]*:(?: .*)?)$/.exec(line);
      return m ? `${m[1]}${m[2]}` : line;
    })
    .join("\n");
}

/**
 * Write the example at `path` (mode 0600: users put passwords in it). Never replaces an existing
 * file. Returns false when the file appeared meanwhile.
 */
export function writeExampleConfig(path: string, options: ExampleOptions = {}): boolean {
  mkdirSync(dirname(path), { recursive: true });
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, exampleConfig(options));
  } finally {
    closeSync(fd);
  }
  return true;
}
