// WHEP (WebRTC-HTTP Egress Protocol, RFC 9725) for the cameras: POST /api/whep/<cameraId> with an SDP
// offer answers 201 with the SDP answer and a Location; DELETE that Location ends the view. Behind the
// page's login and its Host/Origin checks (server.ts), so the page's "Live" and other WHEP players
// with the session cookie work. Offers carry their candidates (no trickle: PATCH is refused).
import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_OFFER_BYTES } from "../media/webrtc/sdp-offer.ts";

/** What the route needs of the media layer (WebRtcService). */
export interface WhepBackend {
  readonly enabled: boolean;
  open(deviceId: string, offer: string, client: string): Promise<{ id: string; answer: string; startedAt: number }>;
  close(deviceId: string, id: string, client: string): Promise<boolean>;
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

async function readOffer(req: IncomingMessage): Promise<string> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/sdp") throw new WhepRefusal(415, "send the offer as application/sdp");
  if (Number(req.headers["content-length"] ?? 0) > MAX_OFFER_BYTES)
    throw new WhepRefusal(413, "the offer is too large");
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_OFFER_BYTES) throw new WhepRefusal(413, "the offer is too large");
      chunks.push(chunk);
    }
  } catch (error) {
    throw error instanceof WhepRefusal ? error : new WhepRefusal(400, "the offer did not arrive");
  }
  return Buffer.concat(chunks).toString("utf8");
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
      const offer = await readOffer(req);
      const { id, answer, startedAt } = await backend.open(deviceId, offer, client);
      const location = `/api/whep/${encodeURIComponent(deviceId)}/${id}`;
      res.writeHead(201, {
        "Content-Type": "application/sdp",
        "Content-Length": Buffer.byteLength(answer),
        Location: location,
        "X-Session-Started": new Date(startedAt).toISOString(),
      });
      return void res.end(answer);
    }
    if (parts.length === 2 && parts[0] && parts[1]) {
      if (method !== "DELETE")
        throw new WhepRefusal(405, "DELETE ends the view; candidates are not trickled", { Allow: "DELETE" });
      const deviceId = segment(parts[0]);
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
