// Named AWS IoT shadows over HTTPS (SigV4, service `iotdata`; docs/protocols/xsense.md §4.3): the state
// read at start-up and after a reconnect, and the desired-state writes that carry commands. A refused
// signature is either our clock (compensated from the server's Date) or dead credentials (renewed).
import type { DriverRuntime } from "../../core/driver-runtime.ts";
import { readBodyCapped } from "../../core/http.ts";
import type { Logger } from "../../core/logger.ts";
import { requestSignal } from "../../core/timing.ts";
import type { XSenseCredentials } from "./credentials.ts";
import { isObject, type Fields } from "./parse.ts";
import { signRequest } from "./sigv4.ts";

export const DEFAULT_IOT_DATA = "https://{region}.x-sense-iot.com";
export const SHADOW_USER_AGENT = "aws-sdk-iOS/2.26.5 iOS/17.3 nl_NL";

/** Where a house's things live. */
export interface House {
  id: string;
  name: string;
  region: string;
  server: string;
}

export interface ShadowOptions {
  credentials: XSenseCredentials;
  rt: DriverRuntime;
  log: Logger;
  /** Shadow REST base; `{region}` is replaced by the house's region. */
  iotData: string | undefined;
  httpMs: number;
}

export class ShadowClient {
  readonly #o: ShadowOptions;
  /** The AWS host's clock minus ours, learnt from a refused signature. */
  #skewMs = 0;

  constructor(options: ShadowOptions) {
    this.#o = options;
  }

  /** Our clock corrected by the skew learnt from AWS (for signing and presigning). */
  now(): Date {
    return new Date(Date.now() + this.#skewMs);
  }

  #base(house: House): string {
    return (this.#o.iotData ?? DEFAULT_IOT_DATA).replace(/\/+$/, "").replaceAll("{region}", house.region);
  }

  /** GET (body undefined) or POST a named shadow. Resolves with the document, or undefined on 404. */
  async shadow(
    house: House,
    thing: string,
    name: string,
    body?: unknown,
    retried = false,
  ): Promise<Fields | undefined> {
    const { credentials, log } = this.#o;
    await credentials.ensure();
    const creds = credentials.current!;
    const path = `/things/${encodeURIComponent(thing)}/shadow?name=${encodeURIComponent(name)}`;
    const url = new URL(`${this.#base(house)}${path}`);
    const text = body === undefined ? "" : JSON.stringify(body); // sign and send the identical string
    const method = body === undefined ? "GET" : "POST";
    const headers = signRequest({
      method,
      url,
      headers: { "content-type": "application/x-amz-json-1.0", "user-agent": SHADOW_USER_AGENT },
      body: text,
      region: house.region,
      credentials: creds,
      now: this.now(),
    });
    delete headers.host; // fetch sends the same host itself
    const request = requestSignal(this.#o.httpMs, this.#o.rt.signal);
    let response: Response;
    let answer: string;
    try {
      const payload = method === "POST" ? { body: text } : {};
      response = await fetch(url, { method, headers, ...payload, signal: request.signal });
      answer = await readBodyCapped(response);
    } finally {
      request.dispose();
    }
    if (response.status === 404) {
      log.debug({ thing, shadow: name }, `xsense: ${answer.slice(0, 200)}`);
      return undefined;
    }
    if ((response.status === 401 || response.status === 403) && !retried) {
      const date = Date.parse(response.headers.get("date") ?? "");
      const skew = Number.isNaN(date) ? 0 : date - Date.now();
      if (Math.abs(skew - this.#skewMs) > 60_000) {
        this.#skewMs = skew;
        const skewS = Math.round(skew / 1000);
        const what = "xsense: the shadow host refused the signature and its clock differs from ours; compensating";
        log.warn({ skewS }, what);
      } else {
        log.info(`xsense: the shadow host answered HTTP ${response.status}; fetching new AWS credentials`);
        await credentials.ensure(true);
      }
      return this.shadow(house, thing, name, body, true);
    }
    if (response.status >= 400) {
      throw new Error(`shadow ${thing}~${name}: HTTP ${response.status} ${answer.slice(0, 200)}`);
    }
    try {
      const doc = JSON.parse(answer) as unknown;
      return isObject(doc) ? doc : {};
    } catch {
      return {};
    }
  }

  /** The `state.reported` of a shadow; undefined when it is missing or could not be read (logged). */
  async reported(house: House, thing: string, name: string): Promise<Fields | undefined> {
    try {
      const doc = await this.shadow(house, thing, name);
      const state = doc?.state;
      if (!isObject(state)) return undefined;
      return isObject(state.reported) ? state.reported : undefined;
    } catch (error) {
      if (this.#o.rt.stopping) return undefined;
      this.#o.log.warn(`xsense: reading shadow ${thing}~${name} failed: ${(error as Error).message}`);
      return undefined;
    }
  }
}
