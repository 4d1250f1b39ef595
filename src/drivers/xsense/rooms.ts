// The rooms of a house (bizCode 102008, docs/protocols/xsense.md §3.6): `reData.houseRooms` maps a room id to
// `{roomName, …}`; stations and devices of 103007 name their room by `roomId`. Rooms only label devices on the
// web page, so bad entries are dropped with a reason and never stop discovery.
import type { Logger } from "../../core/logger.ts";
import { rateLimitedLog } from "../../core/rate-limited-log.ts";
import { XSenseSessionError } from "./api.ts";
import { isObject } from "./parse.ts";
import type { XSenseSession } from "./session.ts";

/** Longest room name kept (the app's names are short; a longer one would only stretch the page). */
export const MAX_ROOM_NAME = 64;
/** Rooms kept per house (a real house has a dozen or so): a cloud inventing ids cannot grow memory. */
export const MAX_ROOMS = 256;

export interface ParsedRooms {
  /** Room id → name. */
  rooms: Map<string, string>;
  /** Fixed reasons for what was dropped (log them, rate limited). */
  problems: string[];
}

/** A room name as shown: control characters out, spaces trimmed, at most MAX_ROOM_NAME characters (whole code
 * points, so an emoji is never cut in half). Empty: no usable name. */
export function cleanRoomName(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const text = raw.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ").trim();
  return [...text].slice(0, MAX_ROOM_NAME).join("").trim();
}

/** Read 102008's `reData`. A missing or malformed map gives no rooms (and says why). */
export function parseRooms(reData: unknown): ParsedRooms {
  const rooms = new Map<string, string>();
  const problems = new Set<string>();
  const map = isObject(reData) ? reData.houseRooms : undefined;
  if (!isObject(map)) {
    return { rooms, problems: [map === undefined ? "no houseRooms map" : "houseRooms is not a map"] };
  }
  for (const [id, room] of Object.entries(map)) {
    if (rooms.size >= MAX_ROOMS) {
      problems.add(`more than ${MAX_ROOMS} rooms`);
      break;
    }
    const name = isObject(room) && typeof room.roomName === "string" ? cleanRoomName(room.roomName) : "";
    if (name) rooms.set(id, name);
    else problems.add("a room without a name");
  }
  return { rooms, problems: [...problems] };
}

/** The room of a station or device: its `roomId` looked up in the house's rooms (none when absent or unknown). */
export function roomOf(rooms: ReadonlyMap<string, string> | undefined, roomId: unknown): string | undefined {
  return typeof roomId === "string" && roomId ? rooms?.get(roomId) : undefined;
}

/** Read a house's rooms. An answer the service refuses (or that is malformed) gives undefined and a warning: the
 * caller keeps the rooms it had. A session error is thrown: the house list cannot be read either then. */
export async function fetchRooms(
  session: Pick<XSenseSession, "call">,
  houseId: string,
  log: Logger,
): Promise<Map<string, string> | undefined> {
  let reData: unknown;
  try {
    reData = await session.call("102008", { houseId, utctimestamp: "0" });
  } catch (error) {
    if (error instanceof XSenseSessionError) throw error;
    const what = "xsense: could not read the rooms of a house; its devices keep the rooms they had";
    rateLimitedLog(log).warn("rooms not read", what, { house: houseId, error: (error as Error).message });
    return undefined;
  }
  const { rooms, problems } = parseRooms(reData);
  for (const why of problems) rateLimitedLog(log).warn(why, "xsense: ignoring malformed rooms", { house: houseId });
  return rooms;
}
