// Crash safety, the CI guard of bench/crash.ts: the real bridge SIGKILLed three times (in the middle
// of HAP pair-setup's writes, right as a rotated Nanit refresh token comes back, and during activity)
// and restarted on the same data directory. After each restart: the stored HAP pairing verifies, the
// Matter controller reconnects, the Nanit refresh token on disk is the live one (or, killed inside the
// rotation's own round trip, the bridge logs in again by itself), files stay 0600 and parseable, and
// no half-written temp file survives a start. Runs inside test/netns.sh (it pairs and commissions).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CrashRig } from "../helpers/crash-rig.ts";
import { nextEvent, pause, waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

describe("SIGKILL at the worst moments, then restart", () => {
  const rig = new CrashRig(mkdtempSync(join(tmpdir(), "hb-e2e-crash-")));

  before(async () => {
    await rig.setup();
    await rig.start();
  });

  after(async () => {
    await rig.close();
    rmSync(rig.dir, { recursive: true, force: true });
  });

  /** After a kill: files intact and private; restart; temp files of the kill are gone. */
  async function restart(): Promise<void> {
    assert.deepEqual(rig.fileProblems(), [], "files after the kill");
    await rig.start();
    assert.deepEqual(rig.fileProblems(rig.startedAt), [], "files after the restart");
  }

  /** After a kill during activity: the Nanit token on disk is usable (or was in flight), and after the
   * restart both pairings and the Nanit session work, with no password login when the token was valid. */
  async function restartAndCheckSession(): Promise<void> {
    const verdict = rig.nanitToken();
    assert.ok(verdict === "valid" || verdict === "in-flight", `the stored refresh token is ${verdict}`);
    await restart();
    await rig.verifyHap();
    await rig.verifyMatter();
    await rig.nanitReachable();
    if (verdict === "valid") assert.equal(rig.nanitLoginsSinceStart, 0, "the stored token was used, no password login");
  }

  it("killed inside HAP pair-setup's writes: the pairing is all there or not at all", async () => {
    const trap = rig.killOnWrite(rig.hapDir, rig.hapPairingWrites, () => 0);
    await rig.pairHap().catch(() => undefined);
    assert.ok(await trap.fired, "the kill landed on a pairing write");
    await restart();
    const stored = rig.storedHapPairings();
    assert.ok(stored.length <= 1, `one pairing at most: ${stored.join(", ")}`);
    if (rig.hapPaired) {
      // The controller got M6: the bridge must know it after the restart.
      await rig.verifyHap();
    } else if (stored.length === 0) {
      // Killed before the pairing reached the disk: pairing again just works.
      await rig.pairHap();
    } else {
      // The pairing reached the disk, M6 never left (HAP's own window: the bridge stores before it
      // answers). The recovery a user has: reset HomeKit, then pair.
      await rig.stop();
      await rig.forget("homekit");
      await rig.start();
      await rig.pairHap();
    }
    await rig.verifyHap();
    await rig.commissionMatter();
    await rig.verifyMatter();
    await rig.nanitReachable();
  });

  it("killed as a rotated Nanit refresh token comes back: the token on disk is still usable", async () => {
    const rotation = nextEvent<[{ path: string; status: number }]>(
      rig.nanit,
      "http",
      (r) => r.path === "/tokens/refresh" && r.status === 200,
      20_000,
    );
    rig.forceNanitRefresh();
    await rotation;
    await pause(Math.random() * 3); // jitter: the kill lands somewhere in saving the rotated token
    await rig.kill();
    await restartAndCheckSession();
  });

  it("killed during commands and vendor events: both pairings and the session survive", async () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    let started = 0;
    const acts = (async () => {
      while (rig.bridge?.exitCode === undefined) {
        started++;
        await rig.act(random).catch(() => undefined);
        await pause(50); // the load's pace: commands and vendor events keep overlapping
      }
    })();
    // Killed as the 11th action starts, ten behind it: a count, not a time that a loaded machine
    // fills with fewer actions.
    await waitFor(() => started >= 11, 60_000, { message: "the 11th action" });
    await rig.kill();
    await acts;
    await restartAndCheckSession();
  });
});
