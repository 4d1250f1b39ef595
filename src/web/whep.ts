// WHEP (WebRTC-HTTP Egress Protocol, RFC 9725) for the cameras: POST /api/whep/<cameraId> with an SDP
// offer answers 201 with the SDP answer, a Location and an ETag; PATCH that Location with the viewer's
// trickled candidates (RFC 9725 section 4.3, application/trickle-ice-sdpfrag) answers 204; DELETE it ends
// the view. Behind the page's login and its Host/Origin checks (server.ts), so the page's "Live" and other
// WHEP players with the session cookie work. Our own candidates are all in the answer; ICE restarts (a
// PATCH with other ICE credentials) are refused with 422.
import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_FRAGMENT_BYTES } from "../media/webrtc/sdp-frag.ts";
import { MAX_OFFER_BYTES } from "../media/webrtc/sdp-offer.ts";

const FRAGMENT_TYPE = "application/trickle-ice-sdpfrag";

/** What the route needs of the media layer (WebRtcService). */
export interface WhepBackend {
  readonly enabled: boolean;
  open(deviceId: string, offer: string, client: string): Promise<{ id: string; answer: string; startedAt: number }>;
  close(deviceId: string, id: string, client: string): Promise<boolean>;
  /** Trickled candidates; throws an error with the HTTP status. `match`: If-Match's tags (a view's is its id). */
  trickle(deviceId: string, id: string, fragment: string, client: string, match?: string[]): void;
}

class WhepRefusal extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** The body, of content type `type` and at most `max` bytes (415 and 413 otherwise). */
async function readBody(req: IncomingMessage, type: string, max: number, what: string): Promise<string> {
  const sent = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (sent !== type) throw new WhepRefusal(415, `send ${what} as ${type}`);
  if (Number(req.headers["content-length"] ?? 0) > max) throw new WhepRefusal(413, `${what} is too large`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw new WhepRefusal(413, `${what} is too large`);
      chunks.push(chunk);
    }
  } catch (error) {
    throw error instanceof WhepRefusal ? error : new WhepRefusal(400, `${what} did not arrive`);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** If-Match's strong entity tags (RFC 9110 section 13.1.1); undefined when absent or "*" (any view there is). */
function ifMatch(req: IncomingMessage): string[] | undefined {
  const value = req.headers["if-match"]?.trim();
  if (value === undefined || value === "*") return undefined;
  // A weak tag never matches in If-Match's strong comparison.
  return [...value.matchAll(/(W\/)?"([\x21\x23-\x7e]*)"/g)].filter((m) => !m[1]).map((m) => m[2]!);
}

function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new WhepRefusal(400, "bad camera id");
  }
}

/** Answer one request under /api/whep/ (the caller checked the login, Host and Origin). */
export async function handleWhep(
  backend: WhepBackend | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  client: string,
): Promise<void> {
  try {
    if (!backend?.enabled)
      throw new WhepRefusal(404, "live view over WebRTC is off (no cameras, or media.webrtc.enabled)");
    const parts = path.slice("/api/whep/".length).split("/");
    const method = req.method ?? "GET";
    if (parts.length === 1 && parts[0]) {
      if (method !== "POST") throw new WhepRefusal(405, "POST an SDP offer", { Allow: "POST" });
      const deviceId = segment(parts[0]);
      const offer = await readBody(req, "application/sdp", MAX_OFFER_BYTES, "the offer");
      const { id, answer, startedAt } = await backend.open(deviceId, offer, client);
      const location = `/api/whep/${encodeURIComponent(deviceId)}/${id}`;
      res.writeHead(201, {
        "Content-Type": "application/sdp",
        "Content-Length": Buffer.byteLength(answer),
        Location: location,
        // RFC 9725 section 4.3.1: the ICE session's entity tag, for the PATCHes' If-Match (no ICE restarts: the
        // view's id).
        ETag: `"${id}"`,
        "Accept-Patch": FRAGMENT_TYPE,
        "X-Session-Started": new Date(startedAt).toISOString(),
      });
      return void res.end(answer);
    }
    if (parts.length === 2 && parts[0] && parts[1]) {
      const deviceId = segment(parts[0]);
      if (method === "PATCH") {
        const fragment = await readBody(req, FRAGMENT_TYPE, MAX_FRAGMENT_BYTES, "the candidates' fragment");
        backend.trickle(deviceId, parts[1], fragment, client, ifMatch(req));
        res.writeHead(204);
        return void res.end();
      }
      if (method !== "DELETE")
        throw new WhepRefusal(405, "PATCH trickles candidates, DELETE ends the view", { Allow: "PATCH, DELETE" });
      if (!(await backend.close(deviceId, parts[1], client))) throw new WhepRefusal(404, "no such live view");
      res.writeHead(200, { "Content-Length": 0 });
      return void res.end();
    }
    throw new WhepRefusal(404, "not found");
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (typeof status !== "number") throw error;
    const headers = error instanceof WhepRefusal ? error.headers : status === 503 ? { "Retry-After": "10" } : {};
    if (res.headersSent) return void res.destroy();
    sendJson(res, status, { error: (error as Error).message }, headers);
  }
}
