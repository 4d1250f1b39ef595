// One Matter node per camera (Matter 1.5 Camera device type, 0x0142): its own port, passcode and
// discriminator, and storage in <dataDir>/matter-cameras/<node id> (0700/0600), like the HomeKit camera
// published on its own. The Camera device type is not one a bridge may expose as a bridged endpoint
// in Matter 1.5, so each camera is commissioned by itself. Its root endpoint carries matter.js's system
// clusters; endpoint 1 is the camera with CameraAvStreamManagement (stream-management.ts) and
// WebRtcTransportProvider (webrtc-provider.ts). TCP is on: CaptureSnapshot is a large message.
import { createSocket } from "node:dgram";
import { chmodSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { Endpoint, ServerNode, VendorId, type Environment } from "@matter/main";
import { CameraDevice } from "@matter/main/devices/camera";
import type { CameraCapability } from "../../core/camera.ts";
import type { Clock } from "../../core/clock.ts";
import type { Logger } from "../../core/logger.ts";
import { protectTree } from "../../core/storage.ts";
import { discriminatorProblem, passcodeProblem } from "../pairing.ts";
import { EVENT_BUFFER, environmentAt } from "../platform.ts";
import { RootEndpointWithBoundedEvents } from "../event-store.ts";
import { CAMERA_PRODUCT_ID, cameraNodeId } from "../setup-codes.ts";
import { CameraLink, type CameraMediaPort } from "./link.ts";
import { CameraStreamsServer, initialState, mainProfile } from "./stream-management.ts";
import { CameraWebRtcServer, endFabricSessions } from "./webrtc-provider.ts";

export const MatterCameraDevice = CameraDevice.with(CameraStreamsServer, CameraWebRtcServer);

export interface MatterCameraNodeOptions {
  deviceId: string;
  name: string;
  capability: CameraCapability;
  media: CameraMediaPort;
  log: Logger;
  /** Root of every camera node's storage: <dataDir>/matter-cameras. */
  storageRoot: string;
  port: number;
  passcode: number;
  discriminator: number;
  vendorId?: number;
  productId?: number;
  /** Tests: how long a SolicitOffer session waits for ProvideAnswer (default the spec's 30 s). */
  answerTimeoutMs?: number;
  /** Tests: the clock of the camera's timers. */
  clock?: Clock;
}

export { cameraNodeId };

/** Whether another program holds `port` on :: (UDP, as Matter listens, or TCP). Only "in use" and "not
 * allowed" count: a host without IPv6 fails differently, and matter.js then reports what it finds. */
export async function portTaken(port: number): Promise<boolean> {
  const taken = (error: NodeJS.ErrnoException) => error.code === "EADDRINUSE" || error.code === "EACCES";
  const udp = await new Promise<boolean>((resolve) => {
    const socket = createSocket({ type: "udp6", reuseAddr: false });
    socket.once("error", (error) => {
      socket.close();
      resolve(taken(error));
    });
    socket.bind(port, "::", () => socket.close(() => resolve(false)));
  });
  if (udp) return true;
  return new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once("error", (error) => resolve(taken(error)));
    server.listen({ port, host: "::", exclusive: true }, () => server.close(() => resolve(false)));
  });
}

export class MatterCameraNode {
  readonly deviceId: string;
  readonly link: CameraLink;
  readonly #options: MatterCameraNodeOptions;
  #env: Environment | undefined;
  #node: ServerNode | undefined;
  #camera: Endpoint | undefined;

  constructor(options: MatterCameraNodeOptions) {
    const problem = passcodeProblem(options.passcode) ?? discriminatorProblem(options.discriminator);
    if (problem) throw new Error(problem);
    this.#options = options;
    this.deviceId = options.deviceId;
    this.link = new CameraLink(options);
  }

  get name(): string {
    return this.#options.name;
  }

  get port(): number {
    return this.#options.port;
  }

  /** The camera endpoint's number (1 unless the storage says otherwise). */
  get endpointNumber(): number | undefined {
    return this.#camera?.number;
  }

  get commissioned(): boolean {
    try {
      return this.#node?.state.commissioning.commissioned ?? false;
    } catch {
      return false;
    }
  }

  pairingCodes(): { manualPairingCode: string; qrPairingCode: string } {
    if (!this.#node) throw new Error("the Matter camera is not started");
    const { manualPairingCode, qrPairingCode } = this.#node.state.commissioning.pairingCodes;
    return { manualPairingCode, qrPairingCode };
  }

  async start(): Promise<void> {
    const o = this.#options;
    // Checked first: matter.js, failing to bind, closes its network in the background and logs an error
    // when the node is closed right after (a retry of a taken port would log that at every try).
    if (await portTaken(o.port)) throw new Error(`port ${o.port} is in use by another program`);
    const id = cameraNodeId(o.deviceId);
    mkdirSync(o.storageRoot, { recursive: true, mode: 0o700 });
    chmodSync(o.storageRoot, 0o700);
    this.#env = environmentAt(`hearthbridge-${id}`, o.storageRoot);
    // The cluster servers find the camera's media and sessions here (link.ts).
    this.#env.set(CameraLink, this.link);
    const node = await ServerNode.create(RootEndpointWithBoundedEvents, {
      id,
      environment: this.#env,
      events: { buffers: EVENT_BUFFER },
      network: { port: o.port, tcp: true },
      commissioning: { passcode: o.passcode, discriminator: o.discriminator },
      productDescription: { name: o.name, deviceType: CameraDevice.deviceType },
      basicInformation: {
        vendorName: "Hearthbridge",
        vendorId: VendorId(o.vendorId ?? 0xfff1),
        productId: o.productId ?? CAMERA_PRODUCT_ID,
        productName: "Hearthbridge camera",
        productLabel: o.name.slice(0, 64),
        nodeLabel: o.name.slice(0, 32),
        serialNumber: id.slice(0, 32),
        uniqueId: id.slice(0, 32),
        hardwareVersion: 1,
        softwareVersion: 1,
        softwareVersionString: "0.1.0",
      },
    });
    this.#node = node;
    const profile = mainProfile(o.capability.profiles);
    const camera = new Endpoint(MatterCameraDevice, {
      id: "camera",
      cameraAvStreamManagement: initialState(profile, o.capability.audio),
    } as never);
    await node.add(camera);
    this.#camera = camera;
    node.events.commissioning.fabricsChanged.on((fabricIndex, action) => {
      this.#protectStorage();
      if (action !== "deleted") return;
      endFabricSessions(camera, fabricIndex).catch((error: Error) =>
        o.log.warn(
          { device: o.deviceId, err: error },
          `Matter camera: live views of a removed fabric: ${error.message}`,
        ),
      );
    });
    await node.start();
    // Sessions do not survive a restart: whatever the storage held is gone.
    await camera.set({ webRtcTransportProvider: { currentSessions: [] } } as never);
    this.#protectStorage();
    o.log.info(
      { device: o.deviceId, port: o.port, commissioned: this.commissioned },
      `Matter camera ${o.name} running on port ${o.port}`,
    );
  }

  async stop(): Promise<void> {
    const node = this.#node;
    this.#node = undefined;
    this.#camera = undefined;
    const link = this.link;
    // Every live view ends with the node: the media layer lets the camera go.
    await Promise.all(
      link.sessions.all().map((s) => {
        s.ended = { reason: "the bridge is stopping" };
        link.sessions.remove(s.id);
        return s.viewerId ? link.media.webrtc.close(link.deviceId, s.viewerId, "bridge stopping") : undefined;
      }),
    );
    if (node) {
      try {
        await node.close();
      } catch (error) {
        this.#options.log.warn({ err: error }, "Matter camera node did not close cleanly");
      }
      this.#protectStorage();
    }
    this.#env = undefined;
  }

  /** matter.js writes with the process umask: keep the node's files 0600 in 0700 directories. */
  #protectStorage(): void {
    protectTree(join(this.#options.storageRoot, cameraNodeId(this.#options.deviceId)));
  }
}
