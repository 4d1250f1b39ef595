// The page's camera routes: the WebRTC live view (WHEP, whep.ts) and the tiles' snapshots (snapshots.ts).
import type { IncomingMessage } from "node:http";
import { decodeSegment, HttpError, type RequestContext, type Route } from "./http.ts";
import { cameraSnapshot, SNAPSHOT_PATH } from "./snapshots.ts";
import type { WebSources } from "./status.ts";
import { handleWhep, type WhepBackend } from "./whep.ts";

export interface CameraRouteOptions {
  sources: WebSources;
  /** Absent: no cameras. */
  whep: WhepBackend | undefined;
  client: (req: IncomingMessage) => string;
  /** The cross-site guard server.ts puts on every POST. */
  sameOrigin: (req: IncomingMessage) => void;
}

/** /api/whep/... and the snapshot path; undefined for any other path. */
export function cameraRoutes(o: CameraRouteOptions): Route {
  return (ctx) => {
    if (ctx.path.startsWith("/api/whep/")) return whep(o, ctx);
    const snapshot = SNAPSHOT_PATH.exec(ctx.path);
    if (snapshot) return sendSnapshot(o, ctx, snapshot[1]!);
    return undefined;
  };
}

async function whep(o: CameraRouteOptions, { req, res, path, method }: RequestContext): Promise<void> {
  // POST was checked above; ending a view and trickling into it are state changes too.
  if (method === "DELETE" || method === "PATCH") o.sameOrigin(req);
  return handleWhep(o.whep, req, res, path, o.client(req));
}

async function sendSnapshot(o: CameraRouteOptions, { res, get }: RequestContext, segment: string): Promise<void> {
  if (!get) throw new HttpError(405, "GET only");
  const jpeg = await cameraSnapshot(o.sources, decodeSegment(segment, "camera id"));
  res.writeHead(200, { "Content-Type": "image/jpeg", "Content-Length": jpeg.length });
  return void res.end(jpeg);
}
