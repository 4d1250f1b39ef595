// The bridge's pairing identity: HomeKit setup code and MAC-style username, Matter passcode and
// discriminator. Values from the config win; anything missing is generated once and persisted, so
// a restart never changes the codes a user scanned.
import { randomInt, randomBytes } from "node:crypto";
import { join } from "node:path";
import { JsonStore } from "./storage.ts";
import { isValidMatterPasscode, isValidPincode, type Config } from "./config.ts";

export interface PairingIdentity {
  homekit: { pincode: string; username: string };
  matter: { passcode: number; discriminator: number };
}

export function randomPincode(): string {
  for (;;) {
    const digits = String(randomInt(0, 100_000_000)).padStart(8, "0");
    const code = `${digits.slice(0, 3)}-${digits.slice(3, 5)}-${digits.slice(5)}`;
    if (isValidPincode(code)) return code;
  }
}

export function randomPasscode(): number {
  for (;;) {
    const code = randomInt(1, 99_999_999);
    if (isValidMatterPasscode(code)) return code;
  }
}

/** A locally administered unicast MAC, the form HAP uses as the accessory's username. */
export function randomUsername(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

export function loadIdentity(dataDir: string, config: Config): PairingIdentity {
  const store = new JsonStore<{
    homekit?: Partial<PairingIdentity["homekit"]>;
    matter?: Partial<PairingIdentity["matter"]>;
  }>(join(dataDir, "identity.json"));
  const saved = { homekit: store.get("homekit") ?? {}, matter: store.get("matter") ?? {} };
  const identity: PairingIdentity = {
    homekit: {
      pincode: config.homekit.pincode ?? saved.homekit.pincode ?? randomPincode(),
      username: saved.homekit.username ?? randomUsername(),
    },
    matter: {
      passcode: config.matter.passcode ?? saved.matter.passcode ?? randomPasscode(),
      discriminator: config.matter.discriminator ?? saved.matter.discriminator ?? randomInt(0, 4096),
    },
  };
  // Persist only generated values: a code set in the config stays owned by the config.
  const homekit = {
    pincode: config.homekit.pincode ? saved.homekit.pincode : identity.homekit.pincode,
    username: identity.homekit.username,
  };
  const matter = {
    passcode: config.matter.passcode ? saved.matter.passcode : identity.matter.passcode,
    discriminator:
      config.matter.discriminator !== undefined ? saved.matter.discriminator : identity.matter.discriminator,
  };
  if (JSON.stringify(homekit) !== JSON.stringify(saved.homekit)) store.set("homekit", homekit);
  if (JSON.stringify(matter) !== JSON.stringify(saved.matter)) store.set("matter", matter);
  return identity;
}
