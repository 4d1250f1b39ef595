// The data the simulated cloud answers WebSocket requests with (docs/protocols/fansync.md §4-§5): a
// device's `get` answer, its `lst_device` entry, and the account's `get_me`, `get_user_data` and
// `provision_token` answers, shaped as captured.
import { randomBytes } from "node:crypto";
import { eshOf, type DeviceProfile, type ProfileBehaviour, type Registers } from "./profiles.ts";

export interface SimDevice {
  id: string;
  profile: DeviceProfile;
  behaviour: ProfileBehaviour;
  properties: Record<string, unknown>;
  /** What the device really is. */
  actual: Registers;
  /** What the device last reported: what `get` returns. */
  reported: Registers;
  connected: number;
}

export function listEntry(d: SimDevice, email: string): Record<string, unknown> {
  return { owner: email, device: d.id, role: "owner", properties: { ...d.properties } };
}

export function getData(dev: SimDevice, email: string): Record<string, unknown> {
  return {
    users: [{ role: "owner", email }],
    status: { ...dev.reported },
    fields: [...dev.profile.fields],
    profile: {
      cert: {
        validity: { not_after: "2033-01-01T00:00:00Z", not_before: "2023-01-01T00:00:00Z" },
        fingerprint: { sha1: "00".repeat(20) },
      },
      module: {
        firmware_version: dev.profile.firmware,
        local_ip: "192.0.2.10",
        ssid: "example-ssid",
        mac_address: dev.id.slice(0, 12),
      },
      esh: eshOf(dev.profile),
    },
    calendar: [],
    device: dev.id,
    connected: dev.connected,
    device_state: "idle",
  };
}

export function provisionToken(): Record<string, unknown> {
  return { token: randomBytes(16).toString("hex"), expires_in: Math.floor(Date.now() / 1000) + 2_592_000 };
}

export function userData(): Record<string, unknown> {
  return { groupDisplayOrder: [], loginData: { email: { updateDate: Date.now(), createDate: Date.now() } } };
}

export function me(userId: number, email: string): Record<string, unknown> {
  return {
    id: userId,
    status: 1,
    email,
    name: "Demo",
    ifttt_link: { status: 0 },
    alexa_link: { status: 0 },
    googlehome_link: { status: 0 },
  };
}
