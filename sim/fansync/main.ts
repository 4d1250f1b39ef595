// Standalone FanSync cloud simulator: `node sim/fansync/main.ts --port 0`.
// Prints the API and WebSocket URLs and the made-up account (demo mode points the driver here).
import { parseArgs } from "node:util";
import { FanSyncSimulator } from "./index.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "ack-delay": { type: "string", default: "2000" },
    "push-delay": { type: "string", default: "1500" },
    email: { type: "string" },
    password: { type: "string" },
    json: { type: "boolean", default: false },
  },
});

const sim = new FanSyncSimulator({
  port: Number(values.port),
  deviceAckDelayMs: Number(values["ack-delay"]),
  pushDelayMs: Number(values["push-delay"]),
  ...(values.email ? { email: values.email } : {}),
  ...(values.password ? { password: values.password } : {}),
});
const urls = await sim.start();
const info = { ...urls, email: sim.email, password: sim.password, devices: sim.deviceIds };
if (values.json) console.log(JSON.stringify(info));
else {
  console.log(`FanSync simulator listening`);
  console.log(`  api:       ${urls.apiUrl}`);
  console.log(`  websocket: ${urls.wsUrl}`);
  console.log(`  account:   ${sim.email} / ${sim.password}`);
  console.log(`  devices:   ${sim.deviceIds.join(", ")}`);
}
const shutdown = (): void => {
  void sim.stop().then(() => process.exit(0));
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
