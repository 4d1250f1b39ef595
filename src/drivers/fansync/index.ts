// FanSync (Fanimation) cloud driver. See docs/protocols/fansync.md.
import { z } from "zod";
import { defineVendor, httpUrl, str, wsUrl } from "../../core/vendor.ts";
import { DEFAULT_API, DEFAULT_WEBSOCKET, FanSyncDriver } from "./driver.ts";
import { FanSyncAuthError, login } from "./http-auth.ts";

export {
  FanSyncDriver,
  DEFAULT_API,
  DEFAULT_WEBSOCKET,
  type FanSyncDriverOptions,
  type FanSyncTimeouts,
} from "./driver.ts";
export type { AssumedState } from "./assumed.ts";
export {
  detectTraits,
  speedStepsFor,
  cctPresetsFor,
  KUTE60_STEPS,
  THREE_SPEED_STEPS,
  CCT_PRESETS,
  CORKE_CCT_PRESETS,
  type FanSyncTraits,
  type DeviceOverride,
} from "./capabilities.ts";
export { planWrites, registersToState, registersToPatch, faultText, H0E_CODES, type Registers } from "./registers.ts";
export { FanSyncAuthError, FanSyncHttpError } from "./http-auth.ts";
export {
  FanSyncSocket,
  FanSyncLoginRejectedError,
  FanSyncTimeoutError,
  FanSyncCloudError,
  FanSyncClosedError,
} from "./socket.ts";

/** Corrections for one device that reports wrongly (README "FanSync notes"). */
const deviceOverride = z.strictObject({
  light: z.boolean().optional(),
  direction: z.boolean().optional(),
  speedSteps: z.array(z.number().int().min(1).max(100)).min(1).max(20).optional(),
});

/** Overrides keyed by vendor device id or display name; bounded like every other config list. */
const deviceOverrides = z
  .record(str(1, 100), deviceOverride)
  .refine((r) => Object.keys(r).length <= 200, "at most 200 devices")
  .optional();

/** The vendor module (src/core/vendor.ts): FanSync ceiling fans, e-mail and password. */
export const fansync = defineVendor({
  id: "fansync",
  displayName: "FanSync",
  accountKeys: {
    endpoints: z.strictObject({ api: httpUrl.optional(), websocket: wsUrl.optional() }).optional(),
    devices: deviceOverrides,
  },
  passwordOptional: false,
  produces: { cameras: false },
  login: {
    kind: "password",
    async check(account, timeoutMs) {
      const api = account.endpoints?.api ?? DEFAULT_API;
      try {
        await login(api, account.email, account.password, { timeoutMs });
      } catch (error) {
        if (error instanceof FanSyncAuthError) {
          return { ok: false, refused: true, message: `refused: ${error.message}; check email and password` };
        }
        throw error;
      }
      return { ok: true, refused: false, message: `FanSync accepted the e-mail and password (${api})` };
    },
  },
  create: (account, { log }) =>
    new FanSyncDriver({
      accountName: account.name,
      email: account.email,
      password: account.password ?? "",
      endpoints: { api: account.endpoints?.api, websocket: account.endpoints?.websocket },
      log,
      ...(account.devices ? { overrides: account.devices } : {}),
    }),
  endpoints: (account) => [{ label: `${account.name} api`, url: account.endpoints?.api ?? DEFAULT_API }],
  example: {
    comment: "Fanimation FanSync ceiling fans.",
    lines: [
      "- vendor: fansync",
      "  name: fans",
      "  email: you@example.com",
      "  password: ${FANSYNC_PASSWORD}",
      "  endpoints:",
      `    api: ${DEFAULT_API}`,
      `    websocket: ${DEFAULT_WEBSOCKET}`,
      "  # Per-device corrections (device id or name): light / direction false, or the speeds it holds.",
      "  # devices:",
      "  #   Bedroom: { light: false, direction: false, speedSteps: [20, 35, 50, 65, 80, 100] }",
    ],
  },
});
