// The in-process recording muxer's code (mediabunny) loads when it is first needed (issue 17). A clip that
// starts before it has loaded holds the tags and loses none: here the clips are made, fed, ended and stopped
// in one synchronous stretch, so all of it happens before the load (this file imports nothing that loads
// the muxer at start).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { MediaFeed } from "../../src/media/feed.ts";
import { Prebuffer } from "../../src/media/prebuffer.ts";
import { FLV_SCRIPT, FLV_VIDEO } from "../../src/media/protocol/flv.ts";
import { RecordingClip } from "../../src/media/recording.ts";
import { collect } from "../helpers/recording-packets.ts";
import { encodeSourceFlv } from "../helpers/camera-fixture.ts";
import { readFlvTags } from "../helpers/flv-frames.ts";

const silent = pino({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), "hb-recording-load-"));
let tags: ReturnType<typeof readFlvTags>;

before(async () => {
  const flv = join(dir, "source.flv");
  await encodeSourceFlv(flv);
  // Without the end-of-sequence tag ffmpeg wrote at the end of the file (a camera's push has none).
  tags = readFlvTags(flv).filter((t) => !(t.type === FLV_VIDEO && t.body[1] === 2));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function videoFrames(file: string): Promise<number> {
  const args = ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames"];
  const { stdout } = await promisify(execFile)("ffprobe", [...args, "-of", "csv=p=0", file]);
  return Number(stdout.trim());
}

test("clips started, fed, ended and stopped before the muxer's code has loaded: every tag is muxed", async () => {
  const feed = new MediaFeed();
  feed.begin();
  const prebuffer = new Prebuffer(feed, 4000, () => performance.now());
  for (const tag of tags) if (tag.time <= 2000) feed.tag(tag.type, tag.time, tag.body);
  const clip = (label: string) =>
    new RecordingClip({
      ffmpeg: "ffmpeg",
      muxing: "in-process",
      source: prebuffer,
      lastTagAt: () => prebuffer.lastTagAt,
      audio: true,
      fragmentMs: 4000,
      label,
      log: silent,
    });
  const ended = clip("ended before the load");
  const stopped = clip("stopped before the load");
  const packets = collect(ended);
  // "Live": the rest of the file, still before anything awaited.
  let fed = 0;
  for (const tag of tags)
    if (tag.time > 2000 && tag.type !== FLV_SCRIPT) {
      feed.tag(tag.type, tag.time, tag.body);
      fed++;
    }
  assert.ok(fed > 50, "live tags fed");
  ended.end("test over");
  await stopped.stop("test over");

  const got = await packets;
  const end = await ended.ended;
  assert.equal(end.clean, true, end.reason);
  assert.equal(got[0]!.kind, "init");
  assert.ok(got.length >= 2, `init and fragments (got ${got.length})`);
  assert.equal(got.at(-1)!.last, true);
  // Every video frame of the file is in the clip (the pre-buffer holds all of it from the first keyframe).
  const file = join(dir, "clip.mp4");
  writeFileSync(file, Buffer.concat(got.map((p) => p.data)));
  const frames = tags.filter((t) => t.type === FLV_VIDEO && t.body[1] === 1).length;
  assert.equal(await videoFrames(file), frames);
  const stop = await stopped.ended;
  assert.equal(stop.fragments, 0);
  assert.equal(stop.clean, false);
  prebuffer.close();
});
