// The page's device controls: POST /api/devices/<id>/command.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Logger, scrub } from "../core/logger.ts";
import { CommandError } from "../core/registry.ts";
import { BadCommand, parseCommand } from "./device-commands.ts";
import { decodeSegment, HttpError, json, readJsonBody, type RequestContext, type Route } from "./http.ts";
import { deviceView, type Reachability, streamStates, type WebSources } from "./status.ts";

const COMMAND = /^\/api\/devices\/([^/]+)\/command$/;

export interface DeviceRouteOptions {
  sources: WebSources;
  log: Logger;
  reach: Reachability;
  client: (req: IncomingMessage) => string;
}

/** The command path; undefined for any other path. */
export function deviceRoutes(o: DeviceRouteOptions): Route {
  return (ctx) => {
    const command = COMMAND.exec(ctx.path);
    if (command) return commandPath(o, ctx, command[1]!);
    return undefined;
  };
}

async function commandPath(o: DeviceRouteOptions, { req, res, post }: RequestContext, segment: string) {
  if (!post) throw new HttpError(405, "POST only");
  return command(o, req, res, decodeSegment(segment, "device id"));
}

/** A control on the page: checked against the device's capabilities, then the registry's command
 * (which waits for the vendor's acknowledgement). The new state reaches every page over /events. */
async function command(o: DeviceRouteOptions, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const { registry } = o.sources;
  const entry = registry.get(id);
  if (!entry) throw new HttpError(404, "no such device");
  const body = await readJsonBody(req);
  let patch;
  try {
    patch = parseCommand(body, entry.info.capabilities);
  } catch (error) {
    if (error instanceof BadCommand) throw new HttpError(400, error.message);
    throw error;
  }
  const client = o.client(req);
  o.log.info({ device: id, command: patch, client }, `web page: command to ${entry.info.name}`);
  try {
    await registry.command(id, patch);
  } catch (error) {
    const message = scrub((error as Error).message);
    o.log.warn({ device: id, err: error }, `web page: command to ${entry.info.name} failed: ${message}`);
    // Unknown or unreachable: the request cannot be done now; anything else is the vendor's answer.
    throw new HttpError(error instanceof CommandError ? 409 : 502, message);
  }
  const after = registry.get(id);
  return json(res, 200, {
    ok: true,
    device: after ? deviceView(after, streamStates(o.sources), o.reach) : null,
  });
}
