// The simulated AWS IoT MQTT broker (docs/protocols/xsense.md §4): aedes over WebSocket at /mqtt, each
// upgrade verified as a presigned SigV4 URL (refused with HTTP 403, or at CONNECT when
// options.mqttRefusal is "connack"), a per-client subscription quota, and the shadow updates published
// as AWS IoT publishes them.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { Aedes, type Client as AedesClient } from "aedes";
import { WebSocketServer, createWebSocketStream, type WebSocket } from "ws";
import { canonicalRequest, EMPTY_SHA256, signature as sigV4 } from "../../src/drivers/xsense/sigv4.ts";
import { amzDateMs, type Fields, regionsOf, type SimShared, type Verdict } from "./model.ts";
import { safeEqual } from "./srp.ts";

export class SimMqtt {
  readonly #st: SimShared;
  readonly #wss: WebSocketServer;
  #broker: Aedes | undefined;
  readonly #verdicts = new WeakMap<Duplex, Verdict>();
  readonly #subscriptions = new Map<string, number>();
  readonly #pendingWs = new Set<{ ws: WebSocket; stream: Duplex }>();

  constructor(shared: SimShared) {
    this.#st = shared;
    this.#wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : false),
    });
  }

  async start(): Promise<void> {
    this.#broker = await Aedes.createBroker({
      authenticate: (client, _username, _password, done) => {
        const verdict = this.#verdicts.get(client.conn as Duplex);
        if (verdict?.ok) return done(null, true);
        const error = Object.assign(new Error(`not authorized: ${verdict?.reason ?? "no presigned URL"}`), {
          returnCode: 5 as const,
        });
        this.#st.sim.emit("mqttRejected", {
          reason: verdict?.reason ?? "no presigned URL",
          accessKeyId: verdict?.accessKeyId ?? "",
          region: verdict?.region ?? "",
        });
        done(error, false);
      },
      authorizeSubscribe: (client, sub, done) => {
        const count = (this.#subscriptions.get(client.id) ?? 0) + 1;
        if (count > (this.#st.sim.options.subscriptionQuota ?? 50)) {
          // "Quota exceeded": the subscription is negated (SUBACK 0x80).
          this.#st.sim.emit("quotaExceeded", { clientId: client.id, topic: sub.topic });
          return done(null, null);
        }
        this.#subscriptions.set(client.id, count);
        done(null, sub);
      },
    });
    this.#broker.on("client", (client: AedesClient) => {
      const verdict = this.#verdicts.get(client.conn as Duplex);
      const ws = [...this.#pendingWs].find((p) => p.stream === client.conn);
      if (ws) {
        this.#pendingWs.delete(ws);
        this.#st.sockets.set(client.id, { ws: ws.ws, accessKeyId: verdict?.accessKeyId ?? "" });
      }
      this.#st.sim.emit("mqttConnected", { clientId: client.id, accessKeyId: verdict?.accessKeyId ?? "" });
    });
    this.#broker.on("clientDisconnect", (client: AedesClient) => {
      this.#st.sockets.delete(client.id);
      this.#subscriptions.delete(client.id);
      this.#st.sim.emit("mqttClosed", { clientId: client.id });
    });
    this.#broker.on("subscribe", (subs, client) =>
      this.#st.sim.emit("subscribed", { clientId: client.id, topics: subs.map((s) => s.topic) }),
    );
  }

  /** An HTTP upgrade on the simulator's server: /mqtt with a good presigned URL becomes an MQTT session. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node's HTTP server drops its error listener from an upgrade's socket: a client that resets the
    // connection after a refusal (ECONNRESET) would otherwise be thrown from the event loop.
    socket.on("error", () => undefined);
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== "/mqtt" || !this.#st.sim.mqttAvailable) {
      this.#st.sim.emit("mqttUnavailable", { at: Date.now() });
      socket.end("HTTP/1.1 503 Service Unavailable\r\n\r\n");
      return;
    }
    const verdict = this.#verifyPresigned(req);
    if (this.#st.refuseUpgrades > 0) {
      this.#st.refuseUpgrades--;
      Object.assign(verdict, { ok: false, reason: "refused by fault hook" });
    }
    if (!verdict.ok && this.#st.sim.options.mqttRefusal !== "connack") {
      // AWS IoT refuses a presigned upgrade with bad, expired or revoked credentials before any MQTT.
      this.#st.sim.emit("mqttRejected", {
        reason: verdict.reason,
        accessKeyId: verdict.accessKeyId,
        region: verdict.region,
        status: 403,
      });
      const body = JSON.stringify({ message: "Forbidden", traceId: randomUUID() });
      socket.end(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n" +
          `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#socket(ws, req, verdict));
  }

  /** Ends every session and closes the broker. */
  async stop(): Promise<void> {
    for (const { ws } of this.#st.sockets.values()) ws.terminate();
    for (const p of this.#pendingWs) p.ws.terminate();
    this.#wss.close();
    if (this.#broker) await new Promise<void>((resolve) => this.#broker!.close(() => resolve()));
  }

  #socket(ws: WebSocket, req: IncomingMessage, verdict: Verdict): void {
    const stream = createWebSocketStream(ws);
    stream.on("error", () => undefined);
    this.#verdicts.set(stream, verdict);
    this.#pendingWs.add({ ws, stream });
    ws.on("close", () => {
      for (const p of this.#pendingWs) if (p.ws === ws) this.#pendingWs.delete(p);
    });
    this.#broker!.handle(stream, req);
  }

  #verifyPresigned(req: IncomingMessage): Verdict {
    const raw = req.url ?? "";
    const url = new URL(raw, "http://x");
    const q = url.searchParams;
    const scope = /^[^/]+\/\d{8}\/([^/]+)\//.exec(q.get("X-Amz-Credential") ?? "");
    const no = (reason: string, accessKeyId = ""): Verdict => ({
      ok: false,
      reason,
      accessKeyId,
      region: scope?.[1] ?? "",
    });
    if (q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") return no("algorithm");
    const credential = q.get("X-Amz-Credential") ?? "";
    const cm = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(credential);
    if (!cm) return no("credential");
    const [, akid, day, region, service] = cm as unknown as [string, string, string, string, string];
    const creds = this.#st.creds.get(akid);
    if (!creds) return no("unknown access key", akid);
    if (creds.revoked) return no("credentials revoked", akid);
    if (creds.expiresAt <= Date.now()) return no("credentials expired", akid);
    if (service !== "iotdata" || !regionsOf(this.#st.sim.houses).has(region)) return no("scope", akid);
    if (q.get("X-Amz-SignedHeaders") !== "host") return no("signed headers", akid);
    const when = q.get("X-Amz-Date") ?? "";
    if (!/^\d{8}T\d{6}Z$/.test(when) || when.slice(0, 8) !== day) return no("date", akid);
    const t = amzDateMs(when);
    const age = this.#st.now() - t;
    if (
      age > (this.#st.sim.options.urlMaxAgeS ?? 300) * 1000 ||
      age < -(this.#st.sim.options.clockToleranceS ?? 300) * 1000
    )
      return no("URL too old or from the future", akid);
    if (q.get("X-Amz-Security-Token") !== creds.sessionToken) return no("security token", akid);
    // The token and the signature are outside the signed query.
    const signedQuery: Array<[string, string]> = [...q.entries()].filter(
      ([k]) => k !== "X-Amz-Security-Token" && k !== "X-Amz-Signature",
    );
    const canonical = canonicalRequest({
      method: "GET",
      path: url.pathname,
      query: signedQuery,
      headers: { host: String(req.headers.host ?? "") },
      signedHeaders: ["host"],
      payloadHash: EMPTY_SHA256,
    });
    const expected = sigV4(creds.secretAccessKey, when, region, service, canonical);
    this.#st.secrets.add(q.get("X-Amz-Signature") ?? "");
    if (!safeEqual(expected, q.get("X-Amz-Signature") ?? "")) return no("signature", akid);
    return { ok: true, reason: "", accessKeyId: akid, region };
  }

  /** Publish a raw payload (string or object) on a topic. */
  publishRaw(topic: string, payload: string | object): void {
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    this.#broker?.publish(
      { cmd: "publish", topic, payload: Buffer.from(text), qos: 0, dup: false, retain: false },
      () => undefined,
    );
    this.#st.sim.emit("published", { topic, payload: text });
  }

  /** A shadow update as AWS IoT sends it: `/update`, then the `/update/accepted` and `/update/documents` duplicates. */
  publishShadow(thing: string, name: string, reported: Fields): void {
    const base = `$aws/things/${thing}/shadow/name/${name}/update`;
    this.publishRaw(base, { state: { reported } });
    this.publishRaw(`${base}/accepted`, {
      state: { reported },
      metadata: {},
      version: 9,
      timestamp: Math.floor(Date.now() / 1000),
    });
    this.publishRaw(`${base}/documents`, { previous: null, current: { state: { reported } } });
  }
}
