// The simulated camera's sound machine (docs/protocols/nanit.md §5.3, §6): GET_SOUNDTRACKS lists the
// tracks, GET_PLAYBACK tells what plays, PUT_PLAYBACK starts (with a track filename) or stops. The
// camera never pushes playback changes, so a change made in the phone app is seen only by a poll.
import type { PlaybackMsg, ResponseMsg, SoundtrackMsg } from "../../src/drivers/nanit/proto.ts";

/** A few of the tracks the Nanit app offers; the type numbers are made up. */
export const DEFAULT_TRACKS: SoundtrackMsg[] = [
  { type: 1, filename: "White_Noise.wav" },
  { type: 1, filename: "Birds.wav" },
  { type: 1, filename: "Waves.wav" },
  { type: 2, filename: "Lullaby.wav" },
];

export type Answer = { status: number; message?: string; extra?: Partial<ResponseMsg> } | "no-answer";

export class SimSoundMachine {
  tracks: SoundtrackMsg[];
  playing = false;
  current: string | undefined;
  /** Injected GET_PLAYBACK outcomes, used one per request ("no-answer": HN PR #101's timeouts). */
  readonly getFaults: Answer[] = [];
  /** Fault: the next GET_PLAYBACK is answered (with what played when it was asked) only after the next
   * PUT_PLAYBACK's answer, as when both answers are handled in one read. */
  holdNextGet = false;

  constructor(tracks: SoundtrackMsg[] = DEFAULT_TRACKS) {
    this.tracks = tracks;
    this.current = tracks[0]?.filename;
  }

  playback(): PlaybackMsg {
    const current = this.current ? { current: { filename: this.current } } : {};
    return { status: this.playing ? "STARTED" : "STOPPED", ...current };
  }

  getSoundtracks(): Answer {
    return { status: 200, extra: { soundtracks: this.tracks } };
  }

  getPlayback(): Answer {
    return this.getFaults.shift() ?? { status: 200, extra: { playback: this.playback() } };
  }

  /** PUT_PLAYBACK: STARTED needs a known track (or plays the current one); proto2 default status is STARTED. */
  put(p: PlaybackMsg | undefined): Answer {
    if (p?.status === "STOPPED") {
      this.playing = false;
      return { status: 200 };
    }
    const wanted = p?.tracks?.[0]?.filename ?? p?.current?.filename ?? this.current;
    if (!wanted || !this.tracks.some((t) => t.filename === wanted))
      return { status: 400, message: `unknown track ${String(wanted)}` };
    this.current = wanted;
    this.playing = true;
    return { status: 200 };
  }
}
