// Issue 18, part 3: no secret on an ffmpeg command line. /proc/<pid>/cmdline is readable by every local
// user, so neither the camera's RTMP stream key nor a viewer's SRTP key or salt may appear in the
// arguments of any ffmpeg the media layer starts: copy mode with the native relay (audio ffmpeg),
// copy mode through ffmpeg, transcoding, and snapshots. media.ffmpeg points at a wrapper that writes
// its own /proc/self/cmdline before it execs the real ffmpeg, so even a snapshot's short-lived ffmpeg
// is seen. Each session must also deliver packets, so the arguments checked are ones that work.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import type { LiveStreamRequest } from "../../src/core/camera.ts";
import type { Driver } from "../../src/core/driver.ts";
import { createLogger } from "../../src/core/logger.ts";
import { DeviceRegistry } from "../../src/core/registry.ts";
import { MediaService } from "../../src/media/index.ts";
import { FakeCamera } from "../helpers/fake-camera.ts";
import { jpegSize } from "../helpers/rtmp-push.ts";
import { waitFor } from "../helpers/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "hearthbridge-argv-"));
const argvLog = join(dir, "argv.log");
const wrapper = join(dir, "ffmpeg");
writeFileSync(
  wrapper,
  `#!/bin/sh\n{ tr '\\0' ' ' < /proc/$$/cmdline; echo; } >> '${argvLog}'\nexec ` +
    `${process.env.HEARTHBRIDGE_FFMPEG ?? "ffmpeg"} "$@"\n`,
);
chmodSync(wrapper, 0o755);

async function udpSink(): Promise<{ socket: Socket; port: number; packets: () => number }> {
  const socket = createSocket("udp4");
  let packets = 0;
  socket.on("message", () => packets++);
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  return { socket, port: socket.address().port, packets: () => packets };
}

/** Every way a key could be written: base64 of key+salt (ffmpeg's -srtp_out_params), each alone in base64 and hex. */
function spellings(key: Buffer, salt: Buffer): string[] {
  return [
    Buffer.concat([key, salt]).toString("base64"),
    key.toString("base64"),
    salt.toString("base64"),
    key.toString("hex"),
    salt.toString("hex"),
  ];
}

describe("no secret on an ffmpeg command line", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const videoRelay of ["native", "ffmpeg"] as const) {
    it(`videoRelay ${videoRelay}: copy with audio, transcode with audio, snapshot`, async () => {
      writeFileSync(argvLog, "");
      const log = createLogger("fatal");
      const registry = new DeviceRegistry(log);
      const fake = new FakeCamera({ size: "1280x720", audio: true });
      const driver: Driver = {
        vendor: "nanit",
        accountName: "home",
        start: async () => undefined,
        command: async () => undefined,
        requestStream: (_id, request) => fake.requestStream(request),
        stop: async () => undefined,
      };
      registry.sinkFor(driver).deviceFound(
        {
          id: "nanit:cam",
          vendor: "nanit",
          account: "home",
          kind: "camera",
          name: "Cam",
          manufacturer: "Nanit",
          model: "Pro",
          serialNumber: "cam",
          capabilities: { camera: { profiles: [{ width: 1280, height: 720, fps: 15 }], audio: true } },
        },
        {},
      );
      const config = {
        bind: "127.0.0.1",
        rtmpPort: 0,
        rtmpHost: "127.0.0.1",
        keepWarm: [],
        transcode: "auto" as const,
        videoRelay,
        ffmpeg: wrapper,
      };
      const media = new MediaService({ config, registry, log });
      await media.start();
      const secrets: string[] = [];
      const sinks: Awaited<ReturnType<typeof udpSink>>[] = [];
      try {
        const source = media.sourceFor("nanit:cam")!;
        for (const [width, height, mode] of [
          [1280, 720, "copy"],
          [640, 360, "transcode"],
        ] as const) {
          const video = await udpSink();
          const audio = await udpSink();
          sinks.push(video, audio);
          const request: LiveStreamRequest = {
            target: {
              address: "127.0.0.1",
              videoPort: video.port,
              audioPort: audio.port,
              videoSrtpKey: randomBytes(16),
              videoSrtpSalt: randomBytes(14),
              audioSrtpKey: randomBytes(16),
              audioSrtpSalt: randomBytes(14),
              videoSsrc: 0x9abcdef0,
              audioSsrc: 0x1234567,
            },
            video: {
              width,
              height,
              fps: 15,
              maxBitrate: 600,
              payloadType: 99,
              mtu: 1378,
              profile: "main",
              level: "4.0",
            },
            audio: {
              codec: "opus",
              sampleRateKHz: 16,
              channels: 1,
              maxBitrate: 24,
              payloadType: 110,
              packetTimeMs: 20,
            },
          };
          secrets.push(...spellings(request.target.videoSrtpKey, request.target.videoSrtpSalt));
          secrets.push(...spellings(request.target.audioSrtpKey!, request.target.audioSrtpSalt!));
          const stream = await source.startLive(request);
          assert.equal(stream.mode, mode);
          await waitFor(() => video.packets() >= 10 && audio.packets() >= 5, 15_000, {
            message: `${mode}: video and audio packets at the viewer`,
          });
          await stream.stop();
        }
        const jpeg = await source.snapshot(640, 360);
        assert.deepEqual(jpegSize(jpeg), { width: 640, height: 360 });
        const streamKey = media.ingest.urlFor("nanit:cam").split("/").at(-1)!;
        secrets.push(streamKey);

        const lines = readFileSync(argvLog, "utf8").trim().split("\n");
        // native: the audio ffmpeg of copy, the transcoder, the snapshot; ffmpeg: copy, transcoder, snapshot.
        assert.equal(lines.length, 3, lines.join("\n"));
        for (const line of lines) {
          for (const secret of secrets)
            assert.ok(!line.includes(secret), `a secret on an ffmpeg command line: ${line}`);
          assert.ok(!/srtp|rtmp:\/\//.test(line), `no SRTP option and no RTMP URL: ${line}`);
        }
      } finally {
        await media.stop();
        for (const sink of sinks) sink.socket.close();
        await fake.close();
      }
    });
  }
});
