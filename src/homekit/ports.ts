// The HAP servers' ports: a bridge's port is checked free before it is published (so the error names
// homekit.port), and a standalone camera keeps its saved port while it is free, else takes the next
// free one from the camera base port.
import { createServer } from "node:net";
import type { Logger } from "../core/logger.ts";
import type { BridgeLayout, CameraIdentity } from "./storage.ts";

export async function assertPortFree(port: number, host: string | undefined): Promise<void> {
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(port, host, done);
    });
  } catch (error) {
    throw new Error(
      `HomeKit port ${port} is not free (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ` +
        "set homekit.port to another port",
    );
  }
  await new Promise<void>((done) => server.close(() => done()));
}

async function portFree(port: number, host: string | undefined): Promise<boolean> {
  try {
    await assertPortFree(port, host);
    return true;
  } catch {
    return false;
  }
}

export interface CameraPorts {
  /** The first camera port; 0 = any free port. */
  basePort: number;
  /** HAP-NodeJS's `bind`: a list of interfaces cannot be checked here, so its ports are taken as free. */
  bind: string | string[] | undefined;
  layout: BridgeLayout;
  log: Logger;
}

/** The port for a standalone camera: its saved one if still free, else the next free one from the base. */
export async function cameraPortFor(
  o: CameraPorts,
  camera: { deviceId: string; identity: CameraIdentity; name: string },
): Promise<number> {
  if (o.basePort === 0) return 0;
  const checkable = o.bind === undefined || typeof o.bind === "string";
  const host = typeof o.bind === "string" ? o.bind : undefined;
  const saved = camera.identity.port;
  if (saved !== undefined && (!checkable || (await portFree(saved, host)))) return saved;
  const taken = new Set(
    Object.entries(o.layout.cameras).flatMap(([id, c]) =>
      id !== camera.deviceId && c.port !== undefined ? [c.port] : [],
    ),
  );
  for (let port = o.basePort; port <= 65535; port++) {
    if (taken.has(port) || port === saved) continue;
    if (checkable && !(await portFree(port, host))) continue;
    if (saved !== undefined)
      o.log.warn({ device: camera.deviceId }, `camera port ${saved} is taken; ${camera.name} moves to port ${port}`);
    return port;
  }
  throw new Error(`no free port from ${o.basePort} for a camera`);
}
