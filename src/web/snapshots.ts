// A camera's snapshot for the page's camera tiles: the same JPEG HomeKit gets (src/media's snapshot
// maker: the camera is woken if needed, one ffmpeg per picture shared by concurrent requests, reused
// for a few seconds). The page asks again only while it is visible (app.js, Page Visibility API).
import type { CameraSource } from "../core/camera.ts";
import type { DeviceRegistry } from "../core/registry.ts";
import { scrub } from "../core/logger.ts";
import { RequestError } from "./request-error.ts";
import { streamError } from "./status.ts";

/** The tile's size: 16:9 at a phone's width; HomeKit asks for its own sizes. */
export const SNAPSHOT_WIDTH = 640;
export const SNAPSHOT_HEIGHT = 360;

interface SnapshotSources {
  registry: Pick<DeviceRegistry, "get">;
  media?: unknown;
}

export const SNAPSHOT_PATH = /^\/api\/cameras\/([^/]+)\/snapshot\.jpg$/;

/** The camera's JPEG; a clear error when there is no such camera, no video, or no picture now. */
export async function cameraSnapshot(sources: SnapshotSources, deviceId: string): Promise<Buffer> {
  const entry = sources.registry.get(deviceId);
  if (!entry?.info.capabilities.camera) throw new RequestError(404, "no such camera");
  const media = sources.media as { sourceFor?: (id: string) => CameraSource | undefined } | undefined;
  const source = typeof media?.sourceFor === "function" ? media.sourceFor(deviceId) : undefined;
  if (!source) throw new RequestError(404, "this bridge serves no video for this camera");
  if (!entry.available) throw new RequestError(409, `${entry.info.name} is not reachable`);
  try {
    return await source.snapshot(SNAPSHOT_WIDTH, SNAPSHOT_HEIGHT);
  } catch (error) {
    // The reason in words, without a stream key (streamError cuts rtmp:// paths).
    throw new RequestError(502, streamError(scrub((error as Error).message)));
  }
}
