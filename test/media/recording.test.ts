// HomeKit Secure Video's media side: the MP4 box codec against known bytes, the pre-buffer (whole
// GOPs from a keyframe covering the window, by the camera's timestamps), a clip through the real
// ffmpeg (fragmented MP4 that ffprobe decodes, fragments starting on keyframes, the last one flagged,
// a stalled camera ending the clip on the manual clock, no ffmpeg left), and the recorder's policy
// (keep warm while enabled, post-roll after the trigger, recording turned off mid-clip).
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { MediaFeed } from "../../src/media/feed.ts";
import { Prebuffer } from "../../src/media/prebuffer.ts";
import { RecordingClip, type RecordingClipOptions } from "../../src/media/recording.ts";
import { collect } from "../helpers/recording-packets.ts";
import { MediaCameraRecorder } from "../../src/media/recorder.ts";
import {
  childBoxes,
  fragmentStartsWithSync,
  Mp4BoxReader,
  Mp4FormatError,
  Mp4Segmenter,
} from "../../src/media/protocol/mp4.ts";
import { FLV_AUDIO, FLV_SCRIPT, FLV_VIDEO } from "../../src/media/protocol/flv.ts";
import type { FlvTagData } from "../../src/media/feed.ts";
import type { RecordingPacket } from "../../src/core/camera.ts";
import { readFlvTags } from "../helpers/flv-frames.ts";
import { encodeSourceFlv } from "../helpers/camera-fixture.ts";
import { ManualClock, settle } from "../helpers/manual-clock.ts";
import { LogCapture } from "../helpers/log-capture.ts";
import { waitFor } from "../helpers/wait.ts";

const execFileAsync = promisify(execFile);
const silent = pino({ level: "silent" });

function box(type: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const data = typeof body === "string" ? Buffer.from(body, "hex") : body;
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + data.length);
  header.write(type, 4, "latin1");
  return Buffer.concat([header, data]);
}

/** A full box: version 0 and 24-bit flags, then the fields. */
function fullBox(type: string, flags: number, fields: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(flags & 0xffffff);
  return box(type, Buffer.concat([head, fields]));
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

describe("MP4 boxes", () => {
  it("splits top-level boxes across any chunking, with 32- and 64-bit sizes", () => {
    const large = Buffer.concat([
      u32(1),
      Buffer.from("mdat", "latin1"),
      Buffer.from("0000000000000013", "hex"),
      Buffer.from("abc"),
    ]);
    const stream = Buffer.concat([box("ftyp", "69736f6d00000200"), box("moov", "aabb"), large]);
    for (const step of [1, 3, 7, stream.length]) {
      const reader = new Mp4BoxReader();
      const got = [];
      for (let i = 0; i < stream.length; i += step) got.push(...reader.push(stream.subarray(i, i + step)));
      assert.deepEqual(
        got.map((b) => [b.type, b.data.length]),
        [
          ["ftyp", 16],
          ["moov", 10],
          ["mdat", 19],
        ],
        `chunks of ${step}`,
      );
      assert.equal(reader.buffered, 0);
    }
  });

  it("refuses sizes smaller than a header, size 0, and boxes past the limit", () => {
    assert.throws(() => new Mp4BoxReader().push(u32(4, 0)), Mp4FormatError);
    assert.throws(() => new Mp4BoxReader().push(Buffer.concat([u32(0), Buffer.from("mdat")])), /size 0/);
    assert.throws(
      () => new Mp4BoxReader(1000).push(Buffer.concat([u32(5000), Buffer.from("mdat")])),
      /larger than 1000/,
    );
    assert.throws(
      () =>
        new Mp4BoxReader().push(Buffer.concat([u32(1), Buffer.from("mdat"), Buffer.from("0000000000000008", "hex")])),
      /smaller than its header/,
    );
  });

  it("groups ftyp+moov as the init segment and [styp] moof+mdat as fragments; drops mfra", () => {
    const s = new Mp4Segmenter();
    const init = Buffer.concat([box("ftyp", "00"), box("moov", "01")]);
    const f1 = Buffer.concat([box("moof", "02"), box("mdat", "03")]);
    const f2 = Buffer.concat([box("styp", "04"), box("moof", "05"), box("mdat", "06")]);
    const out = s.push(Buffer.concat([init, f1, f2, box("mfra", "07")]));
    assert.deepEqual(
      out.map((o) => o.kind),
      ["init", "fragment", "fragment"],
    );
    assert.deepEqual(out[0]!.data, init);
    assert.deepEqual(out[1]!.data, f1);
    assert.deepEqual(out[2]!.data, f2);
  });

  it("refuses a stream that is not fragmented MP4", () => {
    assert.throws(() => new Mp4Segmenter().push(Buffer.concat([box("ftyp"), box("mdat")])), /mdat before the moov/);
    assert.throws(
      () => new Mp4Segmenter().push(Buffer.concat([box("ftyp"), box("moov"), box("mdat")])),
      /mdat without a moof/,
    );
    assert.throws(
      () => new Mp4Segmenter().push(Buffer.concat([box("ftyp"), box("moov"), box("moof"), box("moof")])),
      /moof without its mdat/,
    );
  });

  it("reads a fragment's first sample flags: trun first-sample-flags, per-sample flags, tfhd defaults", () => {
    const tfhd = (flags: number, ...fields: number[]) => fullBox("tfhd", flags, u32(1, ...fields));
    const moof = (...children: Buffer[]) =>
      box("moof", Buffer.concat([fullBox("mfhd", 0, u32(1)), box("traf", Buffer.concat(children))]));
    const SYNC = 0x02000000;
    const NON_SYNC = 0x01010000;
    // trun: data-offset + first-sample-flags (0x005), 2 samples.
    assert.equal(fragmentStartsWithSync(moof(tfhd(0x020000), fullBox("trun", 0x005, u32(2, 100, SYNC)))), true);
    assert.equal(fragmentStartsWithSync(moof(tfhd(0x020000), fullBox("trun", 0x005, u32(2, 100, NON_SYNC)))), false);
    // trun: data-offset, per-sample duration + size + flags (0x701): first sample's flags after its duration and size.
    assert.equal(
      fragmentStartsWithSync(moof(tfhd(0), fullBox("trun", 0x701, u32(1, 100, 3000, 512, NON_SYNC)))),
      false,
    );
    assert.equal(fragmentStartsWithSync(moof(tfhd(0), fullBox("trun", 0x701, u32(1, 100, 3000, 512, SYNC)))), true);
    // tfhd default-sample-duration + default-sample-flags (0x28), trun without flags.
    assert.equal(fragmentStartsWithSync(moof(tfhd(0x28, 3000, NON_SYNC), fullBox("trun", 0x001, u32(1, 100)))), false);
    assert.equal(
      childBoxes(moof(tfhd(0)))
        .map((b) => b.type)
        .join(","),
      "mfhd,traf",
    );
  });
});

/** Synthetic camera tags: a keyframe every `gopMs`, a video frame every 100 ms, audio every 100 ms. */
function syntheticTags(feed: MediaFeed, fromMs: number, toMs: number, gopMs: number): void {
  for (let t = fromMs; t < toMs; t += 100) {
    const key = t % gopMs === 0;
    feed.tag(FLV_VIDEO, t, Buffer.from([key ? 0x17 : 0x27, 1, 0, 0, 0, 0xaa]));
    feed.tag(FLV_AUDIO, t + 10, Buffer.from([0xaf, 1, 0xbb]));
  }
}

function headers(feed: MediaFeed): void {
  feed.tag(FLV_SCRIPT, 0, Buffer.from("meta"));
  feed.tag(FLV_VIDEO, 0, Buffer.from([0x17, 0, 0, 0, 0, 1]));
  feed.tag(FLV_AUDIO, 0, Buffer.from([0xaf, 0, 0x12, 0x10]));
}

const isKey = (tag: FlvTagData) => tag.type === FLV_VIDEO && tag.body[0] === 0x17 && tag.body[1] === 1;

describe("pre-buffer", () => {
  it("holds whole GOPs from a keyframe covering the window, by the camera's timestamps", () => {
    const feed = new MediaFeed();
    feed.begin();
    headers(feed);
    const clock = new ManualClock();
    const prebuffer = new Prebuffer(feed, 4000, () => clock.now());
    syntheticTags(feed, 0, 10_050, 2000);
    // Last tag at 10 010 ms: the keyframe at 6000 covers 4010 ms, the one at 8000 would not.
    const replay: FlvTagData[] = [];
    prebuffer.subscribeTags((tag) => replay.push(tag))();
    assert.deepEqual(
      replay.slice(0, 3).map((t) => t.type),
      [FLV_SCRIPT, FLV_VIDEO, FLV_AUDIO],
      "headers first",
    );
    const media = replay.slice(3);
    assert.ok(isKey(media[0]!), "starts on a keyframe");
    assert.equal(media[0]!.dts, 6000);
    assert.equal(media.at(-1)!.dts, 10_010);
    assert.ok(
      prebuffer.stats().durationMs >= 4000 && prebuffer.stats().durationMs < 6000,
      JSON.stringify(prebuffer.stats()),
    );
    assert.equal(prebuffer.stats().gops, 3);
    prebuffer.close();
  });

  it("forwards live tags to a reader after the replay, and starts over on a new publish", () => {
    const feed = new MediaFeed();
    feed.begin();
    headers(feed);
    const prebuffer = new Prebuffer(feed, 4000, () => 0);
    syntheticTags(feed, 0, 3000, 2000);
    const got: FlvTagData[] = [];
    const stop = prebuffer.subscribeTags((tag) => got.push(tag));
    const replayed = got.length;
    syntheticTags(feed, 3000, 3200, 2000);
    assert.equal(got.length, replayed + 4, "two video and two audio tags live");
    stop();
    feed.begin();
    assert.equal(prebuffer.stats().tags, 2 * 32, "nothing dropped before the new publish sends a tag");
    headers(feed);
    assert.equal(prebuffer.stats().tags, 0, "a new publish restarts the buffer");
    syntheticTags(feed, 0, 500, 2000);
    assert.equal(prebuffer.stats().gops, 1);
    prebuffer.close();
    assert.equal(feed.listeners, 0);
  });

  it("keeps nothing before the first keyframe, and stamps the arrival of the last tag", () => {
    const feed = new MediaFeed();
    feed.begin();
    const clock = new ManualClock();
    const prebuffer = new Prebuffer(feed, 4000, () => clock.now());
    feed.tag(FLV_VIDEO, 0, Buffer.from([0x27, 1, 0, 0, 0, 0xaa]));
    assert.equal(prebuffer.stats().tags, 0);
    clock.advance(1234);
    feed.tag(FLV_VIDEO, 100, Buffer.from([0x17, 1, 0, 0, 0, 0xaa]));
    assert.equal(prebuffer.stats().tags, 1);
    assert.equal(prebuffer.lastTagAt, 1234);
    prebuffer.close();
  });
});

/** ffprobe's view of a file: streams and duration. */
async function probe(file: string): Promise<{
  streams: { codec_type: string; codec_name: string; width?: number; height?: number; sample_rate?: string }[];
  format: { duration: string };
}> {
  const { stdout } = await execFileAsync("ffprobe", [
    "-v",
    "error",
    "-show_streams",
    "-show_format",
    "-of",
    "json",
    file,
  ]);
  return JSON.parse(stdout);
}

function ffmpegChildren(): string {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

for (const muxing of ["in-process", "ffmpeg-copy"] as const)
  describe(`a recording clip, muxed ${muxing}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "hb-recording-"));
    const flv = join(dir, "source.flv");
    let tags: ReturnType<typeof readFlvTags>;

    before(async () => {
      await encodeSourceFlv(flv);
      // Without the end-of-sequence tag ffmpeg wrote at the end of the file (a camera's push has none).
      tags = readFlvTags(flv).filter((t) => !(t.type === FLV_VIDEO && t.body[1] === 2));
    });
    after(() => {
      rmSync(dir, { recursive: true, force: true });
      assert.equal(ffmpegChildren(), "", "no ffmpeg left behind");
    });

    /** A feed and its pre-buffer (enabled before the camera sent anything), with the file's tags up to `untilMs`. */
    function feedWith(untilMs: number, windowMs: number, now: () => number): { feed: MediaFeed; prebuffer: Prebuffer } {
      const feed = new MediaFeed();
      feed.begin();
      const prebuffer = new Prebuffer(feed, windowMs, now);
      for (const tag of tags) if (tag.time <= untilMs) feed.tag(tag.type, tag.time, tag.body);
      return { feed, prebuffer };
    }

    function clip(prebuffer: Prebuffer, options: Partial<RecordingClipOptions> = {}): RecordingClip {
      return new RecordingClip({
        ffmpeg: "ffmpeg",
        muxing,
        source: prebuffer,
        lastTagAt: () => prebuffer.lastTagAt,
        audio: true,
        fragmentMs: 4000,
        label: "test clip",
        log: silent,
        ...options,
      });
    }

    it(
      "pre-buffer then live tags become init + fragments that decode; each fragment starts on a keyframe; the last " +
        "is flagged",
      async () => {
        const { feed, prebuffer } = feedWith(2900, 4000, () => performance.now());
        const c = clip(prebuffer);
        const packets = collect(c);
        // "Live": the rest of the file, then a second copy of it (another 4 s) with shifted timestamps.
        for (const tag of tags) if (tag.time > 2900 && tag.type !== FLV_SCRIPT) feed.tag(tag.type, tag.time, tag.body);
        for (const tag of tags)
          if (tag.type !== FLV_SCRIPT && !(tag.body[1] === 0)) feed.tag(tag.type, tag.time + 4000, tag.body);
        if (muxing === "in-process") {
          await waitFor(() => c.fragments > 0, 20_000, { message: "a fragment before the clip ends" });
          assert.equal(ffmpegChildren(), "", "no ffmpeg runs for the clip");
        }
        c.end("test over");
        const got = await packets;
        const end = await c.ended;
        assert.equal(got[0]!.kind, "init");
        assert.ok(got.length >= 3, `init and fragments (got ${got.length})`);
        assert.deepEqual(
          got.map((p) => p.last),
          [...got.slice(1).map(() => false), true],
        );
        assert.equal(end.clean, true);
        for (const fragment of got.slice(1)) {
          const moof = new Mp4BoxReader().push(fragment.data).find((b) => b.type === "moof")!;
          assert.ok(fragmentStartsWithSync(moof.data, 1), "video starts on a keyframe");
        }
        const file = join(dir, "clip.mp4");
        writeFileSync(file, Buffer.concat(got.map((p) => p.data)));
        const info = await probe(file);
        const video = info.streams.find((s) => s.codec_type === "video")!;
        const audio = info.streams.find((s) => s.codec_type === "audio")!;
        assert.equal(video.codec_name, "h264");
        assert.deepEqual([video.width, video.height], [1280, 720]);
        assert.equal(audio.codec_name, "aac");
        assert.ok(Number(info.format.duration) > 7, `about 8 s (${info.format.duration})`);
        prebuffer.close();
      },
    );

    it("without audio when asked, and fragments no longer than the fragment length", async () => {
      const { prebuffer } = feedWith(4000, 8000, () => performance.now());
      const c = clip(prebuffer, { audio: false, fragmentMs: 1000 });
      const packets = collect(c);
      c.end("test over");
      const got = await packets;
      const file = join(dir, "video-only.mp4");
      writeFileSync(file, Buffer.concat(got.map((p) => p.data)));
      const info = await probe(file);
      assert.deepEqual(
        info.streams.map((s) => s.codec_type),
        ["video"],
      );
      if (muxing === "in-process") {
        // 4 s with 2 s GOPs and 1 s fragments: a fragment per GOP, each from its keyframe.
        assert.equal(got.length - 1, 2);
      } else {
        // ffmpeg's frag_duration cuts mid-GOP too: more fragments than GOPs.
        assert.ok(got.length - 1 >= 4, `fragments cut by duration too (got ${got.length - 1})`);
      }
      prebuffer.close();
    });

    it("a camera that stops sending ends the clip cleanly after the stall time (manual clock)", async () => {
      const clock = new ManualClock();
      const { prebuffer } = feedWith(4000, 4000, () => clock.now());
      const capture = new LogCapture();
      const c = clip(prebuffer, { clock, stallMs: 3000, log: pino({ level: "debug" }, capture) });
      const packets = collect(c);
      await settle();
      clock.advance(2999);
      await settle();
      assert.equal(capture.matching(/stopped pushing/).length, 0, "nothing before the stall time");
      clock.advance(1001);
      const got = await packets;
      assert.equal(got.at(-1)!.last, true);
      assert.equal((await c.ended).reason, "ended: the camera stopped pushing");
      assert.equal(capture.matching(/stopped pushing .* ago/).length, 1, "logged once");
      prebuffer.close();
    });

    // ffmpeg's own handling of a changed stream is not ours to test.
    if (muxing === "in-process")
      it("a camera back with other settings ends the clip with what it has, the last fragment flagged", async () => {
        const { feed, prebuffer } = feedWith(4000, 8000, () => performance.now());
        const capture = new LogCapture();
        const c = clip(prebuffer, { log: pino({ level: "debug" }, capture) });
        const packets = collect(c);
        await waitFor(() => c.fragments > 0, 20_000, { message: "the pre-buffer's first fragment" });
        feed.begin();
        const video = tags.find((tag) => tag.type === FLV_VIDEO && tag.body[1] === 0)!;
        feed.tag(FLV_VIDEO, 0, Buffer.concat([video.body, Buffer.from([0])]));
        const got = await packets;
        assert.deepEqual(
          got.map((p) => [p.kind, p.last]),
          [
            ["init", false],
            ["fragment", true],
          ],
        );
        assert.match((await c.ended).reason, /muxing failed: the camera changed its video settings/);
        assert.equal(capture.matching(/changed its video settings/).length, 1, "logged once");
        prebuffer.close();
      });

    it("stop() ends it at once (ffmpeg killed); the reader's packets end unflagged", async () => {
      const { feed, prebuffer } = feedWith(4000, 8000, () => performance.now());
      const c = clip(prebuffer);
      // Live: the next keyframe (4 s in) completes the first fragment.
      for (const tag of tags)
        if (tag.type !== FLV_SCRIPT && tag.body[1] !== 0) feed.tag(tag.type, tag.time + 4200, tag.body);
      const iterator = c.packets();
      const first = await iterator.next();
      assert.equal(first.value?.kind, "init");
      await c.stop("consumer left");
      const rest = [];
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) rest.push(r.value);
      assert.deepEqual(rest, []);
      const end = await c.ended;
      assert.equal(end.clean, false);
      assert.equal(end.reason, "consumer left");
      assert.equal(ffmpegChildren(), "");
      prebuffer.close();
      assert.equal(feed.listeners, 0);
    });
  });

describe("recorder policy", () => {
  const dir = mkdtempSync(join(tmpdir(), "hb-recorder-"));
  const flv = join(dir, "source.flv");
  let tags: ReturnType<typeof readFlvTags>;
  before(async () => {
    await encodeSourceFlv(flv);
    // Without the end-of-sequence tag ffmpeg wrote at the end of the file (a camera's push has none).
    tags = readFlvTags(flv).filter((t) => !(t.type === FLV_VIDEO && t.body[1] === 2));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function setup() {
    const feed = new MediaFeed();
    feed.begin();
    for (const tag of tags) feed.tag(tag.type, tag.time, tag.body);
    const clock = new ManualClock();
    const hub = {
      held: 0,
      wakes: [] as string[],
      acquire: () => {
        hub.held++;
        return () => {
          hub.held--;
        };
      },
      ready: async () => undefined,
      wake: (why: string) => void hub.wakes.push(why),
    };
    let publishing = true;
    const ingest = { status: () => ({ publishing, bytesIn: 0, audio: true }) as never, frames: () => feed };
    const capture = new LogCapture();
    const recorder = new MediaCameraRecorder({
      deviceId: "cam",
      name: "Cam",
      ffmpeg: "ffmpeg",
      hub,
      ingest,
      log: pino({ level: "debug" }, capture),
      clock,
      postRollMs: 2000,
    });
    // The camera keeps pushing as the manual clock moves: the file again and again, 100 ms at a time.
    const media = tags.filter((t) => t.type !== FLV_SCRIPT && t.body[1] !== 0);
    const loopMs = 4000;
    let played = 4000;
    const play = async (ms: number): Promise<void> => {
      for (const end = played + ms; played < end; ) {
        const from = played;
        played += 100;
        clock.advance(100);
        for (const tag of media) {
          const at = tag.time + Math.floor(from / loopMs) * loopMs;
          if (at >= from && at < played) feed.tag(tag.type, at, tag.body);
        }
        await settle();
      }
    };
    return { feed, clock, hub, recorder, capture, play, setPublishing: (on: boolean) => (publishing = on) };
  }

  it("holds the hub (keep warm) exactly while enabled, and refuses clips while off", async () => {
    const { hub, recorder, feed } = setup();
    await assert.rejects(recorder.record({ fragmentMs: 4000, audio: true }), /recording is off/);
    recorder.configure(4000);
    recorder.configure(4000);
    assert.equal(hub.held, 1);
    // The feed holds the frames since the last keyframe (2 s GOPs): the pre-buffer starts with them.
    assert.equal(recorder.prebufferStats()!.gops, 1, "the feed's held GOP is in the pre-buffer at once");
    recorder.configure(undefined);
    assert.equal(hub.held, 0);
    assert.equal(feed.listeners, 0);
    await recorder.close();
  });

  it("a trigger while the camera is not pushing asks the hub at once", () => {
    const { hub, recorder, setPublishing } = setup();
    recorder.trigger(true);
    assert.deepEqual(hub.wakes, [], "recording off: nothing");
    recorder.trigger(false);
    recorder.configure(4000);
    setPublishing(false);
    recorder.trigger(true);
    assert.deepEqual(hub.wakes, ["recording trigger"]);
    void recorder.close();
  });

  it("the clip ends a post-roll after the trigger; a new trigger within the post-roll keeps it going", async () => {
    const { recorder, play } = setup();
    recorder.configure(4000);
    recorder.trigger(true);
    const clip = await recorder.record({ fragmentMs: 4000, audio: true });
    const packets: RecordingPacket[] = [];
    const reading = (async () => {
      for await (const p of clip.packets()) packets.push(p);
    })();
    recorder.trigger(false);
    await play(1500);
    assert.equal(ffmpegChildren(), "", "the camera's AAC-LC is muxed in this process: no ffmpeg");
    recorder.trigger(true);
    await play(5000);
    assert.equal(packets.at(-1)?.last ?? false, false, "still recording while triggered");
    recorder.trigger(false);
    await play(1900);
    assert.equal(packets.at(-1)?.last ?? false, false, "still recording within the post-roll");
    await play(100);
    await reading;
    assert.equal(packets.at(-1)!.last, true);
    assert.equal((await clip.ended).reason, "ended: the trigger ended");
    await recorder.close();
  });

  it("a clip asked for late begins the pre-buffer before the trigger, not before the request", async () => {
    const { recorder, capture, play } = setup();
    recorder.configure(4000);
    await play(12_000);
    recorder.trigger(true);
    await play(3_000); // the hub asks 3 s after the motion
    const late = await recorder.record({ fragmentMs: 4000, audio: true });
    await late.stop("test over");
    recorder.trigger(false);
    await play(20_000); // the trigger is long past: the next clip counts back from its request
    const plain = await recorder.record({ fragmentMs: 4000, audio: true });
    await plain.stop("test over");
    const [fromTrigger, fromRequest] = capture.matching(/starts with/).map((line) => line.prebufferMs as number);
    // From the keyframe at or before trigger - 4 s to the last tag (at most 100 ms old): 3 s + 4 s, plus up to
    // one 2 s GOP.
    assert.ok(fromTrigger! >= 6_900, `late request: ${fromTrigger} ms of pre-buffer, not 4 s before the trigger`);
    assert.ok(fromTrigger! < 9_000, `no more than the GOP before trigger - 4 s: ${fromTrigger} ms`);
    assert.ok(fromRequest! >= 4_000 && fromRequest! < 6_100, `no recent trigger: ${fromRequest} ms`);
    await recorder.close();
  });

  it("audio that is not AAC-LC is encoded by ffmpeg; AAC-LC is muxed in this process", async () => {
    const { recorder, capture, feed } = setup();
    recorder.configure(4000);
    const copied = await recorder.record({ fragmentMs: 4000, audio: true });
    await copied.stop("test over");
    feed.tag(FLV_AUDIO, 4000, Buffer.from([0xaf, 0, 0x2b, 0x92, 0x08, 0x00])); // HE-AAC (object type 5)
    const encoded = await recorder.record({ fragmentMs: 4000, audio: true });
    assert.notEqual(ffmpegChildren(), "", "an ffmpeg runs for this clip");
    await encoded.stop("test over");
    assert.deepEqual(
      capture.matching(/starts with/).map((line) => line.muxing),
      ["in-process", "ffmpeg-audio"],
    );
    assert.equal(capture.matching(/not AAC-LC; recordings encode it with ffmpeg/).length, 1);
    await recorder.close();
  });

  it("recording turned off mid-clip stops the clip and ffmpeg, logged once", async () => {
    const { recorder, capture, hub } = setup();
    recorder.configure(4000);
    recorder.trigger(true);
    const clip = await recorder.record({ fragmentMs: 4000, audio: true });
    recorder.configure(undefined);
    const end = await clip.ended;
    assert.equal(end.clean, false);
    assert.equal(end.reason, "recording turned off");
    assert.equal(hub.held, 0);
    await settle();
    assert.equal(capture.matching(/cut short \(recording turned off\)/).length, 1);
    assert.equal(ffmpegChildren(), "");
    await recorder.close();
  });
});
