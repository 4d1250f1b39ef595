// test/repeat.ts names the failing files and tests of a run from the spec reporter's output (the
// shape Node 22 prints: results, counts, then "✖ failing tests:" with a "test at" line per failure).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSpecOutput } from "../repeat.ts";

const failingRun = [
  "=== unit and driver tests (2 files) ===",
  "✔ passes (0.88ms)",
  "▶ group",
  "  ✖ fails inside (1.03ms)",
  "  ✔ ok (0.13ms)",
  "✖ group (1.54ms)",
  "✖ top fails (0.22ms)",
  "✖ /repo/test/unit/b.test.ts (161.48ms)",
  "ℹ tests 5",
  "ℹ pass 2",
  "ℹ fail 3",
  "",
  "✖ failing tests:",
  "",
  "test at test/unit/a.test.ts:4:27",
  "✖ fails inside (1.03ms)",
  "  AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:",
  "  ✖ not a test name: indented lines belong to the error",
  "",
  "test at test/unit/a.test.ts:5:1",
  "✖ top fails (0.22ms)",
  "  Error: boom",
  "",
  "test at test/unit/b.test.ts:1:1",
  "✖ /repo/test/unit/b.test.ts (161.48ms)",
  "  'test failed'",
  "",
  "=== pairing and end-to-end tests in a loopback-only namespace (1 files) ===",
  "✔ pairs (2.1s)",
  "ℹ tests 1",
  "ℹ pass 1",
  "ℹ fail 0",
].join("\n");

test("a failing run: every failing test with its file and line, counts over both stages", () => {
  const report = parseSpecOutput(failingRun, 1);
  assert.equal(report.passed, false);
  assert.deepEqual(
    [...report.failures],
    [
      ["test/unit/a.test.ts:4:27", ["fails inside"]],
      ["test/unit/a.test.ts:5:1", ["top fails"]],
      ["test/unit/b.test.ts:1:1", ["/repo/test/unit/b.test.ts"]],
    ],
  );
  assert.deepEqual(report.counts, { tests: 6, pass: 3, fail: 3 });
});

test("a passing run names nothing; a non-zero exit without named tests still fails", () => {
  const passing = "=== unit ===\n✔ a (1ms)\nℹ tests 1\nℹ pass 1\nℹ fail 0\n";
  assert.deepEqual(parseSpecOutput(passing, 0), {
    passed: true,
    failures: new Map(),
    counts: { tests: 1, pass: 1, fail: 0 },
  });
  const crashed = parseSpecOutput("test/netns.sh: unshare: Operation not permitted\n", 1);
  assert.equal(crashed.passed, false);
  assert.equal(crashed.failures.size, 0);
});
