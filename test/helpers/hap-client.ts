// A HomeKit controller for tests, on hap-controller's HttpClient: pairs by address and port (no
// mDNS), keeps the pairing data, lists accessories, finds characteristics by service and
// characteristic type, reads, writes and follows events.
//
// hap-controller 0.10.2 facts this helper hides: it spins at 100% CPU when one client subscribes
// twice (subscribe() is allowed once per HapClient), booleans come back as 1/0, and a failed
// write or read is a `status` in the body rather than an exception.
import { readFileSync } from "node:fs";
import { HttpClient, type PairingData } from "hap-controller";
import { writeFileAtomic } from "../../src/core/storage.ts";

const UUID_SUFFIX = "-0000-1000-8000-0026BB765291";

/** HAP types come as short ("B7") or long UUIDs; compare them in the long, upper-case form. */
export function longUUID(type: string): string {
  const t = type.toUpperCase();
  return /^[0-9A-F]{1,8}$/.test(t) ? `${t.padStart(8, "0")}${UUID_SUFFIX}` : t;
}

const ACCESSORY_INFORMATION = longUUID("3E");
const NAME = longUUID("23");
const SERIAL_NUMBER = longUUID("30");

export interface HapCharacteristic {
  aid: number;
  iid: number;
  /** "aid.iid", the id hap-controller uses. */
  id: string;
  type: string;
  serviceType: string;
  value?: unknown;
  perms: string[];
  minValue?: number;
  maxValue?: number;
  minStep?: number;
  format?: string;
}

export interface HapService {
  iid: number;
  type: string;
  primary: boolean;
  characteristics: HapCharacteristic[];
}

export interface HapAccessory {
  aid: number;
  name: string | undefined;
  serialNumber: string | undefined;
  services: HapService[];
}

/** One characteristic change carried by an event. */
export interface HapEvent {
  aid: number;
  iid: number;
  id: string;
  value: unknown;
}

export interface CharacteristicQuery {
  /** Service type: a UUID (e.g. hap-nodejs `Service.Fanv2.UUID`) or short form ("B7"). */
  service: string;
  characteristic: string;
  /** Which accessory: its aid, name or serial number. Default: the only accessory with that service. */
  accessory?: number | { name: string } | { serial: string };
  /** Service subtype is not on the wire; pick the n-th matching service instead (default 0). */
  index?: number;
}

export class HapError extends Error {
  override name = "HapError";
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

export class HapClient {
  readonly http: HttpClient;
  readonly address: string;
  readonly port: number;
  #accessories: HapAccessory[] | undefined;
  #subscribed = false;
  readonly #queue: HapEvent[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(port: number, pairingData?: PairingData, address = "127.0.0.1") {
    this.address = address;
    this.port = port;
    // The device id is only informational for HttpClient when connecting by address.
    this.http = new HttpClient("hearthbridge-test", address, port, pairingData, { usePersistentConnections: true });
  }

  /** Pair (pair-setup) with the setup code; with `file`, the pairing data is saved there (0600). */
  static async pair(
    port: number,
    pincode: string,
    options: { address?: string; file?: string } = {},
  ): Promise<HapClient> {
    const client = new HapClient(port, undefined, options.address);
    await client.http.pairSetup(pincode);
    if (options.file) client.save(options.file);
    return client;
  }

  /** A client with saved pairing data: every request starts with pair-verify. */
  static load(file: string, port: number, address?: string): HapClient {
    return new HapClient(port, JSON.parse(readFileSync(file, "utf8")) as PairingData, address);
  }

  get pairingData(): PairingData {
    const data = this.http.getLongTermData();
    if (!data) throw new Error("not paired");
    return data;
  }

  save(file: string): void {
    writeFileAtomic(file, JSON.stringify(this.pairingData));
  }

  /** The accessory database (GET /accessories), cached until `refresh`. */
  async accessories(refresh = false): Promise<HapAccessory[]> {
    if (this.#accessories && !refresh) return this.#accessories;
    const { accessories } = await this.http.getAccessories();
    this.#accessories = accessories.map((a) => {
      const services: HapService[] = a.services.map((s) => ({
        iid: s.iid,
        type: longUUID(s.type),
        primary: s.primary === true,
        characteristics: s.characteristics.map((c) => ({
          aid: a.aid,
          iid: c.iid!,
          id: `${a.aid}.${c.iid}`,
          type: longUUID(c.type ?? ""),
          serviceType: longUUID(s.type),
          value: c.value,
          perms: c.perms ?? [],
          minValue: c.minValue,
          maxValue: c.maxValue,
          minStep: c.minStep,
          format: c.format,
        })),
      }));
      const info = services.find((s) => s.type === ACCESSORY_INFORMATION);
      const text = (type: string) => info?.characteristics.find((c) => c.type === type)?.value as string | undefined;
      return { aid: a.aid, name: text(NAME), serialNumber: text(SERIAL_NUMBER), services };
    });
    return this.#accessories;
  }

  async accessory(which: number | { name: string } | { serial: string }): Promise<HapAccessory> {
    const all = await this.accessories();
    const found = all.find((a) =>
      typeof which === "number"
        ? a.aid === which
        : "name" in which
          ? a.name === which.name
          : a.serialNumber === which.serial,
    );
    if (!found)
      throw new Error(
        `no accessory ${JSON.stringify(which)} (have ${all.map((a) => `${a.aid}:${a.name}`).join(", ")})`,
      );
    return found;
  }

  /** Find one characteristic; throws with what exists when it is missing or ambiguous. */
  async find(query: CharacteristicQuery): Promise<HapCharacteristic> {
    const serviceType = longUUID(query.service);
    const type = longUUID(query.characteristic);
    const candidates =
      query.accessory === undefined ? await this.accessories() : [await this.accessory(query.accessory)];
    const services = candidates.flatMap((a) => a.services.filter((s) => s.type === serviceType));
    if (
      query.accessory === undefined &&
      new Set(candidates.filter((a) => a.services.some((s) => s.type === serviceType))).size > 1
    ) {
      throw new Error(`service ${query.service} is on several accessories; say which`);
    }
    const service = services[query.index ?? 0];
    const characteristic = service?.characteristics.find((c) => c.type === type);
    if (!characteristic)
      throw new Error(
        `no characteristic ${query.characteristic} in service ${query.service} (${services.length} such services)`,
      );
    return characteristic;
  }

  /** Read characteristics; a failed read throws a HapError carrying the HAP status (e.g. -70402). */
  async read(...characteristics: HapCharacteristic[]): Promise<unknown[]> {
    const ids = characteristics.map((c) => c.id);
    const response = await this.http.getCharacteristics(ids);
    return ids.map((id) => {
      const got = response.characteristics.find((c) => `${c.aid}.${c.iid}` === id);
      if (!got) throw new Error(`no answer for ${id}`);
      if (got.status) throw new HapError(`read ${id} failed with status ${got.status}`, got.status);
      return got.value;
    });
  }

  /** The HAP status of reading one characteristic (0 = readable). */
  async readStatus(characteristic: HapCharacteristic): Promise<number> {
    try {
      await this.read(characteristic);
      return 0;
    } catch (error) {
      if (error instanceof HapError) return error.status;
      throw error;
    }
  }

  /** Write characteristics in one request; throws a HapError when any of them failed. */
  async write(...writes: [HapCharacteristic, unknown][]): Promise<void> {
    const body = Object.fromEntries(writes.map(([c, value]) => [c.id, value]));
    const response = (await this.http.setCharacteristics(body)) as {
      characteristics?: { aid: number; iid: number; status?: number }[];
    };
    const failed = (response.characteristics ?? []).find((c) => c.status);
    if (failed)
      throw new HapError(`write ${failed.aid}.${failed.iid} failed with status ${failed.status}`, failed.status!);
  }

  /**
   * Subscribe to events, once per client (hap-controller spins when subscribing twice). Without
   * arguments every characteristic that can notify is subscribed.
   */
  async subscribe(characteristics?: HapCharacteristic[]): Promise<void> {
    if (this.#subscribed)
      throw new Error("subscribe() once per HapClient (hap-controller 0.10.2 spins on a second subscribe)");
    this.#subscribed = true;
    const targets =
      characteristics ??
      (await this.accessories()).flatMap((a) =>
        a.services.flatMap((s) => s.characteristics.filter((c) => c.perms.includes("ev"))),
      );
    this.http.on("event", (event: { characteristics?: { aid: number; iid: number; value: unknown }[] }) => {
      for (const c of event.characteristics ?? [])
        this.#queue.push({ aid: c.aid, iid: c.iid, id: `${c.aid}.${c.iid}`, value: c.value });
      for (const wake of [...this.#waiters]) wake();
    });
    await this.http.subscribeCharacteristics(targets.map((c) => c.id));
  }

  /**
   * The first queued or coming event matching `predicate`; it and the events queued before it are
   * consumed. Rejects after `timeoutMs` (Infinity = never) with the events that did arrive.
   */
  waitForEvent(predicate: (event: HapEvent) => boolean, timeoutMs = 5000): Promise<HapEvent> {
    if (!this.#subscribed) throw new Error("subscribe() first");
    return new Promise((resolve, reject) => {
      const seen: HapEvent[] = [];
      const check = (): boolean => {
        while (this.#queue.length) {
          const event = this.#queue.shift()!;
          seen.push(event);
          if (predicate(event)) {
            resolve(event);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      const wake = () => {
        if (check()) done();
      };
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            done();
            reject(new Error(`no matching HAP event within ${timeoutMs} ms; got ${JSON.stringify(seen)}`));
          }, timeoutMs)
        : undefined;
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      this.#waiters.add(wake);
    });
  }

  /** Wait for an event on one characteristic, optionally with a given value. */
  waitForValue(characteristic: HapCharacteristic, value?: unknown, timeoutMs?: number): Promise<HapEvent> {
    return this.waitForEvent(
      (e) => e.id === characteristic.id && (value === undefined || e.value === value),
      timeoutMs,
    );
  }

  /** Every event from now on, in order (consumes them like waitForEvent). */
  async *events(): AsyncGenerator<HapEvent> {
    for (;;) yield await this.waitForEvent(() => true, Infinity);
  }

  async close(): Promise<void> {
    this.#waiters.clear();
    await this.http.close();
  }
}
