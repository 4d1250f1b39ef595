// The page's "Pairings" routes: the controllers and fabrics holding the bridge, and removing them
// (pairings-api.ts checks the requests and does the work).
import type { IncomingMessage } from "node:http";
import { HttpError, json, readJsonBody, type RequestContext, type Route } from "./http.ts";
import { PAIRING_ACTION, type PairingsApi } from "./pairings-api.ts";

export interface PairingRouteOptions {
  pairings: PairingsApi;
  client: (req: IncomingMessage) => string;
  /** Tells the open pages the pairing changed. */
  pushPairing: () => void;
}

/** /api/pairings and its actions; undefined for any other path. */
export function pairingRoutes(o: PairingRouteOptions): Route {
  return (ctx) => {
    if (ctx.path === "/api/pairings") return view(o, ctx);
    const pairing = PAIRING_ACTION.exec(ctx.path);
    if (pairing) return act(o, ctx, pairing[1]!, pairing[2]!);
    return undefined;
  };
}

async function view(o: PairingRouteOptions, { res, get }: RequestContext): Promise<void> {
  if (!get) throw new HttpError(405, "GET only");
  return json(res, 200, o.pairings.view());
}

async function act(o: PairingRouteOptions, { req, res, post }: RequestContext, host: string, action: string) {
  if (!post) throw new HttpError(405, "POST only");
  const body = await readJsonBody(req);
  const view = await o.pairings.act(host, action, body, o.client(req));
  o.pushPairing();
  return json(res, 200, view);
}
