// The two ways a recording clip turns the camera's FLV tags into fragmented MP4 (recording.ts):
// - in this process (fmp4-muxer.ts): the default, whenever the camera's audio is AAC-LC or the clip has
//   none; no process per clip.
// - ffmpeg: the fallback for audio HomeKit cannot take as it is (not AAC-LC: ffmpeg encodes AAC-LC), and
//   the path the bench compares against (codecs copied). Its mov muxer cuts a fragment at each keyframe
//   (`frag_keyframe`) and, when the camera's GOP is longer, at the fragment length (`frag_duration`).
import type { Logger } from "../core/logger.ts";
import type { FlvTagData } from "./feed.ts";
import { FfmpegProcess } from "./ffmpeg.ts";
import { stdinInput } from "./ffmpeg-args.ts";
import { pipeFlv } from "./flv-pipe.ts";
import type { FlvFmp4Muxer } from "./fmp4-muxer.ts";
import { Mp4Segmenter, type Mp4Segment } from "./protocol/mp4.ts";

export type TagSource = { subscribeTags(listener: (tag: FlvTagData) => void): () => void };

/** One clip's muxer: segments go to `onSegment` as they complete. */
export interface ClipMuxer {
  /** No more input: what is held is written, then `done` settles. */
  end(): void;
  /** Stop at once; resolves once nothing of it runs. */
  stop(): Promise<void>;
  /** Settles when no more segments will come: undefined after a clean end, else why it failed. */
  readonly done: Promise<string | undefined>;
}

export interface ClipMuxerOptions {
  source: TagSource;
  audio: boolean;
  fragmentMs: number;
  label: string;
  log: Logger;
  onSegment: (segment: Mp4Segment) => void;
}

/** ffmpeg arguments for one clip: FLV in on stdin, fragmented MP4 out on stdout; video copied, audio copied
 * or (`encodeAudio`) encoded to AAC-LC. */
export function recordingArgs(audio: boolean, fragmentMs: number, encodeAudio = false): string[] {
  return [
    ...["-hide_banner", "-loglevel", "warning", "-nostats"],
    ...stdinInput("flv"),
    ...["-map", "0:v:0", ...(audio ? ["-map", "0:a:0?"] : ["-an"])],
    ...(encodeAudio && audio ? ["-c:v", "copy", "-c:a", "aac", "-b:a", "64k"] : ["-c", "copy"]),
    ...["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof"],
    ...["-frag_duration", String(Math.max(500, Math.round(fragmentMs)) * 1000)],
    "pipe:1",
  ];
}

type Fmp4Module = typeof import("./fmp4-muxer.ts");
let fmp4: Fmp4Module | undefined;
let loading: Promise<Fmp4Module> | undefined;

/** The in-process muxer's code (mediabunny, about 2 M characters of source) loads when recording is first
 * turned on (recorder.ts), not at start: a bridge whose cameras never record (no home hub) never holds it. */
export function loadInProcessMuxer(): Promise<Fmp4Module> {
  loading ??= import("./fmp4-muxer.ts").then(
    (module) => (fmp4 = module),
    (error: Error) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

/** Mux in this process. The source's tags are pushed as they come (the pre-buffer's at once); a clip that
 * starts before the muxer's code has loaded holds them until it has. */
export function inProcessMuxer(options: ClipMuxerOptions): ClipMuxer {
  let settle!: (why: string | undefined) => void;
  const done = new Promise<string | undefined>((resolve) => (settle = resolve));
  let unsubscribe: (() => void) | undefined;
  let detached = false;
  const detach = (): void => {
    detached = true;
    unsubscribe?.();
    unsubscribe = undefined;
  };
  let muxer: FlvFmp4Muxer | undefined;
  let early: FlvTagData[] = [];
  let ended = false;
  let stopped = false;
  const create = (module: Fmp4Module): FlvFmp4Muxer =>
    new module.FlvFmp4Muxer({
      audio: options.audio,
      fragmentMs: options.fragmentMs,
      onSegment: options.onSegment,
      // Also during the pre-buffer's replay, before the subscription below has returned.
      onError: (error) => {
        detach();
        settle(`muxing failed: ${error.message}`);
      },
    });
  const finish = (m: FlvFmp4Muxer): void => {
    m.finish().then(
      () => settle(undefined),
      (error: Error) => settle(`muxing failed: ${error.message}`),
    );
  };
  if (fmp4) muxer = create(fmp4);
  else
    loadInProcessMuxer().then(
      (module) => {
        if (stopped) return;
        const m = create(module);
        for (const tag of early) m.push(tag);
        early = [];
        muxer = m;
        if (ended) finish(m);
      },
      (error: Error) => {
        detach();
        settle(`muxing failed: the muxer could not be loaded (${error.message})`);
      },
    );
  unsubscribe = options.source.subscribeTags((tag) => (muxer ? muxer.push(tag) : early.push(tag)));
  if (detached) detach();
  return {
    done,
    end: () => {
      detach();
      ended = true;
      if (muxer) finish(muxer);
    },
    stop: async () => {
      detach();
      stopped = true;
      early = [];
      await muxer?.cancel();
      settle("stopped");
    },
  };
}

/** Mux with an ffmpeg process fed the FLV on its stdin. */
export function ffmpegMuxer(options: ClipMuxerOptions & { ffmpeg: string; encodeAudio: boolean }): ClipMuxer {
  const { label, log } = options;
  const segmenter = new Mp4Segmenter();
  const ffmpeg = new FfmpegProcess(
    options.ffmpeg,
    recordingArgs(options.audio, options.fragmentMs, options.encodeAudio),
    {
      label,
      log,
      stdin: "pipe",
      stdout: "pipe",
    },
  );
  const { stdin, stdout } = ffmpeg.child;
  let ending = false;
  let badOutput: string | undefined;
  // ffmpeg gone before we stopped writing: the exit handler reports why.
  stdin?.on("error", () => undefined);
  stdout?.on("data", (chunk: Buffer) => {
    if (badOutput) return;
    try {
      for (const segment of segmenter.push(chunk)) options.onSegment(segment);
    } catch (error) {
      badOutput = `ffmpeg wrote no fragmented MP4 (${(error as Error).message})`;
      void ffmpeg.stop();
    }
  });
  let unpipe: (() => void) | undefined = pipeFlv(options.source, stdin!, { audio: options.audio });
  const detach = (): void => {
    unpipe?.();
    unpipe = undefined;
  };
  const done = ffmpeg.exited.then((exit) => {
    detach();
    log.debug({ code: exit.code, signal: exit.signal }, `${label}: ffmpeg exited`);
    if (badOutput) return badOutput;
    const tail = exit.stderrTail.slice(-3).join(" | ") || "no output";
    if (!ending) return `ffmpeg exited (${exit.code ?? exit.signal}): ${tail}`;
    if (exit.code !== 0) log.warn(`${label}: ffmpeg ended with ${exit.code ?? exit.signal}: ${tail}`);
    return undefined;
  });
  return {
    done,
    end: () => {
      ending = true;
      detach();
      stdin?.end();
    },
    stop: async () => {
      ending = true;
      detach();
      await ffmpeg.stop();
    },
  };
}
