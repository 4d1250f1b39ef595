// No tracked source file over 600 lines under src, accessories and sim (the project's standard: small
// modules, split along their concerns). Lines are counted as driver-timers.test.ts counts them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = new URL("../..", import.meta.url).pathname;
const MAX = 600;
const DIRS = ["src", "accessories", "sim"];

function trackedSources(): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--", ...DIRS], { cwd: root, encoding: "utf8" });
  return out.split("\0").filter((path) => path.endsWith(".ts"));
}

const lineCount = (path: string) => readFileSync(join(root, path), "utf8").trimEnd().split("\n").length;

test(`no tracked .ts file under ${DIRS.join(", ")} is over ${MAX} lines`, () => {
  const files = trackedSources();
  assert.ok(files.length > 100, "the tracked sources were found");
  const long = files.flatMap((path) => {
    const lines = lineCount(path);
    return lines > MAX ? [`${path} (${lines})`] : [];
  });
  assert.deepEqual(long, []);
});
