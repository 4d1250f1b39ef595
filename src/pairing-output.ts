// Prints the pairing codes and QR codes at start, for a terminal or `docker logs`.
import qrcode from "qrcode-terminal";
import type { Logger } from "./core/logger.ts";

export interface PairingInfo {
  homekit?: { pincode: string; setupURI: string; port: number };
  matter?: { manualPairingCode: string; qrPairingCode: string; port: number };
}

function qr(text: string): string {
  let out = "";
  qrcode.generate(text, { small: true }, (rendered: string) => (out = rendered));
  return out;
}

export interface CameraPairingInfo {
  deviceId: string;
  name: string;
  pincode: string;
  setupURI?: string;
  port: number | undefined;
  paired: boolean;
}

/** A standalone camera is its own HomeKit accessory with its own code: Apple Home pairs it separately. */
export function printCameraPairing(log: Logger, camera: CameraPairingInfo): void {
  const fields = {
    event: "camera-pairing",
    deviceId: camera.deviceId,
    name: camera.name,
    setupCode: camera.pincode,
    setupURI: camera.setupURI,
    port: camera.port,
    paired: camera.paired,
  };
  if (camera.paired) log.info(fields, `HomeKit camera ${camera.name} is paired (setup code ${camera.pincode})`);
  else
    log.info(
      fields,
      `HomeKit camera ${camera.name}: setup code ${camera.pincode}` +
        (camera.setupURI ? ` (${camera.setupURI}); add it in the Home app on its own:\n${qr(camera.setupURI)}` : ""),
    );
}

export function printPairingCodes(log: Logger, info: PairingInfo): void {
  if (info.homekit) {
    log.info(
      {
        event: "homekit-pairing",
        setupCode: info.homekit.pincode,
        setupURI: info.homekit.setupURI,
        port: info.homekit.port,
      },
      `HomeKit setup code ${info.homekit.pincode} (${info.homekit.setupURI}); ` +
        `scan in the Home app:\n${qr(info.homekit.setupURI)}`,
    );
  }
  if (info.matter) {
    log.info(
      {
        event: "matter-pairing",
        manualCode: info.matter.manualPairingCode,
        qrCode: info.matter.qrPairingCode,
        port: info.matter.port,
      },
      `Matter manual pairing code ${info.matter.manualPairingCode} (${info.matter.qrPairingCode}); ` +
        `scan in your Matter controller:\n${qr(info.matter.qrPairingCode)}`,
    );
  }
}
