// What the bridge says about a Nanit camera: its device description and capabilities, where its local
// socket is, how a refused live view reads, the night light's state (docs/protocols/nanit.md). Pure.
import type { CameraCapability, RecordingTrigger } from "../../core/camera.ts";
import { deviceId, type DeviceInfo, type SoundTrack } from "../../core/model.ts";
import { ownValue } from "../../core/safe-keys.ts";
import { cameraCapabilities } from "./controls.ts";
import type { ResponseMsg } from "./proto.ts";
import type { BabyCamera } from "./rest.ts";

/** What a Nanit pushes: H.264 + AAC (docs/protocols/nanit.md §6.3). Its real size and rate are undocumented
 * (NO's ONVIF advertises 1080p): these are what we offer; the hub learns the real size from the stream itself. */
export const NANIT_CAMERA: CameraCapability = {
  profiles: [
    { width: 1920, height: 1080, fps: 15 },
    { width: 1280, height: 720, fps: 15 },
  ],
  audio: true,
};

/** Config choices that shape a camera's capabilities: `cry` gives it a Cry sensor (docs/protocols/nanit.md §6.4);
 * `recordOn` names the sensors besides motion that start a recording (cry counts only with `cry`). */
export interface CameraChoices {
  cry?: boolean | undefined;
  recordOn?: readonly RecordingTrigger[] | undefined;
}

/** `tracks`: the sound machine's, once the camera listed them; `hide`: items the config leaves out. */
export function cameraInfo(
  cam: BabyCamera,
  accountName: string,
  tracks: SoundTrack[] | undefined = undefined,
  hide: ReadonlySet<string> = new Set(),
  { cry = false, recordOn = [] }: CameraChoices = {},
): DeviceInfo {
  const triggers = [...new Set(recordOn)].filter((sensor) => sensor !== "cry" || cry);
  const camera: CameraCapability = triggers.length ? { ...NANIT_CAMERA, recordingTriggers: triggers } : NANIT_CAMERA;
  return {
    id: deviceId("nanit", cam.cameraUid),
    vendor: "nanit",
    account: accountName,
    kind: "baby-camera",
    name: `${cam.babyName} Nanit`,
    manufacturer: "Nanit",
    model: cam.hardware ? `Nanit camera (${cam.hardware})` : "Nanit camera",
    serialNumber: cam.cameraUid,
    ...(cam.firmware ? { firmware: cam.firmware } : {}),
    capabilities: { ...cameraCapabilities(tracks, hide), ...(cry ? { cry: {} } : {}), camera },
  };
}

export function localUrl(cam: BabyCamera, configured: string | undefined): string | undefined {
  if (configured) {
    if (/^wss?:\/\//.test(configured)) return configured.replaceAll("{camera_uid}", encodeURIComponent(cam.cameraUid));
    return `wss://${configured.includes(":") ? configured : `${configured}:442`}`;
  }
  return cam.privateAddress ? `wss://${cam.privateAddress}` : undefined;
}

export function streamRefusal(response: ResponseMsg): string {
  const message = response.status_message ?? "";
  const said = `the camera answered ${response.status_code ?? "no status"}${message ? ` "${message}"` : ""}`;
  if (/sleep/i.test(message)) return `the camera is in standby (sleep mode); turn standby off to watch it (${said})`;
  if (response.status_code === 403)
    return (
      "Nanit declined this connection: too many app connections to this camera; " +
      `close a Nanit app or another bridge (${said})`
    );
  if (/punch p2p/i.test(message)) {
    const advice = "check firewall rules that block it";
    return `the camera needs outbound internet even for local streaming; ${advice} (${said})`;
  }
  return said;
}

/** The longest night-light timer the config takes (a day; our bound: the camera's own is not known). */
export const NIGHT_LIGHT_TIMER_MAX_MIN = 1440;

/** A camera's entry in the account's `cameras` config (README "Nanit"). */
export interface CameraConfig {
  hide?: readonly string[];
  /** Minutes after which the camera turns its night light off by itself (Control.night_light_timeout). */
  nightLightTimer?: number;
}

function cameraEntry(cameras: Record<string, CameraConfig> | undefined, cam: BabyCamera): CameraConfig | undefined {
  return ownValue(cameras ?? {}, cam.babyName) ?? ownValue(cameras ?? {}, cam.cameraUid);
}

/** The items the config's `cameras` entry hides for a camera, found by the baby's name or the camera uid. */
export function hiddenItems(cameras: Record<string, CameraConfig> | undefined, cam: BabyCamera): ReadonlySet<string> {
  return new Set(cameraEntry(cameras, cam)?.hide ?? []);
}

/** The night-light timer the config asks for, in seconds (the wire's unit); undefined = leave the camera's. */
export function nightLightTimerS(cameras: Record<string, CameraConfig> | undefined, cam: BabyCamera) {
  const minutes = cameraEntry(cameras, cam)?.nightLightTimer;
  return minutes === undefined ? undefined : minutes * 60;
}
