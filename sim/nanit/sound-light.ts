// A simulated Sound & Light Machine behind Nanit's relay (docs/protocols/nanit.md §4.7): the relay's
// "backend" frame first (DISCONNECTED, then CONNECTED once the device is attached), the full state
// pushed as Message{request{settings}} on connect and on every change, GET_SETTINGS {all} answered
// with the full state, Settings deltas applied field by field (the inverted no_color / no_sound flags
// included) and answered 200. Every request is recorded for the tests.
import { EventEmitter } from "node:events";
import type { WebSocket, RawData } from "ws";
import { decodeSl, encodeSl, type SlMessage, type SlSettings } from "../../src/drivers/nanit/sound-light.ts";

export const DEFAULT_SL_TRACKS = ["White Noise", "Waves", "Birds", "Lullaby"];

export interface SimSoundLightRequest {
  speakerUid: string;
  at: number;
  request: NonNullable<SlMessage["request"]>;
}

export class SimSoundLight extends EventEmitter<{ request: [SimSoundLightRequest] }> {
  readonly uid: string;
  /** The device's settings, as it would report them (floats 0.0-1.0). */
  readonly state: Required<Pick<SlSettings, "brightness" | "volume" | "is_on" | "temperature" | "humidity">> & {
    color: { no_color: boolean; hue: number; saturation: number };
    sound: { no_sound: boolean; track: string };
    tracks: string[];
  };
  readonly received: SimSoundLightRequest[] = [];
  /** When each connection's CONNECTED backend frame went out (ms since the epoch). */
  readonly attachedAt: number[] = [];
  /** Delay between the relay's DISCONNECTED and CONNECTED backend frames. */
  attachDelayMs = 20;
  readonly #clients = new Set<WebSocket>();

  constructor(uid: string) {
    super();
    this.uid = uid;
    this.state = {
      is_on: true,
      brightness: 0.5,
      color: { no_color: true, hue: 0.1, saturation: 0.8 },
      volume: 0.4,
      sound: { no_sound: true, track: "Waves" },
      tracks: [...DEFAULT_SL_TRACKS],
      temperature: 22.25,
      humidity: 48.5,
    };
  }

  full(): SlSettings {
    const s = this.state;
    // The inverted flags are left out when false ("absent = on", as the one decoder reads them); is_on is
    // always sent (that decoder reads it only when present).
    return {
      brightness: s.brightness,
      color: { ...(s.color.no_color ? { no_color: true } : {}), hue: s.color.hue, saturation: s.color.saturation },
      volume: s.volume,
      sound: { ...(s.sound.no_sound ? { no_sound: true } : {}), track: s.sound.track },
      is_on: s.is_on,
      sound_list: { tracks: s.tracks },
      temperature: s.temperature,
      humidity: s.humidity,
    };
  }

  accept(ws: WebSocket): void {
    this.#clients.add(ws);
    ws.on("close", () => this.#clients.delete(ws));
    ws.on("error", () => undefined);
    ws.on("message", (data: RawData) => this.#onFrame(ws, data));
    this.#send(ws, { backend: { device: { status: "DISCONNECTED" } } });
    setTimeout(() => {
      this.attachedAt.push(Date.now());
      this.#send(ws, { backend: { device: { status: "CONNECTED" } } });
      this.#send(ws, { request: { settings: this.full() } });
    }, this.attachDelayMs);
  }

  /** The Sound & Light app changes something: applied, and pushed to every client. */
  setFromApp(delta: SlSettings): void {
    this.#apply(delta);
    this.#pushAll();
  }

  close(): void {
    for (const ws of this.#clients) ws.terminate();
    this.#clients.clear();
  }

  #send(ws: WebSocket, message: SlMessage): void {
    if (ws.readyState === ws.OPEN) ws.send(encodeSl(message), { binary: true });
  }

  #pushAll(except?: WebSocket): void {
    for (const ws of this.#clients) if (ws !== except) this.#send(ws, { request: { settings: this.full() } });
  }

  #apply(d: SlSettings): void {
    const s = this.state;
    if (d.is_on !== undefined) s.is_on = d.is_on;
    if (d.brightness !== undefined) s.brightness = d.brightness;
    if (d.volume !== undefined) s.volume = d.volume;
    if (d.color?.no_color !== undefined) s.color.no_color = d.color.no_color;
    if (d.color?.hue !== undefined) s.color.hue = d.color.hue;
    if (d.color?.saturation !== undefined) s.color.saturation = d.color.saturation;
    if (d.sound?.no_sound !== undefined) s.sound.no_sound = d.sound.no_sound;
    if (d.sound?.track !== undefined) s.sound.track = d.sound.track;
    if (d.temperature !== undefined) s.temperature = d.temperature;
    if (d.humidity !== undefined) s.humidity = d.humidity;
  }

  #onFrame(ws: WebSocket, data: RawData): void {
    let message: SlMessage;
    try {
      message = decodeSl(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
    } catch {
      return;
    }
    const request = message.request;
    if (!request) return;
    const record = { speakerUid: this.uid, request, at: Date.now() };
    this.received.push(record);
    this.emit("request", record);
    const respond = (status: number, extra: Partial<NonNullable<SlMessage["response"]>> = {}, text?: string) =>
      this.#send(ws, {
        response: {
          request_id: request.id ?? 0,
          status_code: status,
          ...(text ? { status_message: text } : {}),
          ...extra,
        },
      });
    if (request.get_settings) return respond(200, { settings: this.full() });
    if (request.get_status)
      return respond(200, { status: { temperature: this.state.temperature, humidity: this.state.humidity } });
    if (request.settings) {
      const track = request.settings.sound?.track;
      if (track !== undefined && !this.state.tracks.includes(track)) return respond(400, {}, "unknown track");
      this.#apply(request.settings);
      respond(200);
      this.#pushAll(ws);
      return;
    }
    respond(400, {}, "Failed to parse request");
  }
}
