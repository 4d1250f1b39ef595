// X-Sense cloud driver (smoke, CO, heat and combo detectors). See docs/protocols/xsense.md.
import { z } from "zod";
import { defineVendor, httpUrl, wsUrl } from "../../core/vendor.ts";
import { CognitoError, XSenseCognito } from "./cognito.ts";
import { DEFAULT_API, XSenseApi } from "./api.ts";
import { XSenseDriver } from "./driver.ts";
import { localConfigSchema } from "./local-config.ts";

export {
  XSenseDriver,
  DEFAULT_IOT_DATA,
  DEFAULT_MQTT,
  SHADOW_USER_AGENT,
  MQTT_USERNAME,
  parseExpiration,
  utcStamp,
  type XSenseDriverOptions,
  type XSenseTimeouts,
  type XSenseEndpoints,
} from "./driver.ts";
export {
  XSenseApi,
  XSenseApiError,
  XSenseSessionError,
  SESSION_ERR_CODES,
  DEFAULT_API,
  DEFAULT_APP_VERSION,
  DEFAULT_CLIENT_TYPE,
  appCodeOf,
  type ClientInfo,
} from "./api.ts";
export {
  XSenseCognito,
  CognitoError,
  normalisePassword,
  type CognitoTokens,
  type RefreshSecretHashMode,
} from "./cognito.ts";
export {
  requestMac,
  macInput,
  macText,
  decodeClientSecret,
  encodeClientSecret,
  secretHash,
  UNAUTH_MAC,
  COMMON_FIELDS,
} from "./mac.ts";
export {
  signRequest,
  presignUrl,
  canonicalRequest,
  canonicalQuery,
  canonicalPath,
  signature,
  sha256Hex,
  amzDate,
  rfc3986,
  EMPTY_SHA256,
  type AwsCredentials,
} from "./sigv4.ts";
export {
  MODELS,
  modelSpec,
  inferSpec,
  capabilitiesOf,
  thingName,
  type ModelSpec,
  type AlarmKind,
  type ThingNaming,
  type SelfTestRoute,
  type MuteRoute,
} from "./models.ts";
export { LocalPath, patchOf } from "./local-path.ts";
export type { LocalPathOptions, LocalPathEvents, LocalDetector, LocalAlarmKind } from "./local-path.ts";
export { AlarmFusion, FusedSink, type LocalSink, type PathName, type FusionOptions } from "./alarm-fusion.ts";
export { localConfigSchema, localSettings, DEFAULT_LOCAL_PORT } from "./local-config.ts";
export type { LocalConfig, LocalSettings } from "./local-config.ts";
export { DiscoveryTracker, parseTopic, LOCAL_ATTRS } from "./local-discovery.ts";
export type { LocalAttr, LocalState, LocalEntity } from "./local-discovery.ts";
export { EmbeddedBroker, ExternalBroker, MqttPacketLimit, type LocalTransport } from "./local-broker.ts";
export {
  fieldsToPatch,
  selfTestResult,
  comboTarget,
  flatten,
  childSn,
  flag,
  int,
  type Fields,
  type ComboContext,
} from "./parse.ts";

/** `true`/`false` for every detector of the account, or a list of detector serial numbers. */
const detectorChoice = z.union([z.boolean(), z.array(z.string().trim().min(1).max(64)).max(500)]);

/** The vendor module (src/core/vendor.ts): X-Sense smoke, CO and heat alarms, e-mail and password. */
export const xsense = defineVendor({
  id: "xsense",
  displayName: "X-Sense",
  accountKeys: {
    endpoints: z
      .strictObject({
        api: httpUrl.optional(),
        cognito: httpUrl.optional(),
        iotData: httpUrl.optional(),
        mqtt: wsUrl.optional(),
      })
      .optional(),
    // Seconds the alarm link may be down before its detectors read "No Response" (safety: the owner must know).
    alarmLinkGraceS: z.number().int().min(5).max(600).optional(),
    // The SBS50's local MQTT output (README "Alarms without the internet"): an embedded broker or a URL.
    local: localConfigSchema.optional(),
    // Opt-in momentary controls (README "Hush and self-test switches"): true for every detector of the
    // account, or the serial numbers of the detectors that get one.
    hushSwitch: detectorChoice.optional(),
    selfTestSwitch: detectorChoice.optional(),
  },
  passwordOptional: false,
  produces: { cameras: false },
  login: {
    kind: "password",
    // An X-Sense login may sign a running bridge out; the bridge logs in again.
    async check(account, timeoutMs) {
      const base = account.endpoints?.api ?? DEFAULT_API;
      const api = new XSenseApi({ base, timeoutMs });
      const info = await api.clientInfo();
      const cognito = new XSenseCognito({
        endpoint: account.endpoints?.cognito ?? `https://cognito-idp.${info.cgtRegion}.amazonaws.com/`,
        userPoolId: info.userPoolId,
        clientId: info.clientId,
        secret: info.secret,
        timeoutMs,
      });
      try {
        await cognito.login(account.email, account.password);
      } catch (error) {
        if (error instanceof CognitoError && error.isAuthFailure) {
          const message = `refused: X-Sense rejected the e-mail or password (${error.code}); check email and password`;
          return { ok: false, refused: true, message };
        }
        throw error;
      }
      return { ok: true, refused: false, message: `X-Sense accepted the e-mail and password (${base})` };
    },
  },
  create: (account, { log }) =>
    new XSenseDriver({
      accountName: account.name,
      email: account.email,
      password: account.password ?? "",
      endpoints: { ...account.endpoints },
      ...(account.alarmLinkGraceS === undefined ? {} : { mqttGraceMs: account.alarmLinkGraceS * 1000 }),
      ...(account.local ? { local: account.local } : {}),
      controls: { hush: account.hushSwitch ?? false, selfTest: account.selfTestSwitch ?? false },
      log,
    }),
  endpoints: (account) => [
    { label: `${account.name} api`, url: account.endpoints?.api ?? DEFAULT_API },
    ...(account.endpoints?.cognito ? [{ label: `${account.name} cognito`, url: account.endpoints.cognito }] : []),
  ],
  example: {
    comment: "X-Sense smoke, CO and heat alarms.",
    lines: [
      "- vendor: xsense",
      "  name: alarms",
      "  email: you@example.com",
      "  password: ${XSENSE_PASSWORD}",
      "  # Seconds the alarm link may be down before the detectors show No Response (5-600).",
      "  # alarmLinkGraceS: 60",
      "  # Momentary Hush / Self-Test switches (off by default): true, or a list of detector serials.",
      "  # hushSwitch: true",
      '  # selfTestSwitch: ["00000001"]',
      "  # Alarms without the internet: the SBS50 publishes to a broker in the bridge (README).",
      "  # local:",
      "  #   broker: embedded",
      "  #   port: 1883",
      "  #   username: xsense",
      "  #   password: ${XSENSE_BROKER_PASSWORD}",
    ],
  },
});
