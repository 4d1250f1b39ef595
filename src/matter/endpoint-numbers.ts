// The Matter endpoint number of every bridged endpoint id the bridge ever showed, kept in
// <dataDir>/matter-endpoints.json. Controllers key rooms and automations on endpoint numbers, so a
// device keeps its number when its endpoints are rebuilt (its capabilities changed) and when it comes
// back after its account was removed. matter.js 0.17.9 keeps a number only as long as the endpoint's
// store lives: `Endpoint.delete()` erases that store, and the next add under the same id gets a new
// number from its counter. So the host remembers the numbers itself and passes them as `number` when it
// builds the endpoints again (README "Pairing").
import { join } from "node:path";
import type { Endpoint } from "@matter/main";
import type { Logger } from "../core/logger.ts";
import { readJson, removeStaleTemps, writeFileAtomic } from "../core/storage.ts";

export const ENDPOINT_NUMBERS_FILE = "matter-endpoints.json";

/** Endpoint numbers a bridged endpoint may have (0 is the root; 0xFFFF is reserved). */
function isEndpointNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 0xfffe;
}

export class EndpointNumbers {
  readonly #path: string;
  readonly #log: Logger;
  readonly #numbers = new Map<string, number>();
  #dirty = false;

  /** A missing or unreadable file starts an empty map (a warning): it only costs numbers, never a pairing. */
  constructor(dataDir: string, log: Logger) {
    this.#path = join(dataDir, ENDPOINT_NUMBERS_FILE);
    this.#log = log;
    removeStaleTemps(this.#path);
    let stored: unknown;
    try {
      stored = readJson<unknown>(this.#path);
    } catch (error) {
      log.warn({ err: error }, `${this.#path} is not valid JSON; Matter endpoint numbers start afresh`);
    }
    const numbers = (stored as { numbers?: unknown } | undefined)?.numbers;
    if (numbers && typeof numbers === "object") {
      for (const [id, n] of Object.entries(numbers)) if (isEndpointNumber(n)) this.#numbers.set(id, n);
    }
  }

  get(endpointId: string): number | undefined {
    return this.#numbers.get(endpointId);
  }

  /** Record the numbers matter.js gave an installed endpoint and its descendants (written once changed). */
  remember(root: Endpoint, options: { save: boolean } = { save: true }): void {
    const visit = (endpoint: Endpoint) => {
      if (endpoint.lifecycle.hasId && endpoint.lifecycle.hasNumber) {
        if (this.#numbers.get(endpoint.id) !== endpoint.number) this.#dirty = true;
        this.#numbers.set(endpoint.id, endpoint.number);
      }
      for (const part of endpoint.parts) visit(part);
    };
    visit(root);
    if (options.save) this.save();
  }

  /** Write what changed since the last save. The host saves once after building every device at start:
   * each write is fsync-ed, and one per device cost a first start seconds on an SD card. */
  save(): void {
    if (!this.#dirty) return;
    try {
      writeFileAtomic(this.#path, JSON.stringify({ numbers: Object.fromEntries(this.#numbers) }, null, 2));
      this.#dirty = false;
    } catch (error) {
      // The endpoint is up; only a later rebuild after a restart could miss its number.
      this.#log.warn({ err: error }, `could not save Matter endpoint numbers to ${this.#path}`);
    }
  }
}

/** Every endpoint number in use on a node now (pinning one of these would be refused by matter.js). */
export function numbersInUse(root: Endpoint): Set<number> {
  const used = new Set<number>();
  const visit = (endpoint: Endpoint) => {
    if (endpoint.lifecycle.hasNumber) used.add(endpoint.number);
    for (const part of endpoint.parts) visit(part);
  };
  visit(root);
  return used;
}
