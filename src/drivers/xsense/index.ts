// X-Sense cloud driver (smoke, CO, heat and combo detectors). See docs/protocols/xsense.md.
export { XSenseDriver, DEFAULT_IOT_DATA, DEFAULT_MQTT, SHADOW_USER_AGENT, MQTT_USERNAME, parseExpiration, utcStamp, type XSenseDriverOptions, type XSenseTimeouts, type XSenseEndpoints } from "./driver.ts";
export { XSenseApi, XSenseApiError, XSenseSessionError, SESSION_ERR_CODES, DEFAULT_API, DEFAULT_APP_VERSION, DEFAULT_CLIENT_TYPE, appCodeOf, type ClientInfo } from "./api.ts";
export { XSenseCognito, CognitoError, normalisePassword, type CognitoTokens, type RefreshSecretHashMode } from "./cognito.ts";
export { requestMac, macInput, macText, decodeClientSecret, encodeClientSecret, secretHash, UNAUTH_MAC, COMMON_FIELDS } from "./mac.ts";
export { signRequest, presignUrl, canonicalRequest, canonicalQuery, canonicalPath, signature, sha256Hex, amzDate, rfc3986, EMPTY_SHA256, type AwsCredentials } from "./sigv4.ts";
export { MODELS, modelSpec, inferSpec, capabilitiesOf, thingName, type ModelSpec, type AlarmKind, type ThingNaming, type SelfTestRoute, type MuteRoute } from "./models.ts";
export { fieldsToPatch, selfTestResult, comboTarget, flatten, childSn, flag, int, type Fields, type ComboContext } from "./parse.ts";
