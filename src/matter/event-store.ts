// The events a Matter node keeps in memory for controllers that re-subscribe, bounded as configured.
//
// matter.js 0.17.9's in-memory event store (VolatileEventStore) never forgets an event: its delete()
// removes the number from the storage it does not keep events in, not from its own map. The
// OccurrenceManager's culling to its buffer size therefore frees nothing, and every event the node
// ever emitted stays in memory (heap snapshots while smoke alarms toggled, bench/_leak-hunt.ts: one
// BigInt and two object shapes more per event, round after round). This store numbers and reserves
// event numbers as matter.js's does (a block of 1,000 noted in storage, so numbers keep rising across
// restarts) and forgets what it is told to. Written here because the fix belongs in matter.js, which
// we cannot patch in place; drop it once matter.js's delete() forgets.
import { EventsBehavior, InternalError, Logger, ServerNode, StorageManager } from "@matter/main";
import type { StorageContext } from "@matter/main";
import { OccurrenceManager, OccurrenceSummary, VolatileEventStore } from "@matter/main/protocol";
import type { Occurrence } from "@matter/main/protocol";

const logger = Logger.get("ForgettingEventStore");

/** The storage key of the end of the reserved block: matter.js's own (BaseEventStore), kept for its data. */
const LAST_RESERVED_NUMBER_KEY = "lastEventNumber";

export class ForgettingEventStore extends VolatileEventStore {
  readonly #events = new Map<bigint, Occurrence>();
  readonly #blockSize: number;
  #reservedTo: bigint | undefined;
  #reserving: Promise<void> | undefined;

  constructor(storage: StorageContext, blockSize = 1_000) {
    super(storage, blockSize);
    this.#blockSize = blockSize;
  }

  /** Events held now (tests, diagnostics). */
  get size(): number {
    return this.#events.size;
  }

  override async load(): Promise<never[]> {
    const { reservationEnd, eventIds } = await this.loadInitialState();
    // Events a nonvolatile store left behind: this store does not keep events across restarts.
    if (eventIds.length) await this.eventStorage.clearAll();
    this.#reservedTo = reservationEnd;
    this.logLoad("volatile");
    return [];
  }

  override get(number: bigint): Occurrence {
    const event = this.#events.get(number);
    if (event === undefined) throw new InternalError(`Invalid event occurrence #${number}`);
    return event;
  }

  override delete(number: bigint): void {
    this.#events.delete(number);
  }

  override add(occurrence: Occurrence): OccurrenceSummary {
    const number = this.allocateNumber();
    this.#reserveFrom(number);
    this.#events.set(number, occurrence);
    return OccurrenceSummary(number, occurrence);
  }

  /** Once `number` reaches the end of the reserved block, note a new end a block past it, so a restart
   * numbers on above every number handed out (a burst that outruns the write is covered by the next). */
  #reserveFrom(number: bigint): void {
    if (this.#reserving || number < (this.#reservedTo ?? 1n)) return;
    const reserveTo = number + BigInt(this.#blockSize);
    this.#reserving = Promise.resolve(this.storage.set(LAST_RESERVED_NUMBER_KEY, reserveTo)).then(
      () => {
        this.#reservedTo = reserveTo;
        this.#reserving = undefined;
        this.#reserveFrom(this.nextNumber - 1n);
      },
      (error: unknown) => {
        this.#reserving = undefined;
        logger.warn("Could not store the next event number block:", error);
      },
    );
  }

  override async clear(): Promise<void> {
    await this.#settled();
    await super.clear();
    this.#events.clear();
    this.#reservedTo = undefined;
  }

  override async close(): Promise<void> {
    await this.#settled();
  }

  /** Wait for the reservation writes under way (one may start another). */
  async #settled(): Promise<void> {
    while (this.#reserving) await this.#reserving;
  }
}

/** matter.js's EventsBehavior with the store above for its in-memory (default) mode. */
export class BoundedEventsBehavior extends EventsBehavior {
  override async initialize(): Promise<void> {
    if (this.state.nonvolatile) return super.initialize();
    const storage = this.env.get(StorageManager).createContext("events");
    const store = new ForgettingEventStore(storage, this.state.numberBlockSize);
    const events = new OccurrenceManager({ store, bufferConfig: this.state.buffers });
    this.env.set(OccurrenceManager, events);
    await events.construction;
  }
}

/** The root endpoint type of our nodes: matter.js's, with the bounded event store. */
export const RootEndpointWithBoundedEvents = ServerNode.RootEndpoint.with(BoundedEventsBehavior);
