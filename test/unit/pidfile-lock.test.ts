// The data directory's pid lock is exclusive: bridges started at the same moment race for it and
// exactly one wins (the others get a clear message), a lock left by a dead process is taken over,
// and so is one whose pid now names another process (pid reuse, e.g. the same small pid in a
// container after a restart).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { claimDataDir, PID_FILE, processStartTime, runningBridge } from "../../src/cli/pidfile.ts";

const pidfile = new URL("../../src/cli/pidfile.ts", import.meta.url).pathname;

// A starter: says "ready", claims on "go" (all at once), reports, and holds a won lock until stdin ends.
const STARTER = `
import { claimDataDir } from ${JSON.stringify(pidfile)};
import { createInterface } from "node:readline";
const lines = createInterface({ input: process.stdin });
console.log("ready");
lines.once("line", () => {
  try {
    claimDataDir(process.argv[1]);
    console.log(JSON.stringify({ won: true }));
    lines.once("close", () => process.exit(0));
  } catch (error) {
    console.log(JSON.stringify({ won: false, message: error.message }));
    process.exit(2);
  }
});
`;

interface Starter {
  child: ChildProcess;
  next(): Promise<string>;
  exited: Promise<number | null>;
}

/** Every starter spawned, so a failing test leaves none holding a lock. */
const spawned = new Set<ChildProcess>();
after(() => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill();
});

function starter(dir: string): Starter {
  const args = ["--input-type=module", "-e", STARTER, dir];
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
  spawned.add(child);
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  const next = (): Promise<string> =>
    queue.length ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiting.push(resolve));
  return { child, exited, next };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  return child.pid!;
}

async function race(dir: string, count: number): Promise<{ winners: Starter[]; messages: string[] }> {
  const starters = Array.from({ length: count }, () => starter(dir));
  for (const s of starters) assert.equal(await s.next(), "ready");
  for (const s of starters) s.child.stdin!.write("go\n");
  const results = await Promise.all(
    starters.map(async (s) => ({ s, result: JSON.parse(await s.next()) as { won: boolean; message?: string } })),
  );
  const winners = results.filter((r) => r.result.won).map((r) => r.s);
  const losers = results.filter((r) => !r.result.won);
  for (const l of losers) assert.equal(await l.s.exited, 2);
  return { winners, messages: losers.map((l) => l.result.message!) };
}

test("starters racing for one data directory: exactly one wins, the others are told who holds it", async () => {
  for (let round = 0; round < 8; round++) {
    const dir = mkdtempSync(join(tmpdir(), "hb-pidlock-"));
    // Half the rounds start from a stale lock, so the takeover races too.
    if (round % 2) writeFileSync(join(dir, PID_FILE), `${await deadPid()}\n`);
    const { winners, messages } = await race(dir, 3);
    assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
    const winner = winners[0]!.child;
    for (const message of messages) {
      const why = "two bridges on one data directory would corrupt the pairings";
      const expected = `another bridge (pid ${winner.pid}) is running on ${dir}; ${why}`;
      assert.equal(message, expected);
    }
    assert.equal(runningBridge(dir), winner.pid);
    assert.equal(readFileSync(join(dir, PID_FILE), "utf8"), `${winner.pid} ${processStartTime(winner.pid!)}\n`);
    winner.stdin!.end();
    assert.equal(await winners[0]!.exited, 0);
    assert.equal(existsSync(join(dir, PID_FILE)), false, "released at exit");
    assert.deepEqual(readdirSync(dir), [], "no temp or guard file left");
  }
});

test("a lock left by a dead process is taken over", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-pidlock-"));
  const dead = await deadPid();
  writeFileSync(join(dir, PID_FILE), `${dead} 12345\n`);
  assert.equal(runningBridge(dir), undefined);
  const release = claimDataDir(dir);
  assert.equal(readFileSync(join(dir, PID_FILE), "utf8"), `${process.pid} ${processStartTime(process.pid)}\n`);
  release();
  assert.equal(existsSync(join(dir, PID_FILE)), false);
});

test("a lock whose pid now names another process (a different start time) is taken over", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "hb-pidlock-"));
  // A live Node process, as a reused pid would be: its start time is not the one in the file.
  const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  await once(other, "spawn");
  t.after(() => other.kill());
  const realStart = processStartTime(other.pid!);
  assert.ok(realStart, "Linux: /proc/<pid>/stat");
  writeFileSync(join(dir, PID_FILE), `${other.pid} ${Number(realStart) - 1}\n`);
  assert.equal(runningBridge(dir), undefined);
  const release = claimDataDir(dir);
  release();
  // With the right start time it is the holder.
  writeFileSync(join(dir, PID_FILE), `${other.pid} ${realStart}\n`);
  assert.equal(runningBridge(dir), other.pid);
  assert.throws(() => claimDataDir(dir), new RegExp(`another bridge \\(pid ${other.pid}\\) is running`));
});
