export { HomeKitHost, MAX_BRIDGED_ACCESSORIES, DEFAULT_HOMEKIT_PORT, type HomeKitHostOptions, type HomeKitHostEvents, type BridgeStatus } from "./host.ts";
export { NoopAdvertiser, type AdvertiserChoice } from "./advertiser.ts";
export { accessoryUUID } from "./device-accessory.ts";
