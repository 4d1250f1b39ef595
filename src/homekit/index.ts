export {
  HomeKitHost,
  MAX_BRIDGED_ACCESSORIES,
  DEFAULT_HOMEKIT_PORT,
  CAMERA_PORT_OFFSET,
  type HomeKitHostOptions,
  type HomeKitHostEvents,
  type BridgeStatus,
  type CameraPairing,
} from "./host.ts";
export { NoopAdvertiser, type AdvertiserChoice } from "./advertiser.ts";
export { accessoryUUID } from "./device-accessory.ts";
