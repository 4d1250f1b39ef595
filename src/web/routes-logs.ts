// The page's log routes: the log level at runtime and the recent lines as a file (logs-api.ts).
import type { IncomingMessage } from "node:http";
import { HttpError, json, readJsonBody, send, type RequestContext, type Route } from "./http.ts";
import type { LogRing } from "./log-ring.ts";
import { logDownload, type LogLevelControl } from "./logs-api.ts";

export interface LogRouteOptions {
  logLevel: LogLevelControl;
  logs: LogRing;
  client: (req: IncomingMessage) => string;
}

/** /api/logs/level and /api/logs/download; undefined for any other path. */
export function logRoutes(o: LogRouteOptions): Route {
  return (ctx) => {
    if (ctx.path === "/api/logs/level") return level(o, ctx);
    if (ctx.path === "/api/logs/download") return download(o, ctx);
    return undefined;
  };
}

async function level(o: LogRouteOptions, { req, res, get, post }: RequestContext): Promise<void> {
  if (get) return json(res, 200, o.logLevel.view());
  if (!post) throw new HttpError(405, "GET or POST");
  return json(res, 200, o.logLevel.set(await readJsonBody(req), o.client(req)));
}

async function download(o: LogRouteOptions, { res, url, get }: RequestContext): Promise<void> {
  if (!get) throw new HttpError(405, "GET only");
  const file = logDownload(o.logs.lines, url.searchParams);
  const disposition = `attachment; filename="${file.name}"`;
  return send(res, 200, file.text, "text/plain; charset=utf-8", { "Content-Disposition": disposition });
}
