// The live-view request of one camera: PUT_STREAMING over its control socket, to our ingest (the camera
// pushes RTMP, docs/protocols/nanit.md §6.1) or to Nanit's RTMPS ingest, whose URL the bridge then reads
// back (§6.2). The cloud URL carries the account's access token: it is a secret (the logger redacts
// tokens), is built only here and handed to the media layer in-process, never logged.
import { readFileSync } from "node:fs";
import type { CloudStream, StreamRequest } from "../../core/camera.ts";
import { streamRefusal } from "./camera-info.ts";
import type { ResponseMsg } from "./proto.ts";
import { jwtExpiry } from "./rest.ts";
import type { NanitSession } from "./session.ts";
import { NanitRequestError, NanitTimeoutError, type NanitSocket } from "./socket.ts";

/** Nanit's media host (docs/protocols/nanit.md §6.2): rtmps://media-secured.nanit.com/nanit/{baby_uid}.{token}. */
export const DEFAULT_MEDIA = "rtmps://media-secured.nanit.com/nanit";
/** A URL whose token has less than this left is not handed out (HN asks for 3300 s; the hub renews every 5 min). */
const MIN_TOKEN_LIFE_MS = 15 * 60_000;

export interface CloudUrlOptions {
  /** rtmps://host[:port]/app (endpoints.media). */
  base?: string | undefined;
  /** A PEM file of extra certificates to trust for it (endpoints.mediaCa; simulators only). */
  caFile?: string | undefined;
  session: () => NanitSession;
}

/** Cloud stream URLs per baby: the same URL while its token lives (a new URL restarts the camera's push). */
export class CloudStreamUrls {
  readonly #o: CloudUrlOptions;
  readonly #cache = new Map<string, CloudStream & { token: string }>();
  #ca: string | undefined;

  constructor(options: CloudUrlOptions) {
    this.#o = options;
  }

  async urlFor(babyUid: string, fresh: boolean): Promise<CloudStream> {
    const cached = this.#cache.get(babyUid);
    const lives = (cached?.expiresAt ?? Number.POSITIVE_INFINITY) - Date.now() > MIN_TOKEN_LIFE_MS;
    if (cached && lives && !fresh) return cached;
    const session = this.#o.session();
    let token = await session.accessToken();
    // The URL was refused with this very token: a refresh gives a new one (§2.5).
    if ((fresh && cached?.token === token) || (jwtExpiry(token) ?? Infinity) * 1000 - Date.now() < MIN_TOKEN_LIFE_MS)
      token = await session.refresh(token);
    const base = (this.#o.base ?? DEFAULT_MEDIA).replace(/\/+$/, "");
    const exp = jwtExpiry(token);
    const stream: CloudStream & { token: string } = {
      url: `${base}/${encodeURIComponent(babyUid)}.${token}`,
      token,
      ...(exp !== undefined ? { expiresAt: exp * 1000 } : {}),
      ...(this.#o.caFile ? { ca: this.#readCa(this.#o.caFile) } : {}),
    };
    this.#cache.set(babyUid, stream);
    return stream;
  }

  #readCa(path: string): string {
    if (this.#ca) return this.#ca;
    try {
      this.#ca = readFileSync(path, "utf8");
    } catch (error) {
      throw new Error(`cannot read endpoints.mediaCa (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`);
    }
    return this.#ca;
  }
}

/** PUT_STREAMING start or stop; for a cloud start, where to read the stream. `name` is for messages. */
export async function putStreaming(
  sock: NanitSocket,
  name: string,
  request: StreamRequest,
  timeoutMs: number,
  cloud: () => Promise<CloudStream>,
): Promise<CloudStream | undefined> {
  const what = request.action === "start" ? "start" : "stop";
  const target = request.action === "start" && request.path === "cloud" ? await cloud() : undefined;
  // STOPPED carries an empty URL (HN, UL, EM); `attempts: 1` as IF/EM/TJ send it.
  const streaming = {
    id: "MOBILE" as const,
    status: request.action === "start" ? ("STARTED" as const) : ("STOPPED" as const),
    rtmp_url: request.action === "start" ? (target?.url ?? request.url) : "",
    attempts: 1,
  };
  let response: ResponseMsg;
  try {
    response = await sock.request("PUT_STREAMING", { streaming }, timeoutMs);
  } catch (error) {
    // No reconnect on a timeout: some cameras publish although the answer never came (UL), and a
    // reconnect would kill a running push (HN PRs #96-#101). The health check catches dead sessions.
    if (error instanceof NanitTimeoutError)
      throw new Error(
        `${name}: the camera did not answer the request to ${what} its live view (${error.message}); ` +
          "it may still start publishing",
        { cause: error },
      );
    throw new Error(`${name}: cannot ${what} the live view: ${(error as Error).message}`, { cause: error });
  }
  if (response.status_code === 200) return target ? { url: target.url, ...pick(target) } : undefined;
  throw new Error(`${name}: cannot ${what} the live view: ${streamRefusal(response)}`, {
    cause: new NanitRequestError("PUT_STREAMING", response.status_code, response.status_message),
  });
}

/** The CloudStream without our bookkeeping (the token is in the URL already). */
function pick(stream: CloudStream): Omit<CloudStream, "url"> {
  return {
    ...(stream.ca ? { ca: stream.ca } : {}),
    ...(stream.expiresAt !== undefined ? { expiresAt: stream.expiresAt } : {}),
  };
}
