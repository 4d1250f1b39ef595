// End to end, alerts in seconds (issue 14): the bridge from its CLI against the Nanit simulator, with the
// account's Cry sensor on. The camera's socket alerts (PUT_SENSOR_DATA is_alert) reach Apple Home and Matter
// with nothing in /messages, so only the socket can have carried them; a sound the cloud also lists in
// /messages is one event in both ecosystems after the poll has read it; a cry is its own occupancy sensor.
// Runs inside test/netns.sh (loopback-only namespace, mDNS on lo).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Characteristic, Service } from "@homebridge/hap-nodejs";
import type { Endpoint as ClientDevice } from "@project-chip/matter.js/device";
import { NanitSimulator, type HttpRecord } from "../../sim/nanit/index.ts";
import { E2E_PASSCODE, writeE2EConfig } from "../helpers/e2e-config.ts";
import { BridgeProcess } from "../helpers/bridge-process.ts";
import { HapClient, type HapCharacteristic } from "../helpers/hap-client.ts";
import { MatterTestClient } from "../helpers/matter-client.ts";

if (!process.env.HEARTHBRIDGE_NETNS) throw new Error("run inside test/netns.sh: this test pairs and commissions");

const DISCRIMINATOR = 3841;
const OCCUPANCY_DEVICE = 0x0107;
const OCCUPANCY_CLUSTER = 0x0406;
/** Two /messages polls of the driver (20 s each) plus slack. */
const TWO_POLLS_MS = 50_000;
/** The driver's hold (30 s) plus slack. */
const HOLD_MS = 40_000;

const isOn = (v: unknown) => v === true || v === 1;
const isOff = (v: unknown) => v === false || v === 0;

describe("Nanit motion, sound and cry alerts through the bridge", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-e2e-nanit-alerts-"));
  const sim = new NanitSimulator({ mfa: false, sensorPushMs: [600_000, 900_000] });
  const cameraUid = sim.babies[0]!.cameraUid;
  const deviceId = `nanit:${cameraUid}`;
  let bridge: BridgeProcess;
  let hap: HapClient;
  let matter: MatterTestClient | undefined;
  const hapSeen: { id: string; value: unknown }[] = [];
  const matterSeen: { endpoint: number; occupied: boolean }[] = [];
  const sensors: Record<"motion" | "sound" | "cry", { hap: HapCharacteristic; matter: ClientDevice }> = {} as never;

  /** Called on every HAP event, Matter report and /messages answer. */
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of [...wakers]) w();
  };
  /** Resolves when the check holds; re-checked on every event the test records (no polling). */
  function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waker = () => {
        if (!check()) return;
        wakers.delete(waker);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        wakers.delete(waker);
        reject(new Error(`${what} not seen within ${timeoutMs} ms`));
      }, timeoutMs);
      wakers.add(waker);
      waker();
    });
  }
  /** Where the test's records start (reports from commissioning come before). */
  let hapMark = 0;
  let matterMark = 0;
  const hapValues = (kind: keyof typeof sensors) => hapSeen.slice(hapMark).filter((e) => e.id === sensors[kind].hap.id);
  const matterValues = (kind: keyof typeof sensors) =>
    matterSeen.slice(matterMark).filter((e) => e.endpoint === sensors[kind].matter.number);

  before(async () => {
    const urls = await sim.start();
    const configFile = join(dir, "config.yaml");
    await writeE2EConfig(configFile, {
      name: "E2E Alerts",
      discriminator: DISCRIMINATOR,
      accounts: [
        {
          vendor: "nanit",
          name: "nursery",
          email: sim.email,
          password: "${E2E_NANIT_PASSWORD}",
          endpoints: { api: urls.apiUrl, websocket: urls.wsUrl },
          cry: true,
          // The camera's other occupancy sensor (day/night) is left out: this test finds motion, sound and
          // cry by their order; nanit-controls.test.ts covers the rest.
          cameras: { Robin: { hide: ["night"] } },
        },
      ],
      logLevel: "debug",
    });
    bridge = new BridgeProcess(["--config", configFile, "--data", join(dir, "data")], {
      E2E_NANIT_PASSWORD: sim.password,
    });
    const ready = await bridge.ready(60_000);
    await bridge.waitForLine((l) => /Robin Nanit is reachable again/.test(l.msg), 20_000);
    // The tracks rebuild the camera's Matter endpoint: commission only after that (see matterEndpointWith).
    await bridge.matterEndpointWith("Robin Nanit", "sound-Waves_wav");
    const camera = await bridge.waitForLine((l) => l.event === "camera-pairing" && l.deviceId === deviceId, 20_000);
    hap = await HapClient.pair(camera.port as number, camera.setupCode as string);
    const find = (service: { UUID: string }, characteristic: { UUID: string }, index = 0) =>
      hap.find({ service: service.UUID, characteristic: characteristic.UUID, accessory: { serial: cameraUid }, index });
    const motion = await find(Service.MotionSensor, Characteristic.MotionDetected);
    // Occupancy sensors in the kind's order: sound, then cry.
    const sound = await find(Service.OccupancySensor, Characteristic.OccupancyDetected, 0);
    const cry = await find(Service.OccupancySensor, Characteristic.OccupancyDetected, 1);
    hap.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
      for (const c of event.characteristics ?? []) hapSeen.push({ id: `${c.aid}.${c.iid}`, value: c.value });
      wake();
    });
    await hap.subscribe([motion, sound, cry]);

    matter = await MatterTestClient.commission({
      port: Number(ready.matterPort),
      passcode: E2E_PASSCODE,
      discriminator: DISCRIMINATOR,
    });
    const occupancy = [...matter.bridged(deviceId).parts.values()]
      .filter((ep) =>
        (
          (ep.maybeStateOf("descriptor") as { deviceTypeList?: { deviceType: number }[] } | undefined)
            ?.deviceTypeList ?? []
        ).some((d) => d.deviceType === OCCUPANCY_DEVICE),
      )
      .sort((a, b) => a.number! - b.number!);
    assert.equal(occupancy.length, 3, "motion, sound and cry are three occupancy sensors");
    const [motionEp, soundEp, cryEp] = occupancy as [ClientDevice, ClientDevice, ClientDevice];
    matter.node.events.attributeChanged.on(({ path, value }) => {
      if (path.clusterId === OCCUPANCY_CLUSTER && path.attributeName === "occupancy")
        matterSeen.push({ endpoint: path.endpointId, occupied: (value as { occupied: boolean }).occupied });
      wake();
    });
    Object.assign(sensors, {
      motion: { hap: motion, matter: motionEp },
      sound: { hap: sound, matter: soundEp },
      cry: { hap: cry, matter: cryEp },
    });
  });

  after(async () => {
    await hap?.close();
    await matter?.close();
    await bridge?.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the Cry sensor is there in both ecosystems, not detected", async () => {
    hapMark = hapSeen.length;
    matterMark = matterSeen.length;
    assert.ok(isOff((await hap.read(sensors.cry.hap))[0]));
    const read = await matter!.read(sensors.cry.matter, "occupancySensing", ["occupancy"]);
    assert.deepEqual(read.occupancy, { occupied: false });
  });

  it("a motion alert on the camera socket reaches HAP and Matter with nothing in /messages", async () => {
    assert.equal(sim.cameraAlert("motion", { message: false }), 1, "one session asked for alerts");
    await until(
      "motion in HAP and Matter",
      () => {
        return hapValues("motion").some((e) => isOn(e.value)) && matterValues("motion").some((e) => e.occupied);
      },
      10_000,
    );
    assert.equal(sim.messages.length, 0, "/messages never had it");
  });

  it("a cry on the camera socket is the Cry sensor's, not sound's", async () => {
    sim.cameraAlert("cry", { message: false });
    await until(
      "cry in HAP and Matter",
      () => {
        return hapValues("cry").some((e) => isOn(e.value)) && matterValues("cry").some((e) => e.occupied);
      },
      10_000,
    );
    assert.equal(hapValues("sound").length + matterValues("sound").length, 0, "sound did not fire");
  });

  it("a sound on the socket that the cloud also lists in /messages is one event in both", async () => {
    const path = `/babies/${sim.babies[0]!.uid}/messages`;
    let pollsAfter = 0;
    const onHttp = (r: HttpRecord) => {
      if (r.path === path && r.status === 200) pollsAfter++;
      wake();
    };
    hapMark = hapSeen.length;
    matterMark = matterSeen.length;
    sim.on("http", onHttp);
    sim.cameraAlert("sound");
    try {
      await until(
        "sound in HAP and Matter",
        () => {
          return hapValues("sound").some((e) => isOn(e.value)) && matterValues("sound").some((e) => e.occupied);
        },
        10_000,
      );
      // Two polls: the first read the message, the second started after the first was handled.
      await until("two /messages polls", () => pollsAfter >= 2, TWO_POLLS_MS);
      await until(
        "sound cleared in HAP and Matter",
        () => {
          return hapValues("sound").some((e) => isOff(e.value)) && matterValues("sound").some((e) => !e.occupied);
        },
        HOLD_MS,
      );
    } finally {
      sim.off("http", onHttp);
    }
    assert.deepEqual(
      hapValues("sound").map((e) => Number(e.value)),
      [1, 0],
      "HAP: detected once, then cleared",
    );
    assert.deepEqual(
      matterValues("sound").map((e) => e.occupied),
      [true, false],
      "Matter: occupied once, then clear",
    );
  });
});
