// The web page's HTTP endpoints: raw requests (random methods, paths, headers, cookies, bodies, the
// password / set-up / Nanit log-in and MFA-code forms, then text mutations of the whole request) over
// plain TCP to two servers on 127.0.0.1: an open one (loopback, no password) and one with a password.
// Every answer must be 1xx-4xx (or a refused connection for unparsable bytes), never 5xx, never a hang.
import fc from "fast-check";
import { createServer, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AccountConfig } from "../../../src/core/config.ts";
import type { Driver } from "../../../src/core/driver.ts";
import { createLogger } from "../../../src/core/logger.ts";
import { hashPasswordSync } from "../../../src/core/password.ts";
import { DeviceRegistry } from "../../../src/core/registry.ts";
import { WebServer } from "../../../src/web/server.ts";
import { CountingLog } from "../checks.ts";
import { mutateText } from "../mutate.ts";
import { FuzzFailure, type FuzzTarget } from "../runner.ts";

const PAGE_PASSWORD = "fuzz page password";
const MFA_CODE = "424242";
const FANSYNC_PASSWORD = "fuzz fansync password";
const TIMEOUT_MS = 5_000;
const PARALLEL = 16;

/** A vendor stand-in for the log-in forms. Nanit (/login): 482 (code needed), then 201 for the right
 * code, 401 otherwise. FanSync (/session): 200 for the right password, 401 otherwise. */
function nanitStub(): Promise<{ server: Server; api: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: { mfa_code?: unknown; password?: unknown } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
      } catch {
        // answered as a wrong code below
      }
      const [status, answer] =
        req.url === "/session"
          ? body.password === FANSYNC_PASSWORD
            ? [200, { token: "fuzz-fansync-token" }]
            : [401, { message: "refused" }]
          : req.url !== "/login"
            ? [404, { error: "not found" }]
            : body.mfa_code === undefined
              ? [482, { mfa_token: "fuzz-mfa-token", phone_suffix: "42", channel: "sms" }]
              : body.mfa_code === MFA_CODE
                ? [201, { access_token: "fuzz-access-token", refresh_token: "fuzz-refresh-token" }]
                : [401, { error: "invalid code" }];
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(answer));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, api: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

interface Request {
  server: number;
  method: string;
  path: string;
  headers: [string, string][];
  body: string;
  lengthHeader: "right" | "none" | "short" | "long" | "garbage";
  mutate: boolean;
}

const PATHS = [
  "/accounts/home/password",
  "/",
  "/health",
  "/metrics",
  "/favicon.ico",
  "/app.js",
  "/app.css",
  "/login",
  "/setup",
  "/logout",
  "/events",
  "/api/session",
  "/api/status",
  "/accounts/nursery/login",
  "/accounts/nursery/login/code",
  "/accounts/nobody/login",
  "/accounts/%E0%A4%A/login",
  "/accounts/nur%73ery/login/code",
  "/accounts//login",
  "*",
  "http://bridge/health",
  "//health",
  "/../etc/passwd",
  "/health?x=%ZZ",
  "/%00",
  "/api/status#frag",
  "/theme.js",
  "/ui.js",
  "/api/pairings",
  "/api/pairings/homekit/remove",
  "/api/pairings/matter/remove",
  "/api/pairings/matter/reset",
  "/api/pairings/zigbee/reset",
  "/api/logs/level",
  "/api/logs/download",
  "/api/logs/download?level=loud&device=%ZZ",
  "/api/cameras/nursery/snapshot.jpg",
  "/api/cameras/%E0%A4%A/snapshot.jpg",
];
const path = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PATHS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => `/${s}`) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...PATHS), fc.string({ maxLength: 12 })).map(([p, q]) => `${p}?${q}`),
  },
);
const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("GET", "POST", "HEAD") },
  { weight: 2, arbitrary: fc.constantFrom("PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "get", "G ET", "") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,10}$/) },
);
const formValue = fc.oneof(
  fc.constantFrom(
    "",
    PAGE_PASSWORD,
    MFA_CODE,
    FANSYNC_PASSWORD,
    "wrong password",
    "short",
    "%",
    "%zz",
    "a+b",
    "x".repeat(300),
  ),
  fc.string({ maxLength: 16 }),
);
const formBody = fc
  .array(fc.tuple(fc.constantFrom("password", "confirm", "code", "other", ""), formValue, fc.boolean()), {
    maxLength: 4,
  })
  .map((pairs) => pairs.map(([k, v, encode]) => `${k}=${encode ? encodeURIComponent(v) : v}`).join("&"));
const body = fc.oneof(
  { weight: 6, arbitrary: formBody },
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.nat(20_000).map((n) => "a=".padEnd(n, "b")) },
);
const header = fc.oneof(
  fc.constantFrom<[string, string]>(
    ["Content-Type", "application/x-www-form-urlencoded"],
    ["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"],
    ["Content-Type", "application/json"],
    ["Content-Type", ""],
    ["Cookie", "hb_session=forged"],
    ["Cookie", "hb_session="],
    ["Cookie", "a=b; hb_session"],
    ["Origin", "http://evil.example"],
    ["Origin", "null"],
    ["Sec-Fetch-Site", "cross-site"],
    ["Sec-Fetch-Site", "same-origin"],
    ["Sec-Fetch-Site", "none"],
    ["Transfer-Encoding", "chunked"],
    ["Expect", "100-continue"],
    ["Connection", "keep-alive"],
    ["Accept-Encoding", "gzip"],
  ),
  fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,12}$/), fc.string({ maxLength: 20 })),
);

const anyRequest: fc.Arbitrary<Request> = fc.record({
  server: fc.nat(1),
  method,
  path,
  headers: fc.array(header, { maxLength: 5 }),
  body,
  lengthHeader: fc.constantFrom("right", "right", "right", "right", "none", "short", "long", "garbage"),
  mutate: fc.nat(4).map((n) => n === 0),
});
/** A well-formed form post to one of the form routes: these must get past the parser to be tested. */
const formPost: fc.Arbitrary<Request> = fc.record({
  server: fc.nat(1),
  method: fc.constant("POST"),
  path: fc.constantFrom(
    "/login",
    "/setup",
    "/logout",
    "/accounts/nursery/login",
    "/accounts/nursery/login/code",
    "/accounts/nursery/login/code",
    "/accounts/home/password",
    "/accounts/nursery/password",
  ),
  headers: fc
    .tuple(
      fc.constantFrom<[string, string]>(
        ["Content-Type", "application/x-www-form-urlencoded"],
        ["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"],
      ),
      fc.array(header, { maxLength: 2 }),
    )
    .map(([ct, rest]) => [ct, ...rest]),
  body: formBody,
  lengthHeader: fc.constant("right"),
  mutate: fc.constant(false),
});
const request = fc.oneof({ weight: 3, arbitrary: anyRequest }, { weight: 2, arbitrary: formPost });

interface Target {
  port: number;
  cookie: string | undefined;
  host: string;
}

function raw(r: Request, t: Target, useCookie: boolean): string {
  const lines = [`${r.method} ${r.path} HTTP/1.1`, `Host: ${t.host}`];
  if (useCookie && t.cookie) lines.push(`Cookie: ${t.cookie}`);
  for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
  const length = Buffer.byteLength(r.body);
  const declared = {
    right: String(length),
    none: undefined,
    short: String(Math.max(0, length - 3)),
    long: String(length + 10),
    garbage: "-1",
  }[r.lengthHeader];
  if (declared !== undefined) lines.push(`Content-Length: ${declared}`);
  return `${lines.join("\r\n")}\r\n\r\n${r.body}`;
}

interface Outcome {
  statuses: number[];
  timedOut: boolean;
}

/** Send one raw request, half-close, and read what comes back until the server closes (or an event
 * stream's headers arrive: it would never close). */
function exchange(port: number, text: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    let done = false;
    const finish = (timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const statuses = [...received.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ statuses, timedOut });
    };
    const timer = setTimeout(() => finish(true), TIMEOUT_MS);
    socket.on("connect", () => socket.end(text, "latin1"));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (/\r\n\r\n/.test(received) && /content-type: text\/event-stream/i.test(received)) finish(false);
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}

export const webHttp: FuzzTarget = {
  name: "web-http",
  covers:
    "WebServer routes over raw TCP: status, events, metrics, static files, " +
    "page login, set-up, log-out, FanSync password, Nanit log-in and MFA forms",
  batch: 100,
  async open() {
    const stub = await nanitStub();
    const logs = new CountingLog();
    const log = createLogger("debug", { json: true, destination: logs });
    const registry = new DeviceRegistry(log);
    const driver: Driver = {
      vendor: "fansync",
      accountName: "home",
      start: async () => undefined,
      stop: async () => undefined,
      command: async () => undefined,
    };
    const sink = registry.sinkFor(driver);
    sink.linkStateChanged("connected");
    sink.deviceFound(
      {
        id: "fansync:a",
        vendor: "fansync",
        account: "home",
        kind: "ceiling-fan",
        name: "Porch <b>fan</b>",
        manufacturer: "Fanimation",
        model: "x",
        serialNumber: "a",
        capabilities: { fan: { reversible: true, breeze: false }, light: { dimmable: true } },
      },
      { fan: { on: true, speed: 40, direction: "forward", breeze: false }, light: { on: false, brightness: 30 } },
    );
    const dirs = [mkdtempSync(join(tmpdir(), "hb-fuzz-web-open-")), mkdtempSync(join(tmpdir(), "hb-fuzz-web-pw-"))];
    const sources = {
      registry,
      accounts: [
        { name: "home", vendor: "fansync" },
        { name: "nursery", vendor: "nanit" },
      ],
      startedAt: Date.now(),
    };
    const loginAccounts: AccountConfig[] = [
      {
        vendor: "fansync",
        name: "home",
        email: "fan@example.invalid",
        password: "old fansync password",
        endpoints: { api: stub.api },
      },
      { vendor: "nanit", name: "nursery", email: "parent@example.invalid", endpoints: { api: stub.api } },
    ];
    const servers = [
      new WebServer({ sources, log, dataDir: dirs[0]!, config: { host: "127.0.0.1", port: 0 }, loginAccounts }),
      new WebServer({
        sources,
        log,
        dataDir: dirs[1]!,
        config: { host: "127.0.0.1", port: 0, passwordHash: hashPasswordSync(PAGE_PASSWORD) },
        loginAccounts,
      }),
    ];
    const targets: Target[] = [];
    for (const s of servers) {
      const port = await s.start();
      targets.push({ port, cookie: undefined, host: `127.0.0.1:${port}` });
    }
    // A real session on the password server, so fuzzed requests reach the pages behind it too.
    const login = await fetch(`http://${targets[1]!.host}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `password=${encodeURIComponent(PAGE_PASSWORD)}`,
    });
    targets[1]!.cookie = login.headers.get("set-cookie")?.split(";")[0];
    if (!targets[1]!.cookie) throw new Error(`the page login failed (HTTP ${login.status})`);
    let internalSeen = 0;
    const input = fc.tuple(
      request,
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(7), fc.nat(), fc.nat(255), fc.string({ maxLength: 6 })), { maxLength: 3 }),
    );
    return {
      input,
      async run(inputs) {
        const failures: string[] = [];
        let rejected = 0;
        const queue = [...(inputs as [Request, boolean, [number, number, number, string][]][])];
        const worker = async (): Promise<void> => {
          for (let next = queue.shift(); next; next = queue.shift()) {
            const [r, useCookie, ops] = next;
            const t = targets[r.server]!;
            let text = raw(r, t, useCookie);
            if (r.mutate && ops.length) text = mutateText(text, ops);
            const outcome = await exchange(t.port, text);
            if (outcome.timedOut)
              failures.push(`no answer within ${TIMEOUT_MS} ms to ${JSON.stringify(text.slice(0, 200))}`);
            const bad = outcome.statuses.find((s) => s >= 500);
            if (bad !== undefined) failures.push(`HTTP ${bad} for ${JSON.stringify(text.slice(0, 200))}`);
            if (outcome.statuses.some((s) => s >= 400) || !outcome.statuses.length) rejected++;
          }
        };
        await Promise.all(Array.from({ length: PARALLEL }, worker));
        const internal = (logs.warnings.get("web request failed") ?? 0) - internalSeen;
        internalSeen += internal;
        if (internal)
          failures.push(
            `${internal} "web request failed" lines (a route threw): ${logs.firstWarning.get("web request failed")}`,
          );
        if (failures.length) throw new FuzzFailure(failures.slice(0, 3).join("; "));
        return { rejected };
      },
      logs,
      async close() {
        for (const s of servers) await s.stop();
        await new Promise((resolve) => stub.server.close(resolve));
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      },
    };
  },
};
