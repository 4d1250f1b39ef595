// The Matter pairing codes (manual code and MT: QR payload) as a pure function of the setup
// values, so they can be shown without starting the node (the `pairing` command). Same inputs and
// codecs as matter.js's CommissioningServer: standard commissioning flow, on-IP-network discovery.
import {
  CommissioningFlowType,
  DiscoveryCapabilitiesSchema,
  ManualPairingCodeCodec,
  QrPairingCodeCodec,
} from "@matter/main/types";

/** The test vendor and product ids MatterHost uses unless told otherwise (uncertified bridges must). */
export const DEFAULT_VENDOR_ID = 0xfff1;
export const DEFAULT_PRODUCT_ID = 0x8000;
/** The product id of each camera node (matter.cameras): a camera is its own product, not the bridge. */
export const CAMERA_PRODUCT_ID = 0x8001;

/** A camera node's id (its storage directory name) for a device id: only safe characters. */
export function cameraNodeId(deviceId: string): string {
  return `camera-${deviceId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

export interface SetupValues {
  passcode: number;
  discriminator: number;
  vendorId?: number;
  productId?: number;
}

export function matterPairingCodes(values: SetupValues): { manualPairingCode: string; qrPairingCode: string } {
  const { passcode, discriminator } = values;
  const qrPairingCode = QrPairingCodeCodec.encode([
    {
      version: 0,
      vendorId: values.vendorId ?? DEFAULT_VENDOR_ID,
      productId: values.productId ?? DEFAULT_PRODUCT_ID,
      flowType: CommissioningFlowType.Standard,
      discriminator,
      passcode,
      discoveryCapabilities: DiscoveryCapabilitiesSchema.encode({ onIpNetwork: true }),
    },
  ]);
  const manualPairingCode = ManualPairingCodeCodec.encode({
    discriminator,
    passcode,
    flowType: CommissioningFlowType.Standard,
  });
  return { manualPairingCode, qrPairingCode };
}
