export { MatterHost, type MatterHostOptions, type PairingCodes } from "./host.ts";
export {
  passcodeProblem,
  discriminatorProblem,
  isValidPasscode,
  isValidDiscriminator,
  FORBIDDEN_PASSCODES,
  randomSetupCodes,
} from "./pairing.ts";
export { endpointIdFor, uniqueIdFor } from "./bridged.ts";
