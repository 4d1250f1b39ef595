// End to end: `npm run demo` (sim/demo/main.ts, as the npm script runs it) starts the simulators of
// all three vendors and the bridge; hap-controller pairs with it (and, apart, with the Nanit camera,
// which is a HomeKit accessory of its own) and matter.js's controller commissions it; the `pairing`
// command computes the very codes the running bridge logged; `reset` refuses while the bridge runs;
// a restart of the demo on the same --data needs no re-pairing.
// Runs inside test/netns.sh (loopback-only namespace, mDNS on lo); advertiser none.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import { HapClient } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";
import type { LogLine } from "../helpers/bridge-process.ts";
import { DEMO_NAMES } from "../../sim/demo/main.ts";
import { PID_FILE } from "../../src/cli/pidfile.ts";
import { freeUdpPort } from "../helpers/e2e-config.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A node script of ours in a child process, its JSON log lines awaitable. */
class Script extends EventEmitter<{ line: [LogLine] }> {
  readonly lines: LogLine[] = [];
  readonly output: string[] = [];
  readonly child: ChildProcess;
  readonly exit: Promise<number | null>;

  constructor(args: string[]) {
    super();
    this.child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, MATTER_LOG_LEVEL: "error", MATTER_LOG_FORMAT: "plain" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      this.output.push(text);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 30, msg: text };
      }
      this.lines.push(line);
      this.emit("line", line);
    });
    createInterface({ input: this.child.stderr! }).on("line", (text) => this.output.push(text));
    this.exit = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  waitFor(predicate: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("line", onLine);
        reject(new Error(`timed out; output:\n${this.output.slice(-30).join("\n")}`));
      }, timeoutMs);
      const onLine = (line: LogLine) => {
        if (!predicate(line)) return;
        clearTimeout(timer);
        this.off("line", onLine);
        resolve(line);
      };
      this.on("line", onLine);
      void this.exit.then((code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code} first; output:\n${this.output.slice(-30).join("\n")}`));
      });
    });
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exit;
  }
}

/** Run one CLI command to completion (the bridge is another process, so waiting here is fine). */
async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const script = new Script(args);
  const code = await script.exit;
  return { code, out: script.output.join("\n") };
}

describe("npm run demo", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-demo-"));
  const dataDir = join(dir, "demo-data");
  const pairingFile = join(dir, "hap-pairing.json");
  const cameraPairingFile = join(dir, "hap-camera-pairing.json");
  const cameraName = `${DEMO_NAMES.nursery} Nanit`;
  const noConfig = join(dir, "no-config.yaml");
  let matterPort: number;
  let demo: Script;
  let hap: HapClient;
  let camera: HapClient | undefined;
  let matter: MatterTestClient | undefined;
  let ready: LogLine;

  const startDemo = () =>
    new Script([
      "sim/demo/main.ts",
      "--advertiser",
      "none",
      "--homekit-port",
      "0",
      "--matter-port",
      String(matterPort),
      "--log-json",
      "--data",
      dataDir,
    ]);

  before(async () => {
    matterPort = await freeUdpPort();
    demo = startDemo();
    ready = await demo.waitFor((l) => l.event === "ready", 90_000);
  });

  after(async () => {
    await hap?.close();
    await camera?.close();
    await matter?.close();
    await demo?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts the three simulated accounts and lists every demo device before publishing", () => {
    assert.equal(ready.devices, DEMO_NAMES.fans.length + DEMO_NAMES.alarms.length + 1);
    const found = demo.lines.filter((l) => /^found /.test(l.msg)).map((l) => l.msg.slice("found ".length));
    for (const name of [...DEMO_NAMES.fans, ...DEMO_NAMES.alarms, `${DEMO_NAMES.nursery} Nanit`])
      assert.ok(found.includes(name), `${name} in ${found.join(", ")}`);
    assert.ok(demo.lines.some((l) => l.event === "demo" && /Demo mode/.test(l.msg)));
  });

  it("the pairing command computes the codes the running bridge logged, without starting anything", async () => {
    const homekit = await demo.waitFor((l) => l.event === "homekit-pairing");
    const matterCodes = await demo.waitFor((l) => l.event === "matter-pairing");
    const { code, out } = await cli(["src/cli/pairing.ts", "--json", "--config", noConfig, "--data", dataDir]);
    assert.equal(code, 0, out);
    const report = JSON.parse(out) as {
      homekit: { pincode: string; setupURI: string };
      matter: { manualPairingCode: string; qrPairingCode: string };
    };
    assert.equal(report.homekit.pincode, homekit.setupCode);
    assert.equal(report.homekit.setupURI, homekit.setupURI);
    assert.equal(report.matter.manualPairingCode, matterCodes.manualCode);
    assert.equal(report.matter.qrPairingCode, matterCodes.qrCode);
    assert.equal(existsSync(noConfig), false, "pairing writes no config");
  });

  it("reset refuses while the bridge runs on the data directory", async () => {
    assert.ok(existsSync(join(dataDir, PID_FILE)));
    const { code, out } = await cli(["src/cli/reset.ts", "homekit", "--yes", "--data", dataDir]);
    assert.equal(code, 1, out);
    assert.match(out, /is running on/);
    assert.ok(existsSync(join(dataDir, "homekit", "bridges.json")), "nothing was removed");
  });

  it("pairs with Apple Home (hap-controller) and shows the demo devices by name", async () => {
    const pincode = (await demo.waitFor((l) => l.event === "homekit-pairing")).setupCode as string;
    hap = await HapClient.pair(ready.homekitPort as number, pincode, { file: pairingFile });
    const names = (await hap.accessories(true)).map((a) => a.name);
    for (const name of [DEMO_NAMES.fans[0], DEMO_NAMES.alarms[0]])
      assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
    assert.ok(!names.includes(cameraName), "the camera is an accessory of its own, not on the bridge");
  });

  it("pairs the demo Nanit camera alone (port and code from its pairing line) with sensors, switches", async () => {
    const line = await demo.waitFor((l) => l.event === "camera-pairing" && l.name === cameraName);
    assert.equal(line.paired, false);
    assert.notEqual(line.port, ready.homekitPort);
    camera = await HapClient.pair(line.port as number, line.setupCode as string, { file: cameraPairingFile });
    const accessories = await camera.accessories(true);
    assert.deepEqual(
      accessories.map((a) => a.name),
      [cameraName],
    );
    const types = accessories[0]!.services.map((s) => s.type);
    for (const service of [
      Service.CameraRTPStreamManagement,
      Service.TemperatureSensor,
      Service.HumiditySensor,
      Service.Lightbulb,
      Service.Switch,
    ])
      assert.ok(types.includes(service.UUID), `has ${service.name ?? service.UUID}`);
    const [temperature] = await camera.read(
      await camera.find({
        service: Service.TemperatureSensor.UUID,
        characteristic: Characteristic.CurrentTemperature.UUID,
      }),
    );
    assert.equal(typeof temperature, "number", "the simulated nursery's temperature");
  });

  it("commissions into Matter (matter.js controller) with bridged demo devices", async () => {
    const identity = JSON.parse(readFileSync(join(dataDir, "identity.json"), "utf8")) as {
      matter: { passcode: number; discriminator: number };
    };
    matter = await MatterTestClient.commission({
      port: matterPort,
      passcode: identity.matter.passcode,
      discriminator: identity.matter.discriminator,
    });
    const labels = matter
      .endpoints()
      .map((ep) => (ep.maybeStateOf("bridgedDeviceBasicInformation") as { nodeLabel?: string } | undefined)?.nodeLabel)
      .filter(Boolean);
    assert.ok(labels.includes(DEMO_NAMES.fans[0]), `bridged labels: ${labels.join(", ")}`);
    assert.ok(labels.includes(DEMO_NAMES.alarms[1]), `bridged labels: ${labels.join(", ")}`);
  });

  it("stops cleanly on SIGTERM and a restart on the same --data keeps both pairings", async () => {
    assert.equal(await demo.stop(), 0, demo.output.slice(-20).join("\n"));
    assert.equal(existsSync(join(dataDir, PID_FILE)), false, "the pid file is removed at stop");
    const paired = await cli(["src/cli/pairing.ts", "--json", "--config", noConfig, "--data", dataDir]);
    const report = JSON.parse(paired.out) as {
      homekit: { pairedControllers: number };
      matter: { commissioned: boolean };
    };
    assert.equal(report.homekit.pairedControllers, 1);
    assert.equal(report.matter.commissioned, true);
    await camera?.close();

    demo = startDemo();
    ready = await demo.waitFor((l) => l.event === "ready", 90_000);
    // HomeKit port 0 gives a new port; the saved pairing still verifies (no pair-setup).
    const again = HapClient.load(pairingFile, ready.homekitPort as number);
    try {
      const names = (await again.accessories(true)).map((a) => a.name);
      assert.ok(names.includes(DEMO_NAMES.fans[1]), names.join(", "));
    } finally {
      await again.close();
    }
    // The camera, on a new port too, keeps its pairing.
    const cameraLine = await demo.waitFor((l) => l.event === "camera-pairing" && l.name === cameraName);
    assert.equal(cameraLine.paired, true);
    camera = HapClient.load(cameraPairingFile, cameraLine.port as number);
    assert.deepEqual(
      (await camera.accessories(true)).map((a) => a.name),
      [cameraName],
    );
    await matter!.reconnect();
    const labels = matter!
      .endpoints()
      .map((ep) => (ep.maybeStateOf("bridgedDeviceBasicInformation") as { nodeLabel?: string } | undefined)?.nodeLabel);
    assert.ok(labels.includes(DEMO_NAMES.alarms[3]), labels.join(", "));
  });
});
