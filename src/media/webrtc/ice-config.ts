// Which network paths a WebRTC viewer is offered. werift, left to its defaults, asks Google's STUN
// server and offers every address of the machine; here nothing is asked of any server unless
// media.webrtc.stun / turn say so, and host candidates are only the configured interfaces' addresses.
import { isIP } from "node:net";
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import type { RTCIceServer, RTCPeerConnectionConfig } from "werift";

export interface WebRtcIceSettings {
  /** Interface names or IP addresses; empty: every non-internal address (werift's own choice). */
  interfaces: string[];
  stun?: string;
  turn?: { url: string; username: string; credential: string };
}

export type InterfaceList = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** The addresses `interfaces` names (an address is taken as it is); throws on a name that has none. */
export function hostAddresses(interfaces: string[], list: InterfaceList = networkInterfaces()): string[] {
  const out: string[] = [];
  for (const entry of interfaces) {
    if (isIP(entry) !== 0) {
      out.push(entry);
      continue;
    }
    const found = (list[entry] ?? []).filter((a) => !(a.family === "IPv6" && a.address.startsWith("fe80:")));
    if (found.length === 0) throw new Error(`media.webrtc.interfaces: no interface ${entry} with an address`);
    out.push(...found.map((a) => a.address));
  }
  return [...new Set(out)];
}

/** werift's peer configuration for one viewer (ICE part). */
export function iceConfig(settings: WebRtcIceSettings, list?: InterfaceList): RTCPeerConnectionConfig {
  const iceServers: RTCIceServer[] = [];
  if (settings.stun) iceServers.push({ urls: settings.stun });
  if (settings.turn) {
    const { url, username, credential } = settings.turn;
    iceServers.push({ urls: url, username, credential });
  }
  // Never werift's default (a public STUN server): an explicit list, empty unless configured.
  const config: RTCPeerConnectionConfig = { iceServers, iceUseTcp: false };
  if (settings.interfaces.length === 0) return config;
  const addresses = hostAddresses(settings.interfaces, list);
  const v4 = addresses.filter((a) => isIP(a) === 4);
  const v6 = addresses.filter((a) => isIP(a) === 6);
  // werift gathers its own list when a family is on; off, only the additional addresses are used.
  // With one address of a family its socket is bound to it (not to the wildcard address).
  return {
    ...config,
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: addresses,
    iceInterfaceAddresses: {
      ...(v4.length === 1 ? { udp4: v4[0] } : {}),
      ...(v6.length === 1 ? { udp6: v6[0] } : {}),
    },
  };
}
