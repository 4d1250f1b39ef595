// Standalone Nanit simulator: `node sim/nanit/main.ts [--port 0] [--no-mfa] [--json]
// [--stream-profile 720p|1080p] [--publish-delay ms]`.
// Prints the endpoints and the made-up account; point the driver's `endpoints` at them for a demo.
import { parseArgs } from "node:util";
import { NanitSimulator, STREAM_PROFILES, type StreamProfileName } from "./index.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "no-mfa": { type: "boolean", default: false },
    "push-min": { type: "string", default: "60000" },
    "push-max": { type: "string", default: "300000" },
    json: { type: "boolean", default: false },
    "stream-profile": { type: "string", default: "720p" },
    "publish-delay": { type: "string", default: "0" },
  },
});

const profile = values["stream-profile"];
if (!(profile in STREAM_PROFILES)) {
  console.error(`--stream-profile must be one of ${Object.keys(STREAM_PROFILES).join(", ")}`);
  process.exit(2);
}

const sim = new NanitSimulator({
  port: Number(values.port),
  mfa: !values["no-mfa"],
  sensorPushMs: [Number(values["push-min"]), Number(values["push-max"])],
  streamProfile: profile as StreamProfileName,
  publishDelayMs: Number(values["publish-delay"]),
});
const urls = await sim.start();
const info = {
  ...urls,
  email: sim.email,
  password: sim.password,
  mfaCode: sim.mfaEnabled ? sim.mfaCode : undefined,
  babies: sim.babies,
};
if (values.json) console.log(JSON.stringify(info));
else {
  console.log("Nanit simulator listening");
  console.log(`  api:       ${urls.apiUrl}`);
  console.log(`  websocket: ${urls.wsUrl}`);
  for (const [uid, url] of Object.entries(urls.localUrls))
    console.log(`  local:     ${url}  (camera ${uid}, self-signed, SHA-256 ${sim.fingerprint(uid)})`);
  console.log(`  account:   ${sim.email} / ${sim.password}${sim.mfaEnabled ? `  (MFA code ${sim.mfaCode})` : ""}`);
}
const shutdown = (): void => {
  void sim.stop().then(() => process.exit(0));
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
