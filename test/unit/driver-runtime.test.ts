// The driver runtime: start once, stop (signal, timers, sleeps, loops, first inventory), timer scopes
// and the one back-off policy. Real timers of a few milliseconds; every wait is on an event or on a
// later timer (Node runs timers in order of expiry), never on a guessed duration.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { backoff, cleanupAfter, DriverRuntime, TimerScope, type Timer } from "../../src/core/driver-runtime.ts";

const policy = { minMs: 1_000, maxMs: 5_000 };

test("back-off: attempt 0 at once, then min * 2^(n-1) with ±25 % jitter, capped at max", () => {
  assert.equal(
    backoff(0, policy, () => 0.99),
    0,
  );
  assert.equal(
    backoff(-3, policy, () => 0.99),
    0,
  );
  assert.equal(
    backoff(1, policy, () => 0.5),
    1_000,
  );
  assert.equal(
    backoff(2, policy, () => 0.5),
    2_000,
  );
  assert.equal(
    backoff(3, policy, () => 0.5),
    4_000,
  );
  assert.equal(
    backoff(4, policy, () => 0.5),
    5_000,
    "capped",
  );
  assert.equal(
    backoff(1_000, policy, () => 0.5),
    5_000,
    "no overflow for a long outage",
  );
  assert.equal(
    backoff(1, policy, () => 0),
    750,
    "-25 %",
  );
  assert.equal(
    backoff(1, policy, () => 1),
    1_250,
    "+25 %",
  );
  assert.equal(
    backoff(9, policy, () => 1),
    6_250,
    "the spread may reach 1.25 * max",
  );
  assert.equal(
    backoff(2, { minMs: 10, maxMs: 60 }, () => 0.5),
    20,
    "policies differ by min and max only",
  );
});

test("the runtime's back-off uses its random source", () => {
  const rt = new DriverRuntime("Test", { random: () => 0 });
  assert.equal(rt.backoff(2, policy), 1_500);
  assert.equal(rt.backoff(0, policy), 0);
});

test("start runs the main loop once; a second start throws", async () => {
  const rt = new DriverRuntime("Test");
  let runs = 0;
  const started = rt.start(
    () => "set up",
    async (setup) => {
      assert.equal(setup, "set up");
      runs++;
      rt.inventoryDone();
      await rt.sleep(60_000);
    },
  );
  await started;
  assert.equal(runs, 1);
  assert.throws(
    () =>
      rt.start(
        () => undefined,
        async () => undefined,
      ),
    /Test driver already started/,
  );
  await rt.stop();
  assert.equal(runs, 1);
});

test("a set-up error comes out of start() and no loop runs", () => {
  const rt = new DriverRuntime("Test");
  const setUp = (): never => {
    throw new Error("bad store");
  };
  assert.throws(() => rt.start(setUp, async () => assert.fail("the loop ran")), /bad store/);
});

test("start resolves when the main loop ends without reporting an inventory, and when it fails", async () => {
  const ended = new DriverRuntime("Test");
  await ended.start(
    () => undefined,
    async () => undefined,
  );
  const failed = new DriverRuntime("Test");
  await failed.start(
    () => undefined,
    async () => {
      await Promise.resolve();
      throw new Error("boom");
    },
  );
  await failed.stop();
});

test("stop releases a start() still waiting for the first inventory", async () => {
  const rt = new DriverRuntime("Test");
  const started = rt.start(
    () => undefined,
    () => rt.sleep(60_000),
  );
  await rt.stop();
  await started;
});

test("stop aborts the signal, ends sleeps at once, cancels timers and waits for every loop", async () => {
  const rt = new DriverRuntime("Test");
  const steps: string[] = [];
  let fired = 0;
  rt.later(5, () => fired++);
  rt.every(5, () => fired++);
  const child = rt.timers.scope();
  child.later(5, () => fired++);
  await rt.start(
    () => undefined,
    async () => {
      rt.inventoryDone();
      await rt.sleep(3_600_000);
      steps.push(`main woke, stopping=${rt.stopping}`);
    },
  );
  rt.run(async () => {
    await child.sleep(3_600_000);
    await Promise.resolve();
    steps.push("second loop done");
  });
  assert.equal(rt.timers.size, 5);
  await rt.stop(() => void steps.push("cleanup"));
  assert.equal(rt.signal.aborted, true);
  assert.deepEqual(steps.sort(), ["cleanup", "main woke, stopping=true", "second loop done"]);
  assert.equal(rt.timers.size, 0);
  assert.equal(child.closed, true);
  await delay(20); // timers due after the cancelled ones (Node fires timers in order of expiry)
  assert.equal(fired, 0, "no cancelled timer ran");
  assert.equal(
    rt.later(1, () => fired++),
    undefined,
    "a stopped runtime starts no timer",
  );
  await rt.sleep(3_600_000); // resolves at once
});

test("a sleep ends early when its signal aborts, and leaves no timer behind", async () => {
  const scope = new TimerScope();
  const controller = new AbortController();
  const sleeping = scope.sleep(3_600_000, controller.signal);
  assert.equal(scope.size, 1);
  controller.abort();
  await sleeping;
  assert.equal(scope.size, 0);
  await scope.sleep(3_600_000, controller.signal); // already aborted: at once
});

test("a timer that ran, or was cancelled, leaves the scope", async () => {
  const scope = new TimerScope();
  const ran = new Promise<void>((resolve) => scope.later(1, resolve));
  const cancelled = scope.later(3_600_000, () => assert.fail("cancelled"));
  assert.equal(scope.size, 2);
  await ran;
  assert.equal(scope.size, 1);
  assert.equal(scope.cancel(cancelled), undefined);
  assert.equal(scope.size, 0);
  scope.cancel(cancelled); // twice is harmless
  scope.cancel(undefined);
});

test("every() repeats until cancelled", async () => {
  const scope = new TimerScope();
  let ticks = 0;
  let timer: Timer | undefined;
  await new Promise<void>((resolve) => {
    timer = scope.every(1, () => {
      if (++ticks === 3) resolve();
    });
  });
  scope.cancel(timer);
  assert.equal(scope.size, 0);
  await delay(10);
  assert.equal(ticks, 3);
});

test("child scopes: cleared with the parent, closed on their own, cancellable from the parent", async () => {
  const parent = new TimerScope();
  const connection = parent.scope();
  connection.every(3_600_000, () => undefined);
  const timeout = connection.later(3_600_000, () => undefined);
  assert.equal(parent.size, 2);
  parent.cancel(timeout);
  assert.equal(parent.size, 1);
  connection.close();
  assert.equal(parent.size, 0);
  assert.equal(
    connection.later(1, () => undefined),
    undefined,
    "a closed scope starts nothing",
  );
  assert.equal(connection.scope().closed, true, "nor a child scope");

  // A hundred connections that came and went leave nothing in the parent.
  for (let i = 0; i < 100; i++) {
    const s = parent.scope();
    s.later(3_600_000, () => undefined);
    s.close();
  }
  assert.equal(parent.size, 0);

  const a = parent.scope();
  const b = a.scope();
  b.later(3_600_000, () => undefined);
  parent.clear();
  assert.equal(a.closed && b.closed, true);
  assert.equal(parent.size, 0);
  assert.equal(parent.closed, false, "clear() keeps the scope usable");
  const again = new Promise<void>((resolve) => parent.later(1, resolve));
  await again;
});

test("cleanupAfter runs although the runtime stopped", async () => {
  const rt = new DriverRuntime("Test");
  const done = new Promise<void>((resolve) => cleanupAfter(1, resolve));
  await rt.stop();
  // The clean-up is unref'd: something else must keep this test's process up meanwhile.
  const keepUp = setInterval(() => undefined, 1_000);
  await done;
  clearInterval(keepUp);
});
