// Cameras on the web page without a bridge: the stream line's words and what it leaves out (stream
// keys, secrets), the /health cameras list, and an in-process page whose HomeKit host and media are
// fakes: a camera that appears after the page was opened reaches it over the event stream with its
// own QR code, then its paired state; its device row follows the hub's state. A camera's own Matter
// node (matter.cameras) shows its manual code and MT: QR the same way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { get as httpGet, type IncomingMessage } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { DeviceRegistry } from "../../src/core/registry.ts";
import type { Driver } from "../../src/core/driver.ts";
import type { DeviceInfo } from "../../src/core/model.ts";
import { registerSecret } from "../../src/core/logger.ts";
import type { StreamHubState } from "../../src/media/hub.ts";
import type { CameraPairing, HomeKitHostEvents } from "../../src/homekit/host.ts";
import type { MatterCameraPairing } from "../../src/matter/camera/host.ts";
import { CAMERA_PRODUCT_ID, matterPairingCodes } from "../../src/matter/setup-codes.ts";
import { WebServer } from "../../src/web/index.ts";
import { qrSvg } from "../../src/web/page.ts";
import { health, streamError, streamView, type WebSources } from "../../src/web/status.ts";
import { waitFor } from "../helpers/wait.ts";

const CAMERA: DeviceInfo = {
  id: "nanit:N301TEST0001",
  vendor: "nanit",
  account: "nursery",
  kind: "baby-camera",
  name: "Robin Nanit",
  manufacturer: "Nanit",
  model: "Nanit camera",
  serialNumber: "N301TEST0001",
  capabilities: { temperature: {}, camera: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: true } },
};
const asHost = (fake: FakeHomeKit) => fake as unknown as WebSources["homekit"];
const STREAM_KEY = "k3yOfTheStreamThatIsSecret";

function hub(patch: Partial<StreamHubState> = {}): StreamHubState {
  return {
    deviceId: CAMERA.id,
    name: CAMERA.name,
    watching: 0,
    keepWarm: false,
    active: false,
    publishing: false,
    bytesIn: 0,
    standby: false,
    ...patch,
  };
}

function cameraRegistry(): DeviceRegistry {
  const registry = new DeviceRegistry(pino({ level: "silent" }));
  const driver: Driver = {
    vendor: "nanit",
    accountName: "nursery",
    start: async () => undefined,
    stop: async () => undefined,
    command: async () => undefined,
  };
  const sink = registry.sinkFor(driver);
  sink.linkStateChanged("connected");
  sink.deviceFound(CAMERA, { temperature: 21.5 });
  return registry;
}

/** The parts of HomeKitHost the page uses; cameras are set by the test. (Its on() returns a
 * FakeHomeKit, not a HomeKitHost: hence `asHost`.) */
class FakeHomeKit extends EventEmitter<HomeKitHostEvents> {
  readonly pincode = "031-45-154";
  cameras: CameraPairing[] = [];
  readonly bridges = [
    { index: 0, name: "Test Bridge", username: "0E:00:00:00:00:01", port: 51826, accessories: 1, pairedClients: 0 },
  ];
  setupURI(): string {
    return "X-HM://0023ISYWYTEST";
  }
  cameraPairings(): CameraPairing[] {
    return this.cameras.map((c) => ({ ...c }));
  }
}

test("the stream line: words per hub state, never a stream key or a registered secret", () => {
  registerSecret(STREAM_KEY);
  const refused = `Robin Nanit: cannot start the live view: rtmp://192.0.2.7:1935/live/${STREAM_KEY} refused`;
  assert.equal(streamError(refused), "Robin Nanit: cannot start the live view: rtmp://192.0.2.7:1935 refused");
  assert.equal(
    streamError("push to rtmps://[fd00::7]:1935/live/unregisteredKey9 failed"),
    "push to rtmps://[fd00::7]:1935 failed",
    "a key the logger does not know is cut too",
  );
  assert.equal(
    streamError("no push to rtmp://192.0.2.7:1935"),
    "the camera did not push to rtmp://192.0.2.7:1935: is media.rtmpHost reachable from the camera?",
  );

  const standby = streamView(
    hub({
      active: true,
      watching: 1,
      standby: true,
      lastError:
        "Robin Nanit: cannot start the live view: the camera is in standby (sleep mode); turn standby off to watch it",
    }),
  );
  assert.equal(standby.pushing, false);
  assert.equal(standby.standby, true);
  assert.match(standby.text, /^video: not pushing, 1 watching: .*the camera is in standby/);
  const warm = streamView(
    hub({ active: true, watching: 1, keepWarm: true, publishing: true, lastError: "push stalled" }),
  );
  assert.equal(warm.text, "video: pushing, 1 watching (kept warm)");
  assert.equal(warm.error, undefined, "a problem is history once the camera pushes again");
  // Which way the video comes (media.source): the cloud is named, the camera's own push stays "pushing".
  const cloud = streamView(hub({ active: true, watching: 1, publishing: true, path: "cloud" }));
  assert.equal(cloud.text, "video: via the cloud, 1 watching");
  assert.equal(cloud.path, "cloud");
  assert.equal(streamView(hub({ active: true, watching: 1, publishing: true, path: "local" })).path, "local");
  assert.equal(
    streamView(hub({ active: true, watching: 2 })).text,
    "video: not pushing, 2 watching (waiting for the camera)",
  );
  assert.equal(streamView(hub()).text, "video: idle");
  assert.equal(
    streamView(hub({ lastError: "no push to rtmp://192.0.2.7:1935" })).text,
    "video: idle (last problem: the camera did not push to rtmp://192.0.2.7:1935: " +
      "is media.rtmpHost reachable from the camera?)",
  );
  assert.match(streamView(undefined).text, /no video: the RTMP ingest is not running/);
});

test("/health lists cameras with their stream and own pairing only when the bridge has cameras", () => {
  const empty = new DeviceRegistry(pino({ level: "silent" }));
  assert.equal(
    "cameras" in health({ registry: empty, accounts: [], startedAt: Date.now() }),
    false,
    "no camera support: the key is absent",
  );

  const homekit = new FakeHomeKit();
  homekit.cameras = [
    {
      deviceId: CAMERA.id,
      name: CAMERA.name,
      pincode: "482-91-737",
      setupURI: "X-HM://00KCAMERA1Q9X1",
      port: 51926,
      paired: true,
    },
  ];
  let state = hub({
    active: true,
    watching: 1,
    standby: true,
    lastError: `refused rtmp://192.0.2.7:1935/live/${STREAM_KEY}`,
  });
  const sources: WebSources = {
    registry: cameraRegistry(),
    accounts: [{ name: "nursery", vendor: "nanit" }],
    homekit: asHost(homekit),
    media: { liveSessions: 0, state: () => [state] },
    startedAt: Date.now(),
  };
  const body = health(sources);
  assert.deepEqual(body.cameras, [
    {
      deviceId: CAMERA.id,
      name: CAMERA.name,
      paired: true,
      watching: 1,
      pushing: false,
      error: "refused rtmp://192.0.2.7:1935",
    },
  ]);
  assert.ok(!JSON.stringify(body).includes(STREAM_KEY));
  state = hub({ active: true, watching: 1, publishing: true });
  assert.deepEqual(health(sources).cameras, [
    { deviceId: CAMERA.id, name: CAMERA.name, paired: true, watching: 1, pushing: true },
  ]);

  // Media did not start (RTMP port taken): the camera is still listed, with why there is no video.
  const noMedia = health({ registry: cameraRegistry(), accounts: [], startedAt: Date.now() });
  assert.match(noMedia.cameras?.[0]?.error ?? "", /RTMP ingest is not running/);
});

/** Server-Sent Events of one page, parsed as they arrive. */
class EventReader {
  readonly events: { event: string; data: any }[] = [];
  readonly emitter = new EventEmitter();
  #res: IncomingMessage | undefined;
  #buffer = "";

  static open(port: number): Promise<EventReader> {
    const reader = new EventReader();
    return new Promise((resolve, reject) => {
      httpGet({ host: "127.0.0.1", port, path: "/events" }, (res) => {
        reader.#res = res;
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => reader.#push(chunk));
        resolve(reader);
      }).on("error", reject);
    });
  }

  #push(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf("\n\n")) >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) this.events.push({ event, data: JSON.parse(data) });
      this.emitter.emit("event");
    }
  }

  next(event: string, from: number, predicate: (data: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    return waitFor(() => this.events.slice(from).find((e) => e.event === event && predicate(e.data))?.data, timeoutMs, {
      on: [[this.emitter, "event"]],
      message: `"${event}" event`,
    });
  }

  close(): void {
    this.#res?.destroy();
  }
}

test(
  "a camera published after the page opened reaches it with its own QR, " +
    "then its paired state; its row follows the hub",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-web-cameras-"));
    const homekit = new FakeHomeKit();
    let state = hub();
    const server = new WebServer({
      sources: {
        registry: cameraRegistry(),
        accounts: [{ name: "nursery", vendor: "nanit" }],
        homekit: asHost(homekit),
        media: { liveSessions: 0, state: () => [state] },
        startedAt: Date.now(),
      },
      log: pino({ level: "silent" }),
      dataDir: dir,
      config: { host: "127.0.0.1", port: 0 },
    });
    const port = await server.start();
    const reader = await EventReader.open(port);
    try {
      const snapshot = await reader.next("snapshot", 0);
      assert.deepEqual(snapshot.cameras, []);
      assert.equal(snapshot.devices[0].stream.text, "video: idle");
      assert.match(await (await fetch(`http://127.0.0.1:${port}/`)).text(), /<section id="cameras" hidden>/);

      // The host publishes the camera: its card, with the QR of its own payload, reaches the open page.
      const setupURI = "X-HM://00KCAMERA1Q9X1";
      homekit.cameras = [
        { deviceId: CAMERA.id, name: CAMERA.name, pincode: "482-91-737", setupURI, port: 51926, paired: false },
      ];
      let mark = reader.events.length;
      homekit.emit("camera-listening", CAMERA.id, 51926);
      const card = await reader.next("camera", mark);
      assert.deepEqual(
        { ...card, qr: undefined },
        {
          deviceId: CAMERA.id,
          name: CAMERA.name,
          setupCode: "482-91-737",
          setupURI,
          paired: false,
          status: "not paired: add it in the Home app with this code",
          qr: undefined,
        },
      );
      assert.equal(card.qr, await qrSvg(setupURI));
      assert.notEqual(card.qr, await qrSvg(homekit.setupURI()));

      mark = reader.events.length;
      homekit.cameras[0]!.paired = true;
      homekit.emit("camera-paired", CAMERA.id);
      assert.equal((await reader.next("camera", mark)).status, "paired with Apple Home");

      // The hub has no events: its state is polled, and a change re-sends the row.
      mark = reader.events.length;
      state = hub({
        active: true,
        watching: 1,
        standby: true,
        lastError:
          "Robin Nanit: cannot start the live view: the camera is in standby " +
          `(rtmp://192.0.2.7:1935/live/${STREAM_KEY})`,
      });
      const row = await reader.next("device", mark, (d) => d.id === CAMERA.id);
      assert.match(row.stream.text, /not pushing, 1 watching: .*standby \(rtmp:\/\/192\.0\.2\.7:1935\)/);

      // A page opened now has it all in its HTML and its first event.
      const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      assert.match(
        html,
        new RegExp(
          `<section class="card camera" data-camera="${CAMERA.id}">[\\s\\S]*data-payload="${setupURI}"><svg` +
            `[\\s\\S]*<code class="camera-code">482-91-737</code>[\\s\\S]*paired with Apple Home`,
        ),
      );
      assert.match(html, /<div class="stream stream-error">video: not pushing/);
      const second = await EventReader.open(port);
      try {
        const cameras = (await second.next("snapshot", 0)).cameras;
        assert.equal(cameras.length, 1);
        assert.equal(cameras[0].qr, card.qr);
      } finally {
        second.close();
      }
      const status = await (await fetch(`http://127.0.0.1:${port}/api/status`)).text();
      for (const text of [html, status, JSON.stringify(reader.events)])
        assert.ok(!text.includes(STREAM_KEY), "no stream key reaches the browser");
    } finally {
      reader.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("Matter camera nodes: own manual code and MT: QR on the page; one found later reaches an open page", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-web-matter-cameras-"));
  const codes = matterPairingCodes({ passcode: 20202031, discriminator: 3001, productId: CAMERA_PRODUCT_ID });
  let pairings: MatterCameraPairing[] = [];
  const server = new WebServer({
    sources: {
      registry: cameraRegistry(),
      accounts: [{ name: "nursery", vendor: "nanit" }],
      matterCameras: { cameraPairings: () => pairings.map((p) => ({ ...p })) },
      startedAt: Date.now(),
    },
    log: pino({ level: "silent" }),
    dataDir: dir,
    config: { host: "127.0.0.1", port: 0 },
  });
  const port = await server.start();
  const reader = await EventReader.open(port);
  try {
    assert.deepEqual((await reader.next("snapshot", 0)).matterCameras, []);
    assert.match(await (await fetch(`http://127.0.0.1:${port}/`)).text(), /<section id="matter-cameras" hidden>/);

    // The camera's node started after the page opened (its account added on the page): the poll sends it.
    pairings = [{ deviceId: CAMERA.id, name: CAMERA.name, port: 5550, ...codes, commissioned: false }];
    const card = await reader.next("matter-camera", 0, () => true, 20_000);
    assert.deepEqual(
      { ...card, qr: undefined },
      {
        deviceId: CAMERA.id,
        name: CAMERA.name,
        manualCode: codes.manualPairingCode,
        qrCode: codes.qrPairingCode,
        commissioned: false,
        status: "not commissioned: add it in your Matter controller with this code",
        qr: undefined,
      },
    );
    assert.equal(card.qr, await qrSvg(codes.qrPairingCode));

    const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.match(
      html,
      new RegExp(
        `<section id="matter-cameras">[\\s\\S]*data-camera="${CAMERA.id}">[\\s\\S]*` +
          `data-payload="${codes.qrPairingCode.replace(/[.]/g, "\\.")}"><svg[\\s\\S]*` +
          `<code class="camera-code">${codes.manualPairingCode}</code>`,
      ),
    );
    pairings[0]!.commissioned = true;
    const mark = reader.events.length;
    assert.equal((await reader.next("matter-camera", mark, () => true, 20_000)).status, "commissioned");
  } finally {
    reader.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
