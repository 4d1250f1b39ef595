// What the end-to-end tests and the chaos bench share around a live view of the real bridge's
// standalone camera: pairing it from its "camera-pairing" log line, the bridge's ffmpeg children,
// and the secrets a live view uses (the SRTP keys and salts of both directions of SetupEndpoints, the
// camera's RTMP stream key) in the text forms a log line or a file could show them in.
import { execFileSync } from "node:child_process";
import type { BridgeProcess } from "./bridge-process.ts";
import type { Viewer } from "./camera-fixture.ts";
import { HapClient } from "./hap-client.ts";

/** ffmpeg processes whose parent is `pid` (setpriv execs ffmpeg in place, so they are direct children). */
export function ffmpegChildrenOf(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid), "-x", "ffmpeg"], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

export interface CameraPairingLine {
  port: number;
  setupCode: string;
  paired: boolean;
}

/** The camera's own HAP port and setup code, from the bridge's "camera-pairing" line. */
export async function cameraPairingLine(
  bridge: BridgeProcess,
  deviceId: string,
  timeoutMs = 20_000,
): Promise<CameraPairingLine> {
  const line = await bridge.waitForLine((l) => l.event === "camera-pairing" && l.deviceId === deviceId, timeoutMs);
  return { port: line.port as number, setupCode: line.setupCode as string, paired: line.paired as boolean };
}

/** Pair a HomeKit controller with the standalone camera `deviceId` (not yet paired). */
export async function pairCamera(
  bridge: BridgeProcess,
  deviceId: string,
  options: { file?: string; timeoutMs?: number } = {},
): Promise<HapClient> {
  const camera = await cameraPairingLine(bridge, deviceId, options.timeoutMs);
  if (camera.paired) throw new Error(`${deviceId} is paired already (load the saved pairing instead)`);
  return HapClient.pair(camera.port, camera.setupCode, options.file ? { file: options.file } : {});
}

export interface StreamSecret {
  value: string;
  what: string;
}

/** The stream key of an RTMP push URL: its last path segment. */
export function rtmpStreamKey(url: string): string {
  return url.slice(url.lastIndexOf("/") + 1);
}

/** Every SRTP master key and salt the viewers negotiated, both directions (the controller's in the
 * SetupEndpoints write, the accessory's in its answer), as base64, hex and key+salt base64; and the
 * stream key of every RTMP URL the camera was told to push to. */
export function streamSecrets(viewers: readonly Viewer[], rtmpUrls: readonly string[]): StreamSecret[] {
  const out = new Map<string, StreamSecret>();
  const add = (value: string, what: string) => {
    if (!out.has(value)) out.set(value, { value, what });
  };
  viewers.forEach((v, i) => {
    const sides = [
      ["controller video", v.video.keys],
      ["controller audio", v.audio.keys],
      ["accessory video", v.response.video],
      ["accessory audio", v.response.audio],
    ] as const;
    for (const [side, keys] of sides) {
      if (!keys) continue; // a refused SetupEndpoints answers without keys
      // The bridge answers with the controller's own keys (as Apple's cameras do): first name wins.
      const what = (part: string, form: string) => `SRTP ${side} ${part} (viewer ${i + 1}, ${form})`;
      add(keys.key.toString("base64"), what("key", "base64"));
      add(keys.key.toString("hex"), what("key", "hex"));
      add(keys.salt.toString("base64"), what("salt", "base64"));
      add(keys.salt.toString("hex"), what("salt", "hex"));
      add(Buffer.concat([keys.key, keys.salt]).toString("base64"), what("key+salt", "base64"));
    }
  });
  for (const url of rtmpUrls) if (url) add(rtmpStreamKey(url), "RTMP stream key");
  return [...out.values()];
}
