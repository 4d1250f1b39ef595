// Quirk: Apple Home over Matter showed a variable-speed fan as a plain on/off tile when the bridge
// exposed it as an on/off device, and Google Home made an OnOff cluster the fan's main control,
// hiding the speed.
//   https://github.com/t0bst4r/home-assistant-matter-hub/issues/173 (speed control missing in Apple Home)
//   https://github.com/t0bst4r/home-assistant-matter-hub/pull/258 (OnOff cluster dominant in Google Home)
// Choice (README, "Matter"): a fan is a Fan device (0x2B) with FanControl and no OnOff cluster;
// fanModeSequence Off/Low/Med/High; Step always (Apple's and Google's +/- controls); MultiSpeed with
// speedMax = the model's step count on stepped fans, so a controller can offer exactly its speeds.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startQuirkRig, type QuirkRig } from "./harness.ts";

const FAN_DEVICE_TYPE = 0x2b;

describe("a fan exposes what Apple Home needs for a speed control", () => {
  let rig: QuirkRig;
  before(async () => {
    rig = await startQuirkRig({
      devices: [
        { profile: "continuous", displayName: "Porch" },
        { profile: "kute60", displayName: "Bedroom" },
      ],
      port: 5613,
      discriminator: 3853,
    });
  });
  after(async () => {
    await rig?.close();
  });

  it("is a Fan device without an OnOff cluster, with Step, and MultiSpeed on stepped fans", () => {
    const [continuous, stepped] = rig.vids as [string, string];
    for (const [vid, multiSpeed] of [
      [continuous, false],
      [stepped, true],
    ] as const) {
      const fan = rig.endpoint(vid, "fanControl");
      const types = (rig.client.cached(fan, "descriptor").deviceTypeList as { deviceType: number }[]).map(
        (t) => t.deviceType,
      );
      assert.ok(types.includes(FAN_DEVICE_TYPE), `device types ${types}`);
      assert.equal(fan.maybeStateOf("onOff"), undefined, "no OnOff cluster to take over the tile");
      const control = rig.client.cached(fan, "fanControl");
      const features = control.featureMap as Record<string, boolean>;
      assert.equal(features.step, true);
      assert.equal(features.multiSpeed, multiSpeed);
      assert.equal(control.fanModeSequence, 0, "Off/Low/Med/High");
      if (multiSpeed) assert.equal(control.speedMax, 6);
    }
  });

  it("takes a speed through percentSetting and through speedSetting", async () => {
    const [, stepped] = rig.vids as [string, string];
    const fan = rig.endpoint(stepped, "fanControl");
    const mark = rig.setCount(stepped);
    const byPercent = rig.client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 80, 30_000);
    await rig.client.write(fan, "fanControl", { percentSetting: 80 });
    await byPercent;
    const bySpeed = rig.client.nextReport(fan.number, "fanControl", "percentCurrent", (v) => v === 35, 30_000);
    await rig.client.write(fan, "fanControl", { speedSetting: 2 });
    await bySpeed;
    assert.deepEqual(rig.setsSince(mark, stepped), [{ H02: 80 }, { H02: 35 }]);
    assert.deepEqual(await rig.client.read(fan, "fanControl", ["speedSetting", "speedCurrent"]), {
      speedSetting: 2,
      speedCurrent: 2,
    });
  });
});
