// The household bench's baseline for "Matter write -> vendor frame": a bare matter.js ServerNode with one
// FanDevice in its own process (as the bridge is), printing "changed <value>" on stdout the moment a
// controller's write lands in percentSetting$Changed. The bench timestamps that line as it timestamps the
// bridge's frame at the simulator: both include one hop from the server's process to the bench's.
//
//   node bench/_bare-matter.ts <port> <passcode> <discriminator> <storage dir>
import { Endpoint, ServerNode, VendorId } from "@matter/main";
import { FanControl } from "@matter/main/clusters/fan-control";
import { FanDevice } from "@matter/main/devices/fan";
import { createLogger } from "../src/core/logger.ts";
import { configureMatter, environmentAt } from "../src/matter/platform.ts";

const [port, passcode, discriminator, storage] = process.argv.slice(2);
if (!port || !passcode || !discriminator || !storage) {
  console.error("usage: node bench/_bare-matter.ts <port> <passcode> <discriminator> <storage dir>");
  process.exit(2);
}
configureMatter(createLogger("error"));
const node = await ServerNode.create({
  id: "bare",
  environment: environmentAt("bench-bare", storage),
  network: { port: Number(port) },
  commissioning: { passcode: Number(passcode), discriminator: Number(discriminator) },
  productDescription: { name: "Bare Fan", deviceType: FanDevice.deviceType },
  basicInformation: {
    vendorName: "Bench",
    vendorId: VendorId(0xfff1),
    productId: 0x8000,
    productName: "Bare Fan",
    nodeLabel: "Bare Fan",
    serialNumber: "bench-bare-fan",
  },
});
const fan = new Endpoint(FanDevice, {
  id: "fan",
  fanControl: {
    fanMode: FanControl.FanMode.Medium,
    fanModeSequence: FanControl.FanModeSequence.OffLowMedHigh,
    percentSetting: 40,
    percentCurrent: 40,
  },
});
await node.add(fan);
fan.events.fanControl.percentSetting$Changed.on((value) => {
  process.stdout.write(`changed ${value}\n`);
});
await node.start();
process.stdout.write("listening\n");
process.on("SIGTERM", () => {
  void node.close().finally(() => process.exit(0));
});
