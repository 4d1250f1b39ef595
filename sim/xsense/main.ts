// Standalone X-Sense cloud simulator: `node sim/xsense/main.ts --port 0`.
// Prints the endpoint URLs and the made-up account; point an xsense account's `endpoints` here.
// While it runs, type a command to act as the detectors: `smoke <sn>`, `clear <sn>`, `co <sn> [ppm]`,
// `clearco <sn>`, `battery <sn> <0-3>`, `eol <sn>`, `drop` (MQTT), `kick` (log in elsewhere), `list`.
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { XSenseSimulator } from "./index.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    email: { type: "string" },
    password: { type: "string" },
    "token-ttl": { type: "string", default: "3600" },
    "credential-ttl": { type: "string", default: "3600" },
    json: { type: "boolean", default: false },
  },
});

const sim = new XSenseSimulator({
  port: Number(values.port),
  accessTokenTtlS: Number(values["token-ttl"]),
  credentialTtlS: Number(values["credential-ttl"]),
  reportDelayMs: 1500,
  ...(values.email ? { email: values.email } : {}),
  ...(values.password ? { password: values.password } : {}),
});
const urls = await sim.start();
const detectors = sim.houses.flatMap((h) =>
  h.stations.flatMap((s) =>
    s.self
      ? [`${s.sn} ${s.category} (${h.name})`]
      : s.devices.map((d) => `${d.sn} ${d.type} on ${s.category} ${s.sn} (${h.name})`),
  ),
);
if (values.json) console.log(JSON.stringify({ ...urls, email: sim.email, password: sim.password }));
else {
  console.log("X-Sense simulator listening");
  console.log(
    `  endpoints: { api: ${urls.api}, cognito: ${urls.cognito}, iotData: ${urls.iotData}, mqtt: ${urls.mqtt} }`,
  );
  console.log(`  account:   ${sim.email} / ${sim.password}`);
  for (const d of detectors) console.log(`  detector:  ${d}`);
}
sim.on("login", () => console.log("[sim] login"));
sim.on("selfTest", (r) => console.log(`[sim] self-test ${r.shadow}`));
sim.on("mqttConnected", (c) => console.log(`[sim] MQTT client ${c.clientId} connected`));

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const [cmd, sn = "", arg] = line.trim().split(/\s+/);
  try {
    switch (cmd) {
      case "smoke":
        sim.raiseSmoke(sn);
        break;
      case "clear":
        sim.clearSmoke(sn);
        break;
      case "co":
        sim.raiseCo(sn, arg ? Number(arg) : 300);
        break;
      case "clearco":
        sim.clearCo(sn);
        break;
      case "battery":
        sim.setBattery(sn, Number(arg ?? 0));
        break;
      case "eol":
        sim.endOfLife(sn);
        break;
      case "drop":
        sim.dropMqtt();
        break;
      case "kick":
        sim.loginElsewhere();
        break;
      case "list":
        for (const d of detectors) console.log(d);
        break;
      case "":
        break;
      default:
        console.log("commands: smoke|clear|co|clearco|battery|eol <sn>, drop, kick, list");
    }
  } catch (error) {
    console.log((error as Error).message);
  }
});
const shutdown = (): void => {
  rl.close();
  void sim.stop().then(() => process.exit(0));
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
