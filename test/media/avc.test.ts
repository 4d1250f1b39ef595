// The H.264 sequence header reader and keyframe rebuild: right on what x264 writes, and never a throw
// on whatever a stranger pushes.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import fc from "fast-check";
import { keyframeToAnnexB, parseAvcSequenceHeader } from "../../src/media/protocol/avc.ts";

/** One 960x540 High-profile IDR from x264, split at start codes. */
function x264Units(): Buffer[] {
  const annexB = execFileSync("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=960x540:rate=15",
    "-frames:v",
    "1",
    "-c:v",
    "libx264",
    "-profile:v",
    "high",
    "-level",
    "4.1",
    "-f",
    "h264",
    "-",
  ]);
  const units: Buffer[] = [];
  let start = -1;
  for (let i = 0; i + 3 <= annexB.length; i++) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1) {
      if (start >= 0) units.push(annexB.subarray(start, i - (annexB[i - 1] === 0 ? 1 : 0)));
      start = i + 3;
      i += 2;
    }
  }
  units.push(annexB.subarray(start));
  return units;
}

function flvSequenceHeader(sps: Buffer, pps: Buffer): Buffer {
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const record = Buffer.concat([
    Buffer.from([1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1]),
    u16(sps.length),
    sps,
    Buffer.from([1]),
    u16(pps.length),
    pps,
  ]);
  return Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), record]);
}

describe("AVC sequence header and keyframe", () => {
  const units = x264Units();
  const nalType = (u: Buffer) => u[0]! & 0x1f;
  const sps = units.find((u) => nalType(u) === 7)!;
  const pps = units.find((u) => nalType(u) === 8)!;
  const slices = units.filter((u) => nalType(u) === 5 || nalType(u) === 6);

  it("reads size, profile and level from the record x264 writes", () => {
    const config = parseAvcSequenceHeader(flvSequenceHeader(sps, pps))!;
    assert.deepEqual(
      {
        width: config.width,
        height: config.height,
        profile: config.profile,
        level: config.level,
        lengthSize: config.lengthSize,
      },
      { width: 960, height: 540, profile: "high", level: "4.1", lengthSize: 4 },
    );
  });

  it("rebuilds an Annex B picture with SPS and PPS in front", () => {
    const config = parseAvcSequenceHeader(flvSequenceHeader(sps, pps))!;
    const body = Buffer.concat(
      slices.flatMap((u) => [
        Buffer.from([u.length >>> 24, (u.length >> 16) & 0xff, (u.length >> 8) & 0xff, u.length & 0xff]),
        u,
      ]),
    );
    const picture = keyframeToAnnexB(config, Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), body]))!;
    const start = Buffer.from([0, 0, 0, 1]);
    assert.deepEqual(picture, Buffer.concat([start, sps, start, pps, ...slices.flatMap((u) => [start, u])]));
    const probe = execFileSync(
      "ffprobe",
      ["-v", "error", "-f", "h264", "-show_entries", "stream=width,height", "-of", "csv=p=0", "-"],
      { input: picture, encoding: "utf8" },
    );
    assert.equal(probe.trim(), "960,540");
  });

  it("never throws on garbage", () => {
    const config = parseAvcSequenceHeader(flvSequenceHeader(sps, pps))!;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 4 }), (bytes, lengthSize) => {
        const tag = Buffer.from(bytes);
        parseAvcSequenceHeader(tag);
        parseAvcSequenceHeader(Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0, 1]), tag]));
        keyframeToAnnexB({ ...config, lengthSize }, tag);
      }),
      { numRuns: 2_000 },
    );
  });
});
