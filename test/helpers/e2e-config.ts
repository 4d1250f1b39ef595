// What every end-to-end test needs to start the real bridge: a free Matter port and a config with
// HAP on any port, no mDNS advertising, fixed pairing codes and the test's vendor accounts.
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";

/** hap-controller refuses trivial setup codes such as 123-45-678. */
export const E2E_PIN = "031-45-154";
export const E2E_PASSCODE = 20202021;

export async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp6");
  await new Promise<void>((resolve) => socket.bind(0, "::1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export interface E2EConfig {
  /** The HomeKit bridge's name. */
  name: string;
  /** Account entries as in the config; passwords as "${ENV_VAR}" so they never sit in the file. */
  accounts: Record<string, unknown>[];
  discriminator?: number;
  web?: Record<string, unknown>;
  media?: Record<string, unknown>;
  /** More `matter.*` keys (e.g. cameras: true). */
  matter?: Record<string, unknown>;
  logLevel?: string;
}

/** Write the config file; resolves with the Matter port it chose. */
export async function writeE2EConfig(file: string, options: E2EConfig): Promise<{ matterPort: number }> {
  const matterPort = await freeUdpPort();
  const config = {
    homekit: { port: 0, advertiser: "none", pincode: E2E_PIN, name: options.name },
    matter: {
      port: matterPort,
      passcode: E2E_PASSCODE,
      discriminator: options.discriminator ?? 3840,
      ...options.matter,
    },
    ...(options.web ? { web: options.web } : {}),
    // Simulated cameras push to loopback only; any free port so files can run side by side. The local
    // push only (these simulators serve no cloud video unless a test sets endpoints.media): a push slowed
    // past auto's 4 s by a loaded machine must not turn into a cloud request the test did not expect.
    media: { rtmpHost: "127.0.0.1", bind: "127.0.0.1", rtmpPort: 0, source: "local", ...options.media },
    accounts: options.accounts,
    ...(options.logLevel ? { log: { level: options.logLevel } } : {}),
  };
  writeFileSync(file, stringify(config));
  return { matterPort };
}
