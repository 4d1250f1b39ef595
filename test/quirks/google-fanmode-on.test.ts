// Quirk: Google Home sets a fan's speed by writing the deprecated FanMode.On (4) to fanMode, then
// percentSetting, in two write interactions. A bridge that refused the first made Google Home say
// "Something went wrong" (matter.js rejected 4 as outside the enum); one that carried out both
// spun the fan up at its old speed first.
//   https://github.com/t0bst4r/home-assistant-matter-hub/pull/258 (Google Home test notes)
//   https://github.com/matter-js/matter.js/issues/1476
// Expected: both writes succeed, and the fan gets ONE set frame, at the speed Google asked for.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startQuirkRig, type QuirkRig } from "./harness.ts";

const FanMode = { On: 4, Medium: 2 } as const;

describe("Google Home: fanMode On, then percentSetting", () => {
  let rig: QuirkRig;
  before(async () => {
    // The continuous fan starts off, last run at 86 %. The hold is long here so that a loaded test
    // machine cannot space Google's two writes past it: what is under test is that the speed write
    // flushes the held On at once (the hold only bounds how long a lone On waits).
    rig = await startQuirkRig({
      devices: [{ profile: "continuous", displayName: "Office" }],
      port: 5611,
      discriminator: 3851,
      commandHoldMs: 60_000,
    });
  });
  after(async () => {
    await rig?.close();
  });

  it("answers both writes and sends one frame at the speed asked for", async () => {
    const [vid] = rig.vids as [string];
    const fan = rig.endpoint(vid, "fanControl");
    const mark = rig.setCount(vid);
    const frame = rig.sim.nextFrame((f) => f.request === "set" && f.device === vid, 30_000);
    const shown = rig.client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 50, 30_000);
    await rig.client.write(fan, "fanControl", { fanMode: FanMode.On });
    await rig.client.write(fan, "fanControl", { percentSetting: 50 });
    await frame;
    await shown;
    // A barrier: a late frame of the first write would come before this one.
    // Its report is awaited from before the write: registered after, it could already have come and gone.
    const barrier = rig.client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 40, 30_000);
    await rig.client.write(fan, "fanControl", { percentSetting: 40 });
    await barrier;
    assert.deepEqual(rig.setsSince(mark, vid), [{ H00: 1, H02: 50 }, { H02: 40 }]);
    assert.deepEqual(await rig.client.read(fan, "fanControl", ["fanMode", "percentSetting"]), {
      fanMode: FanMode.Medium,
      percentSetting: 40,
    });
  });
});
