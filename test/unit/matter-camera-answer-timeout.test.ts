// SolicitOffer's answer timeout (the spec's 30 s) on a manual clock: the viewer is closed exactly when
// the time is up and the controller has not answered; an applied answer or a viewer that ended first
// closes nothing and leaves no timer behind.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../../src/core/logger.ts";
import { answerDeadline, CameraLink, type CameraMediaPort } from "../../src/matter/camera/link.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";

function rig() {
  const clock = new ManualClock();
  const closed: string[] = [];
  const media = {
    snapshot: async () => Buffer.alloc(0),
    webrtc: {
      close: async (_device: string, id: string) => {
        closed.push(id);
        return true;
      },
    },
  } as unknown as CameraMediaPort;
  const link = new CameraLink({
    deviceId: "cam:1",
    name: "Nursery",
    capability: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: true },
    media,
    log: createLogger("error"),
    clock,
  });
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  return { clock, closed, link, ended, end };
}

describe("a Matter camera's SolicitOffer answer timeout", () => {
  it("closes the viewer at 30 s without an answer, not a moment before", () => {
    const { clock, closed, link, ended } = rig();
    const session = { accept: async () => undefined, viewerId: "v1" };
    answerDeadline(link, session, ended, "controller");
    clock.advance(29_999);
    assert.deepEqual(closed, []);
    clock.advance(1);
    assert.deepEqual(closed, ["v1"]);
  });

  it("closes nothing once the answer was applied", () => {
    const { clock, closed, link, ended } = rig();
    const session: { accept?: () => Promise<void>; viewerId: string } = {
      accept: async () => undefined,
      viewerId: "v2",
    };
    answerDeadline(link, session, ended, "controller");
    clock.advance(10_000);
    session.accept = undefined;
    clock.advance(30_000);
    assert.deepEqual(closed, []);
  });

  it("drops its timer when the viewer ends first", async () => {
    const { clock, closed, link, ended, end } = rig();
    answerDeadline(link, { accept: async () => undefined, viewerId: "v3" }, ended, "controller");
    assert.equal(clock.pending, 1);
    end();
    await settle();
    assert.equal(clock.pending, 0);
    clock.advance(60_000);
    assert.deepEqual(closed, []);
  });
});
