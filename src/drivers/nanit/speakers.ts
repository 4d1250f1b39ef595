// The account's Sound & Light Machines (docs/protocols/nanit.md §4.7): one device per speaker listed
// under a baby in /babies, each with its own relay socket (speaker-link.ts). Its light (on, brightness,
// colour), sound (on, track, volume) and room temperature and humidity.
import type { DriverSink } from "../../core/driver.ts";
import type { DriverRuntime, Timer } from "../../core/driver-runtime.ts";
import type { Logger } from "../../core/logger.ts";
import { deviceId, type Command, type DeviceInfo, type SoundTrack, type StatePatch } from "../../core/model.ts";
import type { JsonStore } from "../../core/storage.ts";
import { ownValue } from "../../core/safe-keys.ts";
import type { BabyCamera } from "./rest.ts";
import type { NanitSession } from "./session.ts";
import { SpeakerLink } from "./speaker-link.ts";
import { slSettingsFor, slStatePatch, slTracks, soundLightCapabilities, type SlSettings } from "./sound-light.ts";

export const DEFAULT_SPEAKER_RELAY = "wss://remote.nanit.com/speakers/{speaker_uid}/user_connect/";
const TRACKS_KEY = "speakerTracks";

export interface SpeakersOptions {
  account: string;
  relay: string;
  session: NanitSession;
  log: Logger;
  rt: DriverRuntime;
  sink: () => DriverSink;
  store: JsonStore;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  graceMs: number;
  pollMs: number;
  pingIntervalMs: number;
}

interface Speaker {
  uid: string;
  id: string;
  babyName: string;
  info: DeviceInfo;
  link: SpeakerLink;
  tracks: SoundTrack[] | undefined;
  powered: boolean | undefined;
  available: boolean;
  grace: Timer | undefined;
}

export class Speakers {
  readonly #o: SpeakersOptions;
  readonly #byId = new Map<string, Speaker>();

  constructor(options: SpeakersOptions) {
    this.#o = options;
  }

  owns(id: string): boolean {
    return this.#byId.has(id);
  }

  #describe(s: Speaker): DeviceInfo {
    return {
      id: s.id,
      vendor: "nanit",
      account: this.#o.account,
      kind: "sound-light-machine",
      name: `${s.babyName} Sound & Light`,
      manufacturer: "Nanit",
      model: "Sound + Light Machine",
      serialNumber: s.uid,
      capabilities: soundLightCapabilities(s.tracks),
    };
  }

  /** New speakers from /babies become devices (unreachable until their socket is up). */
  discover(cameras: BabyCamera[]): void {
    for (const cam of cameras) {
      if (!cam.speakerUid || this.#byId.has(deviceId("nanit", cam.speakerUid))) continue;
      const uid = cam.speakerUid;
      const stored = (this.#o.store.get(TRACKS_KEY) ?? {}) as Record<string, SoundTrack[]>;
      const s: Speaker = {
        uid,
        id: deviceId("nanit", uid),
        babyName: cam.babyName,
        info: undefined as unknown as DeviceInfo,
        link: undefined as unknown as SpeakerLink,
        tracks: ownValue(stored, uid),
        powered: undefined,
        available: false,
        grace: undefined,
      };
      s.info = this.#describe(s);
      s.link = this.#link(s);
      this.#byId.set(s.id, s);
      this.#o.sink().deviceFound(s.info, {});
      this.#o.sink().availabilityChanged(s.id, false);
      s.link.start();
    }
  }

  #link(s: Speaker): SpeakerLink {
    const o = this.#o;
    return new SpeakerLink({
      url: o.relay.replaceAll("{speaker_uid}", encodeURIComponent(s.uid)),
      label: s.info.name,
      session: o.session,
      log: o.log,
      timers: o.rt.timers.scope(),
      signal: o.rt.signal,
      backoff: (failures) => o.rt.backoff(failures, { minMs: 2_000, maxMs: 7_000 }),
      connectTimeoutMs: o.connectTimeoutMs,
      requestTimeoutMs: o.requestTimeoutMs,
      attachTimeoutMs: 10_000,
      pingIntervalMs: o.pingIntervalMs,
      pollMs: o.pollMs,
      onSettings: (settings, full) => this.#onSettings(s, settings, full),
      onUp: () => {
        s.grace = o.rt.cancel(s.grace);
        this.#setAvailable(s, true);
      },
      onDown: (reason) => {
        o.log.info(`nanit: ${s.info.name}: the relay socket dropped (${reason}); reconnecting`);
        if (s.grace || !s.available) return;
        s.grace = o.rt.later(o.graceMs, () => {
          s.grace = undefined;
          if (!s.link.up) this.#setAvailable(s, false);
        });
      },
    });
  }

  #setAvailable(s: Speaker, available: boolean): void {
    if (s.available === available) return;
    s.available = available;
    this.#o.sink().availabilityChanged(s.id, available);
  }

  #onSettings(s: Speaker, settings: SlSettings, full: boolean): void {
    if (settings.is_on !== undefined) s.powered = settings.is_on;
    const tracks = slTracks(settings);
    if (tracks && JSON.stringify(tracks) !== JSON.stringify(s.tracks)) {
      s.tracks = tracks;
      this.#o.store.set(TRACKS_KEY, { ...((this.#o.store.get(TRACKS_KEY) ?? {}) as object), [s.uid]: tracks });
      s.info = this.#describe(s);
      this.#o.sink().deviceFound(s.info, {});
    }
    this.#report(s, slStatePatch(settings, full ? settings.is_on : s.powered));
  }

  #report(s: Speaker, patch: StatePatch): void {
    if (patch.soundMachine && !s.info.capabilities.soundMachine) delete patch.soundMachine;
    if (Object.keys(patch).length) this.#o.sink().stateChanged(s.id, patch);
  }

  async command(id: string, command: Command): Promise<void> {
    const s = this.#byId.get(id)!;
    const settings = slSettingsFor(command, s.info.capabilities, s.info.name);
    if (!Object.keys(settings).length) return;
    let response;
    try {
      response = await s.link.request({ settings });
    } catch (error) {
      throw new Error(`${s.info.name}: the command was not answered: ${(error as Error).message}`, { cause: error });
    }
    if (response.status_code !== 200)
      throw new Error(
        `${s.info.name} refused the command (${response.status_code ?? "no status"}` +
          `${response.status_message ? ` "${response.status_message}"` : ""})`,
      );
    if (settings.is_on !== undefined) s.powered = settings.is_on;
    this.#report(s, slStatePatch(settings, s.powered));
  }
}
