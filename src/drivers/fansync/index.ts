// FanSync (Fanimation) cloud driver. See docs/protocols/fansync.md.
import { z } from "zod";
import { defineVendor, httpUrl, wsUrl } from "../../core/vendor.ts";
import { DEFAULT_API, DEFAULT_WEBSOCKET, FanSyncDriver } from "./driver.ts";
import { FanSyncAuthError, login } from "./http-auth.ts";

export {
  FanSyncDriver,
  DEFAULT_API,
  DEFAULT_WEBSOCKET,
  type FanSyncDriverOptions,
  type FanSyncTimeouts,
  type AssumedState,
} from "./driver.ts";
export {
  detectTraits,
  speedStepsFor,
  cctPresetsFor,
  KUTE60_STEPS,
  THREE_SPEED_STEPS,
  CCT_PRESETS,
  CORKE_CCT_PRESETS,
  type FanSyncTraits,
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

/** The vendor module (src/core/vendor.ts): FanSync ceiling fans, e-mail and password. */
export const fansync = defineVendor({
  id: "fansync",
  displayName: "FanSync",
  accountKeys: { endpoints: z.strictObject({ api: httpUrl.optional(), websocket: wsUrl.optional() }).optional() },
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
    ],
  },
});
