// A camera node whose port is taken by another program must not stay half there: the host logs the
// failure once, keeps no node, and starts it once the port is free, on its retry timer (driven by a
// manual clock here) or at once when the registry reports the camera again. Runs inside test/netns.sh
// (a started node advertises over mDNS).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Environment } from "@matter/main";
import type { Driver } from "../../src/core/driver.ts";
import { createLogger } from "../../src/core/logger.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { MatterCameraHost } from "../../src/matter/camera/host.ts";
import type { CameraMediaPort } from "../../src/matter/camera/link.ts";
import { configureMatter } from "../../src/matter/platform.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { ManualClock } from "../helpers/manual-clock.ts";
import { waitFor } from "../helpers/wait.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: a started node advertises over mDNS");

const BRIDGE_PORT = 5700;

function camera(id: string, name: string): DeviceInfo {
  return {
    ...{ id, vendor: "nanit", account: "home", kind: "camera", name, manufacturer: "Nanit", model: "Pro" },
    serialNumber: id,
    capabilities: { camera: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: false } },
  };
}

/** Holds a UDP port on :: as another program would (the node's Matter port is UDP on ::). */
async function takePort(port: number): Promise<Socket> {
  const socket = createSocket({ type: "udp6", reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, "::", () => resolve());
  });
  return socket;
}

const release = (socket: Socket) => new Promise<void>((resolve) => socket.close(() => resolve()));

describe("a Matter camera node whose port is taken", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-matter-cam-retry-"));
  const capture = new LogCapture();
  const log = createLogger("debug", { json: true, destination: capture });
  configureMatter(log);
  Environment.default.vars.set("runtime.signals", false);
  const clock = new ManualClock();
  const registry = new DeviceRegistry(log);
  const driver: Driver = {
    vendor: "nanit",
    accountName: "home",
    start: async () => undefined,
    command: async () => undefined,
    stop: async () => undefined,
  };
  const sink = registry.sinkFor(driver);
  const media: CameraMediaPort = {
    snapshot: async () => Promise.reject(new Error("no snapshots here")),
    webrtc: {
      open: async () => Promise.reject(new Error("no viewers here")),
      solicit: async () => Promise.reject(new Error("no viewers here")),
      reoffer: async () => Promise.reject(new Error("no viewers here")),
      addCandidate: async () => undefined,
      close: async () => false,
    },
  };
  const host = new MatterCameraHost({
    registry,
    log,
    dataDir: dir,
    bridgePort: BRIDGE_PORT,
    media: () => media,
    clock,
  });
  const running = (id: string) => host.cameraPairings().find((p) => p.deviceId === id);
  const failures = (id: string) => capture.warnings.filter((l) => l.device === id && /did not start/.test(l.msg));

  after(async () => {
    await host.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs once, keeps no node, and starts it on a retry once the port is free", async () => {
    const id = "nanit:cam-retry";
    const port = host.identity(id).port;
    const blocker = await takePort(port);
    sink.deviceFound(camera(id, "Nursery"), {});
    try {
      await host.start();
      assert.equal(host.nodes.length, 0, "no node left behind after the failed start");
      assert.equal(failures(id).length, 1, "the failure is logged");
      // A retry while the port is still taken fails quietly.
      await clock.tick(5_000);
      await waitFor(() => capture.lines.some((l) => l.device === id && l.tries === 2), 60_000, {
        on: [[capture, "line"]],
        message: "the second try",
      });
      assert.equal(host.nodes.length, 0);
      assert.equal(failures(id).length, 1, "logged once, not at each try");
    } finally {
      await release(blocker);
    }
    await clock.tick(10_000);
    const up = await waitFor(() => running(id), 60_000, { message: "the node running after the port was freed" });
    assert.equal(up.port, port, "on its stored port");
    assert.equal(host.nodes.length, 1);
    assert.equal(failures(id).length, 1);
    const errors = capture.lines.filter((l) => l.level >= 50).map((l) => l.msg);
    assert.deepEqual(errors, [], "no error logged on the way (matter.js's own included)");
  });

  it("tries again at once when the registry reports the camera again", async () => {
    const id = "nanit:cam-again";
    const port = host.identity(id).port;
    const blocker = await takePort(port);
    try {
      sink.deviceFound(camera(id, "Playroom"), {});
      await waitFor(() => failures(id).length === 1, 60_000, { on: [[capture, "line"]], message: "the failure" });
      assert.equal(running(id), undefined);
    } finally {
      await release(blocker);
    }
    // The camera described anew (a "device" event, as when its account is added again); no clock time passes.
    sink.deviceFound(camera(id, "Playroom camera"), {});
    await waitFor(() => running(id), 60_000, { message: "the node running after the device event" });
    assert.equal(failures(id).length, 1);
  });
});
