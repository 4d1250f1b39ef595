// Cost of the logger's secret scrubbing on the hot path: a log call with a short message, one with a
// nested object, and scrub() alone on a short and a 2 KB string, with 25 registered secrets (about
// what a bridge with three accounts, a live view and two cameras holds). Lines go to a null stream,
// so the figures are pino's serialising plus our scrubbing, per call.
//
// Run: npm run bench -- logger-scrub [--secrets 25] [--calls 50000] (or: node bench/logger-scrub.ts ...)
import { Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { createLogger, registerSecret, scrub } from "../src/core/logger.ts";
import { argValue, fmt, table, writeSummary, type SummaryRow } from "./lib.ts";

const SECRETS = Number(argValue("--secrets", "25"));
const CALLS = Number(argValue("--calls", "50000"));

const secrets = Array.from({ length: SECRETS }, (_, i) => randomBytes(12 + (i % 3) * 12).toString("base64url"));
for (const s of secrets) registerSecret(s);

const sink = new Writable({ write: (_chunk, _enc, cb) => cb() });
const log = createLogger("info", { json: true, destination: sink });
const short = "nanit: Robin Nanit: connected (local) after 3 attempts; sensors pushed every 120 s";
const frame = JSON.stringify({ id: 42, status: "ok", data: { H00: 1, H02: 50, H06: 0, H0B: 1 } });
const long = `fansync << ${frame} `.repeat(40).slice(0, 2048);
const nested = {
  device: "fansync:0123456789abcdef01234567",
  frame: { id: 42, request: "set", data: { H00: 1, H02: 50 }, meta: { source: "homekit", path: ["a", "b", "c"] } },
  url: "https://example.invalid/shadow?X-Amz-Date=20260101T000000Z&X-Amz-Expires=300",
  list: Array.from({ length: 8 }, (_, i) => ({ reg: `H0${i}`, value: i })),
};

function perCall(fn: () => void, calls: number): number {
  for (let i = 0; i < Math.min(calls, 5000); i++) fn(); // warm-up: JIT and pino's caches
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  return Number(process.hrtime.bigint() - started) / 1000 / calls;
}

const cases: [string, () => void][] = [
  ["log.info(short message)", () => log.info(short)],
  ["log.info(nested object, message)", () => log.info(nested, short)],
  ["scrub(84-char string)", () => void scrub(short)],
  ["scrub(2 KB string)", () => void scrub(long)],
];
const rows: SummaryRow[] = [];
const printed: string[][] = [["case", "µs per call"]];
for (const [name, fn] of cases) {
  const us = perCall(fn, name.includes("2 KB") ? Math.ceil(CALLS / 10) : CALLS);
  rows.push({ metric: `${name} (${SECRETS} secrets)`, value: `${fmt(us)} µs` });
  printed.push([name, fmt(us)]);
}
console.log(`${SECRETS} registered secrets, ${CALLS} calls per case (2 KB: ${Math.ceil(CALLS / 10)})`);
console.log(table(printed));
writeSummary("logger-scrub", rows);
