// A short run of the chaos bench (bench/chaos.ts) in CI: the real bridge against the three simulators
// behind fault-injecting proxies, a few rounds of dropped sockets, expired tokens and an outage per
// vendor, the vendors side by side. After each fault the account must come back on its own (a change
// made at the vendor afterwards arrives, every device reachable, HomeKit reads them again), outages
// must read "No Response" in HomeKit while they last, and no device or accessory may be duplicated.
// Runs inside test/netns.sh (loopback-only namespace: the bridge runs Matter).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChaosRig, HAP_NO_RESPONSE, VENDORS, type RoundResult, type Vendor } from "../helpers/chaos-rig.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and runs Matter");

/** Per vendor, the kinds and rounds of this short run. The outage is held 4 s instead of 10, except at
 * Nanit: it rides out 10 s (its link grace), so its outage must last longer to read "No Response". */
const PLAN: Record<Vendor, [kind: string, rounds: number][]> = {
  fansync: [
    ["drop", 2],
    ["expire", 2],
    ["outage", 1],
  ],
  xsense: [
    ["drop", 2],
    ["expire", 2],
  ],
  nanit: [
    ["drop", 2],
    ["expire", 2],
    ["outage", 1],
  ],
};

describe("vendor-cloud chaos, short run", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-chaos-"));
  let rig: ChaosRig;
  const results: RoundResult[] = [];

  before(async () => {
    rig = await ChaosRig.start({ dir, holdMs: { outage: 4_000, "nanit:outage": 14_000 } });
  });

  after(async () => {
    await rig?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every account comes back on its own after each fault, with no duplicated device", async () => {
    const before = rig.sample();
    await Promise.all(
      VENDORS.map(async (vendor) => {
        for (const [name, rounds] of PLAN[vendor]) {
          const kind = rig.kinds(vendor).find((k) => k.name === name);
          assert.ok(kind, `${vendor} has a ${name} fault`);
          for (let i = 0; i < rounds; i++) results.push(await rig.round(vendor, kind, i));
        }
      }),
    );
    const failed = results
      .filter((r) => !r.ok)
      .map((r) => `${r.vendor} ${r.kind} #${r.round + 1}: ${r.problems.join("; ")}`);
    assert.deepEqual(failed, [], "every round recovered cleanly");
    assert.equal(
      results.length,
      Object.values(PLAN)
        .flat()
        .reduce((n, [, rounds]) => n + rounds, 0),
    );
    assert.ok(rig.alive, "the bridge is still running");
    assert.deepEqual(
      rig.crashLines.map((l) => l.msg),
      [],
      "no uncaught exception or unhandled rejection was logged",
    );
    const now = rig.sample();
    assert.equal(now.ffmpeg, 0, "no ffmpeg process left behind");
    assert.equal(now.children, before.children, "no child process left behind");
  });

  it("during an outage the devices read No Response in HomeKit; reconnects that work at once do not flap", () => {
    const outages = results.filter((r) => r.kind === "outage");
    assert.equal(outages.length, 2);
    for (const r of outages) {
      assert.ok(r.down, `${r.vendor}: the devices read unreachable during the outage`);
      if (r.hapWhileDown !== undefined)
        assert.equal(r.hapWhileDown, HAP_NO_RESPONSE, `${r.vendor}: HomeKit status while down`);
    }
    assert.ok(
      outages.some((r) => r.hapWhileDown === HAP_NO_RESPONSE),
      "HomeKit was read while an outage lasted",
    );
    const flaps = results.filter((r) => (r.kind === "drop" || r.kind === "expire") && r.down);
    assert.deepEqual(
      flaps.map((r) => `${r.vendor} ${r.kind}`),
      [],
      "every vendor rides through a quick reconnect without No Response",
    );
  });
});
