// When HomeKit hears of a change. HAP-NodeJS queues each characteristic's event per connection and writes
// the queue from a timer (EVENT_COALESCING_DELAY, 250 ms by default). The host sets that delay to 0 and,
// once a device's whole patch is applied, writes the queues itself: the patch's changes go out in one
// EVENT message at once, not after whatever else the same turn of the event loop holds. With the timer
// alone, the Matter host's work for the same patch ran first (about 2 ms: README, "Household").
import { type Accessory, HAPConnection } from "@homebridge/hap-nodejs";

/** The parts of HAP-NodeJS used here: runtime fields its typings declare private. */
interface HapServerInternals {
  _server?: { httpServer?: { connections?: Set<{ writeQueuedEventNotifications?: () => void }> } };
  bridge?: HapServerInternals;
}

/** Alarms must not wait 250 ms: the timer only delivers what a flush below could not (a connection busy
 * with a request; HAP-NodeJS writes its queue when that request is answered). */
export function disableEventCoalescing(): void {
  // Declared `static readonly` in the typings, a plain writable static at runtime.
  (HAPConnection as unknown as { EVENT_COALESCING_DELAY: number }).EVENT_COALESCING_DELAY = 0;
}

/** Write the queued events of every connection of the server that publishes `accessory` (its bridge's,
 * or its own for a camera published on its own). Optional calls: a HAP-NodeJS without these internals
 * falls back to its timer instead of throwing into the registry's listener (host.test.ts would notice). */
export function flushEvents(accessory: Accessory): void {
  const own = accessory as unknown as HapServerInternals;
  const server = own.bridge?._server ?? own._server;
  for (const connection of server?.httpServer?.connections ?? []) connection.writeQueuedEventNotifications?.();
}
