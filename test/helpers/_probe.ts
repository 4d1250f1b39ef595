import * as hap from "@homebridge/hap-nodejs";
import { HttpClient } from "hap-controller";
console.log(typeof hap.Bridge, typeof hap.HAPConnection, typeof hap.HapStatusError, typeof hap.uuid.generate, typeof hap.HAPStorage, typeof HttpClient);
console.log((hap as any).Categories, (hap as any).HAPStatus?.SERVICE_COMMUNICATION_FAILURE, hap.Characteristic.Active.ACTIVE, hap.Characteristic.RotationDirection.CLOCKWISE);
