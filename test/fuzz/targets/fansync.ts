// FanSync through the real driver: a small hostile cloud on 127.0.0.1 logs the driver in, then sends
// fuzzed device_change pushes, fuzzed answers to the driver's own `get` polls and `set` writes, raw
// garbage, and now and then drops the socket so the re-sync reads a fuzzed lst_device and `get`.
// The simulator is not used: it answers every request correctly, and the point here is a cloud that does not.
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { createLogger } from "../../../src/core/logger.ts";
import { deviceId, type Command } from "../../../src/core/model.ts";
import { JsonStore } from "../../../src/core/storage.ts";
import { FanSyncDriver } from "../../../src/drivers/fansync/index.ts";
import { PROFILES } from "../../../sim/fansync/profiles.ts";
import { CheckingSink, CountingLog } from "../checks.ts";
import { hostileJson, mutatedText, mutatedValue, nastyScalar } from "../mutate.ts";
import { FuzzFailure, type FuzzTarget } from "../runner.ts";

const DEVICES = [PROFILES.continuous, PROFILES.kute60, PROFILES.cct].map((p, i) => ({
  vid: `fuzzdev${i}0000000000`,
  ...p,
}));
const VIDS = DEVICES.map((d) => d.vid);

const register = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("H00", "H01", "H02", "H04", "H05", "H06", "H0B", "H0C", "H0D", "H0E") },
  { weight: 1, arbitrary: fc.constantFrom("H99", "h00", "__proto__", "constructor", "toString", "") },
);
const regValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 20, 50, 86, 100, 3000, 4000, 5000, 250, 269) },
  { weight: 2, arbitrary: fc.constantFrom(-1, 101, 255, 1000, 65535, 2 ** 31, -(2 ** 31), 2 ** 53, 1e21) },
  { weight: 1, arbitrary: nastyScalar },
);
const registers = fc.dictionary(register, regValue, { maxKeys: 6 });
const vid = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...VIDS) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 6 }), nastyScalar) },
);

const pushFrame = fc.oneof(
  fc.record({
    event: fc.constant("device_change"),
    data: fc.record({ device: vid, changes: fc.record({ status: registers }) }),
  }),
  fc.record({ data: fc.record({ device: vid, status: registers }) }),
);
const getData = fc.record(
  {
    status: registers,
    profile: fc.record({
      esh: fc.record({ model: fc.constantFrom(...DEVICES.map((d) => d.model), "Kute60-X", "", "FanSync-UAR1L2") }),
      module: fc.record({ firmware_version: fc.constantFrom("1.0", "") }),
    }),
    connected: fc.constantFrom(0, 1, 2, "1", null),
    device: vid,
  },
  { requiredKeys: ["status"] },
);
const listData = fc.array(
  fc.record(
    {
      device: vid,
      properties: fc.record(
        {
          displayName: fc.constantFrom("Porch", "", "   ", "\u0000"),
          hideFanDirection: fc.boolean(),
          hideLightDimmer: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["device"] },
  ),
  { maxLength: 4 },
);
const status = fc.oneof(
  { weight: 8, arbitrary: fc.constant("ok") },
  { weight: 1, arbitrary: fc.constant("error") },
  { weight: 1, arbitrary: nastyScalar },
);

/** An answer frame: the right id (filled in when sent) or another, a status, fuzzed data. */
const answer = (data: fc.Arbitrary<unknown>) =>
  fc.record(
    {
      useId: fc.boolean().map((b) => b || undefined),
      otherId: fc.oneof(fc.nat(2000), nastyScalar),
      status,
      data: mutatedValue(data),
    },
    { requiredKeys: ["status", "data", "otherId"] },
  );

type Answer = { useId?: true | undefined; otherId: unknown; status: unknown; data: unknown };

type Input =
  | { kind: "text"; text: string; binary: boolean }
  | { kind: "getAnswer"; answer: Answer }
  | { kind: "setAnswer"; first: Answer; second: Answer | undefined }
  | { kind: "command"; device: number; command: Command }
  | { kind: "resync"; list: Answer; gets: Answer[] };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    fan: fc.record(
      {
        on: fc.boolean(),
        speed: fc.integer({ min: -10, max: 120 }),
        direction: fc.constantFrom("forward" as const, "reverse" as const),
        breeze: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
  }),
  fc.record({
    light: fc.record(
      {
        on: fc.boolean(),
        brightness: fc.integer({ min: -5, max: 105 }),
        colorTemperatureK: fc.integer({ min: 1000, max: 9000 }),
      },
      { requiredKeys: [] },
    ),
  }),
  fc.record({ switches: fc.record({ homeAway: fc.boolean() }) }),
);

const input: fc.Arbitrary<Input> = fc.oneof(
  {
    weight: 120,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 3, arbitrary: mutatedValue(pushFrame).map((v) => JSON.stringify(v) ?? "") },
          { weight: 2, arbitrary: mutatedText(pushFrame.map((v) => JSON.stringify(v))) },
          { weight: 1, arbitrary: hostileJson.map((v) => JSON.stringify(v) ?? "") },
          { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
        ),
        fc.boolean(),
      )
      .map(([text, b]): Input => ({ kind: "text", text, binary: b && text.length % 7 === 0 })),
  },
  { weight: 48, arbitrary: answer(getData).map((a): Input => ({ kind: "getAnswer", answer: a })) },
  {
    weight: 16,
    arbitrary: fc
      .tuple(answer(fc.constant(undefined)), fc.option(answer(fc.constant(undefined)), { nil: undefined }))
      .map(([first, second]): Input => ({ kind: "setAnswer", first, second })),
  },
  {
    weight: 16,
    arbitrary: fc
      .tuple(fc.nat(DEVICES.length - 1), command)
      .map(([device, c]): Input => ({ kind: "command", device, command: c })),
  },
  // Rare: a re-sync costs a reconnection (and up to getMs when the fuzzed answer is never valid).
  {
    weight: 1,
    arbitrary: fc
      .tuple(answer(listData), fc.array(answer(getData), { maxLength: 4 }))
      .map(([list, gets]): Input => ({ kind: "resync", list, gets })),
  },
);

/** The cloud: logs in any token, answers lst_device and the sync `get`s (or plays fuzzed answers for a
 * re-sync), and holds later `get`s and every `set` for the fuzz inputs to answer. */
class HostileCloud {
  readonly wss: WebSocketServer;
  ws: WebSocket | undefined;
  heldGets: number[] = [];
  heldSets: number[] = [];
  nextSync: { list: Answer; gets: Answer[] } | undefined;
  #syncGets = 0;
  #fuzzGets: Answer[] = [];
  logins = 0;

  constructor() {
    this.wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    this.wss.on("connection", (ws) => {
      ws.on("message", (data: RawData) => this.#message(ws, data));
      ws.on("error", () => undefined);
    });
  }

  async url(): Promise<string> {
    if (!this.wss.address()) await new Promise((resolve) => this.wss.once("listening", resolve));
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/phone`;
  }

  send(frame: unknown): void {
    this.ws?.send(JSON.stringify(frame));
  }

  answer(id: number | undefined, a: Answer, response: string): void {
    this.send({ id: a.useId && id !== undefined ? id : a.otherId, status: a.status, response, data: a.data });
  }

  #message(ws: WebSocket, data: RawData): void {
    let frame: { id?: number; request?: string; device?: string };
    try {
      frame = JSON.parse(String(data)) as typeof frame;
    } catch {
      return;
    }
    const reply = (extra: Record<string, unknown>): void =>
      void ws.send(JSON.stringify({ id: frame.id, status: "ok", response: frame.request, ...extra }));
    switch (frame.request) {
      case "login":
        this.ws = ws;
        this.heldGets = [];
        this.heldSets = [];
        this.logins++;
        return reply({});
      case "lst_device": {
        const fuzz = this.nextSync;
        this.nextSync = undefined;
        this.#syncGets = DEVICES.length;
        this.#fuzzGets = [];
        if (fuzz) {
          // One fuzzed answer for the list; the gets that follow take the fuzzed answers in turn.
          this.#fuzzGets = fuzz.gets;
          return this.answer(frame.id, { ...fuzz.list, useId: true }, "lst_device");
        }
        return reply({
          data: DEVICES.map((d) => ({
            device: d.vid,
            role: "owner",
            properties: { ...d.properties, displayName: d.displayName },
          })),
        });
      }
      case "get": {
        const fuzzed = this.#fuzzGets.shift();
        if (fuzzed) {
          this.#syncGets--;
          return this.answer(frame.id, { ...fuzzed, useId: true }, "get");
        }
        if (this.#syncGets > 0) {
          this.#syncGets--;
          const dev = DEVICES.find((d) => d.vid === frame.device);
          if (!dev) return reply({ status: "error" });
          return reply({
            data: {
              status: { ...dev.status },
              profile: { esh: { model: dev.model }, module: { firmware_version: dev.firmware } },
              connected: 1,
            },
          });
        }
        if (typeof frame.id === "number") this.heldGets.push(frame.id);
        return;
      }
      case "set":
        if (typeof frame.id === "number") this.heldSets.push(frame.id);
        return;
      default:
        return reply({ status: "error" });
    }
  }

  /** Resolve once the client answered a ping sent after everything before it: every frame sent so far was handled. */
  drain(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState !== ws.OPEN) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        ws.off("pong", done);
        ws.off("close", done);
        resolve();
      };
      ws.on("pong", done);
      ws.on("close", done);
      ws.ping();
    });
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
  }
}

export const fansyncFrames: FuzzTarget = {
  name: "fansync-frames",
  covers:
    "FanSyncDriver + FanSyncSocket frame handling: pushes, " +
    "answers to get/set, lst_device re-syncs, garbage; from a hostile cloud",
  batch: 200,
  rejectMessages: ["fansync: ignoring a malformed frame", "fansync: get failed during sync"],
  async open() {
    const cloud = new HostileCloud();
    const url = await cloud.url();
    const logs = new CountingLog();
    const log = createLogger("debug", { json: true, destination: logs });
    const dir = mkdtempSync(join(tmpdir(), "hb-fuzz-fansync-"));
    const store = new JsonStore(join(dir, "fansync.json"));
    store.set("token", "fuzz-session-token");
    const sink = new CheckingSink();
    const driver = new FanSyncDriver({
      accountName: "fuzz",
      email: "fuzz@example.invalid",
      password: "fuzz-password",
      endpoints: { api: "http://127.0.0.1:9/api", websocket: url },
      log,
      validateTokenOnReconnect: false,
      timeouts: { loginMs: 1000, ackMs: 50, getMs: 300, httpMs: 500, pushGraceMs: 50 },
      pollIntervalMs: 1,
      pingIntervalMs: 60_000,
      backoff: { minMs: 1, maxMs: 5 },
    });
    await driver.start({ sink, log, store });
    if (sink.link !== "connected") throw new Error(`the FanSync driver did not connect (${sink.link})`);
    const commands = new Set<Promise<void>>();
    return {
      input,
      async run(inputs) {
        let linkSeen = sink.linkHistory.length;
        for (const i of inputs as Input[]) {
          switch (i.kind) {
            case "text":
              cloud.ws?.send(i.binary ? Buffer.from(i.text) : i.text, { binary: i.binary });
              break;
            case "getAnswer":
              cloud.answer(cloud.heldGets.shift(), i.answer, "get");
              break;
            case "setAnswer": {
              const id = cloud.heldSets.shift();
              cloud.answer(id, i.first, "set");
              if (i.second) cloud.answer(id, i.second, "set");
              break;
            }
            case "command": {
              const p = driver.command(deviceId("fansync", VIDS[i.device]!), i.command).catch(() => undefined);
              commands.add(p);
              void p.then(() => commands.delete(p));
              break;
            }
            case "resync": {
              await cloud.drain();
              cloud.nextSync = { list: i.list, gets: [...i.gets] };
              const logins = cloud.logins;
              cloud.ws?.terminate();
              // The driver reconnects on its own; a fuzzed sync that fails is retried with a normal one.
              await sink.until(() => cloud.logins > logins && sink.link === "connected", 10_000, "the re-sync");
              cloud.nextSync = undefined;
              linkSeen = sink.linkHistory.length;
              break;
            }
          }
        }
        await cloud.drain();
        const violations = sink.violations.splice(0);
        if (violations.length) throw new FuzzFailure(violations.join("; "));
        const dropped = sink.linkHistory.slice(linkSeen).filter((s) => s !== "connected");
        if (dropped.length || sink.link !== "connected")
          throw new FuzzFailure(`a frame dropped the link: ${dropped.join(", ")} (now ${sink.link})`);
        return { rejected: 0 };
      },
      logs,
      async close() {
        await driver.stop();
        await Promise.all(commands);
        await cloud.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
