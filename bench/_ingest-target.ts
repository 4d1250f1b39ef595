// The RTMP ingest alone in its own process, for bench/ingest-abuse.ts: its RSS is then the ingest's,
// not the attacker's. Prints {"port": N} once listening; reads "gc" (answers "gc done") and "stop".
import { createInterface } from "node:readline";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createLogger } from "../src/core/logger.ts";
import { RtmpIngest } from "../src/media/ingest.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const ingest = new RtmpIngest({ bind: "127.0.0.1", port: 0, rtmpHost: "127.0.0.1", log: createLogger("fatal") });
await ingest.start();
ingest.register("bench:camera");
console.log(JSON.stringify({ port: ingest.port }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "gc") {
    gc();
    gc();
    console.log("gc done");
  } else if (line === "stop") break;
}
await ingest.stop();
process.exit(0);
