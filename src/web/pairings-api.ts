// The page's "Pairings" section: which HomeKit controllers hold a pairing with each bridge and
// standalone camera, which Matter fabrics (ecosystems) hold the bridge, and removing one of them or
// all of an ecosystem without a restart. The hosts do the removal their libraries' own way
// (src/homekit/pairings.ts, src/matter/fabrics.ts); this module checks the requests and words answers.
import { z } from "zod";
import type { Logger } from "../core/logger.ts";
import type { HomeKitHost } from "../homekit/host.ts";
import type { MatterHost } from "../matter/host.ts";
import { RequestError } from "./request-error.ts";

export type HomeKitPairingAdmin = Pick<HomeKitHost, "pairings" | "removePairing" | "resetPairings">;
export type MatterFabricAdmin = Pick<MatterHost, "fabrics" | "removeFabric" | "resetFabrics" | "running">;

export interface PairingsView {
  /** Absent: HomeKit is off. Controllers are named by their pairing id: HAP carries no names. */
  homekit?: { target: string; name: string; controllers: { id: string; admin: boolean }[] }[];
  matter?: { running: boolean; fabrics: { fabricIndex: number; label: string; vendorId: number; vendor: string }[] };
}

const HOMEKIT_REMOVE = z.strictObject({ target: z.string().min(1).max(300), controller: z.string().min(1).max(64) });
const MATTER_REMOVE = z.strictObject({ fabricIndex: z.number().int().min(1).max(254) });
/** Resetting an ecosystem asks for a word, not a flag: a slip of a script cannot do it. */
const RESET = z.strictObject({ confirm: z.literal("reset") });

export const PAIRING_ACTION = /^\/api\/pairings\/(homekit|matter)\/(remove|reset)$/;

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
  throw new RequestError(400, `bad request: ${where}${issue?.message ?? "invalid"}`);
}

export class PairingsApi {
  readonly #homekit: HomeKitPairingAdmin | undefined;
  readonly #matter: MatterFabricAdmin | undefined;
  readonly #log: Logger;

  constructor(sources: { homekit?: unknown; matter?: unknown }, log: Logger) {
    // The hosts in the bridge have these methods; a test's stand-in host may not (then: not offered).
    const has = (o: unknown, ...keys: string[]) =>
      typeof o === "object" && o !== null && keys.every((k) => typeof (o as Record<string, unknown>)[k] === "function");
    this.#homekit = has(sources.homekit, "pairings", "removePairing", "resetPairings")
      ? (sources.homekit as HomeKitPairingAdmin)
      : undefined;
    this.#matter = has(sources.matter, "fabrics", "removeFabric", "resetFabrics")
      ? (sources.matter as MatterFabricAdmin)
      : undefined;
    this.#log = log;
  }

  view(): PairingsView {
    const view: PairingsView = {};
    if (this.#homekit) view.homekit = this.#homekit.pairings();
    if (this.#matter) view.matter = { running: this.#matter.running, fabrics: this.#matter.fabrics() };
    return view;
  }

  /** POST /api/pairings/<ecosystem>/<remove|reset> with its JSON body; answers the new view. */
  async act(ecosystem: string, action: string, body: unknown, client: string): Promise<PairingsView> {
    if (ecosystem === "homekit") {
      const homekit = this.#homekit;
      if (!homekit) throw new RequestError(404, "HomeKit is not running on this bridge");
      if (action === "reset") {
        parse(RESET, body);
        const removed = await this.#attempt(() => homekit.resetPairings());
        this.#log.warn({ client, removed }, `web page: HomeKit reset from ${client} (${removed} pairing(s) removed)`);
      } else {
        const { target, controller } = parse(HOMEKIT_REMOVE, body);
        const known = homekit.pairings().find((t) => t.target === target);
        if (!known) throw new RequestError(404, "no such HomeKit bridge or camera");
        if (!known.controllers.some((c) => c.id === controller))
          throw new RequestError(404, "no such controller (already removed?)");
        await this.#attempt(() => homekit.removePairing(target, controller));
        this.#log.warn({ client, target, controller }, `web page: HomeKit pairing removed from ${client}`);
      }
    } else {
      const matter = this.#matter;
      if (!matter) throw new RequestError(404, "Matter is not running on this bridge");
      if (!matter.running) throw new RequestError(409, "the Matter bridge is not running yet");
      if (action === "reset") {
        parse(RESET, body);
        const removed = await this.#attempt(() => matter.resetFabrics());
        this.#log.warn({ client, removed }, `web page: Matter reset from ${client} (${removed} fabric(s) removed)`);
      } else {
        const { fabricIndex } = parse(MATTER_REMOVE, body);
        if (!matter.fabrics().some((f) => f.fabricIndex === fabricIndex))
          throw new RequestError(404, "no such fabric (already removed?)");
        await this.#attempt(() => matter.removeFabric(fabricIndex));
        this.#log.warn({ client, fabricIndex }, `web page: Matter fabric ${fabricIndex} removed from ${client}`);
      }
    }
    return this.view();
  }

  async #attempt<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new RequestError(409, (error as Error).message);
    }
  }
}
