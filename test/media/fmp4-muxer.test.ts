// The in-process fragmented-MP4 muxer for HomeKit Secure Video: a camera's FLV tags (an ffmpeg-encoded
// H.264 main + AAC-LC file, B-frames included) in, init + fragments out, checked by ffprobe (codecs, size,
// every frame fed present, duration), fragments starting on keyframes, decode times continuous across a
// camera reconnect; and the bad cases (settings changed mid-clip, no keyframe, audio that is not AAC-LC).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import type { FlvTagData } from "../../src/media/feed.ts";
import { FlvFmp4Muxer } from "../../src/media/fmp4-muxer.ts";
import { isCopyableAudio, parseAudioSpecificConfig } from "../../src/media/protocol/aac-config.ts";
import { FLV_AUDIO, FLV_SCRIPT, FLV_VIDEO } from "../../src/media/protocol/flv.ts";
import { fragmentStartsWithSync, Mp4BoxReader, type Mp4Segment } from "../../src/media/protocol/mp4.ts";
import { encodeSourceFlv } from "../helpers/camera-fixture.ts";
import { readFlvTags } from "../helpers/flv-frames.ts";
import { waitFor } from "../helpers/wait.ts";

const execFileAsync = promisify(execFile);

interface Packet {
  stream_index: number;
  pts_time: string;
  dts_time: string;
  flags: string;
}

async function ffprobe(file: string, ...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await execFileAsync("ffprobe", ["-v", "error", ...args, "-of", "json", file], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe("FLV tags -> fragmented MP4 in this process", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-fmp4-"));
  let tags: { type: number; time: number; body: Buffer }[];
  let headers: typeof tags;
  let media: typeof tags;
  /** One play of the file, ms: the next copy starts here (no overlap). */
  let loopMs: number;

  before(async () => {
    const flv = join(dir, "source.flv");
    await encodeSourceFlv(flv);
    // Without the end-of-sequence tag ffmpeg wrote at the end of the file (a camera's push has none).
    tags = readFlvTags(flv).filter((t) => t.type !== FLV_SCRIPT && !(t.type === FLV_VIDEO && t.body[1] === 2));
    headers = tags.filter((t) => t.body[1] === 0);
    // One play ends a frame after its last picture (15 fps); the encoder's audio past that is cut, so plays
    // laid end to end make one steady stream, as a camera's push is.
    const lastPicture = Math.max(...tags.filter((t) => t.type === FLV_VIDEO).map((t) => t.time));
    loopMs = lastPicture + 67;
    media = tags.filter((t) => t.body[1] !== 0 && t.time < loopMs);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function mux(fragmentMs: number, audio: boolean, feed: (push: (tag: FlvTagData) => void) => void) {
    const segments: Mp4Segment[] = [];
    const muxer = new FlvFmp4Muxer({ audio, fragmentMs, onSegment: (s) => segments.push(s) });
    feed((tag) => muxer.push(tag));
    return { muxer, segments };
  }

  const tag = (generation: number, t: { type: number; time: number; body: Buffer }, shift = 0): FlvTagData => ({
    generation,
    type: t.type,
    dts: t.time + shift,
    body: t.body,
  });

  it("three plays (the last after a reconnect) decode whole: every frame, keyframe-first fragments", async () => {
    const videoFed = media.filter((t) => t.type === FLV_VIDEO).length;
    const audioFed = media.filter((t) => t.type === FLV_AUDIO).length;
    const { muxer, segments } = mux(4000, true, (push) => {
      for (const t of headers) push(tag(1, t));
      for (const shift of [0, loopMs]) for (const t of media) push(tag(1, t, shift));
      // A new publish: the camera's clock starts over at 0 and it sends its headers again.
      for (const t of [...headers, ...media]) push(tag(2, t));
    });
    await muxer.finish();
    assert.equal(segments[0]!.kind, "init");
    const fragments = segments.slice(1);
    assert.ok(fragments.length >= 3, `about one fragment per 4 s (got ${fragments.length})`);
    for (const [i, fragment] of fragments.entries()) {
      const boxes = new Mp4BoxReader().push(fragment.data);
      assert.deepEqual(
        boxes.map((b) => b.type),
        ["moof", "mdat"],
      );
      assert.ok(fragmentStartsWithSync(boxes[0]!.data, 1), `fragment ${i} starts on a keyframe`);
    }
    const file = join(dir, "clip.mp4");
    writeFileSync(file, Buffer.concat(segments.map((s) => s.data)));
    const info = (await ffprobe(file, "-count_frames", "-show_streams", "-show_format")) as {
      streams: { codec_type: string; codec_name: string; profile: string; width?: number; nb_read_frames: string }[];
      format: { duration: string };
    };
    const video = info.streams.find((s) => s.codec_type === "video")!;
    const audio = info.streams.find((s) => s.codec_type === "audio")!;
    assert.deepEqual([video.codec_name, video.width, audio.codec_name, audio.profile], ["h264", 1280, "aac", "LC"]);
    assert.equal(Number(video.nb_read_frames), 3 * videoFed, "every video frame of the three plays, none twice");
    // Audio past the clip's last picture is left out (it would make a fragment without video).
    const lastPicture = Math.max(...media.filter((t) => t.type === FLV_VIDEO).map((t) => t.time));
    const tail = media.filter((t) => t.type === FLV_AUDIO && t.time > lastPicture).length;
    assert.equal(Number(audio.nb_read_frames), 3 * audioFed - tail, `audio frames (${tail} after the last picture)`);
    const expectedS = (2 * loopMs + RECONNECT_GAP_MS + loopMs) / 1000;
    assert.ok(Math.abs(Number(info.format.duration) - expectedS) < 0.3, `${info.format.duration} s, ~${expectedS}`);
    // Decode times never jump: two frame intervals at most, pre-buffer -> live and across the reconnect.
    const { packets } = (await ffprobe(file, "-show_entries", "packet=stream_index,pts_time,dts_time,flags")) as {
      packets: Packet[];
    };
    const dts = packets.filter((p) => p.stream_index === 0).map((p) => Number(p.dts_time));
    const steps = dts.slice(1).map((t, i) => t - dts[i]!);
    assert.ok(
      Math.min(...steps) > 0 && Math.max(...steps) < 0.14,
      `steps ${Math.min(...steps)}..${Math.max(...steps)}`,
    );
    const { stderr } = await execFileAsync("ffmpeg", ["-v", "error", "-i", file, "-f", "null", "-"]);
    assert.equal(stderr.trim(), "", "decodes without errors");
  });

  it("without audio; with a short fragment length each GOP is a fragment (never cut mid-GOP)", async () => {
    const { muxer, segments } = mux(1000, false, (push) => {
      for (const t of [...headers, ...media]) push(tag(1, t));
    });
    await muxer.finish();
    const keyframes = media.filter((t) => t.type === FLV_VIDEO && t.body[0]! >> 4 === 1).length;
    assert.equal(segments.length - 1, keyframes);
    const file = join(dir, "video-only.mp4");
    writeFileSync(file, Buffer.concat(segments.map((s) => s.data)));
    const { streams } = (await ffprobe(file, "-show_streams")) as { streams: { codec_type: string }[] };
    assert.deepEqual(
      streams.map((s) => s.codec_type),
      ["video"],
    );
  });

  it("a fragment ends at the first keyframe half the length in: 4 s of 2 s GOPs give one at once", async () => {
    // A clip yields a fragment only once the next is complete (the last must be flagged): a pre-buffer of
    // 4 s must hold two fragments, or the hub waits for the camera's next seconds.
    const { muxer, segments } = mux(4000, true, (push) => {
      for (const t of [...headers, ...media]) push(tag(1, t));
    });
    await waitFor(() => segments.length >= 2, 20_000, { message: "the first fragment" });
    assert.deepEqual(
      segments.map((s) => s.kind),
      ["init", "fragment"],
      "the GOP from 0 s, complete at the keyframe at 2 s; the next waits for the one at 4 s",
    );
    await muxer.cancel();
  });

  it("fails clearly: settings changed mid-clip, no keyframe at all, audio that is not AAC-LC", async () => {
    const changed = mux(4000, true, (push) => {
      for (const t of [...headers, ...media]) push(tag(1, t));
      const video = headers.find((t) => t.type === FLV_VIDEO)!;
      push({ generation: 2, type: FLV_VIDEO, dts: 0, body: Buffer.concat([video.body, Buffer.from([0])]) });
    });
    await assert.rejects(changed.muxer.finish(), /changed its video settings/);
    const none = mux(4000, false, (push) => {
      for (const t of headers) push(tag(1, t));
    });
    await assert.rejects(none.muxer.finish(), /no keyframe/);
    const heAac = Buffer.from([0xaf, 0, 0x2b, 0x92, 0x08, 0x00]); // object type 5, 24 kHz core
    const eld = Buffer.from([0xaf, 0, 0xf8, 0xe6, 0x20]); // escape 31 + 7 = 39 (AAC-ELD)
    const lc = headers.find((t) => t.type === FLV_AUDIO)!.body;
    assert.deepEqual(
      [isCopyableAudio(lc), isCopyableAudio(heAac), isCopyableAudio(eld), isCopyableAudio(undefined)],
      [true, false, false, false],
    );
    assert.equal(parseAudioSpecificConfig(eld.subarray(2))?.objectType, 39);
    assert.deepEqual(parseAudioSpecificConfig(lc.subarray(2)), { objectType: 2, sampleRate: 44100, channels: 1 });
    const refused = mux(4000, true, (push) => {
      push(tag(1, headers.find((t) => t.type === FLV_VIDEO)!));
      push({ generation: 1, type: FLV_AUDIO, dts: 0, body: heAac });
      for (const t of media) push(tag(1, t));
    });
    await assert.rejects(refused.muxer.finish(), /not AAC-LC/);
  });
});

const RECONNECT_GAP_MS = 40;
