// A Matter hub away for 10 minutes (issue 17 §2): the bridge keeps running and the fan keeps changing;
// then the hub resumes from its stored fabric. Prints how long the hub took to resume its
// subscription and to get the next change, and whether the fabric was kept. Figures, not asserts.
// The shorter mechanism test is test/quirks/hub-outage.test.ts (same rig).
//
// Run: npm run bench -- hub-outage [--minutes 10]   (or: test/netns.sh node bench/hub-outage.ts)
import { runOutage } from "../test/quirks/hub-outage-rig.ts";
import { argValue, fmt, sleep, table, writeSummary } from "./lib.ts";

const minutes = Number(argValue("--minutes", "10"));
const changes = Math.max(1, Math.round(minutes * 2)); // one fan change every 30 s while the hub is away
const result = await runOutage({
  port: 5635,
  discriminator: 3863,
  changes,
  between: () => sleep((minutes * 60_000) / changes),
});
const rows = [
  { metric: "outage (s)", value: fmt(result.outageMs / 1000, 0) },
  { metric: "resume: new controller to subscription (ms)", value: fmt(result.resumeMs, 0) },
  { metric: "change after return -> report (ms)", value: fmt(result.reportMs, 0) },
  { metric: "state read at return is current", value: String(result.readAfterReturn === result.lastSpeedDuringOutage) },
  { metric: "fabrics before / after", value: `${result.fabricsBefore} / ${result.fabricsAfter}` },
  { metric: "still commissioned", value: String(result.commissionedAfter) },
];
console.log(table([["metric", "value"], ...rows.map((r) => [r.metric, r.value])]));
writeSummary("hub-outage", rows);
