// Nanit baby cameras (cloud + local control socket). See docs/protocols/nanit.md.
import { z } from "zod";
import { RECORDING_TRIGGERS } from "../../core/camera.ts";
import { defineVendor, httpUrl, str, wsUrl } from "../../core/vendor.ts";
import { CAMERA_ITEMS } from "./controls.ts";
import { NIGHT_LIGHT_TIMER_MAX_MIN } from "./camera-info.ts";
import { NanitDriver } from "./driver.ts";
import { loginWithMfa } from "./login.ts";
import { DEFAULT_API } from "./rest.ts";

export {
  NanitDriver,
  STANDBY,
  CAMERA_ITEMS,
  type CameraItem,
  type NanitDriverOptions,
  type NanitTimeouts,
} from "./driver.ts";
export { loginWithMfa, type LoginWithMfaOptions, type MfaPrompt, type LoginResult } from "./login.ts";
export {
  NanitSession,
  saveSession,
  isStoredSession,
  SESSION_KEY,
  MFA_KEY,
  LOGIN_HINT,
  type StoredSession,
} from "./session.ts";
export {
  DEFAULT_API,
  DEFAULT_WEBSOCKET,
  NanitAuthError,
  NanitMfaRequiredError,
  NanitLoginRequiredError,
  NanitUnauthorizedError,
  NanitHttpError,
  parseBabies,
  parseMessages,
  jwtExpiry,
  type Tokens,
  type BabyCamera,
} from "./rest.ts";
export { NanitSocket, NanitHandshakeError, NanitTimeoutError, NanitClosedError, NanitRequestError } from "./socket.ts";
export { NanitCertificateMismatchError, fetchPeerCertificate, fingerprintOf, type PinnedCert } from "./pin.ts";
export {
  encodeMessage,
  decodeMessage,
  KEEPALIVE_FRAME,
  NanitFrameError,
  PROTO_PATH,
  type NanitMessage,
  type RequestMsg,
  type ResponseMsg,
} from "./proto.ts";

/** The vendor module (src/core/vendor.ts): Nanit baby cameras, password then a code by SMS; the
 * session (refresh token) is kept, so the password may stay out of the config. */
export const nanit = defineVendor({
  id: "nanit",
  displayName: "Nanit",
  accountKeys: {
    // `local`: the camera's own socket, a wss:// URL or host[:port]; `websocket` is a URL template with {camera_uid};
    // `media`: the cloud video base rtmps://host[:port]/app, `mediaCa` a PEM file to trust for it (simulators).
    endpoints: z
      .strictObject({
        api: httpUrl.optional(),
        websocket: wsUrl.optional(),
        local: str(1).optional(),
        speakers: wsUrl.optional(),
        media: z
          .string()
          .regex(/^rtmps?:\/\/[^/\s]+\/[^/\s]+\/?$/, "must be rtmps://host[:port]/app")
          .optional(),
        mediaCa: str(1).optional(),
      })
      .optional(),
    // Per camera (the baby's name as in the app, or the camera uid): items to leave out, and the minutes after
    // which the camera turns its night light off by itself (README "Nanit").
    cameras: z
      .record(
        str(1, 200),
        z.strictObject({
          hide: z.array(z.enum(CAMERA_ITEMS)).max(CAMERA_ITEMS.length).optional(),
          nightLightTimer: z.number().int().min(1).max(NIGHT_LIGHT_TIMER_MAX_MIN).optional(),
        }),
      )
      .optional(),
    // A Cry occupancy sensor per camera, fed by the camera's cry alerts (docs/protocols/nanit.md §6.4).
    cry: z.boolean().optional(),
    // Sensors besides motion that start a HomeKit Secure Video recording (README "Recording"); cry needs `cry`.
    recordOn: z.array(z.enum(RECORDING_TRIGGERS)).max(RECORDING_TRIGGERS.length).optional(),
  },
  passwordOptional: true,
  produces: { cameras: true },
  login: {
    kind: "password+mfa",
    login: (account, { password, store, codeByEmail }, askCode) => {
      const channel = codeByEmail ? { channel: "email" as const } : {};
      return loginWithMfa(
        { email: account.email, password, endpoints: { api: account.endpoints?.api }, store, ...channel },
        askCode,
      );
    },
  },
  create: (account, { log }) => {
    if (account.recordOn?.includes("cry") && !account.cry)
      log.warn(`${account.name}: recordOn: cry is ignored without cry: true (the camera has no Cry sensor)`);
    return new NanitDriver({
      accountName: account.name,
      email: account.email,
      password: account.password,
      endpoints: {
        api: account.endpoints?.api,
        websocket: account.endpoints?.websocket,
        local: account.endpoints?.local,
        speakers: account.endpoints?.speakers,
        media: account.endpoints?.media,
        mediaCa: account.endpoints?.mediaCa,
      },
      cry: account.cry,
      ...(account.recordOn ? { recordOn: account.recordOn } : {}),
      ...(account.cameras ? { cameras: account.cameras } : {}),
      log,
    });
  },
  endpoints: (account) => [{ label: `${account.name} api`, url: account.endpoints?.api ?? DEFAULT_API }],
  example: {
    comment: "Nanit cameras. Nanit sends a code by SMS: run `npm run login -- nanit` once (password optional).",
    lines: [
      "- vendor: nanit",
      "  name: nursery",
      "  email: you@example.com",
      "  # cameras:            # per camera (the baby's name): items to leave out, night-light timer (minutes)",
      "  #   Robin: { hide: [soundMachine, volume, nightVision, statusLight, micMute], nightLightTimer: 30 }",
    ],
  },
});
