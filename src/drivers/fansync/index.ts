// FanSync (Fanimation) cloud driver. See docs/protocols/fansync.md.
export { FanSyncDriver, DEFAULT_API, DEFAULT_WEBSOCKET, type FanSyncDriverOptions, type FanSyncTimeouts, type AssumedState } from "./driver.ts";
export { detectTraits, speedStepsFor, cctPresetsFor, KUTE60_STEPS, THREE_SPEED_STEPS, CCT_PRESETS, CORKE_CCT_PRESETS, type FanSyncTraits } from "./capabilities.ts";
export { planWrites, registersToState, registersToPatch, faultText, H0E_CODES, type Registers } from "./registers.ts";
export { FanSyncAuthError, FanSyncHttpError } from "./http-auth.ts";
export { FanSyncSocket, FanSyncLoginRejectedError, FanSyncTimeoutError, FanSyncCloudError, FanSyncClosedError } from "./socket.ts";
