// Drivers keep no timers of their own: every timer lives in a scope of the driver runtime
// (src/core/driver-runtime.ts), which stop() empties. A bare setTimeout in a driver is how the
// per-reconnect leaks came in.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

const root = new URL("../..", import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** What only the runtime may do. */
const FORBIDDEN: Array<[RegExp, string]> = [
  [/\bsetTimeout\s*\(/, "setTimeout"],
  [/\bsetInterval\s*\(/, "setInterval"],
  [/\bclearTimeout\s*\(/, "clearTimeout"],
  [/\bclearInterval\s*\(/, "clearInterval"],
  [/["']node:timers(\/promises)?["']/, "node:timers"],
  [/\bbackoffDelay\b|\babortableSleep\b/, "a back-off or sleep of its own"],
  [/\bnew AbortController\b/, "an AbortController of its own (the runtime's signal is the driver's)"],
];

test("no driver source starts a timer, sleeps or backs off outside the driver runtime", () => {
  const files = sources(join(root, "src/drivers"));
  assert.ok(files.length > 20, "the driver sources were found");
  const found: string[] = [];
  for (const file of files) {
    const lines = readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "");
      for (const [pattern, what] of FORBIDDEN) {
        if (pattern.test(code)) found.push(`${relative(root, file)}:${i + 1}: ${what}`);
      }
    });
  }
  assert.deepEqual(found, []);
});

test("no driver source file is over 600 lines", () => {
  const long = sources(join(root, "src/drivers"))
    .map((file) => [relative(root, file), readFileSync(file, "utf8").trimEnd().split("\n").length] as const)
    .filter(([, lines]) => lines > 600);
  assert.deepEqual(long, []);
});
