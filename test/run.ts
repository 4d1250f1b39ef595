// Runs the whole suite: unit and driver tests directly (loopback only), then everything that
// pairs or commissions inside a loopback-only network namespace (test/netns.sh), so no mDNS or
// other packet can leave the machine. Extra arguments filter test files by substring.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(root, dir, name);
    if (statSync(path).isDirectory()) out.push(...testFiles(relative(root, path)));
    else if (name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out.sort();
}

const pick = (files: string[]) => (filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files);
const direct = pick([
  ...testFiles("test/unit"),
  ...testFiles("test/drivers"),
  ...testFiles("test/web"),
  ...testFiles("test/media"),
  ...testFiles("test/fuzz"),
]);
const isolated = pick([
  ...testFiles("test/homekit"),
  ...testFiles("test/matter"),
  ...testFiles("test/e2e"),
  ...testFiles("test/quirks"),
]);
const node = process.execPath;
// The timeout only catches a hang: a whole e2e file (crash-safety restarts the bridge many times) took over
// 180 s at a load of 16-20 on 2 cores, though nothing was stuck.
const common = ["--test", "--test-reporter=spec", "--test-timeout=420000"];

let failed = false;
const env: NodeJS.ProcessEnv = {
  ...process.env,
  MATTER_LOG_LEVEL: process.env.MATTER_LOG_LEVEL ?? "error",
  MATTER_LOG_FORMAT: "plain",
};
// The end-to-end tests run the bridge as the Docker image and `npm start` do: from the bundle
// (docker/bundle.ts), built here from the sources first (test/helpers/bridge-process.ts);
// HEARTHBRIDGE_ENTRY=src/main.ts runs them on the sources.
if (isolated.length) {
  const build = spawnSync(node, ["docker/bundle.ts"], { cwd: root, stdio: "inherit" });
  if (build.status !== 0) process.exit(1);
  env.HEARTHBRIDGE_ENTRY ??= "dist/app/main.js";
}

function run(label: string, command: string, args: string[]): void {
  console.log(`\n=== ${label} ===`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  if (result.status !== 0) failed = true;
}

/** Run one stage with its output kept, printed whole when it ends (stages running side by side must not
 * interleave: test/repeat.ts reads each stage's summary). */
function runKept(label: string, command: string, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.on("close", (code) => {
      process.stdout.write(`\n=== ${label} ===\n${Buffer.concat(chunks).toString()}`);
      if (code !== 0) failed = true;
      resolve();
    });
  });
}

// Two files at a time (node's default on 2 cores is one): most of these wait on sockets and child processes,
// and the suite must stay well inside CI's 20 minutes.
if (direct.length)
  run(`unit and driver tests (${direct.length} files)`, node, [...common, "--test-concurrency=2", ...direct]);
// Pairing and commissioning tests share ports and mDNS on lo: one file at a time within a namespace. Two
// namespaces side by side (each its own loopback, ports and mDNS) halve the wall time; most of these files
// wait on sockets, polls and child processes. Files go round-robin so the slow neighbours (nanit-*, web-*)
// split between the two.
if (isolated.length) {
  const groups = [0, 1].map((g) => isolated.filter((_, i) => i % 2 === g)).filter((files) => files.length);
  await Promise.all(
    groups.map((files, g) =>
      runKept(
        `pairing and end-to-end tests in loopback-only namespace ${g + 1} of ${groups.length} (${files.length} files)`,
        join(root, "test/netns.sh"),
        [node, ...common, "--test-concurrency=1", ...files],
      ),
    ),
  );
}
process.exit(failed ? 1 : 0);
