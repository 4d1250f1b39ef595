// No line over 120 characters in tracked TypeScript (the project's standard; Biome's formatter does not
// break string literals, template literals or comments, so it cannot enforce this on its own).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = new URL("../..", import.meta.url).pathname;
const MAX = 120;
const DIRS = ["src", "accessories", "sim", "test", "bench"];

function trackedSources(): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--", ...DIRS], { cwd: root, encoding: "utf8" });
  return out.split("\0").filter((path) => path.endsWith(".ts"));
}

/** "path:line (length)" for each line over the limit; lengths in characters, not UTF-16 units. */
function longLines(path: string): string[] {
  const found: string[] = [];
  readFileSync(join(root, path), "utf8")
    .split(/\r?\n/)
    .forEach((line, i) => {
      const length = [...line].length;
      if (length > MAX) found.push(`${path}:${i + 1} (${length})`);
    });
  return found;
}

test(`no line over ${MAX} characters in tracked .ts files under ${DIRS.join(", ")}`, () => {
  const files = trackedSources();
  assert.ok(files.length > 100, "the tracked sources were found");
  const found = files.flatMap(longLines);
  assert.deepEqual(found, []);
});
