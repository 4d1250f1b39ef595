// Controller limits the bridge can see coming, told to the user before a pairing fails for no
// visible reason (README "Matter and Alexa"):
// - Alexa looks for Matter bridges on UDP port 5540 only ("Alexa only searches for Port 5540":
//   https://github.com/FezVrasta/node-red-matter/issues/12); a bridge on another port is never found.
// - Alexa fails to add a bridge with more than about 50 bridged devices (error RN002, or devices
//   missing: https://github.com/sammachin/node-red-matter-bridge/issues/11,
//   https://github.com/t0bst4r/matterbridge-home-assistant/issues/53). Alexa lists each endpoint
//   of a composed device (fan, its light, its switch) as a device, so those are what is counted.
export const ALEXA_MATTER_PORT = 5540;
export const ALEXA_MAX_DEVICES = 50;

export interface ControllerWarning {
  /** Stable key: "alexa-port" or "alexa-devices". */
  key: "alexa-port" | "alexa-devices";
  message: string;
}

export function alexaPortWarning(port: number): ControllerWarning | undefined {
  if (port === ALEXA_MATTER_PORT) return undefined;
  return {
    key: "alexa-port",
    message:
      `the Matter bridge listens on UDP port ${port}; Alexa only finds Matter bridges on port ` +
      `${ALEXA_MATTER_PORT} (set matter.port to ${ALEXA_MATTER_PORT}, and keep it free, to pair with Alexa)`,
  };
}

export function alexaDeviceWarning(devices: number): ControllerWarning | undefined {
  if (devices <= ALEXA_MAX_DEVICES) return undefined;
  return {
    key: "alexa-devices",
    message:
      `the Matter bridge shows ${devices} devices; Alexa takes at most ${ALEXA_MAX_DEVICES} per bridge ` +
      "and may fail to add it (error RN002) or miss devices (remove accounts or hide lights and switches " +
      "you do not need; other controllers are not affected)",
  };
}

/** Every limit the bridge's port and device count break. */
export function controllerWarnings(port: number, devices: number): ControllerWarning[] {
  return [alexaPortWarning(port), alexaDeviceWarning(devices)].filter((w): w is ControllerWarning => !!w);
}
