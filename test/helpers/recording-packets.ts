// Reading a recording clip as HAP-NodeJS does, shared by the recording tests.
import type { RecordingPacket } from "../../src/core/camera.ts";
import type { RecordingClip } from "../../src/media/recording.ts";

/** Read as HAP-NodeJS does: stop at the packet flagged last (the generator is not resumed after it). */
export async function collect(clip: RecordingClip): Promise<RecordingPacket[]> {
  const packets: RecordingPacket[] = [];
  for await (const packet of clip.packets()) {
    packets.push(packet);
    if (packet.last) break;
  }
  return packets;
}
