// Quirk: turning a fan on (not setting a speed) sent it to 100 % instead of the speed it last ran
// at. Over Matter "on" is fanMode On (or a Low/Medium/High); the spec's On -> High rule is what
// makes naive bridges jump to full speed.
//   https://github.com/RiDDiX/home-assistant-matter-hub/issues/275 ("they always turn on at 100%")
//   https://github.com/t0bst4r/home-assistant-matter-hub/pull/258 (Apple Home: "goes directly to 100%")
// Expected: a lone fanMode On resumes the fan's last speed, in one frame; the attributes show it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startQuirkRig, type QuirkRig } from "./harness.ts";

const FanMode = { High: 3, On: 4 } as const;

describe("fan on resumes its last speed", () => {
  let rig: QuirkRig;
  before(async () => {
    // Default hold: a lone On waits its few ms for a speed write that never comes, then goes out.
    rig = await startQuirkRig({
      devices: [{ profile: "continuous", displayName: "Porch" }],
      port: 5612,
      discriminator: 3852,
    });
  });
  after(async () => {
    await rig?.close();
  });

  it("fanMode On on a fan that last ran at 86 % turns it on at 86 %, not 100 %", async () => {
    const [vid] = rig.vids as [string];
    assert.equal(rig.sim.device(vid).H00, 0, "the fan starts off");
    const fan = rig.endpoint(vid, "fanControl");
    const mark = rig.setCount(vid);
    const shown = rig.client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 86, 30_000);
    await rig.client.write(fan, "fanControl", { fanMode: FanMode.On });
    await shown;
    assert.deepEqual(rig.setsSince(mark, vid), [{ H00: 1, H02: 86 }]);
    assert.deepEqual(await rig.client.read(fan, "fanControl", ["fanMode", "percentSetting"]), {
      fanMode: FanMode.High,
      percentSetting: 86,
    });
  });
});
