// A Matter camera's controller side for tests: a matter.js ServerNode that commissions the camera
// (over loopback, so inside test/netns.sh) and hosts a WebRtcTransportRequestor endpoint, so the
// camera's Answer / Offer / End arrive on it as commands and are recorded in order. Used by the
// camera node's own test (test/matter) and the bridge-process test (test/e2e).
import { Crypto, Endpoint, Environment, Seconds, ServerNode, type ClientNode } from "@matter/main";
import { AccessControlServer } from "@matter/main/behaviors/access-control";
import { AdministratorCommissioningClient } from "@matter/main/behaviors/administrator-commissioning";
import { CameraAvStreamManagementClient } from "@matter/main/behaviors/camera-av-stream-management";
import { WebRtcTransportProviderClient } from "@matter/main/behaviors/web-rtc-transport-provider";
import { WebRtcTransportRequestorServer } from "@matter/main/behaviors/web-rtc-transport-requestor";
import type { WebRtcTransportRequestor } from "@matter/main/clusters/web-rtc-transport-requestor";
import { CameraControllerDevice } from "@matter/main/devices/camera-controller";
import { PaseClient } from "@matter/main/protocol";
import { StatusResponseError } from "@matter/main/types";
import { join } from "node:path";
import { environmentAt } from "../../src/matter/platform.ts";
import { waitFor } from "./wait.ts";

/** What the camera told the controller's requestor, in order. */
export type RequestorCall =
  | { command: "offer"; request: WebRtcTransportRequestor.OfferRequest }
  | { command: "answer"; request: WebRtcTransportRequestor.AnswerRequest }
  | { command: "end"; request: WebRtcTransportRequestor.EndRequest };

export interface CameraStreamsCommands {
  videoStreamAllocate(r: object): Promise<{ videoStreamId: number }>;
  videoStreamDeallocate(r: object): Promise<void>;
  audioStreamAllocate(r: object): Promise<{ audioStreamId: number }>;
  snapshotStreamAllocate(r: object): Promise<{ snapshotStreamId: number }>;
  captureSnapshot(
    r: object,
  ): Promise<{ data: Uint8Array; imageCodec: number; resolution: { width: number; height: number } }>;
}

export interface CameraProviderCommands {
  provideOffer(r: object): Promise<{ webRtcSessionId: number }>;
  solicitOffer(r: object): Promise<{ webRtcSessionId: number; deferredOffer: boolean }>;
  provideAnswer(r: object): Promise<void>;
  provideIceCandidates(r: object): Promise<void>;
  endSession(r: object): Promise<void>;
}

export interface CameraRigOptions {
  /** The controller's storage goes under this directory. */
  dir: string;
  /** The controller's own Matter port. */
  port: number;
  /** The camera's codes: a pairing code (as the log and the page show it) or passcode and discriminator. */
  camera: { pairingCode: string } | { passcode: number; longDiscriminator: number };
  /** The controller's storage id; one per rig in a process. */
  id?: string;
}

/** A matter.js status error's code, or undefined for anything else. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof StatusResponseError ? error.code : undefined;
}

export class CameraControllerRig {
  readonly calls: RequestorCall[];
  readonly controller: ServerNode;
  readonly peer: ClientNode;
  readonly requestorEndpoint: number;

  private constructor(calls: RequestorCall[], controller: ServerNode, peer: ClientNode, requestorEndpoint: number) {
    this.calls = calls;
    this.controller = controller;
    this.peer = peer;
    this.requestorEndpoint = requestorEndpoint;
  }

  /** Start the controller, commission the camera and let the camera invoke our requestor. */
  static async commission(options: CameraRigOptions): Promise<CameraControllerRig> {
    const calls: RequestorCall[] = [];
    class RecordingRequestor extends WebRtcTransportRequestorServer {
      override async offer(request: WebRtcTransportRequestor.OfferRequest): Promise<void> {
        calls.push({ command: "offer", request });
      }
      override async answer(request: WebRtcTransportRequestor.AnswerRequest): Promise<void> {
        calls.push({ command: "answer", request });
      }
      override async iceCandidates(): Promise<void> {}
      override async end(request: WebRtcTransportRequestor.EndRequest): Promise<void> {
        calls.push({ command: "end", request });
      }
    }
    const id = options.id ?? "controller";
    const controller = await ServerNode.create({
      id,
      environment: environmentAt(`test-camera-${id}`, join(options.dir, id)),
      network: { port: options.port, tcp: true },
      commissioning: { enabled: false },
      controller: { adminFabricLabel: "hearthbridge camera test" },
    } as never);
    const requestor = new Endpoint(CameraControllerDevice.with(RecordingRequestor), { id: "requestor" });
    await controller.add(requestor);
    await controller.start();
    let peer: ClientNode;
    try {
      peer = await controller.peers.commission({ ...options.camera, timeout: Seconds(90) } as never);
      // The camera's commands to our requestor arrive as a CASE subject of the shared fabric: allow them.
      await controller.act("grant-camera", (agent) => {
        const acl = agent.get(AccessControlServer);
        const address = peer.state.commissioning.peerAddress!;
        const fabricIndex = acl.state.acl[0]?.fabricIndex ?? address.fabricIndex;
        acl.state.acl = [
          ...acl.state.acl,
          { fabricIndex, privilege: 3, authMode: 2, subjects: [address.nodeId], targets: null },
        ] as never;
      });
    } catch (error) {
      await controller.close().catch(() => undefined);
      throw error;
    }
    return new CameraControllerRig(calls, controller, peer, requestor.number);
  }

  streams(endpoint = 1): CameraStreamsCommands {
    return this.peer.endpoints.require(endpoint).commandsOf(CameraAvStreamManagementClient) as never;
  }

  provider(endpoint = 1): CameraProviderCommands {
    return this.peer.endpoints.require(endpoint).commandsOf(WebRtcTransportProviderClient) as never;
  }

  /** The camera's `command` for `sessionId`, once it arrives. */
  nextCall(command: RequestorCall["command"], sessionId: number, timeoutMs = 20_000): Promise<RequestorCall> {
    return waitFor(
      () => this.calls.find((c) => c.command === command && c.request.webRtcSessionId === sessionId),
      timeoutMs,
      { message: `${command} for session ${sessionId}` },
    );
  }

  /** Open a commissioning window on the camera (as an ecosystem's "share with another app") and commission it
   * with a second controller: the camera then has two fabrics. */
  async share(options: Omit<CameraRigOptions, "camera">): Promise<CameraControllerRig> {
    const passcode = 20202032;
    const discriminator = 3002;
    const salt = new Uint8Array(32).fill(7);
    const iterations = 1000;
    const crypto = Environment.default.get(Crypto);
    const pakePasscodeVerifier = await PaseClient.generatePakePasscodeVerifier(crypto, passcode, { iterations, salt });
    await this.peer.commandsOf(AdministratorCommissioningClient).openCommissioningWindow({
      commissioningTimeout: 180,
      pakePasscodeVerifier: new Uint8Array(pakePasscodeVerifier as ArrayBuffer),
      discriminator,
      iterations,
      salt,
    });
    return CameraControllerRig.commission({ ...options, camera: { passcode, longDiscriminator: discriminator } });
  }

  async close(): Promise<void> {
    await this.controller.close().catch(() => undefined);
  }
}
